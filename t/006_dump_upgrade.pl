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
});
# the session uuid is the client's (the table holds only its key)
my $session = $node->safe_psql('postgres', q{
	SELECT zstack_tfa.log_in_by_account('alice', 'alice-password', ARRAY['twofatoken::' ||
		zstack_tfa.totp(zstack_tfa.get_two_factor_authentication_secret('alice', 'alice-password')->'inventory'->>'secret')])
		->'inventory'->>'uuid'});
$node->safe_psql('postgres', q{SELECT zstack_tfa.log_in_by_account('admin', 'admin-password', '{twofatoken::000000}')});
my $secrets = q{SELECT string_agg(concat_ws('|', uuid, secret, user_uuid, user_type, account_uuid, status,
	create_date, last_op_date, last_accepted_step, failed_attempts, locked_until, last_login_date), E'\n' ORDER BY uuid)
	FROM zstack_tfa.secret};
my $original = $node->safe_psql('postgres', $secrets);
my $events = $node->safe_psql('postgres', 'SELECT count(*) FROM zstack_tfa.auth_event');

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

# the update from 1.0 with data in it: every row kept but those that name an
# IAM2 user who no longer exists (1.0 let them outlive the user); the secrets
# stay plain until the DBA encrypts them, and every reply is the same as a
# new 1.1 installation's with the same data, before and after
my $data = q{
	SET client_min_messages = warning;
	SELECT zstack_tfa.set_account_password('admin', 'admin-password');
	INSERT INTO zstack_tfa.account (uuid, name, password_hash) VALUES
		('a0000000000000000000000000000001', 'alice', zstack_tfa.hash_password('alice-password'));
	INSERT INTO zstack_tfa.iam2_virtual_id (uuid, name, password_hash, account_uuid) VALUES
		('e0000000000000000000000000000001', 'alice-dev', zstack_tfa.hash_password('dev-password'), 'a0000000000000000000000000000001');
	INSERT INTO zstack_tfa.global_config VALUES ('TwoFactorAuthentication.enable', 'true');
	INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid, status, create_date, last_op_date) VALUES
		('f0000000000000000000000000000001', 'JBSWY3DPEHPK3PXP', 'a0000000000000000000000000000001', 'AccountVO', 'a0000000000000000000000000000001', 'NewCreated', '2026-01-10 09:00:00+00', '2026-01-10 09:00:00+00'),
		('f0000000000000000000000000000002', 'GEZDGNBVGY3TQOJQ', 'e0000000000000000000000000000001', 'IAM2VirtualIDVO', 'a0000000000000000000000000000001', 'Logined', '2026-02-11 13:30:00+00', '2026-02-12 08:15:00+00'),
		('f0000000000000000000000000000003', 'NB2HI4DTHIXS653X', '36c27e8ff05c4780bf6d2fa65700f22e', 'AccountVO', '36c27e8ff05c4780bf6d2fa65700f22e', 'Logined', '2026-06-15 06:07:08+00', '2026-06-15 06:07:08+00');
	INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, user_type, expired_date) VALUES
		('5e550000000000000000000000000001', '36c27e8ff05c4780bf6d2fa65700f22e', '36c27e8ff05c4780bf6d2fa65700f22e', 'AccountVO', now() + interval '1 day'),
		('5e550000000000000000000000000002', 'a0000000000000000000000000000001', 'a0000000000000000000000000000001', 'AccountVO', now() + interval '1 day'),
		('5e550000000000000000000000000003', 'a0000000000000000000000000000001', 'e0000000000000000000000000000001', 'IAM2VirtualIDVO', now() + interval '1 day');
};
my $orphans = q{
	INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid) VALUES
		('f0000000000000000000000000000099', 'KRUGKIDROVUWG2ZA', 'e0000000000000000000000000000099', 'IAM2VirtualIDVO', 'a0000000000000000000000000000001');
	INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, user_type, expired_date) VALUES
		('5e550000000000000000000000000099', 'a0000000000000000000000000000001', 'e0000000000000000000000000000099', 'IAM2VirtualIDVO', now() + interval '1 day');
};
my $replies = q{
	SET timezone = 'UTC';
	SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', sort => 'uuid');
	SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000002', '{secret~=%P%}', sort => '-status');
	SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003');
	SELECT string_agg(concat_ws(',', uuid, secret, status), ';' ORDER BY uuid) FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001');
	SELECT zstack_tfa.get_two_factor_authentication_secret('alice', 'alice-password');
	SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000099');
};
$node->safe_psql('postgres', 'CREATE DATABASE up_data; CREATE DATABASE fresh_data');
$node->safe_psql('up_data', "CREATE EXTENSION zstack_tfa VERSION '1.0'; $data $orphans");
# (a new installation stores session keys: the same sessions under theirs)
$node->safe_psql('fresh_data', "CREATE EXTENSION zstack_tfa; $data;
	UPDATE zstack_tfa.session SET uuid = zstack_tfa.session_key(uuid)");
$node->safe_psql('up_data', 'ALTER EXTENSION zstack_tfa UPDATE');
is($node->safe_psql('up_data', q{SELECT extversion FROM pg_extension WHERE extname = 'zstack_tfa'}), $default, "1.0 with data updated to $default");
is($node->safe_psql('up_data', q{SELECT (SELECT count(*) FROM zstack_tfa.secret) || ' ' || (SELECT count(*) FROM zstack_tfa.session)
	|| ' ' || (SELECT count(*) FROM zstack_tfa.account) || ' ' || (SELECT count(*) FROM zstack_tfa.iam2_virtual_id)}),
	'3 3 2 1', 'every row kept but the secret and session of an IAM2 user that no longer exists');
is($node->safe_psql('up_data', q{SELECT count(*) FILTER (WHERE uuid IN (zstack_tfa.session_key('5e550000000000000000000000000001'),
		zstack_tfa.session_key('5e550000000000000000000000000002'), zstack_tfa.session_key('5e550000000000000000000000000003')))
	|| ' ' || count(*) FILTER (WHERE uuid LIKE '5e55%') FROM zstack_tfa.session}),
	'3 0', 'the sessions of 1.0 are stored under their keys, no longer under their uuids');
is($node->safe_psql('up_data', q{SELECT string_agg(state || ' ' || secrets, ', ' ORDER BY state) FROM zstack_tfa.secret_encryption}),
	'current key 0, plain 3',
	'the secrets are still plain after the update');
my $expected = $node->safe_psql('fresh_data', $replies);
like($expected, qr/"inventories":\[\{"uuid":"f0000000000000000000000000000001","secret":"JBSWY3DPEHPK3PXP"/, '(the replies hold the secrets)');
is($node->safe_psql('up_data', $replies), $expected, 'the updated installation answers as a new one');
$node->safe_psql('up_data', 'CALL zstack_tfa.encrypt_all_secrets()');
is($node->safe_psql('up_data', q{SELECT string_agg(state || ' ' || secrets, ', ' ORDER BY state) FROM zstack_tfa.secret_encryption}),
	'current key 3',
	'encrypt_all_secrets encrypts the secrets of 1.0');
is($node->safe_psql('up_data', $replies), $expected, 'and the replies stay the same');
like($node->safe_psql('up_data', q{SELECT zstack_tfa.log_in_by_account('alice', 'alice-password',
	ARRAY['twofatoken::' || zstack_tfa.totp('JBSWY3DPEHPK3PXP')])}), qr/"inventory":\{"uuid"/, 'a 2FA login works on the encrypted secret');

# the update from 1.1 with live sessions (issue 18): a 1.1 login stored its
# uuid; after the update the table holds only its key, and the client's uuid
# still works everywhere, LogOut included
$node->safe_psql('postgres', 'CREATE DATABASE up_11');
$node->safe_psql('up_11', "CREATE EXTENSION zstack_tfa VERSION '1.1'; $data");
# the 1.2 library refuses codes at 1.1 before comparing them (its recorder
# has no rights in this database yet, t/020); the session a login under the
# 1.1 library left is stored as its uuid, as 1.1 stores it
like($node->safe_psql('up_11', q{SELECT zstack_tfa.log_in_by_account('alice', 'alice-password',
	ARRAY['twofatoken::' || zstack_tfa.totp('JBSWY3DPEHPK3PXP')])->'error'->>'details'}),
	qr/until its extension is updated/, 'a 2FA code at 1.1 is refused until the update');
my $s11 = 'c0ffee00000000000000000000000011';
$node->safe_psql('up_11', qq{INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, expired_date)
	SELECT '$s11', uuid, uuid, now() + interval '2 hours' FROM zstack_tfa.account WHERE name = 'alice'});
is($node->safe_psql('up_11', qq{SELECT count(*) FROM zstack_tfa.session WHERE uuid = '$s11'}), '1',
	'a session of 1.1, stored as its uuid');
# the new library resets on 1.1's objects too (the audit row without the
# actor columns 1.2 adds)
like($node->safe_psql('up_11', q{SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'alice')}),
	qr/^\{"inventory":\{"uuid":"[0-9a-f]{32}","secret":"[A-Z2-7]{16}","status":"NewCreated"/, 'a reset before the update');
my $before = $node->safe_psql('up_11', $replies);
$node->safe_psql('up_11', 'ALTER EXTENSION zstack_tfa UPDATE');
is($node->safe_psql('up_11', q{SELECT extversion FROM pg_extension WHERE extname = 'zstack_tfa'}), $default, "1.1 with sessions updated to $default");
is($node->safe_psql('up_11', qq{SELECT count(*) FILTER (WHERE uuid = '$s11') || ' ' || count(*) FILTER (WHERE strpos(s::text, '$s11') > 0)
	|| ' ' || count(*) FILTER (WHERE uuid = zstack_tfa.session_key('$s11')) FROM zstack_tfa.session s}),
	'0 0 1', 'after the update the uuid is in no column, its key is stored');
is($node->safe_psql('up_11', $replies), $before, 'the sessions of 1.1 answer as before the update');
like($node->safe_psql('up_11', qq{SELECT zstack_tfa.query_two_factor_authentication_json('$s11', count => true)}),
	qr/^\{"schema":\{\},"total":\d+\}$/, "the 1.1 login's uuid still authenticates");
is($node->safe_psql('up_11', qq{SELECT zstack_tfa.validate_session('$s11')}), '{"valid":true}', '... and is valid');
like($node->safe_psql('up_11', qq{SELECT zstack_tfa.renew_session('$s11', '$s11', 600)}), qr/^\{"inventory":\{"uuid":"$s11"/,
	'... and renews itself, the reply naming it by its uuid');
# recovery codes (issue 22) on the secrets of 1.1: the report counts
# none, a batch is made for the 1.1 session, and a code logs in once
is($node->safe_psql('up_11', q{SELECT string_agg(user_name || ' ' || recovery_codes_left || ' ' || recovery_codes_used, ', ' ORDER BY user_name)
	FROM zstack_tfa.two_factor_report}), 'admin 0 0, alice 0 0, alice-dev 0 0', 'the report of the updated 1.1 counts no recovery codes yet');
my @codes = $node->safe_psql('up_11', qq{SELECT zstack_tfa.generate_recovery_codes('$s11', 'alice-password')})
	=~ /"([A-Z2-7]{5}-[A-Z2-7]{5})"/g;
is(scalar @codes, 10, "the 1.1 login's session gets a batch of recovery codes");
like($node->safe_psql('up_11', qq{SELECT zstack_tfa.log_in_by_account('alice', 'alice-password', ARRAY['twofatoken::$codes[0]'])}),
	qr/"inventory":\{"uuid"/, 'a recovery code logs in on the secret of 1.1');
like($node->safe_psql('up_11', qq{SELECT zstack_tfa.log_in_by_account('alice', 'alice-password', ARRAY['twofatoken::$codes[0]'])}),
	qr/ID\.2002/, '... once');
is($node->safe_psql('up_11', q{SELECT recovery_codes_left || ' ' || recovery_codes_used FROM zstack_tfa.two_factor_report WHERE user_name = 'alice'}),
	'9 1', '... and the report counts it');
is($node->safe_psql('up_11', q{SELECT string_agg(kind || ':' || outcome, ',' ORDER BY id) FROM zstack_tfa.auth_event
	WHERE kind IN ('generate_recovery_codes', 'recovery_login')}), 'generate_recovery_codes:success,recovery_login:success',
	'the new audit kinds are in the updated enum');
$node->safe_psql('up_11', qq{SELECT zstack_tfa.log_out('$s11')});
is($node->safe_psql('up_11', qq{SELECT zstack_tfa.validate_session('$s11')}), '{"valid":false}', '... and logs out');

# issue 19: the audit rows of 1.1 are kept, without an actor; both forms of
# the reset work after the update (1.1's and ZStack's), and each names the
# SystemAdmin session that reset whose secret
my $events11 = $node->safe_psql('up_11', q{SELECT count(*) FROM zstack_tfa.auth_event});
cmp_ok($events11, '>', 0, '1.1 wrote audit rows');
is($node->safe_psql('up_11', q{SELECT count(*) FILTER (WHERE actor_account_uuid IS NULL AND actor_user_uuid IS NULL)
	FROM zstack_tfa.auth_event}), $events11, '... which the update keeps, with no actor');
like($node->safe_psql('up_11', q{SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'alice')}),
	qr/^\{"inventory":\{"uuid":"[0-9a-f]{32}","secret":"[A-Z2-7]{16}","status":"NewCreated"/, "1.1's reset works after the update");
like($node->safe_psql('up_11', q{SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001',
	'alice-dev', 'dev-password', 'iam2')}), qr/^\{"inventory":\{.*"status":"NewCreated",.*"userType":"IAM2VirtualIDVO"\}\}$/,
	"ZStack's form resets an IAM2 user's secret");
is($node->safe_psql('up_11', q{SELECT string_agg(user_uuid || ' by ' || coalesce(actor_user_uuid, ''), ', ' ORDER BY id) FROM zstack_tfa.auth_event
	WHERE kind = 'reset_secret' AND outcome = 'success'}),
	'a0000000000000000000000000000001 by , a0000000000000000000000000000001 by 36c27e8ff05c4780bf6d2fa65700f22e, e0000000000000000000000000000001 by 36c27e8ff05c4780bf6d2fa65700f22e',
	'the audit log names who reset whose secret');

# the update from 1.2 with data and traffic in it (issue 20): under the new
# library a 1.2 database still audits a replayed code as a wrong code (its
# audit knows no "replay"), every row and reply is kept by the update, and
# the metrics of 1.3 count what 1.2 wrote; a replay after the update is
# counted as one
$node->safe_psql('postgres', 'CREATE DATABASE up_12');
$node->safe_psql('up_12', "CREATE EXTENSION zstack_tfa VERSION '1.2'; $data;
	UPDATE zstack_tfa.session SET uuid = zstack_tfa.session_key(uuid)");
my $code12 = $node->safe_psql('up_12', q{SELECT zstack_tfa.totp('JBSWY3DPEHPK3PXP')});
my $login12 = qq{SELECT coalesce(zstack_tfa.log_in_by_account('alice', 'alice-password', ARRAY['twofatoken::$code12'])->'error'->>'code', 'session')};
is($node->safe_psql('up_12', $login12), 'session', 'at 1.2: a right code logs in');
is($node->safe_psql('up_12', $login12), 'ID.2002', 'at 1.2: the same code again is refused');
is($node->safe_psql('up_12', q{SELECT zstack_tfa.log_in_by_account('alice', 'alice-password',
	ARRAY['twofatoken::' || zstack_tfa.totp('JBSWY3DPEHPK3PXP', now() - interval '1 day')])->'error'->>'code'}), 'ID.2002',
	'at 1.2: a wrong code is refused');
$node->safe_psql('up_12', q{SELECT zstack_tfa.log_in_by_account('alice', 'not-her-password')});
is($node->safe_psql('up_12', q{SELECT string_agg(outcome, ',' ORDER BY id) FROM zstack_tfa.auth_event WHERE kind = 'login'}),
	'success,wrong_code,wrong_code,bad_credentials', 'at 1.2 a replay is audited as a wrong code');
my $secrets12 = $node->safe_psql('up_12', $secrets);
my $replies12 = $node->safe_psql('up_12', $replies);
$node->safe_psql('up_12', 'ALTER EXTENSION zstack_tfa UPDATE');
is($node->safe_psql('up_12', q{SELECT extversion FROM pg_extension WHERE extname = 'zstack_tfa'}), $default, "1.2 with data updated to $default");
is($node->safe_psql('up_12', $objects), $fresh, "... with a fresh install's objects");
is($node->safe_psql('up_12', $secrets), $secrets12, '... its secrets, replay and lockout state kept');
is($node->safe_psql('up_12', $replies), $replies12, '... and its replies the same');
my $metrics = q{SELECT string_agg(metric || coalesce(nullif('{' || label || '}', '{}'), '') || '=' || value, ' ' ORDER BY metric, label)
	FROM zstack_tfa.metrics WHERE metric IN ('logins', 'lockouts', 'locked_now', 'secrets', 'sessions_live')};
is($node->safe_psql('up_12', $metrics),
	'locked_now=0 lockouts=0 logins{code_required}=0 logins{locked}=0 logins{no_secret}=0 logins{ok}=1 logins{recovery}=0 logins{replay}=0 logins{wrong_code}=2 logins{wrong_password}=1 secrets{Logined}=3 secrets{NewCreated}=0 sessions_live=4',
	"the metrics count 1.2's events");
my $code_dev = $node->safe_psql('up_12', q{SELECT zstack_tfa.totp('GEZDGNBVGY3TQOJQ')});
my $login_dev = qq{SELECT coalesce(zstack_tfa.log_in_by_iam2_virtual_id('alice-dev', 'dev-password', ARRAY['twofatoken::$code_dev'])->'error'->>'code', 'session')};
is($node->safe_psql('up_12', $login_dev), 'session', 'at 1.3: a right code logs in');
is($node->safe_psql('up_12', $login_dev), 'ID.2002', 'at 1.3: the same code again is refused');
is($node->safe_psql('up_12', q{SELECT string_agg(label || '=' || value, ' ' ORDER BY label) FROM zstack_tfa.metrics
	WHERE metric = 'logins' AND label IN ('ok', 'replay', 'wrong_code')}), 'ok=2 replay=1 wrong_code=2',
	'... audited and counted as a replay');

# the update from 1.3 with data, traffic and a monitoring role (1.4's
# login counts): the figures are the same after the update, the role that
# read the metrics still reads them, and once granted roll_up_logins as
# README's block does it moves the horizon, which keeps the figures
$node->safe_psql('postgres', 'CREATE DATABASE up_13');
$node->safe_psql('up_13', "CREATE EXTENSION zstack_tfa VERSION '1.3'; $data;
	UPDATE zstack_tfa.session SET uuid = zstack_tfa.session_key(uuid);
	CREATE ROLE mon13 LOGIN;
	GRANT USAGE ON SCHEMA zstack_tfa TO mon13;
	GRANT SELECT ON zstack_tfa.metrics TO mon13;
	GRANT EXECUTE ON FUNCTION zstack_tfa.recorder_state() TO mon13;");
my $code13 = $node->safe_psql('up_13', q{SELECT zstack_tfa.totp('JBSWY3DPEHPK3PXP')});
is($node->safe_psql('up_13', qq{SELECT coalesce(zstack_tfa.log_in_by_account('alice', 'alice-password', ARRAY['twofatoken::$code13'])->'error'->>'code', 'session')}),
	'session', 'at 1.3: a right code logs in');
$node->safe_psql('up_13', q{SELECT zstack_tfa.log_in_by_account('alice', 'not-her-password')});
$node->safe_psql('up_13', q{INSERT INTO zstack_tfa.auth_event (at, kind, outcome) VALUES (now() - interval '1 day', 'login', 'locked')});
my $metrics13 = $node->safe_psql('up_13', $metrics);
my $secrets13 = $node->safe_psql('up_13', $secrets);
$node->safe_psql('up_13', 'ALTER EXTENSION zstack_tfa UPDATE');
is($node->safe_psql('up_13', q{SELECT extversion FROM pg_extension WHERE extname = 'zstack_tfa'}), $default, "1.3 with data updated to $default");
is($node->safe_psql('up_13', $objects), $fresh, "... with a fresh install's objects");
is($node->safe_psql('up_13', $secrets), $secrets13, '... its secrets kept');
is($node->safe_psql('up_13', $metrics), $metrics13, "... and 1.3's figures");
is($node->safe_psql('up_13', q{SET ROLE mon13; SELECT count(*) FROM zstack_tfa.metrics WHERE metric = 'logins'}), '8',
	"the role that read 1.3's metrics reads 1.4's, with 1.3's grants");
my ($rc13, $out13, $err13) = $node->psql('up_13', q{SET ROLE mon13; SELECT zstack_tfa.roll_up_logins()});
like($err13, qr/permission denied for function roll_up_logins/, '... but may not move the horizon before the new grant');
$node->safe_psql('up_13', q{GRANT EXECUTE ON FUNCTION zstack_tfa.roll_up_logins(interval) TO mon13});
is($node->safe_psql('up_13', q{SET ROLE mon13; SELECT zstack_tfa.roll_up_logins('0'); SELECT zstack_tfa.roll_up_logins('0')}), "f\nt",
	"with README's grant it runs queries.yaml's rollup: the first sets the horizon in waiting, the second moves it");
is($node->safe_psql('up_13', $metrics), $metrics13, '... and the figures stay');

$node->stop;
done_testing();
