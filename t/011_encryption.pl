# TOTP secrets encrypted at rest, proved from the outside:
# - the same calls answer byte for byte the same with a key as without one;
# - after a run with a key, no secret the test made is anywhere in the data
#   directory, the WAL or a pg_dump file (the raw bytes are searched);
# - the key file is refused when others may read it, and a missing or wrong
#   key is a clear error naming the setting, never a wrong code; a
#   ciphertext copied onto another row does not decrypt;
# - a new key is rolled in while logins go on, and the old one retired;
# - pg_dump/pg_restore keep the ciphertext, and the restored copy works.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use ZtScan;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $tmp = PostgreSQL::Test::Utils::tempdir;

# a key file as README's two commands make it
sub key_file
{
	my ($path, @ids) = @_;
	open my $fh, '>', $path or die;
	for my $id (@ids)
	{
		my $key = join '', map { sprintf '%02x', int(rand(256)) } 1 .. 32;
		print $fh "$id $key\n";
	}
	close $fh;
	chmod 0600, $path;
}

# the calls whose replies must not depend on encryption: pinned data, then
# queries in every form, the secret fetch, a login with a code
my $setup = q{
	CREATE EXTENSION zstack_tfa;
	SET timezone = 'UTC';
	INSERT INTO zstack_tfa.account (uuid, name, password_hash) VALUES
		('a0000000000000000000000000000001', 'alice', zstack_tfa.hash_password('alice-password'));
	INSERT INTO zstack_tfa.iam2_virtual_id (uuid, name, password_hash, account_uuid) VALUES
		('e0000000000000000000000000000001', 'alice-dev', zstack_tfa.hash_password('dev-password'), 'a0000000000000000000000000000001');
	INSERT INTO zstack_tfa.global_config VALUES ('TwoFactorAuthentication.enable', 'true');
	INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid, status, create_date, last_op_date) VALUES
		('f0000000000000000000000000000001', 'JBSWY3DPEHPK3PXPMFRGGZDFMZTWQ2LK', 'a0000000000000000000000000000001', 'AccountVO', 'a0000000000000000000000000000001', 'NewCreated', '2026-01-10 09:00:00+00', '2026-01-10 09:00:00+00'),
		('f0000000000000000000000000000002', 'GEZDGNBVGY3TQOJQKRUGKIDROVUWG2ZA', 'e0000000000000000000000000000001', 'IAM2VirtualIDVO', 'a0000000000000000000000000000001', 'Logined', '2026-02-11 13:30:00+00', '2026-02-12 08:15:00+00'),
		('f0000000000000000000000000000003', 'NB2HI4DTHIXS653XONSWG4TFOQQGM33S', '36c27e8ff05c4780bf6d2fa65700f22e', 'AccountVO', '36c27e8ff05c4780bf6d2fa65700f22e', 'Logined', '2026-06-15 06:07:08+00', '2026-06-15 06:07:08+00');
	INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, expired_date) VALUES
		(zstack_tfa.session_key('5e550000000000000000000000000001'), '36c27e8ff05c4780bf6d2fa65700f22e', '36c27e8ff05c4780bf6d2fa65700f22e', now() + interval '1 day'),
		(zstack_tfa.session_key('5e550000000000000000000000000002'), 'a0000000000000000000000000000001', 'a0000000000000000000000000000001', now() + interval '1 day');
};
my $calls = q{
	SET timezone = 'UTC';
	SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', sort => 'uuid');
	SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000002', sort => '-secret');
	SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', '{secret~=N%,uuid!=x}');
	SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', '{uuid=f0000000000000000000000000000002}');
	SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', '{secret=GEZDGNBVGY3TQOJQKRUGKIDROVUWG2ZA}', fields => '{uuid}');
	SELECT string_agg(concat_ws(',', uuid, secret, user_uuid, user_type, create_date, last_op_date, status), ';' ORDER BY uuid)
		FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001');
	SELECT zstack_tfa.get_two_factor_authentication_secret('alice', 'alice-password');
	SELECT body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secret',
		'name=alice&password=alice-password&type=account', '{"X-JSON-Schema":"true"}', NULL::text);
	SELECT md5(zstack_tfa.otpauth_qr_png('JBSWY3DPEHPK3PXPMFRGGZDFMZTWQ2LK', 'alice'));
	SELECT zstack_tfa.log_in_by_account('alice', 'alice-password',
		ARRAY['twofatoken::' || zstack_tfa.totp('JBSWY3DPEHPK3PXPMFRGGZDFMZTWQ2LK')])->'inventory'->>'uuid' IS NOT NULL;
	SELECT zstack_tfa.log_in_by_account('alice', 'alice-password', '{twofatoken::000000}');
	SELECT status FROM zstack_tfa.secret ORDER BY uuid;
};

