# totp() and totp_verify() agree with oathtool, an implementation nobody here
# wrote, on many random secrets and times.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $cases = 150;

my $node = PostgreSQL::Test::Cluster->new('oracle');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION zstack_tfa');

# random secrets of several lengths and random times from 1970 to 2100
my $rows = $node->safe_psql('postgres', qq{
	SELECT s, t, zstack_tfa.totp(s, to_timestamp(t)),
		zstack_tfa.totp_verify(s, zstack_tfa.totp(s, to_timestamp(t + 30)), to_timestamp(t)),
		zstack_tfa.totp_verify(s, zstack_tfa.totp(s, to_timestamp(t + 60)), to_timestamp(t))
	FROM (SELECT zstack_tfa.generate_secret((ARRAY[16, 26, 32, 52])[1 + i % 4]) s,
		floor(random() * 4102444800)::bigint t
		FROM generate_series(1, $cases) i) g});

my ($agree, $total, $next_ok, $far_refused) = (0, 0, 0, 0);
for my $line (split /\n/, $rows)
{
	my ($secret, $t, $ours, $verify_next, $verify_far) = split /\|/, $line;
	my $theirs = `oathtool --totp --base32 --now '\@$t' $secret`;
	chomp $theirs;
	$total++;
	if ($theirs eq $ours)
	{
		$agree++;
	}
	else
	{
		diag("secret of length " . length($secret) . " at $t: ours $ours, oathtool $theirs");
	}
	$next_ok++ if $verify_next eq 't';
	$far_refused++ if $verify_far eq 'f';
}
is($total, $cases, "$cases random cases were generated");
is($agree, $total, 'totp() equals oathtool --totp in every case');
is($next_ok, $total, 'the next step\'s code verifies with window 1');
# a random 6-digit code collides with one of three window codes 3 times in a
# million, so this bound holds without flakes
ok($far_refused >= $total - 1, 'the code two steps ahead is refused');

# and oathtool's codes verify with ours, at the same instant
my $secret = $node->safe_psql('postgres', 'SELECT zstack_tfa.generate_secret()');
my $now = time();
my $code = `oathtool --totp --base32 --now '\@$now' $secret`;
chomp $code;
is($node->safe_psql('postgres',
	"SELECT zstack_tfa.totp_verify('$secret', '$code', to_timestamp($now), 0)"),
	't', 'an oathtool code verifies');

$node->stop;
done_testing();
