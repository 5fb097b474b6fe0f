# Issue 18.1-18.2: objects planted in public and pg_temp by a role that may
# create there are never called by zstack_tfa's privileged statements.  The
# planted functions and operators cover every type pair those statements
# use; the attacker's session puts public first in its search_path; the DBA
# rotates keys with the same path.  Every privileged path runs (the wrong-code
# recorder included), and the planted calls are counted: there must be none.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('planted');
$node->init;
$node->append_conf('postgresql.conf', "log_min_error_statement = panic\n");
$node->start;
my $db = 'postgres';
$node->safe_psql($db, q{
CREATE EXTENSION zstack_tfa;
SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
-- as in every database created before PostgreSQL 15, or owned by a non-superuser
GRANT CREATE ON SCHEMA public TO PUBLIC;
CREATE TABLE public.planted_calls (who name, what text);
GRANT INSERT, SELECT ON public.planted_calls TO PUBLIC;
CREATE ROLE zt_mgmt LOGIN;
GRANT USAGE ON SCHEMA zstack_tfa TO zt_mgmt;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA zstack_tfa TO zt_mgmt;
});

# one planted function and operator per type pair; each records its call and
# then answers as the real one would
my @ops = (
	[ '=',   'zstack_tfa.zuuid', 'text',        'boolean',     '$1::text OPERATOR(pg_catalog.=) $2' ],
	[ '=',   'text',             'text',        'boolean',     '$1 OPERATOR(pg_catalog.=) $2' ],
	[ '=',   'zstack_tfa.zuuid', 'zstack_tfa.zuuid', 'boolean', '$1::text OPERATOR(pg_catalog.=) $2::text' ],
	[ '=',   'bytea',            'bytea',       'boolean',     '$1 OPERATOR(pg_catalog.=) $2' ],
	[ '~~',  'text',             'text',        'boolean',     '$1 OPERATOR(pg_catalog.~~) $2' ],
	[ '!~~', 'text',             'text',        'boolean',     '$1 OPERATOR(pg_catalog.!~~) $2' ],
	[ '+',   'integer',          'integer',     'integer',     '$1 OPERATOR(pg_catalog.+) $2' ],
	[ '>=',  'integer',          'integer',     'boolean',     '$1 OPERATOR(pg_catalog.>=) $2' ],
	[ '>',   'bigint',           'integer',     'boolean',     '$1 OPERATOR(pg_catalog.>) $2' ],
	[ '<',   'bigint',           'bigint',      'boolean',     '$1 OPERATOR(pg_catalog.<) $2' ],
	[ '<=',  'timestamptz',      'timestamptz', 'boolean',     '$1 OPERATOR(pg_catalog.<=) $2' ],
	[ '>',   'timestamptz',      'timestamptz', 'boolean',     '$1 OPERATOR(pg_catalog.>) $2' ],
	[ '+',   'timestamptz',      'interval',    'timestamptz', '$1 OPERATOR(pg_catalog.+) $2' ],
	[ '*',   'integer',          'interval',    'interval',    '$1 OPERATOR(pg_catalog.*) $2' ],
	# what README's DBA statements compare (no exact operator in pg_catalog)
	[ '=',   'zstack_tfa.auth_event_kind', 'zstack_tfa.auth_event_kind', 'boolean', '$1::text OPERATOR(pg_catalog.=) $2::text' ]);
my $plant = '';
my $n = 0;
for my $schema ('public', 'pg_temp')
{
	for my $op (@ops)
	{
		my ($sym, $l, $r, $ret, $body) = @$op;
		$n++;
		$plant .= "CREATE FUNCTION $schema.planted_$n($l, $r) RETURNS $ret LANGUAGE plpgsql AS \$f\$"
		  . " BEGIN INSERT INTO public.planted_calls VALUES (current_user, '$schema $sym($l, $r)');"
		  . " RETURN $body; END \$f\$;\n"
		  . "CREATE OPERATOR $schema.$sym (LEFTARG = $l, RIGHTARG = $r, FUNCTION = $schema.planted_$n);\n";
	}
	for my $f ('clock_timestamp', 'now')
	{
		$plant .= "CREATE FUNCTION $schema.$f() RETURNS timestamptz LANGUAGE plpgsql AS \$f\$"
		  . " BEGIN INSERT INTO public.planted_calls VALUES (current_user, '$schema $f()');"
		  . " RETURN pg_catalog.$f(); END \$f\$;\n";
	}
}

