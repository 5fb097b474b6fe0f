# Issue 18, the fourth look at the lockout (a fresh attacker's review):
# 1. a database owner's settings cannot end the recorder (17's
#    transaction_timeout ends a session with FATAL, which no PG_TRY catches)
#    nor keep its writes from landing;
# 2. a wrong code handed to a recorder that then ends (a superuser
#    terminates it) is owed to the next recorder, which writes it before it
#    takes any code: the code counts, whether its caller still waited or
#    had gone (a caller is answered only once its code is counted or owed:
#    a cancel waits, a termination leaves unanswered); while it cannot be
#    written, every login is refused within a bounded wait;
# 3. a database still at 1.1 beside one updated to 1.2 (the recorder role
#    exists, but not its rights here) refuses codes before comparing them;
# 4. a role named zstack_tfa_recorder made beforehand by someone else is
#    refused by the 1.2 update;
# 5. a reset waits for a login that has compared a code against the old
#    secret, so that login cannot mark the new secret as used.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('round4');
$node->init;
$node->append_conf('postgresql.conf', qq{log_min_error_statement = panic
zstack_tfa.max_failed_attempts = 50
zstack_tfa.lockout_seconds = 3600
});
$node->start;
my $v = $node->safe_psql('postgres', 'SHOW server_version_num');

# 4 first: a role of that name that can log in, or that has a member, is
# not taken as the recorder's
$node->safe_psql('postgres', 'CREATE ROLE squatter LOGIN CREATEROLE');
$node->safe_psql('postgres', 'SET ROLE squatter; CREATE ROLE zstack_tfa_recorder NOLOGIN NOINHERIT');
$node->safe_psql('postgres', 'GRANT zstack_tfa_recorder TO squatter') if $v < 160000;
my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION zstack_tfa');
isnt($rc, 0, 'CREATE EXTENSION refuses a zstack_tfa_recorder with a member');
like($err, qr/role "zstack_tfa_recorder" exists and is not as zstack_tfa makes it/, 'and says why');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'zstack_tfa'"), '0',
	'nothing of the extension is left');
$node->safe_psql('postgres', 'DROP ROLE zstack_tfa_recorder');
$node->safe_psql('postgres', 'CREATE ROLE zstack_tfa_recorder LOGIN NOINHERIT');
($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION zstack_tfa');
isnt($rc, 0, 'and one that can log in');
$node->safe_psql('postgres', 'DROP ROLE zstack_tfa_recorder');

# the database of the test belongs to a role that is no superuser
$node->safe_psql('postgres', q{
CREATE ROLE dbowner LOGIN;
CREATE DATABASE app OWNER dbowner;
});
my $db = 'app';
$node->safe_psql($db, q{
CREATE EXTENSION zstack_tfa;
SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
SELECT zstack_tfa.create_account('victim', 'victim-pw');
SELECT zstack_tfa.create_account('admin2', 'admin2-pw', 'SystemAdmin');
});
is($node->safe_psql($db, "SELECT rolname FROM pg_roles WHERE rolname = 'zstack_tfa_recorder'"),
	'zstack_tfa_recorder', 'without them, CREATE EXTENSION makes the role');
my $secret = $node->safe_psql($db,
	"SELECT zstack_tfa.get_two_factor_authentication_secret('victim', 'victim-pw')->'inventory'->>'secret'");
my $plain = $node->connstr($db) . ' options=\'-c statement_timeout=0 -c lock_timeout=0'
  . ' -c default_transaction_read_only=off -c idle_in_transaction_session_timeout=0'
  . ($v >= 170000 ? ' -c transaction_timeout=0' : '') . '\'';
sub run_sql
{
	my $sql = shift;
	my $o = '';
	IPC::Run::run([ 'psql', '-X', '-A', '-t', '-d', $plain, '-c', $sql ], '>', \$o, '2>', \$o);
	$o =~ s/^SET\n//mg;
	chomp $o;
	return $o;
}
my $n = 0;
sub wrong_code
{
	$n++;
	return run_sql("SELECT zstack_tfa.totp('$secret', now() - interval '1 day' + $n * interval '1 minute')");
}
sub right_code { run_sql("SELECT zstack_tfa.totp('$secret')") }
sub login_sql
{
	my ($code, $who) = @_;
	$who //= 'victim';
	return "SELECT coalesce(r->'error'->>'details', 'logged in')"
	  . " FROM zstack_tfa.log_in_by_account('$who', '$who-pw', ARRAY['twofatoken::$code']) r";
}
sub counter
{
	return run_sql("SET search_path = pg_catalog; SELECT failed_attempts FROM zstack_tfa.secret"
		  . " WHERE user_uuid = (SELECT uuid FROM zstack_tfa.account WHERE name = 'victim')");
}
sub recorder_pid
{
	return run_sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'zstack_tfa wrong-code recorder' AND datname = 'app'");
}

# A DBA's transaction that holds the victim's secret row (FOR UPDATE) from
# hold_row() until release_row()
my ($hold, $hold_in, $hold_out);
sub hold_row
{
	($hold_in, $hold_out) = ('', '');
	$hold = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr($db) ],
		'<', \$hold_in, '>', \$hold_out, '2>', \$hold_out);
	$hold_in .= "BEGIN; SELECT 'held' FROM zstack_tfa.secret WHERE user_uuid = (SELECT uuid FROM zstack_tfa.account WHERE name = 'victim') FOR UPDATE;\n";
	$hold->pump until $hold_out =~ /held/;
}
sub release_row
{
	$hold_in .= "COMMIT;\n";
	$hold->finish;
}

