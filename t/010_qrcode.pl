# Enrolment QR codes, decoded by readers nobody here wrote: what
# otpauth_qr_png, otpauth_qr_svg (drawn by rsvg-convert) and otpauth_qr_text
# (read back into modules, written as a PGM) draw is what zbarimg reads, byte
# for byte equal to otpauth_uri(...) with the same arguments, for ASCII and
# non-ASCII labels and issuers; and the REST route answers the same image
# for the credentials GET .../secret takes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MIME::Base64;

my $node = PostgreSQL::Test::Cluster->new('qr');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION zstack_tfa;
	SELECT zstack_tfa.create_account('alice', 'alice-password');
	SELECT zstack_tfa.create_account('élodie 中文', 'elodie-password');
	SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
});
my $dir = PostgreSQL::Test::Utils::tempdir;

# zbarimg's reading of an image file (raw bytes, no charset guessing)
sub scan
{
	my ($file) = @_;
	my ($out, $err) = run_command([ 'zbarimg', '--nodbus', '--raw', '-q', '-Sdisable', '-Sqrcode.enable', '-Sbinary', $file ]);
	return $out;
}

# the text drawing read back: two module rows per line, 4 px per module, as a PGM
sub text_to_pgm
{
	my ($text, $file) = @_;
	my %top = ("\x{2588}" => 1, "\x{2580}" => 1, "\x{2584}" => 0, ' ' => 0);
	my %bottom = ("\x{2588}" => 1, "\x{2580}" => 0, "\x{2584}" => 1, ' ' => 0);
	my @rows;
	for my $line (split /\n/, $text)
	{
		my @chars = split //, $line;
		push @rows, [ map { $top{$_} } @chars ], [ map { $bottom{$_} } @chars ];
	}
	my $scale = 4;
	my $w = scalar(@{ $rows[0] }) * $scale;
	my $h = scalar(@rows) * $scale;
	open my $fh, '>:raw', $file or die;
	print $fh "P5\n$w $h\n255\n";
	for my $r (@rows)
	{
		my $line = join '', map { ($_ ? "\x00" : "\xff") x $scale } @$r;
		print $fh $line x $scale;
	}
	close $fh;
}

my @cases = (
	[ 'ASCII label, default issuer', q{'JBSWY3DPEHPK3PXP', 'alice'} ],
	[ 'non-ASCII label and issuer', q{'GEZDGNBVGY3TQOJQ', 'élodie 中文', 'ZStack 中文'} ],
	[ 'no issuer', q{'NB2HI4DTHIXS653X', 'bob@example.com', ''} ],
	[ 'a long secret and a long label', q{zstack_tfa.generate_secret(128), repeat('l', 500), repeat('i', 300)} ],
);
# one row per case, built server-side so every function sees the same secret
my $rows = $node->safe_psql('postgres', q{
	CREATE TEMP TABLE c (n int, s text, l text, i text);
	INSERT INTO c VALUES
		(1, 'JBSWY3DPEHPK3PXP', 'alice', 'ZStack'),
		(2, 'GEZDGNBVGY3TQOJQ', 'élodie 中文', 'ZStack 中文'),
		(3, 'NB2HI4DTHIXS653X', 'bob@example.com', ''),
		(4, zstack_tfa.generate_secret(128), repeat('l', 500), repeat('i', 300));
	SELECT n || ' ' || encode(convert_to(zstack_tfa.otpauth_uri(s, l, i), 'UTF8'), 'hex')
		|| ' ' || encode(zstack_tfa.otpauth_qr_png(s, l, i), 'hex')
		|| ' ' || encode(convert_to(zstack_tfa.otpauth_qr_svg(s, l, i), 'UTF8'), 'hex')
		|| ' ' || encode(convert_to(zstack_tfa.otpauth_qr_text(s, l, i), 'UTF8'), 'hex')
		|| ' ' || encode(convert_to(zstack_tfa.otpauth_qr_text(s, l, i, true), 'UTF8'), 'hex')
	FROM c ORDER BY n;
});
for my $line (split /\n/, $rows)
{
	my ($n, $uri, $png, $svg, $text, $inverted) = split / /, $line;
	my $name = $cases[ $n - 1 ][0];
	$uri = pack('H*', $uri);
	open my $fh, '>:raw', "$dir/$n.png" or die;
	print $fh pack('H*', $png);
	close $fh;
	is(scan("$dir/$n.png"), $uri, "$name: zbarimg reads the PNG as otpauth_uri");

	open $fh, '>:raw', "$dir/$n.svg" or die;
	print $fh pack('H*', $svg);
	close $fh;
	run_command([ 'rsvg-convert', '-f', 'png', '-o', "$dir/$n-svg.png", "$dir/$n.svg" ]);
	is(scan("$dir/$n-svg.png"), $uri, "$name: the SVG, drawn by rsvg-convert, reads as otpauth_uri");

	my $drawing = pack('H*', $text);
	utf8::decode($drawing);
	text_to_pgm($drawing, "$dir/$n.pgm");
	is(scan("$dir/$n.pgm"), $uri, "$name: the terminal drawing reads as otpauth_uri");
	my $inv = pack('H*', $inverted);
	utf8::decode($inv);
	(my $flipped = $drawing) =~ tr/\x{2588}\x{2580}\x{2584} /\x{20}\x{2584}\x{2580}\x{2588}/;
	is($inv, $flipped, "$name: the inverted drawing swaps every half block");
}

# the REST route: the same credentials and rules as GET .../secret, the image
# of the secret that route shows
my $secret = $node->safe_psql('postgres',
	q{SELECT zstack_tfa.get_two_factor_authentication_secret('élodie 中文', 'elodie-password')->'inventory'->>'secret'});
my $uri = $node->safe_psql('postgres', qq{SELECT zstack_tfa.otpauth_uri('$secret', 'élodie 中文')});
utf8::encode($uri) if utf8::is_utf8($uri);
my $reply = $node->safe_psql('postgres', q{
	SELECT status || ' ' || content_type || ' ' || encode(binary_body, 'hex')
	FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secret/qrcode',
		'name=%C3%A9lodie%20%E4%B8%AD%E6%96%87&password=elodie-password&type=account&format=png', '{}', NULL::text)});
my ($status, $ctype, $bytes) = split / /, $reply;
is("$status $ctype", '200 image/png', 'the QR route answers a PNG');
open my $fh, '>:raw', "$dir/route.png" or die;
print $fh pack('H*', $bytes);
close $fh;
is(scan("$dir/route.png"), $uri, 'zbarimg reads the secret the route shows');
like($node->safe_psql('postgres', q{
	SELECT status || ' ' || content_type || ' ' || left(body, 40) FROM zstack_tfa.http_request('GET',
		'/zstack/v1/twofactorauthentication/secret/qrcode', 'name=alice&password=alice-password&type=account', '{}', NULL::text)}),
	qr{^200 image/svg\+xml; charset=utf-8 <svg }, 'SVG is the default format');
# 1.0's http_request (text body column only) carries the PNG as base64
my $b64 = $node->safe_psql('postgres', q{
	SELECT body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secret/qrcode',
		'name=alice&password=alice-password&type=account&format=png', '{}', NULL::json)});
is(substr(decode_base64($b64), 0, 8), "\x89PNG\r\n\x1a\n", 'the json-body form answers the PNG in base64');

$node->stop;
done_testing();
