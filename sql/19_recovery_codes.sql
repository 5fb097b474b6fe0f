-- Recovery codes (issue 22): a user with a session and the password gets ten
-- single-use codes, shown once; any of them logs in where the six TOTP digits
-- go (the twofatoken:: tag of every login, SQL and HTTP), once; wrong ones
-- count toward the same lockout as wrong TOTP codes; only a keyed hash of
-- each is stored.  Every error path of generate, revoke and count, and the
-- counts in the DBA report.  (Without a key file no batch is made: t/019.)
SET timezone = 'UTC';
SET client_min_messages = warning;
SELECT zstack_tfa.set_two_factor_authentication_enabled(true);

-- rita (a Normal account) with an IAM2 user, and sessions with pinned
-- uuids (5e55...c0N) for rita, rita-dev, another account and admin
INSERT INTO zstack_tfa.account (uuid, name, password_hash) VALUES
	('a00000000000000000000000000000c1', 'rita', zstack_tfa.hash_password('rita-password')),
	('a00000000000000000000000000000c2', 'otto', zstack_tfa.hash_password('otto-password'));
INSERT INTO zstack_tfa.iam2_virtual_id (uuid, name, password_hash, account_uuid) VALUES
	('e00000000000000000000000000000c1', 'rita-dev', zstack_tfa.hash_password('dev-password'), 'a00000000000000000000000000000c1');
INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, user_type, expired_date) VALUES
	(zstack_tfa.session_key('5e5500000000000000000000000000c1'), 'a00000000000000000000000000000c1', 'a00000000000000000000000000000c1', 'AccountVO', now() + interval '1 day'),
	(zstack_tfa.session_key('5e5500000000000000000000000000c2'), 'a00000000000000000000000000000c1', 'e00000000000000000000000000000c1', 'IAM2VirtualIDVO', now() + interval '1 day'),
	(zstack_tfa.session_key('5e5500000000000000000000000000c3'), 'a00000000000000000000000000000c2', 'a00000000000000000000000000000c2', 'AccountVO', now() + interval '1 day'),
	(zstack_tfa.session_key('5e5500000000000000000000000000c4'), '36c27e8ff05c4780bf6d2fa65700f22e', '36c27e8ff05c4780bf6d2fa65700f22e', 'AccountVO', now() + interval '1 day');
-- the accounts got no secret (inserted directly): fetching creates them
SELECT zstack_tfa.get_two_factor_authentication_secret('rita', 'rita-password')->'inventory'->>'status' AS rita_secret,
	zstack_tfa.get_two_factor_authentication_secret('otto', 'otto-password')->'inventory'->>'status' AS otto_secret;

CREATE FUNCTION pg_temp.login(name text, code text, iam2 boolean DEFAULT false) RETURNS text
LANGUAGE sql AS $$
	SELECT coalesce(r->'error'->>'code', 'session')
	FROM (SELECT CASE WHEN iam2 THEN zstack_tfa.log_in_by_iam2_virtual_id(name, 'dev-password', ARRAY['twofatoken::' || code])
		ELSE zstack_tfa.log_in_by_account(name, name || '-password', ARRAY['twofatoken::' || code]) END AS r) x
$$;
CREATE TEMP TABLE seen AS SELECT max(id) AS id FROM zstack_tfa.auth_event;
CREATE FUNCTION pg_temp.events() RETURNS text
LANGUAGE sql AS $$
	WITH e AS (SELECT * FROM zstack_tfa.auth_event WHERE id > coalesce((SELECT id FROM seen), 0)),
	upd AS (UPDATE seen SET id = (SELECT max(id) FROM zstack_tfa.auth_event))
	SELECT coalesce(string_agg(kind || ':' || outcome || coalesce('/' || error_code, ''), ', ' ORDER BY id), '-') FROM e
