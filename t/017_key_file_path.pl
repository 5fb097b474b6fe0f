# Issue 18.7: no role without pg_read_all_settings learns where the key file
# is: with the library in session_preload_libraries the setting is the
# library's own (superuser-only) from each backend's start; without it the
# key file is not used at all (fail closed); and a broken key file's error
# names the path only to those who may read the setting.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('keypath');
$node->init;
$node->start;
my $keyfile = $node->safe_psql('postgres', 'SHOW zstack_tfa.encryption_key_file');
like($keyfile, qr{/}, 'the cluster has a key file (TEMP_CONFIG)');
$node->safe_psql('postgres', q{
CREATE EXTENSION zstack_tfa;
SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
SELECT zstack_tfa.create_account('kim', 'kim-pw');
SELECT zstack_tfa.create_account('lee', 'lee-pw');
CREATE ROLE mgmt LOGIN;
GRANT USAGE ON SCHEMA zstack_tfa TO mgmt;
GRANT EXECUTE ON FUNCTION zstack_tfa.get_two_factor_authentication_secret(text, text, text) TO mgmt;
});
my $as_mgmt = sub {
	my ($rc, $out, $err) = $node->psql('postgres', shift, extra_params => [ '-U', 'mgmt' ]);
	return "$out$err";
};

# 1. preloaded: a fresh backend of an ordinary role cannot read it
my $seen = $as_mgmt->('SHOW zstack_tfa.encryption_key_file');
like($seen, qr/pg_read_all_settings/, 'SHOW is refused to an ordinary role');
unlike($seen, qr/\Q$keyfile\E/, '... and the path is not shown');
unlike($as_mgmt->("SELECT current_setting('zstack_tfa.encryption_key_file', true)"), qr/\Q$keyfile\E/,
	'current_setting does not show it');
unlike($as_mgmt->("SELECT setting FROM pg_settings WHERE name = 'zstack_tfa.encryption_key_file'"),
	qr/\Q$keyfile\E/, 'pg_settings does not show it');
like($as_mgmt->("SELECT zstack_tfa.get_two_factor_authentication_secret('kim', 'kim-pw')->'inventory'->>'secret'"),
	qr/^[A-Z2-7]{16}$/m, 'the key works');

# 2. a broken key file: the error names the path only to a superuser
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$keyfile.missing'\n");
$node->reload;
$seen = $as_mgmt->("SELECT zstack_tfa.get_two_factor_authentication_secret('lee', 'lee-pw')");
like($seen, qr/cannot use the key file/, 'a missing key file is an error');
unlike($seen, qr/\Q$keyfile\E/, '... whose text does not name the path for the management role');
my ($rc, $out, $err) = $node->psql('postgres', "SELECT zstack_tfa.get_two_factor_authentication_secret('lee', 'lee-pw')");
like($err, qr/\Q$keyfile.missing\E/, '... and names it for a superuser');

# 3. not preloaded: the key is not used (fail closed)
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$keyfile'\nsession_preload_libraries = ''\n");
$node->reload;
$seen = $as_mgmt->("SELECT zstack_tfa.get_two_factor_authentication_secret('lee', 'lee-pw')");
like($seen, qr/session_preload_libraries/, 'without the preload the key file is refused, saying why');
unlike($seen, qr/\Q$keyfile\E/, '... without naming it');
done_testing();