# 1. the owner sets what would end or stall the recorder, for the database
my $settings = "statement_timeout = '1ms'; lock_timeout = '1ms'; default_transaction_read_only = on;"
  . " idle_in_transaction_session_timeout = '1ms'";
$settings .= "; transaction_timeout = '1ms'" if $v >= 170000;
# (from another database: each one applies to the next connection to app)
$node->safe_psql('postgres', 'SET ROLE dbowner; ' . join('; ', map { "ALTER DATABASE app SET $_" } split /; /, $settings));
my @seen;
push @seen, run_sql(login_sql(wrong_code())) for 1 .. 10;
is(scalar(grep { /^wrong or already used/ } @seen), 10, 'ten wrong codes under the owner\'s settings: ten wrong answers')
  or diag(join("\n", @seen));
is(counter(), '10', 'and each of them is counted: the settings do not reach the recorder');
isnt(recorder_pid(), '', 'the recorder is still there');
$node->safe_psql('postgres', 'ALTER DATABASE app RESET ALL');

# A login started in the background; waiting_login() is the pid of one
# that waits for the recorder
sub start_login
{
	my $code = shift;
	my $o = '';
	my $h = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $plain, '-c', login_sql($code) ], '>', \$o, '2>', \$o);
	return ($h, \$o);
}
sub waiting_login
{
	my $until = time + 10;
	my $pid = '';
	while (time < $until && $pid eq '')
	{
		$pid = run_sql("SELECT pid FROM pg_stat_activity WHERE datname = 'app' AND wait_event_type = 'Extension'"
			  . " AND query LIKE '%log_in_by_account%' AND pid <> pg_backend_pid()");
		usleep(50_000) if $pid eq '';
	}
	return $pid;
}

# 2a. a code whose caller has gone: the DBA holds the row, the caller's wait
# outlasts a cancel (it is answered only once its code is counted), so it is
# terminated; then a superuser ends the recorder, and the lock goes
hold_row();
my $before = counter();
my ($gone, $gone_out) = start_login(wrong_code());
my $gone_pid = waiting_login();
isnt($gone_pid, '', 'a wrong code while the row is held waits for the recorder');
run_sql("SELECT pg_cancel_backend($gone_pid)");
usleep(1_500_000);
is(waiting_login(), $gone_pid, 'a cancel does not end the wait before the code is counted');
run_sql("SELECT pg_terminate_backend($gone_pid)");
$gone->finish;
unlike($$gone_out, qr/wrong or already used/, 'a terminated caller hears nothing of its code');
my $rec = recorder_pid();
$node->safe_psql($db, "SELECT pg_terminate_backend($rec)");
my $deadline = time + 10;
usleep(50_000) while time < $deadline && recorder_pid() ne '';
is(recorder_pid(), '', 'a superuser has ended the recorder with the code unwritten');
release_row();
is(counter(), $before, 'nothing is written yet');
# the next code (the right one) is compared only after the owed one is written
my $seen = run_sql(login_sql(right_code()));
ok($seen eq 'logged in' || $seen =~ /still being recorded/, "the next code waits for the owed one ($seen)");
$deadline = time + 10;
usleep(100_000) while time < $deadline && counter() eq $before && $seen ne 'logged in';
ok($seen eq 'logged in' ? $node->safe_psql($db, "SET search_path = pg_catalog; SELECT count(*) FROM zstack_tfa.auth_event WHERE outcome = 'wrong_code'") >= 11
	  : counter() == $before + 1, 'the owed code is counted by the next recorder');