my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = ''");
$plain->start;
$plain->safe_psql('postgres', $setup);
my $plain_replies = $plain->safe_psql('postgres', $calls);
my ($rc, $out, $err) = $plain->psql('postgres', 'SELECT zstack_tfa.reencrypt_secrets()');
like($err, qr/No key is configured: set zstack_tfa\.encryption_key_file/, 'without a key, reencrypt_secrets names the setting to set');
$plain->stop;

key_file("$tmp/keys", 'k2026a');
my $node = PostgreSQL::Test::Cluster->new('keyed');
$node->init;
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$tmp/keys'");
$node->start;
$node->safe_psql('postgres', $setup);
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE secret LIKE 'zt1:k2026a:%') || '/' || count(*) FROM zstack_tfa.secret}),
	'3/3', 'with a key, every secret is stored encrypted');
is($node->safe_psql('postgres', $calls), $plain_replies, 'every reply is byte for byte the same as without a key');
is($node->safe_psql('postgres', 'SELECT key_id, state, secrets FROM zstack_tfa.secret_encryption'),
	'k2026a|current key|3', 'the DBA view counts the secrets under each key');

# secrets made the way users make them: 2FA on, accounts get theirs, the
# secret fetch shows them; remember each, then look for them on disk
$node->safe_psql('postgres', q{
	SELECT zstack_tfa.create_account('acct' || i, 'pw' || i) FROM generate_series(1, 40) i;
	SELECT zstack_tfa.create_iam2_virtual_id('acct1', 'user' || i, 'pw') FROM generate_series(1, 20) i;
});
my @secrets = split /\n/, $node->safe_psql('postgres', q{
	SELECT zstack_tfa.get_two_factor_authentication_secret('acct' || i, 'pw' || i)->'inventory'->>'secret' FROM generate_series(1, 40) i
	UNION ALL
	SELECT zstack_tfa.get_two_factor_authentication_secret('user' || i, 'pw', 'iam2')->'inventory'->>'secret' FROM generate_series(1, 20) i});
push @secrets, qw(JBSWY3DPEHPK3PXPMFRGGZDFMZTWQ2LK GEZDGNBVGY3TQOJQKRUGKIDROVUWG2ZA NB2HI4DTHIXS653XONSWG4TFOQQGM33S);
is(scalar(grep { /^[A-Z2-7]{16,}$/ } @secrets), 63, '63 secrets made and shown');
# a login with each of ten of them, and the reset of one, rewrite rows
$node->safe_psql('postgres', qq{SELECT zstack_tfa.log_in_by_account('acct' || i, 'pw' || i,
	ARRAY['twofatoken::' || zstack_tfa.totp((SELECT zstack_tfa.secret_text(s.uuid, s.secret) FROM zstack_tfa.secret s
		JOIN zstack_tfa.account a ON a.uuid = s.user_uuid WHERE a.name = 'acct' || i))]) FROM generate_series(1, 10) i});