my $admin_pw = 'admin-password';
$node->safe_psql($db, "SELECT zstack_tfa.set_account_password('admin', '$admin_pw')");

# the attacker: public first, then pg_catalog; plants in both schemas, and
# checks that a plant is live where it is looked up
my $secret_sql = "SELECT zstack_tfa.get_two_factor_authentication_secret('mallory', 'mallory-pw')->'inventory'->>'secret'";
my $attack = "SET search_path = public, pg_catalog;\n$plant"
  . "SELECT 'x'::text = 'x'::text AS live;\n"
  . "SELECT zstack_tfa.create_account('mallory', 'mallory-pw');\n"
  . "SELECT ($secret_sql) AS s \\gset\n"
  . "SELECT zstack_tfa.totp(:'s', pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 day') AS wrong \\gset\n";
# six wrong codes (the recorder counts each, and locks the account), then the
# lock ends and the right code logs in
$attack .= "SELECT zstack_tfa.log_in_by_account('mallory', 'mallory-pw', ARRAY['twofatoken::' || :'wrong'])->'error'->>'code';\n" x 6;
$attack .= q{
SELECT (zstack_tfa.log_in_by_account('admin', 'admin-password', ARRAY['twofatoken::' || zstack_tfa.totp(
	(SELECT zstack_tfa.get_two_factor_authentication_secret('admin', 'admin-password')->'inventory'->>'secret'))])->'inventory'->>'uuid') AS sess \gset
SELECT zstack_tfa.query_two_factor_authentication_json(:'sess', ARRAY['userUuid!=x'])->'error';
SELECT count(*) FROM zstack_tfa.query_two_factor_authentication(:'sess');
SELECT zstack_tfa.validate_session(:'sess')->'error';
SELECT zstack_tfa.renew_session(:'sess', :'sess', 600)->'error';
SELECT zstack_tfa.generate_recovery_codes(:'sess', 'admin-password')->'inventory'->'codes'->>0 AS rcode \gset
SELECT zstack_tfa.log_in_by_account('admin', 'admin-password', ARRAY['twofatoken::' || :'rcode'])->'error';
SELECT zstack_tfa.log_in_by_account('admin', 'admin-password', ARRAY['twofatoken::' || :'rcode'])->'error'->>'code';
SELECT zstack_tfa.count_recovery_codes(:'sess', 'mallory')->'error';
SELECT zstack_tfa.revoke_recovery_codes(:'sess', 'mallory')->'error';
SELECT status FROM zstack_tfa.http_request('POST', '/zstack/v1/twofactorauthentication/recovery-codes', '',
	json_build_object('Authorization', 'OAuth ' || :'sess'), '{"params":{"password":"admin-password"}}'::text);
SELECT zstack_tfa.reset_two_factor_authentication_secret(:'sess', 'mallory')->'error';
SELECT zstack_tfa.reset_two_factor_authentication_secret(:'sess', 'mallory', 'mallory-pw')->'error';
SELECT zstack_tfa.reset_two_factor_authentication_secret(:'sess', 'mallory', 'wrong')->'error'->>'code';
SELECT zstack_tfa.renew_session(:'sess', '5e55000000000000000000000000dead', 600)->'error'->>'code';
SELECT status FROM zstack_tfa.http_request('PUT', '/zstack/v1/twofactorauthentication/secrets', '',
	json_build_object('Authorization', 'OAuth ' || :'sess'),
	'{"resetTwoFactorAuthenticationSecret":{"name":"mallory","password":"mallory-pw","type":"account"}}');
SELECT status FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secrets', 'q=status=NewCreated',
	json_build_object('Authorization', 'OAuth ' || :'sess'));
SELECT status FROM zstack_tfa.http_request('PUT', '/zstack/v1/accounts/login', '',
	'{}'::json, '{"logInByAccount":{"accountName":"mallory","password":"mallory-pw"}}');
