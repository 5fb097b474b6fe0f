# Recovery codes (issue 22), proved from the outside: no code is at rest (the
# raw bytes of the data directory, the WAL, dumps and the server log searched
# for every code, in every form a user may type it; a canary shows the
# search finds one stored in plain text); of many logins presenting one code
# at the same moment exactly one succeeds; a wrong recovery code takes as
# long as a wrong TOTP code; codes outlive a key rotation while the old key
# is in the file and are refused (not counted) once it is gone; and without
# a key file no batch is made.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use ZtScan;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use List::Util qw(sum);

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $node = PostgreSQL::Test::Cluster->new('recovery');
$node->init;
# statements stay out of the log (they hold the codes this test types);
# what the server and the extension say stays in
$node->append_conf('postgresql.conf', qq{max_connections = 60
log_statement = none
log_min_error_statement = panic
log_min_messages = info
});
$node->start;
like($node->safe_psql('postgres', 'SHOW zstack_tfa.encryption_key_file'), qr{/}, 'the cluster has a key file (TEMP_CONFIG)');
$node->safe_psql('postgres', q{
	CREATE EXTENSION zstack_tfa;
	SELECT zstack_tfa.create_account('acct' || i, 'pw' || i) FROM generate_series(1, 4) i;
	SELECT zstack_tfa.create_iam2_virtual_id('acct1', 'dev1', 'dev-pw');
	SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
	SELECT zstack_tfa.get_two_factor_authentication_secret('dev1', 'dev-pw', 'iam2');
});

# a session for each user: a TOTP login with the secret it fetched
sub totp_login
{
	my ($name, $pw, $iam2) = @_;
	my $type = $iam2 ? 'iam2' : 'account';
	my $fn = $iam2 ? 'log_in_by_iam2_virtual_id' : 'log_in_by_account';
	return $node->safe_psql('postgres', qq{SELECT zstack_tfa.$fn('$name', '$pw', ARRAY['twofatoken::' ||
		zstack_tfa.totp(zstack_tfa.get_two_factor_authentication_secret('$name', '$pw', '$type')->'inventory'->>'secret')])
		->'inventory'->>'uuid'});
}
my %session = map { ("acct$_" => totp_login("acct$_", "pw$_")) } 1 .. 4;
$session{dev1} = totp_login('dev1', 'dev-pw', 1);
like($session{$_}, qr/^[0-9a-f]{32}$/, "$_ logged in with a TOTP code") for sort keys %session;

# batches for every user, over SQL and HTTP; some codes are used
my %codes;
for my $user (sort keys %session)
{
	my $pw = $user eq 'dev1' ? 'dev-pw' : $user =~ s/acct/pw/r;
	my $reply = $user eq 'acct2'
	  ? $node->safe_psql('postgres', qq{SELECT body FROM zstack_tfa.http_request('POST',
		'/zstack/v1/twofactorauthentication/recovery-codes', '', '{"Authorization":"OAuth $session{$user}"}',
		'{"params":{"password":"$pw"}}'::text)})
	  : $node->safe_psql('postgres', qq{SELECT zstack_tfa.generate_recovery_codes('$session{$user}', '$pw')});
	$codes{$user} = [ $reply =~ /"([A-Z2-7]{5}-[A-Z2-7]{5})"/g ];
	is(scalar @{ $codes{$user} }, 10, "$user got ten codes");
}
# a batch replaced by a new one: its codes must not be at rest either
my @replaced = @{ $codes{acct3} };
$codes{acct3} = [ $node->safe_psql('postgres', qq{SELECT zstack_tfa.generate_recovery_codes('$session{acct3}', 'pw3')})
	  =~ /"([A-Z2-7]{5}-[A-Z2-7]{5})"/g ];
is(scalar @{ $codes{acct3} }, 10, 'acct3 got a second batch');
like($node->safe_psql('postgres', "SELECT zstack_tfa.log_in_by_account('acct3', 'pw3', ARRAY['twofatoken::$replaced[0]'])"),
	qr/ID\.2002/, "the first batch's codes no longer log in");
