# README's procedure for secrets written before a key was configured
# ("Encryption at rest", "No plain text left behind"; issue 18 item 9),
# followed as printed: its SQL blocks are read from README.md.  A cluster
# without a key makes plain secrets (and their WAL, some of it already
# recycled into future segments, and their planner statistics); then a key is
# configured and the procedure runs.  After it, no byte of the data directory
# or pg_wal holds a secret.  Half-way, after the rewrite but before the WAL
# steps, the heap is clean and pg_wal is not: the scan finds what is there.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use ZtScan;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;

# README's SQL blocks headed "-- no plaintext left: <step>", by step
my %block;
my $readme = ($ENV{TESTDIR} // '..') . '/README.md';
open my $rfh, '<', $readme or die "$readme: $!";
my $text = do { local $/; <$rfh> };
close $rfh;
while ($text =~ /^( *)```sql\n\1-- no plaintext left: ([^\n]+)\n(.*?)^\1```/msg)
{
	my ($indent, $step, $sql) = ($1, $2, $3);
	$sql =~ s/^$indent//mg;
	$block{$step} = $sql;
}
is(join(',', sort keys %block), 'rewrite,wal,wal settings', "README's procedure has its three SQL blocks");

# the files of the data directory whose bytes hold one of the secrets
sub files_with
{
	my ($node, @secrets) = @_;
	return @{ raw_scan($node->data_dir, join('|', map { quotemeta } @secrets))->{hits} };
}

my $node = PostgreSQL::Test::Cluster->new('plain_first');
$node->init;
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = ''");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION zstack_tfa;
	SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
	SELECT zstack_tfa.create_account('acct' || i, 'pw' || i) FROM generate_series(1, 30) i;
});
my @secrets = split /\n/, $node->safe_psql('postgres', q{
	SELECT zstack_tfa.get_two_factor_authentication_secret('acct' || i, 'pw' || i)->'inventory'->>'secret'
	FROM generate_series(1, 30) i});
is(scalar(grep { /^[A-Z2-7]{16,}$/ } @secrets), 30, '30 secrets made without a key');
# time passes: autovacuum's statistics, checkpoints, WAL segments recycled
# (renamed to future names with their old bytes)
$node->safe_psql('postgres', 'ANALYZE zstack_tfa.secret') for 1;
$node->safe_psql('postgres', 'SELECT pg_switch_wal(); CHECKPOINT;') for 1 .. 3;
ok(scalar(files_with($node, @secrets)) > 0, 'the secrets are on disk in plain text');

# step 1: the key, as README configures it, seen by a new session
my $keys = "$tmp/zstack_tfa.keys";
open my $kfh, '>', $keys or die;
printf $kfh "k2026a %s\n", join '', map { sprintf '%02x', int(rand(256)) } 1 .. 32;
close $kfh;
chmod 0600, $keys;
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$keys'");
$node->restart;
is($node->safe_psql('postgres', 'SELECT key_id FROM zstack_tfa.encryption_keys()'), 'k2026a', 'step 1: a new session sees the key');

# step 2: encrypt and rewrite
$node->safe_psql('postgres', $block{rewrite});
is($node->safe_psql('postgres', 'SELECT state FROM zstack_tfa.secret_encryption'), 'current key', 'step 2: every secret is under the key');
# (a checkpoint deletes the files VACUUM FULL left behind and writes every page)
$node->safe_psql('postgres', 'CHECKPOINT');
my @hits = files_with($node, @secrets);
is(scalar(grep { !m{/pg_wal/} } @hits), 0, 'after the rewrite, no file outside pg_wal holds a secret')
  or diag(join "\n", @hits);
ok(scalar(grep { m{/pg_wal/} } @hits) > 0, 'but without the WAL steps, pg_wal still holds plain secrets');

# steps 3 and 4: old WAL deleted, not reused
$node->safe_psql('postgres', $block{'wal settings'});
my ($rc, $out, $err) = $node->psql('postgres', $block{wal});
is($rc, 0, 'step 4 ran') or diag($err);
like($err, qr/old WAL deleted after \d+ checkpoints/, 'step 4 saw every old segment deleted');
is($node->safe_psql('postgres', 'SHOW wal_recycle'), 'on', 'and restored wal_recycle');
@hits = files_with($node, @secrets);
is(scalar(@hits), 0, 'after the procedure, no byte of the data directory or pg_wal holds a secret')
  or diag(join "\n", @hits);

# the secrets still work under the key
is($node->safe_psql('postgres', q{SELECT count(*) FROM zstack_tfa.secret s
	WHERE zstack_tfa.secret_text(s.uuid, s.secret) = ANY (string_to_array($$} . join(',', @secrets) . q{$$, ','))}),
	'30', 'every secret decrypts to what it was');

$node->stop;
done_testing();