$$;
-- (the secret as it was first stored)
CREATE TEMP TABLE first_secret AS SELECT secret FROM zstack_tfa.secret WHERE user_uuid = 'a00000000000000000000000000000c1';
CREATE FUNCTION pg_temp.secret_state(name text) RETURNS text
LANGUAGE sql AS $$
	SELECT concat_ws(' ', s.status, s.failed_attempts, s.last_accepted_step IS NULL,
		CASE WHEN s.secret = (SELECT secret FROM first_secret) THEN 'same secret' ELSE 'other secret' END)
	FROM zstack_tfa.secret s JOIN zstack_tfa.account a ON a.uuid = s.user_uuid WHERE a.name = $1
$$;

-- generate: ten codes of two groups of five base32 characters, all distinct,
-- with the user and the time; the reply is the only place they appear
CREATE TEMP TABLE batch AS
SELECT zstack_tfa.generate_recovery_codes('5e5500000000000000000000000000c1', 'rita-password') AS j;
SELECT json_object_keys(j->'inventory') AS member FROM batch;
SELECT j->'inventory'->>'userUuid' AS user_uuid, j->'inventory'->>'userType' AS user_type,
	json_array_length(j->'inventory'->'codes') AS codes,
	(SELECT bool_and(c ~ '^[A-Z2-7]{5}-[A-Z2-7]{5}$') FROM json_array_elements_text(j->'inventory'->'codes') c) AS well_formed,
	(SELECT count(DISTINCT c) FROM json_array_elements_text(j->'inventory'->'codes') c) AS distinct_codes
FROM batch;
CREATE TEMP TABLE code AS SELECT row_number() OVER () AS n, c FROM batch, json_array_elements_text(j->'inventory'->'codes') c;
SELECT pg_temp.events();
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c1');
-- stored: a 32-byte hash per code under the current key, no code; the hash
-- is keyed (not a bare SHA-256 of what it covers)
SELECT count(*) AS rows, bool_and(length(hash) = 32) AS hash_32_bytes,
	bool_and(key_id = (SELECT key_id FROM zstack_tfa.encryption_keys() WHERE current)) AS current_key,
	bool_and(used_at IS NULL) AS unused
FROM zstack_tfa.recovery_code WHERE secret_uuid = (SELECT uuid FROM zstack_tfa.secret WHERE user_uuid = 'a00000000000000000000000000000c1');
SELECT count(*) AS bare_sha256_matches FROM zstack_tfa.recovery_code r, code
	WHERE r.hash IN (sha256(convert_to(r.secret_uuid || ':' || replace(c, '-', ''), 'UTF8')), sha256(convert_to(c, 'UTF8')));
SELECT count(*) AS code_text_in_table FROM zstack_tfa.recovery_code r, code
	WHERE position(convert_to(replace(c, '-', ''), 'UTF8') IN r.hash) > 0 OR r.key_id LIKE '%' || replace(c, '-', '') || '%';

-- use: a code logs in once, in any case and with or without its dash; the
-- secret stays as it was (NewCreated: the user enrols when ready); audited
-- as a recovery login
SELECT pg_temp.secret_state('rita') AS before;
SELECT pg_temp.login('rita', (SELECT c FROM code WHERE n = 1)) AS first_use;
SELECT pg_temp.secret_state('rita') AS after;
SELECT pg_temp.events();
SELECT pg_temp.login('rita', (SELECT c FROM code WHERE n = 1)) AS second_use;
SELECT pg_temp.events();
-- (one login per statement: a transaction that logged in has changed the
-- secret's row, and its next code is not compared)
SELECT pg_temp.login('rita', (SELECT lower(c) FROM code WHERE n = 2)) AS lower_case;
SELECT pg_temp.login('rita', (SELECT replace(c, '-', '') FROM code WHERE n = 3)) AS no_dash;
SELECT pg_temp.login('rita', (SELECT substr(c, 1, 2) || '-' || substr(c, 3, 2) || '--' || substr(c, 5) FROM code WHERE n = 4)) AS more_dashes;
-- a recovery login resets the count of wrong codes, as a TOTP login does
SELECT pg_temp.secret_state('rita') AS after_three_more;
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c1');
SELECT recovery_codes_left, recovery_codes_used, recovery_codes_created IS NOT NULL AS created,
	recovery_code_last_used IS NOT NULL AS last_used
FROM zstack_tfa.two_factor_report WHERE user_name = 'rita';
-- not a code of this user's, and not of the form (too short, too long, a
-- character outside base32): each is a wrong code
SELECT pg_temp.login('otto', (SELECT c FROM code WHERE n = 5)) AS someone_elses,
	pg_temp.login('rita', (SELECT left(c, 10) FROM code WHERE n = 5)) AS too_short,
	pg_temp.login('rita', (SELECT c || 'A' FROM code WHERE n = 5)) AS too_long,
	pg_temp.login('rita', (SELECT replace(c, left(c, 1), '1') FROM code WHERE n = 5)) AS not_base32;
