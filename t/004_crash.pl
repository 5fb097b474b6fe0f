# kill -9 of the postmaster in the middle of concurrent logins and resets:
# after the restart every secret is intact, no user has two secrets, no time
# step was accepted twice, and the audit log agrees with the sessions.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(sleep);

my $users = 6;
my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
# wrong codes are part of the storm: do not let lockouts end it early
$node->append_conf('postgresql.conf', "zstack_tfa.max_failed_attempts = 1000\n");
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION zstack_tfa;
	CREATE EXTENSION amcheck;
	SELECT zstack_tfa.set_account_password('admin', 'admin-password');
	SELECT zstack_tfa.create_account('user' || i, 'pw' || i) FROM generate_series(1, $users) i;
	SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
	INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, expired_date)
	VALUES (zstack_tfa.session_key('5e550000000000000000000000000001'), '36c27e8ff05c4780bf6d2fa65700f22e',
		'36c27e8ff05c4780bf6d2fa65700f22e', now() + interval '1 day');
});

# logins with the current code (most are refused: one success per step),
# logins with wrong codes, and admin resets of the same users' secrets
my $dir = PostgreSQL::Test::Utils::tempdir;
open(my $fh, '>', "$dir/login.sql") or die;
print $fh q{\set n random(1, } . $users . q{)
SELECT zstack_tfa.log_in_by_account('user' || :n, 'pw' || :n, ARRAY['twofatoken::' ||
	zstack_tfa.totp((SELECT zstack_tfa.secret_text(s.uuid, s.secret) FROM zstack_tfa.secret s JOIN zstack_tfa.account a
		ON a.uuid = s.user_uuid WHERE a.name = 'user' || :n))]);
SELECT zstack_tfa.log_in_by_account('user' || :n, 'pw' || :n, ARRAY['twofatoken::000000']);
};
close $fh;
open($fh, '>', "$dir/reset.sql") or die;
print $fh q{\set n random(1, } . $users . q{)
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'user' || :n);
};
close $fh;

my $bench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '20', '-f', "$dir/login.sql\@5",
	  '-f', "$dir/reset.sql\@1", $node->connstr('postgres') ],
	'>', "$dir/pgbench.out", '2>', "$dir/pgbench.err");
# (its output goes to files: a pipe nobody reads would stall it)
# let the storm run, then pull the plug
$node->poll_query_until('postgres',
	"SELECT count(*) >= 200 FROM zstack_tfa.auth_event WHERE kind IN ('login', 'reset_secret')")
  or do { $bench->kill_kill; die "the storm did not start: pgbench said: " . slurp_file("$dir/pgbench.err"); };
$node->kill9;
$bench->finish;
# the orphaned backends notice the dead postmaster and exit; until they do,
# a new postmaster may not take the data directory
my $restarted = 0;
for (1 .. 60)
{
	last if ($restarted = $node->start(fail_ok => 1));
	# a failed start re-reads the stale postmaster.pid: forget it again
	$node->{_pid} = undef;
	sleep 0.5;
}
ok($restarted, 'the server restarts after kill -9');

my $events = $node->safe_psql('postgres', "SELECT count(*) FROM zstack_tfa.auth_event");
cmp_ok($events, '>=', 200, "the storm wrote $events audit events before the crash");
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM zstack_tfa.account a
	WHERE (SELECT count(*) FROM zstack_tfa.secret s WHERE s.user_uuid = a.uuid) <> 1}),
	'0', 'every account has exactly one secret');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM zstack_tfa.secret
	WHERE zstack_tfa.secret_text(uuid, secret) !~ '^[A-Z2-7]{16}$' OR secret NOT LIKE 'zt1:%'
		OR status IS NULL OR failed_attempts < 0}),
	'0', 'every secret is intact (stored encrypted, decrypts to base32)');
# amcheck raises on a corrupt index; in the select list it runs only for
# the rows the WHERE clause kept
cmp_ok($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT bt_index_parent_check(c.oid, true) FROM pg_class c
		JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree'
		WHERE c.relkind = 'i' AND c.relnamespace = 'zstack_tfa'::regnamespace) checked}),
	'>=', 10, 'every btree index of the extension checks out (amcheck, heapallindexed)');

# no time step was accepted twice for one secret, and every secret's replay
# state agrees with the audit log of what committed
cmp_ok($node->safe_psql('postgres', q{
	SELECT count(*) FROM zstack_tfa.auth_event WHERE totp_step IS NOT NULL}),
	'>', 0, 'logins succeeded during the storm');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT secret_uuid, totp_step FROM zstack_tfa.auth_event
		WHERE totp_step IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) twice}),
	'0', 'no step was accepted twice for a secret');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM zstack_tfa.secret s
	WHERE s.last_accepted_step IS DISTINCT FROM (SELECT max(e.totp_step) FROM zstack_tfa.auth_event e
		WHERE e.secret_uuid = s.uuid)}),
	'0', 'each secret\'s last accepted step is the audit log\'s');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM zstack_tfa.secret WHERE last_accepted_step > pg_catalog.floor(extract(epoch FROM now()) / 30) + 1}),
	'0', 'no secret has accepted a step from the future');

# the audit log agrees with what committed: one session per successful login
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM zstack_tfa.session WHERE user_uuid <> '36c27e8ff05c4780bf6d2fa65700f22e'}),
	$node->safe_psql('postgres', q{
	SELECT count(*) FROM zstack_tfa.auth_event WHERE kind = 'login' AND outcome = 'success'}),
	'sessions and successful-login audit rows match');

# and the extension works on: a fresh login with a code
my $secret = $node->safe_psql('postgres', q{
	SELECT zstack_tfa.get_two_factor_authentication_secret('user1', 'pw1')->'inventory'->>'secret'});
like($secret, qr/^([A-Z2-7]{16})?$/, 'the secret API answers after the restart');
my $secrets = $users + 1;	# and admin's own
like($node->safe_psql('postgres', q{
	SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', count => true)}),
	qr/^\{"schema":\{\},"total":$secrets\}$/, "the admin still sees all $secrets secrets");

$node->stop;
done_testing();
