# A login that accepts a code commits at least with synchronous_commit = on,
# whatever the caller set (issue 20; test/ha/run.sh found a code accepted
# under synchronous_commit = local accepted again after a failover): with a
# synchronous standby named that never comes, a TOTP login and a recovery
# login under "local" wait for it (wait event SyncRep), where a plain write
# under "local" does not; a cancel ends the wait as PostgreSQL's own does,
# and the caller's setting is as it was after the transaction.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('durable');
# (streaming allowed: without WAL senders no commit waits for a standby)
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', "log_min_error_statement = panic\n");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION zstack_tfa;
SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
SELECT zstack_tfa.create_account('alice', 'alice-pw');
CREATE TABLE plain_writes (i int);
});
my $secret = $node->safe_psql('postgres',
	"SELECT zstack_tfa.get_two_factor_authentication_secret('alice', 'alice-pw')->'inventory'->>'secret'");
# a session and recovery codes, before any standby is asked for
my $session = $node->safe_psql('postgres',
	"SELECT zstack_tfa.log_in_by_account('alice', 'alice-pw', ARRAY['twofatoken::' || zstack_tfa.totp('$secret')])->'inventory'->>'uuid'");
like($session, qr/^[0-9a-f]{32}$/, 'alice logged in');
my @codes = $node->safe_psql('postgres', "SELECT zstack_tfa.generate_recovery_codes('$session', 'alice-pw')")
  =~ /"([A-Z2-7]{5}-[A-Z2-7]{5})"/g;
is(scalar @codes, 10, 'and got recovery codes');

$node->append_conf('postgresql.conf', "synchronous_standby_names = 'nobody'\n");
$node->reload;

# Run SQL in a psql of its own, under synchronous_commit = local; return how
# many of its commits waited for the standby (SyncRep; each wait is
# cancelled once seen, and the first is looked for up to 5 s), and what
# psql printed.
sub waits_for_standby
{
	my ($sql) = @_;
	my ($in, $out) = ("SET synchronous_commit = local;\n$sql;\nSHOW synchronous_commit;\n", '');
	my $h = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$out);
	my $waits = 0;
	my $deadline = time + 5;
	while (time < $deadline)
	{
		usleep(100_000);
		$h->pump_nb;
		my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
		if ($pid ne '')
		{
			$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
			$waits++;
			$deadline = time + 3;
		}
		last if $waits && !$h->pumpable;
	}
	$h->finish;
	return ($waits, $out);
}

# the control: the setting is in force (a plain write under "on" waits),
# and a plain write under "local" does not wait for it
$node->poll_query_until('postgres', "SELECT setting = 'nobody' FROM pg_settings WHERE name = 'synchronous_standby_names'")
  or die 'the setting did not arrive';
my ($waited, $out) = waits_for_standby('SET synchronous_commit = on; INSERT INTO plain_writes VALUES (1)');
is($waited, 1, 'a plain write under synchronous_commit = on waits for the standby');
($waited, $out) = waits_for_standby('INSERT INTO plain_writes VALUES (1)');
ok(!$waited, 'a plain write under synchronous_commit = local does not');

# a TOTP login (a later step: the one of the login above is used)
($waited, $out) = waits_for_standby("SELECT CASE WHEN zstack_tfa.log_in_by_account('alice', 'alice-pw',"
	  . " ARRAY['twofatoken::' || zstack_tfa.totp('$secret', now() + interval '30 seconds')])::jsonb ? 'inventory'"
	  . " THEN 'logged in' ELSE 'refused' END");
ok($waited, 'a TOTP login under synchronous_commit = local waits for the synchronous standby');
like($out, qr/canceling wait for synchronous replication/, 'a cancel ends the wait as for any commit');
like($out, qr/^logged in$/m, 'the login answers once its commit is done');
like($out, qr/^local$/m, "and the session's synchronous_commit is its own again");

# a recovery code
($waited, $out) = waits_for_standby("SELECT CASE WHEN zstack_tfa.log_in_by_account('alice', 'alice-pw',"
	  . " ARRAY['twofatoken::$codes[0]'])::jsonb ? 'inventory' THEN 'logged in' ELSE 'refused' END");
ok($waited, 'a recovery login under synchronous_commit = local waits for the synchronous standby');
like($out, qr/^logged in$/m, 'and logs in');

# a refused code writes no step: nothing to wait for
($waited, $out) = waits_for_standby("SELECT CASE WHEN zstack_tfa.log_in_by_account('alice', 'wrong-pw',"
	  . " ARRAY['twofatoken::000000'])::jsonb ? 'inventory' THEN 'logged in' ELSE 'refused' END");
ok(!$waited, 'a wrong password does not wait for the standby');
like($out, qr/^refused$/m, 'and is refused');

# the next transaction of a session that logged in is its own again
($waited, $out) = waits_for_standby("SELECT CASE WHEN zstack_tfa.log_in_by_account('alice', 'alice-pw',"
	  . " ARRAY['twofatoken::$codes[1]'])::jsonb ? 'inventory' THEN 'logged in' ELSE 'refused' END;\n"
	  . 'INSERT INTO plain_writes VALUES (2)');
is($waited, 1, 'after a login, the same session\'s plain write under "local" does not wait');
like($out, qr/^logged in$/m, 'the login of that session answered');
done_testing();