SELECT pg_temp.events();

-- a rolled-back login does not spend the code
BEGIN;
SELECT pg_temp.login('rita', (SELECT c FROM code WHERE n = 5)) AS in_rolled_back_transaction;
ROLLBACK;
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c1')->>'left' AS left_after_rollback;

-- wrong recovery codes count toward the same lockout as wrong TOTP codes:
-- two wrong TOTP codes and one wrong recovery code lock at three, and then
-- a right recovery code is refused too
SELECT pg_temp.login('rita', (SELECT c FROM code WHERE n = 10)) AS count_starts_anew;
SELECT failed_attempts FROM zstack_tfa.two_factor_report WHERE user_name = 'rita';
SET zstack_tfa.max_failed_attempts = 3;
SET zstack_tfa.lockout_seconds = 2;
SELECT pg_temp.login('rita', '000000') AS wrong_totp_1, pg_temp.login('rita', 'AAAAA-AAAAA') AS wrong_recovery,
	pg_temp.login('rita', '111111') AS wrong_totp_2;
SELECT zstack_tfa.log_in_by_account('rita', 'rita-password', ARRAY['twofatoken::' || (SELECT c FROM code WHERE n = 6)])->'error'->>'details' ~
	'^two-factor logins of this account are locked after 3 wrong codes in a row; try again in [12] seconds$' AS right_recovery_code_locked_out;
SELECT pg_temp.events();
SELECT pg_sleep(2.1);
-- and wrong recovery codes alone lock too
SELECT pg_temp.login('rita', 'AAAAA-AAAAA') AS w1, pg_temp.login('rita', 'BBBBB-BBBBB') AS w2,
	pg_temp.login('rita', 'CCCCC-CCCCC') AS w3, pg_temp.login('rita', (SELECT c FROM code WHERE n = 6)) AS right_but_locked;
SELECT failed_attempts, locked FROM zstack_tfa.two_factor_report WHERE user_name = 'rita';
SELECT pg_sleep(2.1);
SELECT pg_temp.login('rita', (SELECT c FROM code WHERE n = 6)) AS after_the_lock;
SELECT failed_attempts, locked FROM zstack_tfa.two_factor_report WHERE user_name = 'rita';
RESET zstack_tfa.max_failed_attempts;
RESET zstack_tfa.lockout_seconds;
SELECT pg_temp.events();

-- an IAM2 user: its own batch, its own logins
SELECT zstack_tfa.get_two_factor_authentication_secret('rita-dev', 'dev-password', 'iam2')->'inventory'->>'status' AS dev_secret;
CREATE TEMP TABLE dev AS
SELECT json_array_elements_text(zstack_tfa.generate_recovery_codes('5e5500000000000000000000000000c2', 'dev-password')->'inventory'->'codes') AS c;
SELECT count(*) AS dev_codes FROM dev;
SELECT pg_temp.login('rita-dev', (SELECT min(c) FROM dev), true) AS iam2_login;
SELECT pg_temp.login('rita-dev', (SELECT min(c) FROM dev), true) AS iam2_again,
	pg_temp.login('rita', (SELECT max(c) FROM dev)) AS iam2_code_for_the_account;
SELECT pg_temp.events();