SELECT zstack_tfa.create_account('trudy', 'trudy-pw');
SELECT zstack_tfa.set_account_password('trudy', 'trudy-pw2');
SELECT zstack_tfa.log_out(:'sess');
};
my ($rc, $out, $err) = $node->psql($db, $attack, extra_params => [ '-U', 'zt_mgmt', '-v', 'ON_ERROR_STOP=1' ]);
is($rc, 0, 'the attacker drives every privileged path') or diag($err);
like($out, qr/^t$/m, 'a planted operator is live where the search_path finds it');
# (the test's own queries name pg_catalog first: the plants would catch them)
my $pin = 'SET search_path = pg_catalog, zstack_tfa;';
is($node->safe_psql($db, "$pin SELECT count(*) FROM zstack_tfa.auth_event WHERE outcome LIKE 'wrong_code%'"), '6',
	'the recorder wrote an audit row for each of five wrong codes and a spent recovery code');
is($node->safe_psql($db, "$pin SELECT count(*) FROM zstack_tfa.auth_event WHERE kind = 'recovery_login'"), '1',
	'the recovery code logged in once');
is($node->safe_psql($db, "$pin SELECT count(*) FROM zstack_tfa.auth_event WHERE outcome = 'locked'"), '1',
	'and the sixth met the lock it set');

# the DBA rotates keys as README says, with the same path
($rc, $out, $err) = $node->psql($db, "SET search_path = public, pg_catalog;\n"
	  . "CALL zstack_tfa.encrypt_all_secrets();\nSELECT zstack_tfa.reencrypt_secrets(10);");
is($rc, 0, 'encrypt_all_secrets and reencrypt_secrets run') or diag($err);

# README's DBA statements ("-- DBA: ..." blocks), run by the superuser with
# the default search_path, as a DBA would paste them
my $readme = ($ENV{TESTDIR} // '..') . '/README.md';
open my $rfh, '<', $readme or die "$readme: $!";
my $text = do { local $/; <$rfh> };
close $rfh;
my %dba;
while ($text =~ /^( *)```sql\n\1-- DBA: ([^\n]+)\n(.*?)^\1```/msg)
{
	my ($indent, $name, $sql) = ($1, $2, $3);
	$sql =~ s/^$indent//mg;
	$dba{$name} = $sql;
}
is(join(',', sort keys %dba), 'end a stolen session,reports', "README's DBA blocks are found");
my $stolen = $node->safe_psql($db, "$pin SELECT zstack_tfa.create_account('carol', 'carol-pw');"
	  . " SELECT zstack_tfa.log_in_by_account('carol', 'carol-pw', ARRAY['twofatoken::' ||"
	  . " zstack_tfa.totp((zstack_tfa.get_two_factor_authentication_secret('carol', 'carol-pw')->'inventory'->>'secret'))])"
	  . "->'inventory'->>'uuid'");
$stolen =~ s/.*\n//s;
like($stolen, qr/^[0-9a-f]{32}$/, 'a session to end');
for my $name (sort keys %dba)
{
	(my $sql = $dba{$name}) =~ s/<stolen uuid>/$stolen/g;
	($rc, $out, $err) = $node->psql($db, "RESET search_path;\n$sql", extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
	is($rc, 0, "README's DBA block \"$name\" runs") or diag($err);
}
is($node->safe_psql($db, "$pin SELECT zstack_tfa.validate_session('$stolen')->>'valid'"), 'false',
	'and the stolen session is ended');

my $calls = $node->safe_psql($db, "$pin SELECT count(*) FROM public.planted_calls WHERE who <> 'zt_mgmt' OR what <> 'public =(text, text)'");
is($calls, '0', 'no planted function or operator was called by a privileged statement');
is($node->safe_psql($db, "$pin SELECT string_agg(DISTINCT who || ': ' || what, ', ') FROM public.planted_calls"),
	'zt_mgmt: public =(text, text)', 'the only planted call is the attacker\'s own probe');
# the recorder runs as a role of its own, never as a superuser
is($node->safe_psql($db, "$pin SELECT rolsuper OR rolcanlogin FROM pg_roles WHERE rolname = 'zstack_tfa_recorder'"),
	'f', 'the recorder role is no superuser and cannot log in');
done_testing();
