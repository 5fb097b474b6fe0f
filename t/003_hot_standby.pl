# The query functions work on a hot standby: the session is checked, its
# expiry is left alone (a standby cannot write), and the reply is the same as
# on the primary.  Logins, which must write, fail cleanly there.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION zstack_tfa;
	SELECT zstack_tfa.set_account_password('admin', 'admin-password');
	SELECT zstack_tfa.create_account('alice', 'alice-password');
	SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
	INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, expired_date)
	SELECT zstack_tfa.session_key('5e550000000000000000000000000001'), uuid, uuid, now() + interval '1 hour'
	FROM zstack_tfa.account WHERE name = 'alice';
});
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $query = q{SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001')};
my $expiry = q{SELECT expired_date FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000001')};
my $before = $primary->safe_psql('postgres', $expiry);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
# the secrets are stored encrypted (the test command gives every cluster a
# key); the standby, with the same key file, decrypts them
is($standby->safe_psql('postgres', q{SELECT bool_and(secret LIKE 'zt1:%') FROM zstack_tfa.secret}), 't',
	'the standby holds the secrets encrypted');
my $on_standby = $standby->safe_psql('postgres', $query);
like($on_standby, qr/^\{"schema":\{[^}]*\},"inventories":\[\{"uuid":"[0-9a-f]{32}","secret":"[A-Z2-7]{16}"/,
	'the JSON query answers on the standby');
is($standby->safe_psql('postgres',
	q{SELECT count(*) FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001')}),
	'1', 'the set-returning query answers on the standby');
is($standby->safe_psql('postgres', $expiry), $before, 'the session was not extended on the standby');
like($standby->safe_psql('postgres',
	q{SELECT zstack_tfa.query_two_factor_authentication_json('5e55000000000000000000000000dead')}),
	qr/"code":"ID\.1001"/, 'a bad session is ID.1001 on the standby too');

# a login must write a session: on a standby it is refused up front, with
# ZStack's SYS.1006 envelope, not an internal error
like($standby->safe_psql('postgres', q{SELECT zstack_tfa.log_in_by_account('alice', 'alice-password')}),
	qr/"code":"SYS\.1006".*read-only or the server is a standby/, 'a login is refused on the standby (SYS.1006)');

# on the primary the same call extends the session
$primary->safe_psql('postgres', $query);
isnt($primary->safe_psql('postgres', $expiry), $before, 'the primary extends the session');
is($primary->safe_psql('postgres', $query), $on_standby, 'primary and standby give the same reply');

$standby->stop;
$primary->stop;
done_testing();
