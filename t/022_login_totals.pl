# Issue 20, the login counts of 1.4: the horizon of zstack_tfa.login_total
# never passes an audit row that can still commit.  A move sets the last id
# in waiting and a later one takes it only once every transaction older
# than the first has ended: a login whose transaction is open, or prepared,
# is counted once it commits; two moves at once count nothing twice; a
# standby moves nothing and shows the primary's figures.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('totals');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', "max_prepared_transactions = 2\n");
$node->start;
my $db = 'postgres';
$node->safe_psql($db, q{
CREATE EXTENSION zstack_tfa;
SELECT zstack_tfa.create_account('u', 'u-password');
});
# rows in which the figures and a full count of the audit log differ
my $full = q{WITH m AS (SELECT label, value FROM zstack_tfa.metrics WHERE metric = 'logins' AND value > 0),
	a AS (SELECT r.result, count(*) FROM zstack_tfa.login_result r GROUP BY r.result)
	SELECT count(*) FROM ((TABLE m EXCEPT TABLE a) UNION ALL (TABLE a EXCEPT TABLE m)) d};
my $wrong_pw = q{SELECT value FROM zstack_tfa.metrics WHERE metric = 'logins' AND label = 'wrong_password'};
my $through = q{SELECT through_id FROM zstack_tfa.login_total_through};
sub bad_login { return "SELECT zstack_tfa.log_in_by_account('u', 'not-the-password')->'error'->>'code';\n" }
sub move { return $node->safe_psql($db, q{SELECT zstack_tfa.roll_up_logins('0')}) }

# 1. a login in a transaction left open across two moves
my ($in, $out) = ('', '');
my $open = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr($db) ], '<', \$in, '>', \$out, '2>', \$out);
$in .= "BEGIN;\n" . bad_login();
$open->pump until $out =~ /ID\.\d{4}/;
like($out, qr/ID\.1000/, 'a wrong password, audited in a transaction still open');
is(move(), 'f', 'a first move sets the last id in waiting');
is(move(), 'f', 'a second does not take it while that transaction is open');
is($node->safe_psql($db, $through), '0', 'the horizon has not moved');
$in .= "COMMIT;\n";
$open->finish;
is(move(), 't', 'once it has committed, the next move takes it');
is($node->safe_psql($db, $wrong_pw), '1', 'and its login is counted');
is($node->safe_psql($db, $full), '0', 'the figures are a full count of the audit log');

# 2. a prepared transaction holds an audit row
$node->safe_psql($db, "BEGIN; " . bad_login() . "PREPARE TRANSACTION 'login';");
is(move(), 't', 'a move sets the prepared row\'s id in waiting');
is(move(), 'f', 'a prepared transaction keeps the next from taking it');
$node->safe_psql($db, "COMMIT PREPARED 'login'");
is(move(), 't', 'which it takes once it is committed');
is($node->safe_psql($db, $wrong_pw), '2', 'and its login is counted');
is($node->safe_psql($db, $full), '0', '... once');

# 3. two moves at once: one moves, the other finds the row taken
$node->safe_psql($db, bad_login()) for 1 .. 3;
move();
my ($in2, $out2) = ('', '');
my $holder = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr($db) ], '<', \$in2, '>', \$out2, '2>', \$out2);
$in2 .= "BEGIN; SELECT zstack_tfa.roll_up_logins('0');\n";
$holder->pump until $out2 =~ /^[tf]$/m;
like($out2, qr/^t$/m, 'a move in an open transaction');
is(move(), 'f', 'a second move meanwhile does nothing');
$in2 .= "COMMIT;\n";
$holder->finish;
is($node->safe_psql($db, $wrong_pw), '5', 'every login counted');
is($node->safe_psql($db, $full), '0', '... once');

# 4. a standby: its figures are the primary's, and it moves nothing
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('totals_standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->safe_psql($db, bad_login());
move();
$node->wait_for_catchup($standby);
is($standby->safe_psql($db, q{SELECT zstack_tfa.roll_up_logins('0')}), 'f', 'a standby moves nothing');
my $metrics = q{SELECT string_agg(label || '=' || value, ' ' ORDER BY label) FROM zstack_tfa.metrics WHERE metric = 'logins'};
is($standby->safe_psql($db, $metrics), $node->safe_psql($db, $metrics), 'and shows the figures of the primary');
$standby->stop;
$node->stop;
done_testing();