-- over HTTP: ZStack's unified login and LogInByAccount with the code in the
-- SDK's systemTags, and the generate route
CREATE FUNCTION pg_temp.call(method text, path text, body text DEFAULT NULL,
	headers json DEFAULT '{"Authorization":"OAuth 5e5500000000000000000000000000c1"}')
RETURNS TABLE (status int, body text)
LANGUAGE sql AS $$ SELECT status, body FROM zstack_tfa.http_request(method, path, '', headers, body) $$;
SELECT status, body::json->'inventory'->>'userUuid' AS user_uuid FROM pg_temp.call('PUT', '/zstack/v1/login',
	(SELECT json_build_object('logIn', json_build_object('username', 'rita', 'password', 'rita-password', 'loginType', 'account',
		'systemTags', json_build_array('twofatoken::' || c)))::text FROM code WHERE n = 7));
SELECT status, body::json->'inventory'->>'userUuid' AS user_uuid FROM pg_temp.call('PUT', '/zstack/v1/accounts/login',
	(SELECT json_build_object('logInByAccount', json_build_object('accountName', 'rita', 'password', 'rita-password'),
		'systemTags', json_build_array('twofatoken::' || lower(c)))::text FROM code WHERE n = 8));
SELECT status, body::json->'error'->>'code' AS code FROM pg_temp.call('PUT', '/zstack/v1/accounts/login',
	(SELECT json_build_object('logInByAccount', json_build_object('accountName', 'rita', 'password', 'rita-password',
		'systemTags', json_build_array('twofatoken::' || c)))::text FROM code WHERE n = 8)) AS spent;
SELECT pg_temp.events();
CREATE TEMP TABLE http_batch AS
SELECT * FROM pg_temp.call('POST', '/zstack/v1/twofactorauthentication/recovery-codes', '{"params":{"password":"rita-password"},"systemTags":[],"userTags":[]}');
SELECT status, json_array_length(body::json->'inventory'->'codes') AS codes FROM http_batch;
-- the new batch revoked the old one
SELECT pg_temp.login('rita', (SELECT c FROM code WHERE n = 9)) AS old_batch_code;
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c1');
SELECT pg_temp.login('rita', (SELECT body::json->'inventory'->'codes'->>0 FROM http_batch)) AS new_batch_code;
-- X-JSON-Schema: an empty schema (no ZStack class describes this reply)
CREATE TEMP TABLE schema_batch AS SELECT * FROM pg_temp.call('POST', '/zstack/v1/twofactorauthentication/recovery-codes',
	'{"params":{"password":"rita-password"}}', '{"Authorization":"OAuth 5e5500000000000000000000000000c1","X-JSON-Schema":"true"}');
SELECT status, left(body, 26) AS starts FROM schema_batch;
-- the route's errors
SELECT * FROM pg_temp.call('POST', '/zstack/v1/twofactorauthentication/recovery-codes', '{"params":{}}');
SELECT * FROM pg_temp.call('POST', '/zstack/v1/twofactorauthentication/recovery-codes', '{"params":{"password":"wrong"}}');
SELECT * FROM pg_temp.call('POST', '/zstack/v1/twofactorauthentication/recovery-codes', '{"params":{"password":"rita-password"}}', '{}');
SELECT * FROM pg_temp.call('POST', '/zstack/v1/twofactorauthentication/recovery-codes', '{"params":{"password":"rita-password"}}',
	'{"Authorization":"OAuth 5e5500000000000000000000000000ff"}');
SELECT * FROM pg_temp.call('POST', '/zstack/v1/twofactorauthentication/recovery-codes', '{"params":"rita-password"}');
SELECT * FROM pg_temp.call('POST', '/zstack/v1/twofactorauthentication/recovery-codes', 'not json');
SELECT * FROM pg_temp.call('GET', '/zstack/v1/twofactorauthentication/recovery-codes');
SELECT pg_temp.events();

