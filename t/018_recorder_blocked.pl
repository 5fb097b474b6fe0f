# Issue 18, review of the recorder: a wrong code that has been compared is
# counted even when the recorder cannot write it at once (under a database's
# exit_on_error too), and no other code of that user is compared until it
# is.  A DBA's transaction holds the secret's row lock for 12 s:
# while it does, the attacker sends codes under a short statement_timeout,
# wrong and right alike; exactly one is compared (the server logs each
# comparison at DEBUG1), the right code is answered as the wrong ones are,
# the compared one's caller hears nothing (a cancel and its timeout
# notwithstanding) until the lock goes and its code is recorded.  Then: a
# transaction kept open after the login that started a recorder does not
# keep the next recorder from starting.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('blocked');
$node->init;
$node->append_conf('postgresql.conf', qq{log_min_messages = debug1
log_min_error_statement = panic
zstack_tfa.max_failed_attempts = 5
zstack_tfa.lockout_seconds = 3600
});
$node->start;
my $db = 'postgres';
$node->safe_psql($db, q{
CREATE EXTENSION zstack_tfa;
SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
SELECT zstack_tfa.create_account('victim', 'victim-pw');
SELECT zstack_tfa.create_account('other', 'other-pw');
CREATE ROLE attacker LOGIN;
GRANT USAGE ON SCHEMA zstack_tfa TO attacker;
GRANT EXECUTE ON FUNCTION zstack_tfa.log_in_by_account(text, text, text[]) TO attacker;
});
my %secret;
for my $who ('victim', 'other')
{
	$secret{$who} = $node->safe_psql($db,
		"SELECT zstack_tfa.get_two_factor_authentication_secret('$who', '$who-pw')->'inventory'->>'secret'");
}
my $n = 0;
sub wrong_code
{
	my $who = shift;
	$n++;
	return $node->safe_psql($db,
		"SELECT zstack_tfa.totp('$secret{$who}', now() - interval '1 day' + $n * interval '1 minute')");
}
sub right_code { my $who = shift; $node->safe_psql($db, "SELECT zstack_tfa.totp('$secret{$who}')") }
my $connstr = $node->connstr($db) . ' user=attacker';
# one login as the attacker; returns what it saw (reply details or the error)
sub login
{
	my ($who, $code, $timeout) = @_;
	my $out = '';
	IPC::Run::run([ 'psql', '-X', '-A', '-t', '-d', $connstr, '-c',
		"SET statement_timeout = '$timeout'; SELECT coalesce(r->'error'->>'details', 'logged in')"
		  . " FROM zstack_tfa.log_in_by_account('$who', '$who-pw', ARRAY['twofatoken::$code']) r" ],
		'>', \$out, '2>', \$out);
	$out =~ s/^SET\n//;
	return $out;
}
sub compared { my $from = shift; return () = slurp_file($node->logfile, $from) =~ /comparing a second-factor code/g }
sub counter
{
	my $who = shift;
	return $node->safe_psql($db, "SELECT failed_attempts FROM zstack_tfa.secret WHERE user_uuid ="
		  . " (SELECT uuid FROM zstack_tfa.account WHERE name = '$who')");
}

# a database setting that would end the recorder at its first error (an
# owner may set it) does not reach it
$node->safe_psql($db, 'ALTER DATABASE postgres SET exit_on_error = on');

# a first wrong code starts the recorder, recorded at once; the client that
# asks for every debug message gets none from the comparison (sent with
# interrupts held, a message the client does not read would hold the backend)
my $chatty = '';
IPC::Run::run([ 'psql', '-X', '-A', '-t', '-d', $connstr, '-c',
	"SET client_min_messages = debug5; SELECT zstack_tfa.log_in_by_account('victim', 'victim-pw', ARRAY['twofatoken::"
	  . wrong_code('victim') . "'])->'error'->>'details'" ], '>', \$chatty, '2>', \$chatty);
like($chatty, qr/wrong or already used/, 'a wrong code is refused');
unlike($chatty, qr/comparing/, 'and no message about its comparison reaches the client');
is(counter('victim'), '1', 'and counted');

# the DBA's transaction holds the victim's row for 12 s, and locks the
# account's 2FA logins for an hour when it commits
my $log_start = -s $node->logfile;
my $holder_out = '';
my $holder = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr($db), '-c',
	"BEGIN; UPDATE zstack_tfa.secret SET failed_attempts = 5, locked_until = now() + interval '1 hour'"
	  . " WHERE user_uuid = (SELECT uuid FROM zstack_tfa.account WHERE name = 'victim');"
	  . " SELECT pg_sleep(12); COMMIT;" ], '>', \$holder_out, '2>', \$holder_out);
