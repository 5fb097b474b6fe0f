# Sessions at rest (issue 18), proved from the outside: a session uuid is a
# bearer credential, so no live one may be in the data directory, the WAL
# or a pg_dump file.  Sessions are made and used the ways clients do (logins
# of accounts and IAM2 users, with and without 2FA, over SQL and HTTP; calls
# that extend them, ValidateSession, RenewSession), then the raw bytes are
# searched for every uuid.  The search finds a uuid stored in plain text
# (a canary), and a DBA's one expression ends a given (stolen) session.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use ZtScan;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $node = PostgreSQL::Test::Cluster->new('at_rest');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION zstack_tfa;
	SELECT zstack_tfa.set_account_password('admin', 'admin-password');
	SELECT zstack_tfa.create_account('acct' || i, 'pw' || i) FROM generate_series(1, 20) i;
	SELECT zstack_tfa.create_iam2_virtual_id('acct1', 'user' || i, 'pw') FROM generate_series(1, 10) i;
});

# logins without 2FA: accounts, IAM2 users, and the HTTP login
my @sessions = split /\n/, $node->safe_psql('postgres', q{
	SELECT zstack_tfa.log_in_by_account('acct' || i, 'pw' || i)->'inventory'->>'uuid' FROM generate_series(1, 20) i
	UNION ALL
	SELECT zstack_tfa.log_in_by_iam2_virtual_id('user' || i, 'pw')->'inventory'->>'uuid' FROM generate_series(1, 10) i
	UNION ALL
	SELECT (body::json)->'inventory'->>'uuid' FROM zstack_tfa.http_request('PUT', '/zstack/v1/accounts/login', '',
		'{}', '{"logInByAccount":{"accountName":"acct2","password":"pw2"}}'::text)});
my $admin = $node->safe_psql('postgres', q{SELECT zstack_tfa.log_in_by_account('admin', 'admin-password')->'inventory'->>'uuid'});
push @sessions, $admin;
# logins with 2FA (the code from the secret the login's owner fetched)
$node->safe_psql('postgres', q{SELECT zstack_tfa.set_two_factor_authentication_enabled(true)});
push @sessions, split /\n/, $node->safe_psql('postgres', q{
	SELECT zstack_tfa.log_in_by_account('acct' || i, 'pw' || i, ARRAY['twofatoken::' || zstack_tfa.totp(
		zstack_tfa.get_two_factor_authentication_secret('acct' || i, 'pw' || i)->'inventory'->>'secret')])->'inventory'->>'uuid'
	FROM generate_series(3, 8) i});
is(scalar(grep { /^[0-9a-f]{32}$/ } @sessions), 38, '38 sessions made (SQL and HTTP, accounts and IAM2 users, with and without 2FA)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM zstack_tfa.session'), '38', 'each has its row');

# use them: calls that extend them (made stale first), ValidateSession, RenewSession
$node->safe_psql('postgres', q{UPDATE zstack_tfa.session SET expired_date = now() + interval '10 minutes'});
for my $s (@sessions)
{
	$node->safe_psql('postgres', qq{
		SELECT zstack_tfa.query_two_factor_authentication_json('$s', count => true);
		SELECT zstack_tfa.validate_session('$s');
		SELECT * FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secrets', 'count=true',
			'{"Authorization":"OAuth $s"}', NULL::text);
		SELECT zstack_tfa.renew_session('$admin', '$s', 3600);
		SELECT * FROM zstack_tfa.http_request('PUT', '/zstack/v1/accounts/sessions/$s/renew', '',
			'{"Authorization":"OAuth $s"}', '{"renewSession":{"duration":7200}}'::text);
	});
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM zstack_tfa.session WHERE expired_date > now() + interval '1 hour'}),
	'38', 'every session was extended and renewed');
is($node->safe_psql('postgres', 'SELECT count(*) FROM zstack_tfa.session WHERE uuid IN ('
		. join(',', map { "zstack_tfa.session_key('$_')" } @sessions) . ')'),
	'38', 'each is stored under its key, as zstack_tfa.session_key() computes it');

$node->safe_psql('postgres', 'CHECKPOINT');
my $dump = "$tmp/plain.sql";
$node->command_ok([ 'pg_dump', '-Fp', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump (plain text)');
my $custom = "$tmp/custom.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-Z0', '-f', $custom, '-d', $node->connstr('postgres') ], 'pg_dump (custom, uncompressed)');

# every byte of the data directory (heap, indexes, pg_wal) and of both dumps
# (the server log is t/008's: the test cluster logs every statement this
# test types, uuids and all)
my $scan = raw_scan($node->data_dir, join('|', map { quotemeta } @sessions), $dump, $custom);
cmp_ok($scan->{bytes}, '>', 10_000_000, sprintf('the data directory, the WAL and the dumps were read (%.0f MB, %d files)', $scan->{bytes} / 1e6, $scan->{files}));
cmp_ok($scan->{wal}, '>', 0, "pg_wal's segments among them ($scan->{wal})");
is(scalar @{ $scan->{hits} }, 0, 'no file holds any live session uuid') or diag("a session uuid is in $_") for @{ $scan->{hits} };

# the search finds a uuid stored in plain text, in the heap and in the WAL
$node->safe_psql('postgres', qq{CREATE TABLE canary (s text); INSERT INTO canary VALUES ('$sessions[0]'); CHECKPOINT});
my @canary = @{ raw_scan($node->data_dir, quotemeta $sessions[0])->{hits} };
ok(scalar(grep { m{/base/} } @canary) > 0 && scalar(grep { m{/pg_wal/} } @canary) > 0,
	'the same search finds a session uuid stored in plain text (heap and WAL)');
$node->safe_psql('postgres', 'DROP TABLE canary');

# a stolen uuid: the DBA's one expression (README "Sessions at rest") ends
# that session, and no other
my $stolen = $sessions[5];
is($node->safe_psql('postgres', qq{DELETE FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('$stolen') RETURNING 1}),
	'1', "the DBA's expression deletes the stolen session's row");
like($node->safe_psql('postgres', qq{SELECT zstack_tfa.query_two_factor_authentication_json('$stolen', count => true)}),
	qr/"code":"ID\.1001"/, 'the stolen uuid no longer authenticates');
is($node->safe_psql('postgres', 'SELECT count(*) FROM zstack_tfa.session'), '37', 'the other sessions are left');
like($node->safe_psql('postgres', qq{SELECT zstack_tfa.query_two_factor_authentication_json('$sessions[6]', count => true)}),
	qr/"total":/, 'and go on working');

# a restored dump holds keys only, and its sessions work with their uuids
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $custom ], 'pg_restore');
like($node->safe_psql('restored', qq{SELECT zstack_tfa.query_two_factor_authentication_json('$sessions[7]', count => true)}),
	qr/"total":/, 'a session from before the dump works after the restore');

$node->stop;
done_testing();