# 2b. a caller still waiting when the recorder ends saves its own code
$n += 100;
$before = $node->safe_psql($db, "SET search_path = pg_catalog; SELECT count(*) FROM zstack_tfa.auth_event WHERE outcome LIKE 'wrong_code%'");
run_sql(login_sql(wrong_code()));	# a recorder runs again
$before++;
hold_row();
my $waiter_out = '';
my $waiter = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $plain, '-c', login_sql(wrong_code()) ],
	'>', \$waiter_out, '2>', \$waiter_out);
usleep(1_000_000);
$node->safe_psql($db, 'SELECT pg_terminate_backend(' . recorder_pid() . ')');
$waiter->finish;
chomp $waiter_out;
like($waiter_out, qr/^wrong or already used/, 'the waiting caller hears "wrong", not "could not be recorded"');
release_row();
$seen = run_sql(login_sql(wrong_code()));
$deadline = time + 10;
while (time < $deadline && $seen =~ /still being recorded/)
{
	usleep(200_000);
	$seen = run_sql(login_sql(wrong_code()));
}
like($seen, qr/^wrong or already used/, 'the next code is compared once the owed one is written');
is($node->safe_psql($db, "SET search_path = pg_catalog; SELECT count(*) FROM zstack_tfa.auth_event WHERE outcome LIKE 'wrong_code%'"),
	$before + 2, 'the code of the caller who waited is counted, and the next one');

# 2c. an owed code that cannot be written (the DBA keeps its row held) costs
# each login a bounded wait, not minutes: the victim's and another user's
# logins are refused as "cannot be checked now" within START_WAIT_MS and a
# margin; once the row is free the owed code is written
$n += 100;
$before = counter();
hold_row();
my ($waiter2, $waiter2_out) = start_login(wrong_code());
isnt(waiting_login(), '', 'a wrong code while the row is held waits for the recorder');
$node->safe_psql($db, 'SELECT pg_terminate_backend(' . recorder_pid() . ')');
$waiter2->finish;
like($$waiter2_out, qr/^wrong or already used/, 'and hears "wrong" once the recorder ends with it owed');
$deadline = time + 10;
usleep(50_000) while time < $deadline && recorder_pid() ne '';
is(recorder_pid(), '', 'the recorder ended with the code owed');
for my $who ('victim', 'admin2', 'victim')
{
	my $t0 = time;
	my $answer = run_sql(login_sql($who eq 'victim' ? right_code() : '123456', $who));
	my $took = time - $t0;
	like($answer, qr/cannot be checked now/, "$who\'s login is refused while the owed code cannot be written");
	cmp_ok($took, '<', 12, sprintf('within a bounded wait (%.1f s)', $took));
}
is(counter(), $before, 'nothing of the victim is written while the row is held');
release_row();
$deadline = time + 15;
while (time < $deadline && counter() eq $before)
{
	usleep(200_000);
	run_sql(login_sql('123456', 'admin2')) if counter() eq $before;
}
is(counter(), $before + 1, 'once the row is free the owed code is written');

# 2d. a recorder whose tries keep failing (the DBA holds the row) does not
# keep the caller for ever: past zstack_tfa.stuck_wrong_code_seconds (3 s
# here) its session ends unanswered, the user's next login is not held by
# it, and the count is written once the row is free
$node->safe_psql('postgres', "ALTER DATABASE app SET zstack_tfa.stuck_wrong_code_seconds = 3");
$n += 100;
$before = counter();
hold_row();
my $t_stuck = time;
my ($stuck, $stuck_out) = start_login(wrong_code());
$stuck->finish;
my $stuck_took = time - $t_stuck;
like($$stuck_out, qr/terminating connection: the two-factor authentication check could not be completed/,
	'a caller whose code cannot be written ends unanswered');