$node->safe_psql('postgres', 'CHECKPOINT');
my $dump = "$tmp/plain.sql";
$node->command_ok([ 'pg_dump', '-Fp', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump (plain text)');
my $custom = "$tmp/custom.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-Z0', '-f', $custom, '-d', $node->connstr('postgres') ], 'pg_dump (custom, uncompressed)');

# every byte of the data directory (heap, indexes, WAL) and of both dumps
my $scan = raw_scan($node->data_dir, join('|', map { quotemeta } @secrets), $dump, $custom);
cmp_ok($scan->{bytes}, '>', 10_000_000, sprintf('the data directory, the WAL and the dumps were read (%.0f MB, %d files)', $scan->{bytes} / 1e6, $scan->{files}));
is(scalar @{ $scan->{hits} }, 0, 'no file holds any of the secrets') or diag("a secret is in $_") for @{ $scan->{hits} };
# (the search finds a secret where there is one)
$node->safe_psql('postgres', q{CREATE TABLE canary (s text); INSERT INTO canary VALUES ('JBSWY3DPEHPK3PXPMFRGGZDFMZTWQ2LK'); CHECKPOINT});
ok(scalar @{ raw_scan($node->data_dir, 'JBSWY3DPEHPK3PXPMFRGGZDFMZTWQ2LK')->{hits} } > 0,
	'the same search finds a secret stored in plain text');
$node->safe_psql('postgres', 'DROP TABLE canary');

# pg_restore into a new database: the ciphertext as it was, and it works
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $custom ], 'pg_restore');
my $stored = q{SELECT string_agg(uuid || secret, ',' ORDER BY uuid) FROM zstack_tfa.secret};
is($node->safe_psql('restored', $stored), $node->safe_psql('postgres', $stored), 'the restored secrets are the same ciphertext');
is($node->safe_psql('restored', q{SELECT zstack_tfa.get_two_factor_authentication_secret('acct20', 'pw20')->'inventory'->>'secret'}),
	$secrets[19], 'and the restored copy decrypts them');

# a ciphertext copied onto another row does not decrypt
($rc, $out, $err) = $node->psql('postgres', q{
	UPDATE zstack_tfa.secret SET secret = (SELECT secret FROM zstack_tfa.secret WHERE uuid = 'f0000000000000000000000000000001')
	WHERE uuid = 'f0000000000000000000000000000003';
	SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', '{uuid=f0000000000000000000000000000003}');
});
like($err, qr/does not decrypt with the key "k2026a".*copied from another row/s, 'a ciphertext copied onto another row does not decrypt');
unlike($out, qr/JBSWY3DPEHPK3PXP/, '... and shows nothing');
$node->safe_psql('postgres', q{UPDATE zstack_tfa.secret SET secret = 'NB2HI4DTHIXS653XONSWG4TFOQQGM33S'
	WHERE uuid = 'f0000000000000000000000000000003'});

# a damaged stored value is an error that says what is wrong, never a secret
for my $case (
	[ q{'zt1:k2026a'}, qr/damaged \(no key id\)/, 'no key id' ],
	[ q{'zt1:' || repeat('k', 40) || ':AAAA'}, qr/damaged \(no key id\)/, 'a key id too long' ],
	[ q{'zt1:k2027:' || repeat('A', 80)}, qr/under the key "k2027", which is not in the key file/, 'a key id not in the file' ],
	[ q{'zt1:k2026a:' || repeat('A', 39) || '@'}, qr/damaged \(not base64\)/, 'a character outside base64' ],
	[ q{'zt1:k2026a:' || repeat('A', 38) || '=A'}, qr/damaged \(not base64\)/, 'padding inside' ],
	[ q{'zt1:k2026a:' || repeat('A', 39)}, qr/damaged \(not base64\)/, 'a length not a multiple of 4' ],
	[ q{'zt1:k2026a:AAAA'}, qr/damaged \(too short\)/, 'too few bytes' ],
	[ q{'zt1:k2026a:' || repeat('A', 4000)}, qr/damaged \(too long\)/, 'too many bytes' ],
	[ q{overlay(secret PLACING CASE WHEN substr(secret, 20, 1) = 'A' THEN 'B' ELSE 'A' END FROM 20 FOR 1)},
	  qr/does not decrypt with the key "k2026a"/, 'one character altered' ])
{
	my ($expr, $want, $what) = @$case;
	($rc, $out, $err) = $node->psql('postgres',
		"SELECT zstack_tfa.secret_text(uuid, $expr) FROM zstack_tfa.secret WHERE uuid = 'f0000000000000000000000000000001'");
	like($err, $want, "a stored secret with $what: an error that says so");
	is($out, '', "... with $what, nothing shown");
}
# (a backend's keyed cipher context decrypts on after one that failed)
($rc, $out, $err) = $node->psql('postgres', q{
	SELECT zstack_tfa.secret_text(uuid, overlay(secret PLACING CASE WHEN substr(secret, 20, 1) = 'A' THEN 'B' ELSE 'A' END FROM 20 FOR 1))
		FROM zstack_tfa.secret WHERE uuid = 'f0000000000000000000000000000001';
	SELECT zstack_tfa.secret_text(uuid, secret) FROM zstack_tfa.secret WHERE uuid = 'f0000000000000000000000000000001';
}, on_error_stop => 0);
is($out, 'JBSWY3DPEHPK3PXPMFRGGZDFMZTWQ2LK', 'after a value that does not decrypt, the same session decrypts the next');
($rc, $out, $err) = $node->psql('postgres', q{SELECT zstack_tfa.reencrypt_secrets(0)});
like($err, qr/batch_size must be at least 1/, 'reencrypt_secrets(0) is refused');
($rc, $out, $err) = $node->psql('postgres', q{UPDATE zstack_tfa.secret SET secret = 'JBSWY3DPEHPK3PX1' WHERE uuid = 'f0000000000000000000000000000001'});
like($err, qr/a TOTP secret must be 16 to \d+ characters of base32/, 'a secret that is not base32 is refused before it is encrypted');
unlike($err, qr/JBSWY3DPEHPK3PX1/, '... without echoing it');

