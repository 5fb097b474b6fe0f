# A name's existence does not show in the time a login takes, from the first
# call of a fresh connection on (security review, issue 18 item 5).  Done the
# way the attacker did it: many fresh connections, each making one login with
# a wrong password, the fastest of them kept for a name that exists and for
# one that does not.  The fastest run is the one least disturbed by the rest
# of the machine, so the ratio of the two minima is what the work costs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use List::Util qw(min);

my $rounds = $ENV{ZT_TIMING_ROUNDS} // 20;
my $node = PostgreSQL::Test::Cluster->new('timing');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION zstack_tfa;
	SELECT zstack_tfa.create_account('alice', 'alice-password');
	-- the time of one login in the server, from its first statement: the
	-- error every bad credential raises is caught, so both names run alike
	CREATE FUNCTION timed_login(name text) RETURNS float8 LANGUAGE plpgsql AS $$
	DECLARE
		t0 timestamptz := clock_timestamp();
	BEGIN
		BEGIN
			PERFORM zstack_tfa.log_in_by_account(name, 'wrong-password', NULL);
		EXCEPTION WHEN OTHERS THEN NULL;
		END;
		RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
	END $$;
});

# one fresh connection: load the library (as any first call does, whatever
# the name), then time the first login of this backend
sub first_login_ms
{
	my ($name) = @_;
	my $out = $node->safe_psql('postgres', qq{
		SELECT zstack_tfa.get_two_factor_authentication_state() IS NOT NULL;
		SELECT timed_login('$name');});
	my ($ms) = $out =~ /([0-9.]+)\s*$/;
	return $ms;
}

my (@known, @unknown);
for (1 .. $rounds)
{
	push @known, first_login_ms('alice');
	push @unknown, first_login_ms('no-such-user-' . int(rand(1e9)));
}
my ($k, $u) = (min(@known), min(@unknown));
my $ratio = $u / $k;
note(sprintf('fastest of %d fresh connections: known name %.2f ms, unknown name %.2f ms (ratio %.2f)',
	$rounds, $k, $u, $ratio));
# one PBKDF2 of 4,096 rounds each; building a verifier first would double it
cmp_ok($ratio, "<", 1.2, 'an unknown name costs no more than a known one on a fresh connection');
cmp_ok($ratio, ">", 1 / 1.2, 'and no less');

$node->stop;
done_testing();