unlike($$stuck_out, qr/wrong or already used/, '... without hearing "wrong"');
cmp_ok($stuck_took, '<', 12, sprintf('... after the limit, not for ever (%.1f s)', $stuck_took));
like(run_sql(login_sql(right_code())), qr/cannot be checked now/, "the user's next login is refused uncompared, not held");
release_row();
$deadline = time + 15;
usleep(200_000) while time < $deadline && counter() eq $before;
is(counter(), $before + 1, 'once the row is free the code is counted');
$node->safe_psql('postgres', "ALTER DATABASE app RESET zstack_tfa.stuck_wrong_code_seconds");

# 3. a database at 1.1 beside this one at 1.2: codes refused uncompared
$node->safe_psql('postgres', 'CREATE DATABASE old11');
$node->safe_psql('old11', q{
CREATE EXTENSION zstack_tfa VERSION '1.1';
SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
SELECT zstack_tfa.create_account('victim', 'victim-pw');
});
my $old_secret = $node->safe_psql('old11',
	"SELECT zstack_tfa.get_two_factor_authentication_secret('victim', 'victim-pw')->'inventory'->>'secret'");
my $old_right = $node->safe_psql('old11', "SELECT zstack_tfa.totp('$old_secret')");
my $old_wrong = $node->safe_psql('old11', "SELECT zstack_tfa.totp('$old_secret', now() - interval '1 day')");
for my $code ($old_wrong, $old_right)
{
	like($node->safe_psql('old11', login_sql($code)), qr/until its extension is updated/,
		($code eq $old_right ? 'the right code' : 'a wrong code') . ' at 1.1 is refused before it is compared');
}
$node->safe_psql('old11', 'ALTER EXTENSION zstack_tfa UPDATE');
like($node->safe_psql('old11', login_sql($old_wrong)), qr/^wrong or already used/, 'after the update a wrong code is wrong');
is($node->safe_psql('old11', "SET search_path = pg_catalog; SELECT failed_attempts FROM zstack_tfa.secret"
	  . " WHERE user_uuid = (SELECT uuid FROM zstack_tfa.account WHERE name = 'victim')"), '1', 'and counted');

# 5. a reset waits for a login that compared a code against the old secret
my $admin_secret = $node->safe_psql($db,
	"SELECT zstack_tfa.get_two_factor_authentication_secret('admin2', 'admin2-pw')->'inventory'->>'secret'");
my $sess = $node->safe_psql($db, "SELECT zstack_tfa.log_in_by_account('admin2', 'admin2-pw', ARRAY['twofatoken::' ||"
	  . " zstack_tfa.totp('$admin_secret')])->'inventory'->>'uuid'");
$n += 100;
my $login_in = '';
my $login_out = '';
my $login = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr($db) ],
	'<', \$login_in, '>', \$login_out, '2>', \$login_out);
# a new step for victim's right code (the earlier login used the current one)
$login_in .= "BEGIN;\n" . login_sql($node->safe_psql($db, "SELECT zstack_tfa.totp('$secret', now() + interval '30 seconds')")) . ";\n";
$login->pump until $login_out =~ /logged in|wrong|locked/;
my $reset_out = '';
my $reset = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr($db), '-c',
	"SELECT zstack_tfa.reset_two_factor_authentication_secret('$sess', 'victim', 'victim-pw')->'inventory'->>'status'" ],
	'>', \$reset_out, '2>', \$reset_out);
usleep(1_000_000);
is($node->safe_psql($db, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND wait_event_type = 'Lock'"
	  . " AND query LIKE '%reset_two_factor_authentication_secret%'"), '1',
	'the reset waits while the login\'s transaction is open');
$login_in .= "COMMIT;\n";
$login->finish;
$reset->finish;
chomp $reset_out;
is($reset_out, 'NewCreated', 'then the reset makes a new secret');
is($node->safe_psql($db, "SET search_path = pg_catalog; SELECT status FROM zstack_tfa.secret"
	  . " WHERE user_uuid = (SELECT uuid FROM zstack_tfa.account WHERE name = 'victim')"), 'NewCreated',
	'which the login did not mark as used');
done_testing();