# the key file: others may not read it; missing or wrong keys are errors
# that name the setting, never a wrong secret or a wrong code
my @login = ('postgres', q{SELECT zstack_tfa.log_in_by_account('acct30', 'pw30', ARRAY['twofatoken::' ||
	zstack_tfa.totp(zstack_tfa.get_two_factor_authentication_secret('acct30', 'pw30')->'inventory'->>'secret')])});
chmod 0640, "$tmp/keys";
$node->reload;
($rc, $out, $err) = $node->psql(@login);
like($err, qr/zstack_tfa\.encryption_key_file.*group or world access/s, 'a group-readable key file is refused, naming the setting');
chmod 0600, "$tmp/keys";
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$tmp/no-such-file'");
$node->reload;
($rc, $out, $err) = $node->psql(@login);
like($err, qr/zstack_tfa\.encryption_key_file.*Could not read/s, 'a missing key file is an error naming the setting');
key_file("$tmp/wrong", 'k2026a');
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$tmp/wrong'");
$node->reload;
($rc, $out, $err) = $node->psql('postgres', q{SELECT zstack_tfa.log_in_by_account('acct31', 'pw31', '{twofatoken::123456}')});
like($err, qr/does not decrypt with the key "k2026a"/, 'a wrong key is an error, not a wrong code');
unlike($out, qr/ID\.2002/, '... never a wrong code');
($rc, $out, $err) = $node->psql('postgres', q{INSERT INTO zstack_tfa.account (uuid, name) VALUES ('a00000000000000000000000000000ff', 'x');
	INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid) VALUES
	('f00000000000000000000000000000ff', 'JBSWY3DPEHPK3PXP', 'a00000000000000000000000000000ff', 'AccountVO', 'a00000000000000000000000000000ff')});
is($rc, 0, 'a wrong key still encrypts new secrets (the file is valid)');

