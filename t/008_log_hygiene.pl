# With PostgreSQL's default logging (log_min_error_statement = error, so
# the statement of every failed call is logged), no password, secret, TOTP
# code or session uuid that a caller passed to zstack_tfa reaches the server
# log when the call fails: the errors are logged, their statements are not.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('logs');
$node->init;
# PostgreSQL::Test::Cluster logs every statement; put the defaults back
$node->append_conf('postgresql.conf', qq{log_statement = none
log_min_error_statement = error
log_min_messages = warning
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION zstack_tfa;
	SELECT zstack_tfa.create_account('alice', 'alice-password');
	CREATE ROLE zt_mgmt LOGIN;
	GRANT USAGE ON SCHEMA zstack_tfa TO zt_mgmt;
	GRANT EXECUTE ON FUNCTION zstack_tfa.create_account(text, text, zstack_tfa.account_type) TO zt_mgmt;
});
my $session = $node->safe_psql('postgres',
	q{SELECT zstack_tfa.log_in_by_account('alice', 'alice-password')->'inventory'->>'uuid'});
like($session, qr/^[0-9a-f]{32}$/, 'alice has a session');

# each call fails, and its statement holds a canary
my @calls = (
	[ 'a duplicate account', q{SELECT zstack_tfa.create_account('alice', 'Canary-Pass-1')}, 'Canary-Pass-1' ],
	[ 'SYS.1007 from the set-returning query', qq{SELECT * FROM zstack_tfa.query_two_factor_authentication('$session', '{nofield=1}')}, $session ],
	[ 'ID.1001 from the set-returning query', q{SELECT * FROM zstack_tfa.query_two_factor_authentication('c0ffee00c0ffee00c0ffee00c0ffee00')}, 'c0ffee00c0ffee00c0ffee00c0ffee00' ],
	[ 'a bad secret for totp()', q{SELECT zstack_tfa.totp('CANARYSECRET!!')}, 'CANARYSECRET' ],
	[ 'a bad secret for totp_verify()', q{SELECT zstack_tfa.totp_verify('CANARYSECRET!!', '123456')}, 'CANARYSECRET' ],
	[ 'a bad secret for otpauth_uri()', q{SELECT zstack_tfa.otpauth_uri('CANARYSECRET!!', 'alice')}, 'CANARYSECRET' ],
	[ 'a too long password to hash', q{SELECT zstack_tfa.hash_password(repeat('CanaryPw', 200))}, 'CanaryPw' ],
	[ 'a password for nobody', q{SELECT zstack_tfa.set_account_password('nobody', 'Canary-Pass-2')}, 'Canary-Pass-2' ],
	[ 'an IAM2 user for nobody', q{SELECT zstack_tfa.create_iam2_virtual_id('nobody', 'x', 'Canary-Pass-3')}, 'Canary-Pass-3' ],
	[ 'a login with a NULL name', q{SELECT zstack_tfa.log_in_by_account(NULL, 'Canary-Pass-4', '{twofatoken::987123}')}, 'Canary-Pass-4' ],
	[ 'a secret fetch with a NULL type', q{SELECT zstack_tfa.get_two_factor_authentication_secret('alice', 'Canary-Pass-5', NULL)}, 'Canary-Pass-5' ],
	[ 'a reset with a NULL account', qq{SELECT zstack_tfa.reset_two_factor_authentication_secret('$session', NULL)}, $session ],
	[ "ZStack's reset with a NULL name", qq{SELECT zstack_tfa.reset_two_factor_authentication_secret('$session', NULL, 'Canary-Pass-8', 'account')}, 'Canary-Pass-8' ],
	[ 'http_request with a NULL method', q{SELECT * FROM zstack_tfa.http_request(NULL, '/zstack/v1/accounts/login', '', '{}', '{"logInByAccount":{"accountName":"alice","password":"Canary-Pass-6"}}')}, 'Canary-Pass-6' ],
);
for my $c (@calls)
{
	my ($name, $sql, $canary) = @$c;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	isnt($ret, 0, "$name fails");
}
# the management role may not create a SystemAdmin: refused, statement hidden
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET ROLE zt_mgmt; SELECT zstack_tfa.create_account('mallory', 'Canary-Pass-7', 'SystemAdmin')});
like($err, qr/ID\.1002/, 'a SystemAdmin by the management role is refused');
push @calls, [ 'SystemAdmin refused', '', 'Canary-Pass-7' ];

my $log = slurp_file($node->logfile);
my $errors = () = $log =~ /ERROR:/g;
cmp_ok($errors, '>=', scalar(@calls), "the errors are logged ($errors)");
for my $c (@calls)
{
	my ($name, $sql, $canary) = @$c;
	unlike($log, qr/\Q$canary\E/, "the log does not hold what $name passed");
}
unlike($log, qr/STATEMENT:.*zstack_tfa\./, 'no statement calling zstack_tfa is logged');

$node->stop;
done_testing();
