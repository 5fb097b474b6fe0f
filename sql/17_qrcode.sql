-- Enrolment QR codes: what each drawing is (decoding them is t/010_qrcode.pl),
-- the errors of bad input, and the REST route with the secret fetch's rules.
\i sql/include/err.sql

-- the three drawings of one URI: an SVG document, a PNG, half blocks; the
-- same input always draws the same image
SELECT left(zstack_tfa.otpauth_qr_svg('JBSWY3DPEHPK3PXP', 'alice'), 60) AS svg_starts;
SELECT zstack_tfa.otpauth_qr_svg('JBSWY3DPEHPK3PXP', 'alice') LIKE '%</svg>%' AS svg_ends;
SELECT substr(zstack_tfa.otpauth_qr_png('JBSWY3DPEHPK3PXP', 'alice'), 1, 8) = '\x89504e470d0a1a0a'::bytea AS png_signature,
	md5(zstack_tfa.otpauth_qr_png('JBSWY3DPEHPK3PXP', 'alice')) = md5(zstack_tfa.otpauth_qr_png('JBSWY3DPEHPK3PXP', 'alice')) AS same_input_same_png;
-- a bigger scale is a bigger PNG of the same code
SELECT length(zstack_tfa.otpauth_qr_png('JBSWY3DPEHPK3PXP', 'alice', scale => 16)) >
	length(zstack_tfa.otpauth_qr_png('JBSWY3DPEHPK3PXP', 'alice')) AS scale_grows;
-- the text: a square of half blocks, two module rows a line, a quiet zone
-- of 4 light modules (2 blank lines) on every side
SELECT count(*) AS lines, min(length(line)) = max(length(line)) AS square,
	bool_and(line ~ '^[ ▀▄█]+$') AS half_blocks_only,
	(array_agg(line ORDER BY n))[1] ~ '^ +$' AND (array_agg(line ORDER BY n))[2] ~ '^ +$' AS quiet_top
FROM regexp_split_to_table(rtrim(zstack_tfa.otpauth_qr_text('JBSWY3DPEHPK3PXP', 'alice'), E'\n'), E'\n')
	WITH ORDINALITY AS t(line, n);
SELECT translate(zstack_tfa.otpauth_qr_text('JBSWY3DPEHPK3PXP', 'alice'), ' ▀▄█', '█▄▀ ') =
	zstack_tfa.otpauth_qr_text('JBSWY3DPEHPK3PXP', 'alice', invert => true) AS invert_swaps_blocks;

-- bad input: the usual clear errors, never the secret
SELECT pg_temp.err($$SELECT zstack_tfa.otpauth_qr_svg(NULL, 'alice')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.otpauth_qr_png('JBSWY3DPEHPK3PXP', NULL)$$);
SELECT pg_temp.err($$SELECT zstack_tfa.otpauth_qr_text('JBSWY3DPEHPK3PXP', 'alice', 'ZStack', NULL)$$);
SELECT pg_temp.err($$SELECT zstack_tfa.otpauth_qr_svg('JBSWY3DPEHPK3PXP', '')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.otpauth_qr_svg('not base32!', 'alice')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.otpauth_qr_svg('jbswy3dpehpk3pxp', 'alice')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.otpauth_qr_svg('JBSWY3DPEHPK3PXP', repeat('x', 1000000))$$);
SELECT pg_temp.err($$SELECT zstack_tfa.otpauth_qr_text('JBSWY3DPEHPK3PXP', 'alice', repeat('中', 800))$$);
SELECT pg_temp.err($$SELECT zstack_tfa.otpauth_qr_png('JBSWY3DPEHPK3PXP', 'alice', 'ZStack', 0)$$);
SELECT pg_temp.err($$SELECT zstack_tfa.otpauth_qr_png('JBSWY3DPEHPK3PXP', 'alice', 'ZStack', 33)$$);
-- the longest label that fits, and one more byte
SELECT pg_temp.err(format($$SELECT zstack_tfa.otpauth_qr_svg('JBSWY3DPEHPK3PXP', %L)$$,
	repeat('x', 2331 - length(zstack_tfa.otpauth_uri('JBSWY3DPEHPK3PXP', 'x')) + 1))) AS longest_fits;
SELECT pg_temp.err(format($$SELECT zstack_tfa.otpauth_qr_svg('JBSWY3DPEHPK3PXP', %L)$$,
	repeat('x', 2331 - length(zstack_tfa.otpauth_uri('JBSWY3DPEHPK3PXP', 'x')) + 2))) AS one_byte_more;

-- the REST route: the secret fetch's parameters, errors and rules
CREATE FUNCTION pg_temp.qr(query text) RETURNS text
LANGUAGE sql AS $$
	SELECT status || ' ' || content_type || ' ' || coalesce(left(body, 300), 'bytes')
	FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secret/qrcode', query, '{}', NULL::text)
$$;
SELECT pg_temp.qr('name=bob&password=bob-password&type=account') AS while_2fa_is_off;
SELECT zstack_tfa.set_two_factor_authentication_enabled(true)->>'state' AS state;
SELECT pg_temp.qr('name=bob&password=bob-password');
SELECT pg_temp.qr('name=bob&password=wrong&type=account');
SELECT pg_temp.qr('name=bob&password=bob-password&type=account&format=gif');
SELECT pg_temp.qr('name=bob&password=bob-password&type=account&format=png&format=svg');
SELECT left(pg_temp.qr('name=bob&password=bob-password&type=account'), 70) AS svg;
SELECT pg_temp.qr('name=bob&password=bob-password&type=account&format=png') AS png;
SELECT left(pg_temp.qr('name=alice-dev1&password=dev1-password&type=iam2&format=text'), 40) AS text;
-- the picture shows the secret the secret fetch shows
SELECT body = zstack_tfa.otpauth_qr_svg(
		zstack_tfa.get_two_factor_authentication_secret('bob', 'bob-password')->'inventory'->>'secret', 'bob') AS same_secret
	FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secret/qrcode',
		'name=bob&password=bob-password&type=account', '{}', NULL::text);
-- once the secret is Logined it is not shown again, as a picture neither
UPDATE zstack_tfa.secret SET status = 'Logined'
	WHERE user_uuid = (SELECT uuid FROM zstack_tfa.account WHERE name = 'bob');
SELECT pg_temp.qr('name=bob&password=bob-password&type=account') AS logined;
SELECT zstack_tfa.set_two_factor_authentication_enabled(false)->>'state' AS state;