-- generate's errors: a bad session, a wrong password, a read-only
-- transaction, a user without a secret, NULLs
SELECT zstack_tfa.generate_recovery_codes('5e5500000000000000000000000000ff', 'rita-password');
SELECT zstack_tfa.generate_recovery_codes('not a uuid', 'rita-password');
SELECT zstack_tfa.generate_recovery_codes('5e5500000000000000000000000000c1', 'wrong');
SELECT zstack_tfa.generate_recovery_codes('5e5500000000000000000000000000c1', repeat('x', 2000))->'error'->>'code' AS too_long_password;
BEGIN READ ONLY;
SELECT zstack_tfa.generate_recovery_codes('5e5500000000000000000000000000c1', 'rita-password');
ROLLBACK;
DELETE FROM zstack_tfa.secret WHERE user_uuid = 'e00000000000000000000000000000c1';
SELECT zstack_tfa.generate_recovery_codes('5e5500000000000000000000000000c2', 'dev-password');
SELECT zstack_tfa.generate_recovery_codes(NULL, 'rita-password');
SELECT zstack_tfa.generate_recovery_codes('5e5500000000000000000000000000c1', NULL);
SELECT pg_temp.events();

-- count: one's own, by one's own name, another's (SystemAdmin only), errors
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c1', 'rita');
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c2', 'rita-dev', 'iam2');
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c3', 'rita');
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c3', 'nobody');
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c4', 'rita');
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c4', 'nobody');
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c4', 'rita', 'user');
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c4', 'rita', NULL);
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000ff');
SELECT zstack_tfa.count_recovery_codes(NULL);
BEGIN READ ONLY;
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c1') AS read_only_count;
ROLLBACK;

-- revoke: another user's codes are a SystemAdmin's to revoke (never to read)
SELECT zstack_tfa.revoke_recovery_codes('5e5500000000000000000000000000c3', 'rita');
SELECT zstack_tfa.revoke_recovery_codes('5e5500000000000000000000000000c3', 'nobody');
SELECT zstack_tfa.revoke_recovery_codes('5e5500000000000000000000000000c4', 'nobody');
SELECT zstack_tfa.revoke_recovery_codes('5e5500000000000000000000000000c4', 'rita', 'user');
SELECT zstack_tfa.revoke_recovery_codes('5e5500000000000000000000000000ff');
SELECT zstack_tfa.revoke_recovery_codes(NULL);
BEGIN READ ONLY;
SELECT zstack_tfa.revoke_recovery_codes('5e5500000000000000000000000000c1');
ROLLBACK;
SELECT pg_temp.events();
SELECT zstack_tfa.revoke_recovery_codes('5e5500000000000000000000000000c4', 'rita');
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c1');
SELECT pg_temp.login('rita', (SELECT body::json->'inventory'->'codes'->>1 FROM schema_batch)) AS revoked_code;
SELECT pg_temp.events();
-- one's own, without a name
SELECT zstack_tfa.generate_recovery_codes('5e5500000000000000000000000000c3', 'otto-password')->'inventory'->>'userUuid' AS otto;
SELECT zstack_tfa.revoke_recovery_codes('5e5500000000000000000000000000c3');
SELECT zstack_tfa.revoke_recovery_codes('5e5500000000000000000000000000c3', 'otto');
SELECT pg_temp.events();

-- the codes belong to the secret: a reset deletes them
SELECT count(*) > 0 AS has_codes FROM zstack_tfa.generate_recovery_codes('5e5500000000000000000000000000c3', 'otto-password');
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e5500000000000000000000000000c4', 'otto')->'inventory'->>'status' AS reset;
SELECT zstack_tfa.count_recovery_codes('5e5500000000000000000000000000c3');

-- privileges: nobody but the owner reads the hashes; the functions are
-- not PUBLIC's
SELECT has_table_privilege('public', 'zstack_tfa.recovery_code', 'SELECT') AS public_reads_hashes,
	has_table_privilege('zstack_tfa_recorder', 'zstack_tfa.recovery_code', 'SELECT') AS recorder_reads_hashes;
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
FROM pg_proc p WHERE p.pronamespace = 'zstack_tfa'::regnamespace AND p.proname LIKE '%recovery%' ORDER BY 1;