my $deadline = time + 10;
usleep(50_000)
  until time > $deadline
  || $node->safe_psql($db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(12)%' AND wait_event = 'PgSleep'") eq '1';

# the first code, a wrong one, is compared and handed to the recorder, which
# cannot write it while the row is held: its caller is not answered until
# the count is committed, its 2 s statement_timeout and a cancel
# notwithstanding (an answer now would tell the attacker the code was wrong
# while its count could still be lost)
my $first_out = '';
my $first = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $connstr, '-c',
	"SET statement_timeout = '2s'; SELECT coalesce(r->'error'->>'details', 'logged in')"
	  . " FROM zstack_tfa.log_in_by_account('victim', 'victim-pw', ARRAY['twofatoken::" . wrong_code('victim') . "']) r" ],
	'>', \$first_out, '2>', \$first_out);
sub first_waiting
{
	return $node->safe_psql($db, "SELECT pid FROM pg_stat_activity WHERE usename = 'attacker'"
		  . " AND wait_event_type = 'Extension' AND query LIKE '%log_in_by_account%'");
}
$deadline = time + 10;
usleep(50_000) until time > $deadline || first_waiting() ne '';
my $first_pid = first_waiting();
isnt($first_pid, '', 'the first wrong code waits for the recorder');
$node->safe_psql($db, "SELECT pg_cancel_backend($first_pid)");

# meanwhile the attacker sends more codes under a short statement_timeout,
# wrong and right alike: none is compared, and they are answered alike
my (%seen_wrong, %seen_right);
my $attempts = 0;
my $end = time + 8;
while (time < $end)
{
	my $right = $attempts % 4 == 3;
	my $seen = login('victim', $right ? right_code('victim') : wrong_code('victim'), '300ms');
	$seen =~ s/\s+$//;
	($right ? \%seen_right : \%seen_wrong)->{$seen}++;
	$attempts++;
}
$attempts++;
my $while_locked = compared($log_start);
is($while_locked, 1, "while the row is held, 1 of $attempts codes was compared");
is(first_waiting(), $first_pid, 'its caller still waits, 8 s after its cancel and past its statement_timeout');
is($first_out, '', 'and has heard nothing');
ok(!grep({ /logged in/ } keys %seen_right), 'the right code does not log in while a wrong one waits');
ok(!grep({ /wrong or already used/ } keys %seen_wrong), 'no later wrong code is answered "wrong" either');
is_deeply([ sort keys %seen_right ], [ sort keys %seen_wrong ],
	'the right code is answered as the wrong codes that were not compared')
  or diag explain [ \%seen_right, \%seen_wrong ];
$holder->finish;
like($holder_out, qr/COMMIT/, "the DBA's transaction committed");
$first->finish;
like($first_out, qr/canceling statement/, 'the first caller is answered once the row is free, by the cancel it asked for');
is(counter('victim'), '6', 'by then its code is counted, on top of the DBA\'s count');

# the lock the DBA set stays as it is (a late code does not start a new count)
is($node->safe_psql($db, q{SELECT locked_until > now() + interval '50 minutes' FROM zstack_tfa.secret
	WHERE user_uuid = (SELECT uuid FROM zstack_tfa.account WHERE name = 'victim')}), 't', 'and the lock in force stays');
is($node->safe_psql($db, q{SELECT count(*) FROM zstack_tfa.auth_event WHERE outcome IN ('wrong_code', 'wrong_code_locked')}),
	compared(0), 'every compared wrong code has its audit row');
like(login('victim', right_code('victim'), '10s'), qr/locked/, 'the right code is refused while locked');
$node->safe_psql($db, q{UPDATE zstack_tfa.secret SET failed_attempts = 0, locked_until = NULL
	WHERE user_uuid = (SELECT uuid FROM zstack_tfa.account WHERE name = 'victim')});
is(login('victim', right_code('victim'), '10s'), "logged in\n", 'the right code logs in once the DBA lifts the lock');
is(counter('victim'), '0', 'and resets the count');

# a transaction kept open after the login that started a recorder
sub recorders { $node->safe_psql($db, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'zstack_tfa wrong-code recorder'") }
sub end_recorder
{
	$node->safe_psql($db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'zstack_tfa wrong-code recorder'");
	my $until = time + 10;
	usleep(50_000) until time > $until || recorders() eq '0';
}
end_recorder();
is(recorders(), '0', 'the recorder is gone');
my $open_out = '';
my $code = wrong_code('victim');
my $open = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $connstr, '-c',
	"BEGIN; SELECT zstack_tfa.log_in_by_account('victim', 'victim-pw', ARRAY['twofatoken::$code'])->'error'->>'details';"
	  . " SELECT pg_sleep(8); COMMIT;" ], '>', \$open_out, '2>', \$open_out);
$deadline = time + 10;
usleep(50_000) until time > $deadline || counter('victim') eq '1';
is(counter('victim'), '1', 'a login in an open transaction started a recorder that counted its code');
end_recorder();
my $t0 = time;
like(login('other', wrong_code('other'), '4s'), qr/wrong or already used/,
	"another user's code is compared while that transaction stays open");
ok(time - $t0 < 3, sprintf('without waiting for it (%.1f s)', time - $t0));
is(counter('other'), '1', "and counted by a recorder started meanwhile");
$open->finish;
done_testing();
