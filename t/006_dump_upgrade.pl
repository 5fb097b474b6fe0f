# The extension survives pg_dump/pg_restore into a new database (accounts,
# secrets with their status and replay state, sessions, the 2FA switch, the
# audit log), and ALTER EXTENSION ... UPDATE walks every upgrade path there
# is, ending with the same objects as a fresh install.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION zstack_tfa;
	SELECT zstack_tfa.set_account_password('admin', 'admin-password');
	SELECT zstack_tfa.create_account('alice', 'alice-password');
	SELECT zstack_tfa.create_iam2_virtual_id('alice', 'alice-dev', 'dev-password');
	SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
	SELECT zstack_tfa.get_two_factor_authentication_secret('alice-dev', 'dev-password', 'iam2');
	SELECT zstack_tfa.log_in_by_account('alice', 'alice-password', ARRAY['twofatoken::' ||
		zstack_tfa.totp(zstack_tfa.get_two_factor_authentication_secret('alice', 'alice-password')->'inventory'->>'secret')]);
	SELECT zstack_tfa.log_in_by_account('admin', 'admin-password', '{twofatoken::000000}');
});
my $secrets = q{SELECT string_agg(concat_ws('|', uuid, secret, user_uuid, user_type, account_uuid, status,
	create_date, last_op_date, last_accepted_step, failed_attempts, locked_until, last_login_date), E'\n' ORDER BY uuid)
	FROM zstack_tfa.secret};
my $original = $node->safe_psql('postgres', $secrets);
my $events = $node->safe_psql('postgres', 'SELECT count(*) FROM zstack_tfa.auth_event');
my $session = $node->safe_psql('postgres', 'SELECT uuid FROM zstack_tfa.session LIMIT 1');

my $dump = PostgreSQL::Test::Utils::tempdir . '/zstack.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ], 'pg_restore into a new database');

is($node->safe_psql('restored', $secrets), $original, 'secrets, status, replay and lockout state are kept');
is($node->safe_psql('restored', 'SELECT count(*) FROM zstack_tfa.auth_event'), $events, 'the audit log is kept');
is($node->safe_psql('restored', q{SELECT count(*) FROM zstack_tfa.account WHERE name = 'admin'}), '1', 'admin exists once');
is($node->safe_psql('restored', 'SELECT zstack_tfa.get_two_factor_authentication_state()'), '{"state":"Enable"}', 'the 2FA switch is kept');
like($node->safe_psql('restored', qq{SELECT zstack_tfa.query_two_factor_authentication_json('$session', count => true)}),
	qr/^\{"schema":\{\},"total":\d+\}$/, 'a session from before the dump works after the restore');
like($node->safe_psql('restored', q{SELECT zstack_tfa.log_in_by_account('admin', 'admin-password')}),
	qr/ID\.1000/, "admin's password is not in the dump (README: set it again)");
like($node->safe_psql('restored', q{SELECT zstack_tfa.set_account_password('admin', 'new'); SELECT zstack_tfa.log_in_by_account('admin', 'new')}),
	qr/ID\.2001/, 'with its password set again, admin gets as far as the second factor');
$node->safe_psql('restored', q{SELECT zstack_tfa.log_in_by_account('alice', 'wrong')});
cmp_ok($node->safe_psql('restored', 'SELECT max(id) FROM zstack_tfa.auth_event'), '>', $events,
	'the audit log numbering goes on after the restored rows');
is($node->safe_psql('restored', q{SELECT count(*) FROM pg_proc WHERE pronamespace = 'zstack_tfa'::regnamespace
	AND has_function_privilege('public', oid, 'EXECUTE')}), '0', 'privileges come back closed');

# the upgrade paths: every path to the default version, from a fresh install
# of its start, must end with the objects of a fresh install of the default
my $objects = q{SELECT string_agg(pg_describe_object(classid, objid, 0), E'\n' ORDER BY 1)
	FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
	AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'zstack_tfa')};
my $default = $node->safe_psql('postgres', q{SELECT default_version FROM pg_available_extensions WHERE name = 'zstack_tfa'});
my $fresh = $node->safe_psql('postgres', $objects);
my @paths = split /\n/, $node->safe_psql('postgres', qq{SELECT source FROM pg_extension_update_paths('zstack_tfa')
	WHERE target = '$default' AND path IS NOT NULL AND source <> '$default'});
for my $source (@paths)
{
	$node->safe_psql('postgres', "CREATE DATABASE up_$source" =~ s/\./_/gr);
	my $db = "up_$source" =~ s/\./_/gr;
	$node->safe_psql($db, "CREATE EXTENSION zstack_tfa VERSION '$source'; ALTER EXTENSION zstack_tfa UPDATE");
	is($node->safe_psql($db, $objects), $fresh, "upgrade from $source to $default gives a fresh install's objects");
}
note(scalar(@paths) . " upgrade path(s) to $default");
my ($rc, $out, $err) = $node->psql('postgres', 'ALTER EXTENSION zstack_tfa UPDATE');
is($rc, 0, "ALTER EXTENSION ... UPDATE at $default succeeds");
like($err, qr/version "\Q$default\E" of extension "zstack_tfa" is already installed/, '... and says it has nothing to do');
is($node->safe_psql('postgres', $secrets), $original, '... and changes no data');

$node->stop;
done_testing();