# every way a key file can be malformed is an error naming the setting and
# the problem, and echoing no key
my $hex = 'ab' x 32;
for my $case (
	[ "bad/id $hex\n", qr/Line 1 of .* does not start with a key id/, 'a key id with a slash' ],
	[ ('k' x 33) . " $hex\n", qr/Line 1 of .* does not start with a key id of 1 to 32/, 'a key id too long' ],
	[ "# keys\n\nk1 $hex\nk1 $hex\n", qr/The key id "k1" appears twice/, 'an id twice' ],
	[ "k1 " . ('ab' x 31) . "\n", qr/The key "k1" on line 1 of .* is not 64 hexadecimal digits/, 'a short key' ],
	[ "k1 ${hex}ab\n", qr/The key "k1" on line 1 of .* is not 64 hexadecimal digits/, 'a long key' ],
	[ "k1 " . ('zz' x 32) . "\n", qr/The key "k1" on line 1 of .* is not 64 hexadecimal digits/, 'a key not hex' ],
	[ join('', map { "k$_ $hex\n" } 1 .. 65), qr/holds more than 64 keys/, '65 keys' ],
	[ "# no keys yet\n", qr/holds no key/, 'no key' ],
	[ ('#' x 70000) . "\n", qr/is larger than 65536 bytes/, 'a file over 64 kB' ])
{
	my ($text, $want, $what) = @$case;
	open my $fh, '>', "$tmp/bad" or die;
	print $fh $text;
	close $fh;
	chmod 0600, "$tmp/bad";
	$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$tmp/bad'");
	$node->reload;
	($rc, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM zstack_tfa.encryption_keys()');
	like($err, qr/zstack_tfa\.encryption_key_file.*$want/s, "a key file with $what is refused, saying why");
	unlike($err, qr/abababab|zzzzzzzz/, "... with $what, no key echoed");
}
mkdir "$tmp/keydir";
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$tmp/keydir'");
$node->reload;
($rc, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM zstack_tfa.encryption_keys()');
like($err, qr/is not a regular file/, 'a directory is not a key file');
SKIP:
{
	# (the test command, as root, leaves a key file owned by nobody)
	skip 'no key file owned by another user (run as root to test)', 1 unless $ENV{ZT_FOREIGN_KEY_FILE};
	$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$ENV{ZT_FOREIGN_KEY_FILE}'");
	$node->reload;
	($rc, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM zstack_tfa.encryption_keys()');
	like($err, qr/must be owned by the database server's user or by root/, 'a key file owned by another user is refused');
}
$node->append_conf('postgresql.conf', "zstack_tfa.encryption_key_file = '$tmp/keys'");
$node->reload;

# (what the wrong key encrypted, no right key reads: that row goes)
$node->safe_psql('postgres', q{DELETE FROM zstack_tfa.account WHERE uuid = 'a00000000000000000000000000000ff'});

# rotation: a new key first in the file, re-encryption in batches (of 7)
# while 4 clients keep querying every secret and logging in, then the old
# key is retired
key_file("$tmp/new", 'k2026b');
system("cat $tmp/keys >> $tmp/new") == 0 or die;
rename "$tmp/new", "$tmp/keys";
chmod 0600, "$tmp/keys";
$node->reload;
my @clients;
for my $c (11 .. 14)
{
	my ($in, $o, $e) = ('', '', '');
	my $loop = qq{DO \$\$
		DECLARE
			r json;
		BEGIN
			FOR i IN 1 .. 30 LOOP
				r := zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', '{}');
				IF r->'error' IS NOT NULL OR json_array_length(r->'inventories') < 60 THEN
					RAISE EXCEPTION 'query %: %', i, left(r::text, 200);
				END IF;
			END LOOP;
			r := zstack_tfa.log_in_by_account('acct$c', 'pw$c', ARRAY['twofatoken::' || zstack_tfa.totp(
				zstack_tfa.get_two_factor_authentication_secret('acct$c', 'pw$c')->'inventory'->>'secret')]);
			IF r->'inventory' IS NULL THEN
				RAISE EXCEPTION 'login: %', r;
			END IF;
		END \$\$};
	push @clients, [ IPC::Run::start([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c', $loop ],
		'<', \$in, '>', \$o, '2>', \$e), \$e, $c ];
}
$node->safe_psql('postgres', 'CALL zstack_tfa.encrypt_all_secrets(7)');
for my $client (@clients)
{
	my ($h, $e, $c) = @$client;
	$h->finish;
	is($h->result(0), 0, "client acct$c queried and logged in throughout the rotation") or diag($$e);
}
is($node->safe_psql('postgres', q{SELECT string_agg(key_id || ':' || state || ':' || secrets, ' ' ORDER BY key_id) FROM zstack_tfa.secret_encryption}),
	'k2026a:older key:0 k2026b:current key:' . $node->safe_psql('postgres', 'SELECT count(*) FROM zstack_tfa.secret'),
	'encrypt_all_secrets moved every secret under the new key');
system("sed -i '/^k2026a /d' $tmp/keys") == 0 or die;
$node->reload;
is($node->safe_psql('postgres', q{SELECT string_agg(key_id, ',') FROM zstack_tfa.encryption_keys()}), 'k2026b', 'the old key is retired');
like($node->safe_psql(@login), qr/"inventory":\{"uuid"/, 'logins go on under the new key');

$node->stop;
done_testing();