for my $i (0 .. 2)
{
	like($node->safe_psql('postgres', "SELECT zstack_tfa.log_in_by_account('acct1', 'pw1', ARRAY['twofatoken::" . lc($codes{acct1}[$i]) . "'])"),
		qr/"inventory":\{"uuid"/, "acct1 logs in with recovery code " . ($i + 1));
}
like($node->safe_psql('postgres', "SELECT zstack_tfa.log_in_by_iam2_virtual_id('dev1', 'dev-pw', ARRAY['twofatoken::$codes{dev1}[0]'])"),
	qr/"inventory":\{"uuid"/, 'the IAM2 user logs in with a recovery code');

# ---------------------------------------------------------------------------
# Concurrent use of one code: exactly one login succeeds.
# ---------------------------------------------------------------------------
my $clients = 16;
# (every loser's wrong code counts: no lockout midway in this part)
$node->append_conf('postgresql.conf', 'zstack_tfa.max_failed_attempts = 1000');
$node->reload;
my $code = $codes{acct4}[0];
my ($gate_in, $gate_out) = ('', '');
my $gate = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') ],
	'<', \$gate_in, '>', \$gate_out, '2>', \$gate_out);
$gate_in .= "SELECT 'locked', pg_advisory_lock(4242);\n";
$gate->pump until $gate_out =~ /locked/;
my @handles;
for my $i (1 .. $clients)
{
	my $out = '';
	# half type it as shown, half in lower case without the dash
	my $typed = $i % 2 ? $code : lc($code =~ s/-//r);
	my $h = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
			"SELECT pg_advisory_lock_shared(4242); SELECT zstack_tfa.log_in_by_account('acct4', 'pw4', ARRAY['twofatoken::$typed'])" ],
		'>', \$out, '2>', \$out);
	push @handles, [ $h, \$out ];
}
$node->poll_query_until('postgres', "SELECT count(*) = $clients FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
  or die 'the clients did not reach the gate';
$gate_in .= "SELECT pg_advisory_unlock(4242);\n\\q\n";
$gate->finish;
my ($won, $refused, $other) = (0, 0, 0);
for my $c (@handles)
{
	$c->[0]->finish;
	if (${ $c->[1] } =~ /"inventory":\{"uuid":"[0-9a-f]{32}"/) { $won++ }
	elsif (${ $c->[1] } =~ /"code":"ID\.2002"/) { $refused++ }
	else { $other++; diag('unexpected reply: ' . ${ $c->[1] }) }
}
is($won, 1, "exactly one of $clients concurrent logins with one recovery code succeeds");
is($refused, $clients - 1, 'the others get ID.2002');
is($node->safe_psql('postgres', q{SELECT count(*) FROM zstack_tfa.auth_event WHERE kind = 'recovery_login'
	AND user_uuid = (SELECT uuid FROM zstack_tfa.account WHERE name = 'acct4')}), '1', 'one recovery login audited');
is($node->safe_psql('postgres', q{SELECT zstack_tfa.count_recovery_codes(zstack_tfa.new_uuid())->'error'->>'code'}),
	'ID.1001', '(count needs a session)');
is($node->safe_psql('postgres', qq{SELECT zstack_tfa.count_recovery_codes('$session{acct4}')}), '{"left":9,"used":1}',
	'the code is spent once');
# the second factors of one user take turns: the first compared wins, and
# each later one meets a spent code, a wrong code that counts
is($node->safe_psql('postgres', q{SELECT failed_attempts FROM zstack_tfa.secret s JOIN zstack_tfa.account a
	ON a.uuid = s.user_uuid WHERE a.name = 'acct4'}), $clients - 1, 'the spent code counted as a wrong code for each of the others');
# (unlock acct4 for what follows)
$node->safe_psql('postgres', q{UPDATE zstack_tfa.secret SET failed_attempts = 0, locked_until = NULL});
$node->append_conf('postgresql.conf', 'zstack_tfa.max_failed_attempts = 5');
$node->reload;

# ---------------------------------------------------------------------------
# Nothing at rest: every code, as shown, without its dash, in lower case,
# in the data directory, the WAL, two dumps and the server log.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CHECKPOINT');
my $dump = "$tmp/plain.sql";
$node->command_ok([ 'pg_dump', '-Fp', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump (plain text)');
my $custom = "$tmp/custom.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-Z0', '-f', $custom, '-d', $node->connstr('postgres') ], 'pg_dump (custom, uncompressed)');
my @all = (@replaced, map { @{ $codes{$_} } } sort keys %codes);
is(scalar @all, 60, 'sixty codes shown');
my $pattern = join('|', map { my $c = $_; my $bare = $c =~ s/-//r; (quotemeta($c), quotemeta($bare)) } @all);
my $scan = raw_scan($node->data_dir, qr/$pattern/i, $dump, $custom, $node->logfile);
cmp_ok($scan->{bytes}, '>', 10_000_000, sprintf('the data directory, the WAL, the dumps and the log were read (%.0f MB, %d files)',
	$scan->{bytes} / 1e6, $scan->{files}));
cmp_ok($scan->{wal}, '>', 0, "pg_wal's segments among them ($scan->{wal})");
is(scalar @{ $scan->{hits} }, 0, 'no file holds any recovery code');
diag("a code is in $_") for @{ $scan->{hits} };
like(slurp_file($dump), qr/COPY zstack_tfa\.recovery_code/, 'the dump holds the hashes table (its rows are hashes)');
# the search finds a code stored in plain text, in the heap and in the WAL
$node->safe_psql('postgres', qq{CREATE TABLE canary (s text); INSERT INTO canary VALUES ('$codes{acct2}[5]'); CHECKPOINT});
my @canary = @{ raw_scan($node->data_dir, quotemeta $codes{acct2}[5])->{hits} };
ok(scalar(grep { m{/base/} } @canary) > 0 && scalar(grep { m{/pg_wal/} } @canary) > 0,
	'the same search finds a code stored in plain text (heap and WAL)');
$node->safe_psql('postgres', 'DROP TABLE canary');
# a restored dump: the codes log in (the key file is the same)
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $custom ], 'pg_restore');
like($node->safe_psql('restored', "SELECT zstack_tfa.log_in_by_account('acct2', 'pw2', ARRAY['twofatoken::$codes{acct2}[1]'])"),
	qr/"inventory":\{"uuid"/, 'a code logs in on the restored copy');

# ---------------------------------------------------------------------------
# Timing: a wrong recovery code takes as long as a wrong TOTP code.
# ---------------------------------------------------------------------------
my $rounds = 60;
my $wrong = q{SELECT count(*) FROM zstack_tfa.auth_event e JOIN zstack_tfa.account a ON a.uuid = e.user_uuid
	WHERE a.name = 'acct3' AND e.outcome = 'wrong_code'};
my $wrong_before = $node->safe_psql('postgres', $wrong);
is($node->safe_psql('postgres', q{SELECT count(*) FROM zstack_tfa.recovery_code c JOIN zstack_tfa.secret s ON s.uuid = c.secret_uuid
	JOIN zstack_tfa.account a ON a.uuid = s.user_uuid WHERE a.name = 'acct3' AND used_at IS NULL}), '10',
	'(the user has ten unused codes: each wrong one is compared with all ten)');
my $times = $node->safe_psql('postgres', qq{
	SET zstack_tfa.max_failed_attempts = 1000;
	CREATE TEMP TABLE t (kind text, ms float8);
	DO \$\$
	DECLARE
		t0 timestamptz;
	BEGIN
		-- one of each first, unmeasured (plans, the recorder's start)
		PERFORM zstack_tfa.log_in_by_account('acct3', 'pw3', '{twofatoken::000000}');
		PERFORM zstack_tfa.log_in_by_account('acct3', 'pw3', '{twofatoken::AAAAA-AAAAA}');
		FOR i IN 1 .. $rounds LOOP
			t0 := clock_timestamp();
			PERFORM zstack_tfa.log_in_by_account('acct3', 'pw3', ARRAY['twofatoken::' || lpad((i * 7919 % 1000000)::text, 6, '0')]);
			INSERT INTO t VALUES ('totp', extract(epoch FROM clock_timestamp() - t0) * 1000);
			t0 := clock_timestamp();
			PERFORM zstack_tfa.log_in_by_account('acct3', 'pw3', ARRAY['twofatoken::' || left(zstack_tfa.generate_secret(16), 5) || '-' || right(zstack_tfa.generate_secret(16), 5)]);
			INSERT INTO t VALUES ('recovery', extract(epoch FROM clock_timestamp() - t0) * 1000);
		END LOOP;
	END
	\$\$;
	SELECT kind, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM t GROUP BY kind ORDER BY kind;
});
my %median = map { split /\|/ } split /\n/, $times;
note(sprintf('median of %d wrong logins: TOTP %.3f ms, recovery %.3f ms (ratio %.3f)',
	$rounds, $median{totp}, $median{recovery}, $median{recovery} / $median{totp}));
my $ratio = $median{recovery} / $median{totp};
ok($ratio > 0.8 && $ratio < 1.25, sprintf('a wrong recovery code takes as long as a wrong TOTP code (ratio of medians %.3f)', $ratio));
is($node->safe_psql('postgres', $wrong) - $wrong_before, 2 * $rounds + 2, 'every one of them was recorded as a wrong code');

# ---------------------------------------------------------------------------
# Key rotation: codes hashed under the old key log in while it is in the
# file; once it is gone they are refused without being compared or counted.
# ---------------------------------------------------------------------------
my $keyfile = $node->safe_psql('postgres', 'SHOW zstack_tfa.encryption_key_file');
my $old = slurp_file($keyfile);
open my $fh, '>', "$tmp/rotated" or die;
printf $fh "k2 %s\n%s", join('', map { sprintf '%02x', int(rand(256)) } 1 .. 32), $old;
close $fh;
chmod 0600, "$tmp/rotated";
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$tmp/rotated'");
$node->reload;
like($node->safe_psql('postgres', "SELECT zstack_tfa.log_in_by_account('acct1', 'pw1', ARRAY['twofatoken::$codes{acct1}[3]'])"),
	qr/"inventory":\{"uuid"/, 'after a rotation, a code hashed under the older key logs in');
# the secrets move to the new key (README's rotation), the codes stay
$node->safe_psql('postgres', 'CALL zstack_tfa.encrypt_all_secrets()');
open $fh, '>', "$tmp/new-only" or die;
print $fh (split /\n/, slurp_file("$tmp/rotated"))[0], "\n";
close $fh;
chmod 0600, "$tmp/new-only";
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$tmp/new-only'");
$node->reload;
my $before = $node->safe_psql('postgres', q{SELECT failed_attempts FROM zstack_tfa.secret s JOIN zstack_tfa.account a ON a.uuid = s.user_uuid WHERE a.name = 'acct1'});
my ($rc, $out, $err) = $node->psql('postgres', "SELECT zstack_tfa.log_in_by_account('acct1', 'pw1', ARRAY['twofatoken::$codes{acct1}[4]'])");
like($err, qr/zstack_tfa\.encryption_key_file.*not in the key file/s, 'with the old key gone, a recovery code is an error naming the setting');
unlike($err, qr/\Q$codes{acct1}[4]\E/i, '... which does not hold the code');
is($node->safe_psql('postgres', q{SELECT failed_attempts FROM zstack_tfa.secret s JOIN zstack_tfa.account a ON a.uuid = s.user_uuid WHERE a.name = 'acct1'}),
	$before, '... and is not counted (nothing was compared)');
like($node->safe_psql('postgres', qq{SELECT zstack_tfa.generate_recovery_codes('$session{acct1}', 'pw1')}),
	qr/"codes":\[/, 'a new batch is hashed under the new key');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT key_id, ',') FROM zstack_tfa.recovery_code c JOIN zstack_tfa.secret s
	ON s.uuid = c.secret_uuid JOIN zstack_tfa.account a ON a.uuid = s.user_uuid WHERE a.name = 'acct1'}), 'k2', '(under k2)');

# ---------------------------------------------------------------------------
# Without a key file: no batch (a hash without a secret key could be tested
# offline by anyone holding a dump).
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = ''");
$node->reload;
like($node->safe_psql('postgres', qq{SELECT zstack_tfa.generate_recovery_codes('$session{acct2}', 'pw2')}),
	qr/"code":"SYS\.1006".*recovery codes need a key/, 'without a key file, generate is SYS.1006 and says why');
like($node->safe_psql('postgres', qq{SELECT status || ' ' || body FROM zstack_tfa.http_request('POST',
	'/zstack/v1/twofactorauthentication/recovery-codes', '', '{"Authorization":"OAuth $session{acct2}"}', '{"params":{"password":"pw2"}}'::text)}),
	qr/^503 .*SYS\.1006/, '... over HTTP too');

# nothing of a code in the server log, whatever happened above
my $log = slurp_file($node->logfile);
unlike($log, qr/$pattern/i, 'no recovery code in the server log');

done_testing();
