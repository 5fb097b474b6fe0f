-- TOTP primitives on liboath: RFC 6238 Appendix B vectors (HMAC-SHA1, the
-- 8-digit values' last six digits, leading zeros kept), the verify window,
-- malformed codes, secrets from the CSPRNG, otpauth URIs.
-- The RFC's seed "12345678901234567890" in base32:
\set rfc 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'

SELECT t AS unix_time, zstack_tfa.totp(:'rfc', to_timestamp(t)) AS code, rfc8,
	zstack_tfa.totp(:'rfc', to_timestamp(t)) = right(rfc8, 6) AS matches_rfc
FROM (VALUES (59, '94287082'), (1111111109, '07081804'), (1111111111, '14050471'),
	(1234567890, '89005924'), (2000000000, '69279037'), (20000000000, '65353130')) v(t, rfc8);

-- the window: t-1, t and t+1 pass with the default window 1; t-2 and t+2 do not
SELECT d AS step_offset,
	zstack_tfa.totp_verify(:'rfc', zstack_tfa.totp(:'rfc', to_timestamp(1234567890 + 30 * d)),
		to_timestamp(1234567890)) AS window_1,
	zstack_tfa.totp_verify(:'rfc', zstack_tfa.totp(:'rfc', to_timestamp(1234567890 + 30 * d)),
		to_timestamp(1234567890), 0) AS window_0,
	zstack_tfa.totp_verify(:'rfc', zstack_tfa.totp(:'rfc', to_timestamp(1234567890 + 30 * d)),
		to_timestamp(1234567890), 2) AS window_2
FROM generate_series(-3, 3) d;
-- the step boundary: 1234567889 is the last second of the step before 1234567890's
SELECT zstack_tfa.totp(:'rfc', to_timestamp(1234567889)) <> zstack_tfa.totp(:'rfc', to_timestamp(1234567890)) AS new_step_at_boundary,
	zstack_tfa.totp(:'rfc', to_timestamp(1234567890)) = zstack_tfa.totp(:'rfc', to_timestamp(1234567919.999)) AS same_step_within;

-- codes with leading zeros; malformed codes are simply false, never an error
SELECT zstack_tfa.totp_verify(:'rfc', '005924', to_timestamp(1234567890)) AS leading_zeros,
	zstack_tfa.totp_verify(:'rfc', '5924', to_timestamp(1234567890)) AS zeros_dropped,
	zstack_tfa.totp_verify(:'rfc', '89005924', to_timestamp(1234567890)) AS eight_digits,
	zstack_tfa.totp_verify(:'rfc', ' 005924', to_timestamp(1234567890)) AS leading_space,
	zstack_tfa.totp_verify(:'rfc', '00592x', to_timestamp(1234567890)) AS letter,
	zstack_tfa.totp_verify(:'rfc', '', to_timestamp(1234567890)) AS empty,
	zstack_tfa.totp_verify(:'rfc', '００５９２４', to_timestamp(1234567890)) AS fullwidth_digits;

-- liboath reads lower case and spaces; anything else is a clear 22023 that
-- does not echo the secret
SELECT zstack_tfa.totp(lower(:'rfc'), to_timestamp(59)) AS lower_case,
	zstack_tfa.totp('GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ', to_timestamp(59)) AS spaced;
\set VERBOSITY default
SELECT zstack_tfa.totp('ZTLOGCANARY0189!', to_timestamp(59));
SELECT zstack_tfa.totp_verify('', '123456');
SELECT zstack_tfa.totp_verify('ZTLOGCANARY=', '123456');
SELECT zstack_tfa.totp(repeat('A', 1025));
SELECT zstack_tfa.totp_verify(:'rfc', '123456', now(), -1);
SELECT zstack_tfa.totp_verify(:'rfc', '123456', now(), 11);
SELECT zstack_tfa.totp(:'rfc', '1969-12-31 23:59:59+00');
SELECT zstack_tfa.totp(:'rfc', 'infinity');
-- NULL in, NULL out (the primitives are STRICT)
SELECT zstack_tfa.totp(NULL) IS NULL AS totp_null, zstack_tfa.totp_verify(:'rfc', NULL) IS NULL AS verify_null;

-- generated secrets: 16 characters of A-Z2-7 by default, longer on request,
-- all different, and usable
SELECT zstack_tfa.generate_secret() ~ '^[A-Z2-7]{16}$' AS default_16,
	zstack_tfa.generate_secret(32) ~ '^[A-Z2-7]{32}$' AS length_32,
	zstack_tfa.generate_secret(128) ~ '^[A-Z2-7]{128}$' AS length_128;
SELECT count(DISTINCT s) AS distinct_of_1000,
	count(DISTINCT substr(s, 1, 1)) AS first_letters_seen
	FROM (SELECT zstack_tfa.generate_secret() s FROM generate_series(1, 1000)) g;
SELECT bool_and(zstack_tfa.totp_verify(s, zstack_tfa.totp(s))) AS own_codes_verify
	FROM (SELECT zstack_tfa.generate_secret() s FROM generate_series(1, 50)) g;
SELECT zstack_tfa.generate_secret(15);
SELECT zstack_tfa.generate_secret(129);

-- otpauth URIs: label and issuer percent-encoded, the RFC parameters
SELECT zstack_tfa.otpauth_uri('JBSWY3DPEHPK3PXP', 'alice');
SELECT zstack_tfa.otpauth_uri('JBSWY3DPEHPK3PXP', 'alice@example.com', 'ZStack Cloud & Co/东京');
SELECT zstack_tfa.otpauth_uri('JBSWY3DPEHPK3PXP', 'alice', NULL);
SELECT zstack_tfa.otpauth_uri('jbswy3dpehpk3pxp', 'alice');
SELECT zstack_tfa.otpauth_uri('ZTLOGCANARY!', 'alice');
SELECT zstack_tfa.otpauth_uri(NULL, 'alice');
SELECT zstack_tfa.otpauth_uri('JBSWY3DPEHPK3PXP', NULL);
