-- The 2FA life cycle (SPEC §3): the global switch, getting a secret, logins
-- with twofatoken::<code>, replay protection, lockout and its end, reset by
-- a SystemAdmin, the audit log and the DBA reports.  Codes come from
-- totp(secret) at the current time; every step of the window is accepted,
-- so a step boundary between two statements cannot change an outcome.
SET timezone = 'UTC';
-- (secrets are stored encrypted: secret_text gives the secret of a row)
CREATE FUNCTION pg_temp.secret_of(name text) RETURNS text
LANGUAGE sql AS $$
	SELECT zstack_tfa.secret_text(s.uuid, s.secret) FROM zstack_tfa.secret s
	JOIN zstack_tfa.account a ON a.uuid = s.user_uuid
	WHERE a.name = $1
$$;
CREATE FUNCTION pg_temp.login(name text, password text, code text DEFAULT NULL) RETURNS text
LANGUAGE sql AS $$
	SELECT coalesce(r->'error'->>'code', 'session')
	FROM zstack_tfa.log_in_by_account(name, password,
		CASE WHEN code IS NULL THEN '{}' ELSE ARRAY['twofatoken::' || code] END) r
$$;
-- the events each statement adds to the audit log
CREATE TEMP TABLE seen AS SELECT max(id) AS id FROM zstack_tfa.auth_event;
CREATE FUNCTION pg_temp.events() RETURNS text
LANGUAGE sql AS $$
	WITH e AS (SELECT * FROM zstack_tfa.auth_event WHERE id > coalesce((SELECT id FROM seen), 0)),
	upd AS (UPDATE seen SET id = (SELECT max(id) FROM zstack_tfa.auth_event))
	SELECT coalesce(string_agg(kind || ':' || outcome || coalesce('/' || error_code, ''), ', ' ORDER BY id), '-') FROM e
$$;

-- disabled (the default): no secret API, tags ignored
SELECT zstack_tfa.get_two_factor_authentication_state();
SELECT zstack_tfa.get_two_factor_authentication_secret('alice', 'alice-password');
SELECT pg_temp.login('alice', 'alice-password', 'garbage') AS tag_ignored_when_disabled;
SELECT pg_temp.events();

-- enabling deletes every secret and gives every account a NewCreated one
SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
SELECT a.name, s.status, s.user_type, zstack_tfa.secret_text(s.uuid, s.secret) ~ '^[A-Z2-7]{16}$' AS fresh_secret,
	zstack_tfa.secret_text(s.uuid, s.secret) NOT IN ('JBSWY3DPEHPK3PXP', 'GEZDGNBVGY3TQOJQ') AS replaced
	FROM zstack_tfa.account a JOIN zstack_tfa.secret s ON s.user_uuid = a.uuid ORDER BY a.name;
SELECT count(*) AS iam2_secrets FROM zstack_tfa.secret WHERE user_type = 'IAM2VirtualIDVO';
-- setting the current value again changes nothing
SELECT pg_temp.secret_of('bob') AS bob_secret \gset
SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
SELECT pg_temp.secret_of('bob') = :'bob_secret' AS unchanged;
SELECT pg_temp.events();

-- the secret API: credentials checked, the secret shown while NewCreated
SELECT zstack_tfa.get_two_factor_authentication_secret('bob', 'bob-password') AS reply \gset
SELECT array_agg(k) AS keys FROM json_object_keys(:'reply'::json->'inventory') k;
SELECT (:'reply'::json->'inventory'->>'secret') = :'bob_secret' AS shows_secret,
	:'reply'::json->'inventory'->>'status' AS status;
SELECT zstack_tfa.get_two_factor_authentication_secret('bob', 'wrong');
SELECT zstack_tfa.get_two_factor_authentication_secret('nobody', 'bob-password')->'error'->>'code' AS unknown_name;
SELECT zstack_tfa.get_two_factor_authentication_secret('bob', 'bob-password', 'root');
SELECT pg_temp.events();

-- login with 2FA: no tag, wrong code, bad password, right code
SELECT zstack_tfa.log_in_by_account('bob', 'bob-password');
SELECT zstack_tfa.log_in_by_account('bob', 'bob-password', '{twofatoken::000000x}');
SELECT zstack_tfa.totp(:'bob_secret') AS bob_code \gset
SELECT pg_temp.login('bob', 'wrong', :'bob_code') AS bad_password_first;
SELECT pg_temp.login('bob', 'bob-password', :'bob_code') AS right_code;
SELECT pg_temp.events();
-- NewCreated -> Logined, and the secret API now hides the secret
SELECT status, last_login_date IS NOT NULL AS login_recorded, failed_attempts
	FROM zstack_tfa.secret WHERE zstack_tfa.secret_text(uuid, secret) = :'bob_secret';
SELECT zstack_tfa.get_two_factor_authentication_secret('bob', 'bob-password')->'inventory'->>'secret' AS hidden,
	zstack_tfa.get_two_factor_authentication_secret('bob', 'bob-password')->'inventory'->>'status' AS status;

-- replay: the code just used is refused, and so is any earlier step
SELECT pg_temp.login('bob', 'bob-password', :'bob_code') AS same_code_again,
	pg_temp.login('bob', 'bob-password', zstack_tfa.totp(:'bob_secret', now() - interval '30 seconds')) AS previous_step;
-- but the next step's code is a new one (t+1 is in the window)
SELECT pg_temp.login('bob', 'bob-password', zstack_tfa.totp(:'bob_secret', clock_timestamp() + interval '30 seconds')) AS next_step;
SELECT pg_temp.events();

-- other tags are ignored; the first twofatoken tag is the one read
SELECT coalesce(r->'error'->>'code', 'session') AS with_other_tags FROM zstack_tfa.log_in_by_account('carol', 'carol-password',
	ARRAY['foo::bar', 'twofatoken::' || zstack_tfa.totp(pg_temp.secret_of('carol')), 'twofatoken::000000']) r;
SELECT coalesce(r->'error'->>'code', 'session') AS null_tag_skipped FROM zstack_tfa.log_in_by_account('carol', 'carol-password',
	ARRAY[NULL, 'twofatoken::' || zstack_tfa.totp(pg_temp.secret_of('carol'), clock_timestamp() + interval '30 seconds')]) r;

-- lockout: after max_failed_attempts wrong codes in a row, refused even
-- with the right code, with the lock's length in the details
SET zstack_tfa.max_failed_attempts = 3;
SET zstack_tfa.lockout_seconds = 2;
SELECT pg_temp.login('alice', 'alice-password', '000000') AS wrong1,
	pg_temp.login('alice', 'alice-password', '111111') AS wrong2;
SELECT zstack_tfa.log_in_by_account('alice', 'alice-password', '{twofatoken::222222}');
SELECT zstack_tfa.log_in_by_account('alice', 'alice-password',
	ARRAY['twofatoken::' || zstack_tfa.totp(pg_temp.secret_of('alice'))])->'error'->>'details' ~
	'^two-factor logins of this account are locked after 3 wrong codes in a row; try again in [12] seconds$' AS right_code_locked_out;
SELECT account_name, failed_attempts, locked, locked_until > now() AS until_later
	FROM zstack_tfa.two_factor_report WHERE user_name = 'alice';
SELECT pg_temp.events();
-- a wrong password during the lock is still ID.1000 (the password comes first)
SELECT pg_temp.login('alice', 'wrong', '000000') AS bad_password_while_locked;
-- the lock ends by itself, and the count starts anew
SELECT pg_sleep(2.1);
SELECT account_name, failed_attempts, locked FROM zstack_tfa.two_factor_report WHERE user_name = 'alice';
SELECT pg_temp.login('alice', 'alice-password', '000000') AS wrong_after_lock;
SELECT failed_attempts, locked_until IS NULL AS not_locked FROM zstack_tfa.secret WHERE zstack_tfa.secret_text(uuid, secret) = pg_temp.secret_of('alice');
SELECT pg_temp.login('alice', 'alice-password', zstack_tfa.totp(pg_temp.secret_of('alice'))) AS right_code_after_lock;
SELECT failed_attempts FROM zstack_tfa.secret WHERE zstack_tfa.secret_text(uuid, secret) = pg_temp.secret_of('alice');
RESET zstack_tfa.max_failed_attempts;
RESET zstack_tfa.lockout_seconds;
SELECT pg_temp.events();

-- an account without a secret: ID.2000; get_secret creates it
INSERT INTO zstack_tfa.account (uuid, name, password_hash) VALUES
	('a00000000000000000000000000000aa', 'gina', zstack_tfa.hash_password('gina-password'));
SELECT zstack_tfa.log_in_by_account('gina', 'gina-password', '{twofatoken::123456}');
SELECT zstack_tfa.get_two_factor_authentication_secret('gina', 'gina-password')->'inventory'->>'status' AS created;
-- new accounts get a secret at once while 2FA is enabled
SELECT zstack_tfa.create_account('hank', 'hank-password') AS hank \gset
SELECT status, user_type FROM zstack_tfa.secret WHERE user_uuid = :'hank';

-- IAM2 users: a secret of their own on request, then 2FA logins
SELECT zstack_tfa.get_two_factor_authentication_secret('alice-dev1', 'dev1-password', 'iam2') AS dev1 \gset
SELECT :'dev1'::json->'inventory'->>'userType' AS user_type, :'dev1'::json->'inventory'->>'status' AS status;
SELECT coalesce(r->'error'->>'code', 'session') AS dev1_login FROM zstack_tfa.log_in_by_iam2_virtual_id('alice-dev1', 'dev1-password',
	ARRAY['twofatoken::' || zstack_tfa.totp(:'dev1'::json->'inventory'->>'secret')]) r;
SELECT zstack_tfa.log_in_by_iam2_virtual_id('alice-dev1', 'dev1-password')->'error'->>'details' AS dev1_no_tag;

-- reset: a SystemAdmin replaces an account's secret with a new NewCreated one
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'bob') AS reset \gset
SELECT :'reset'::json->'inventory'->>'status' AS status,
	(:'reset'::json->'inventory'->>'secret') <> :'bob_secret' AS new_secret,
	(:'reset'::json->'inventory'->>'secret') = pg_temp.secret_of('bob') AS stored;
SELECT pg_temp.login('bob', 'bob-password', zstack_tfa.totp(:'bob_secret', clock_timestamp() + interval '30 seconds')) AS old_secret_dead;
-- refused for a normal account, an IAM2 user's session, a bad session; errors
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000003', 'bob');
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000005', 'bob')->'error'->>'code' AS iam2_session;
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e55000000000000000000000000dead', 'bob')->'error'->>'code' AS bad_session;
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000006', 'nobody');
SELECT pg_temp.secret_of('bob') = (:'reset'::json->'inventory'->>'secret') AS refusals_changed_nothing;
-- ZStack's form (ResetTwoFactorAuthenticationSecret): the target is the
-- user whose name, password and type match; the type is checked first, as
-- ZStack's validator runs before the session check
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e55000000000000000000000000dead', 'bob', 'bob-password', 'root');
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e55000000000000000000000000dead', 'bob', 'bob-password')->'error'->>'code' AS bad_session;
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000003', 'bob', 'bob-password')->'error'->>'code' AS normal_account;
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000005', 'bob', 'bob-password')->'error'->>'code' AS iam2_session;
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'bob', 'wrong');
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'bob', 'bob-password', 'iam2');
SELECT pg_temp.secret_of('bob') = (:'reset'::json->'inventory'->>'secret') AS refusals_changed_nothing;
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'bob', 'bob-password') AS reset2 \gset
SELECT :'reset2'::json->'inventory'->>'status' AS status, :'reset2'::json->'inventory'->>'userType' AS user_type,
	(:'reset2'::json->'inventory'->>'secret') <> (:'reset'::json->'inventory'->>'secret') AS new_secret,
	(:'reset2'::json->'inventory'->>'secret') = pg_temp.secret_of('bob') AS stored;
-- NULL for the type is its default, account
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'bob', 'bob-password', NULL)
	->'inventory'->>'userType' AS null_type_is_account;
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'alice-dev1', 'dev1-password', 'iam2')
	->'inventory'->>'userType' AS iam2_target;
-- the new secret logs in with its first code
SELECT pg_temp.login('bob', 'bob-password', zstack_tfa.totp(pg_temp.secret_of('bob'))) AS new_secret_logs_in;
SELECT pg_temp.events();

-- the reports: never the secret column
SELECT account_name, user_name, user_type, status, failed_attempts, locked,
	secret_age >= interval '0' AS has_age, last_login_date IS NOT NULL AS logged_in
	FROM zstack_tfa.two_factor_report ORDER BY account_name, user_name;
SELECT * FROM zstack_tfa.secret_status_counts ORDER BY status, user_type;
SELECT table_name, column_name FROM information_schema.columns
	WHERE table_schema = 'zstack_tfa' AND table_name IN ('two_factor_report', 'secret_status_counts', 'auth_event')
	AND column_name ~ 'secret$|code$|password' ORDER BY 1, 2;

-- the audit log never holds a secret, a code or a password: besides uuids
-- (a domain of 32 hex digits) it has only fixed words
SELECT count(*) AS audit_leaks FROM zstack_tfa.auth_event e
	WHERE concat_ws(' ', kind, outcome, error_code) ~ '[A-Z2-7]{16}|[0-9]{6}|password';
SELECT count(*) AS events_checked FROM zstack_tfa.auth_event;
-- a successful 2FA login records the secret's uuid and the step it used,
-- never the code; other events record no step
SELECT kind, outcome, secret_uuid IS NOT NULL AS has_secret_uuid, totp_step IS NOT NULL AS has_step, count(*)
	FROM zstack_tfa.auth_event WHERE kind = 'login' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
SELECT count(*) AS steps_not_matching_a_secret FROM zstack_tfa.auth_event e
	WHERE e.totp_step IS NOT NULL AND e.secret_uuid IS NULL;
-- and the database refuses a second acceptance of a step, whatever the code
DO $$
BEGIN
	INSERT INTO zstack_tfa.auth_event (kind, outcome, secret_uuid, totp_step)
		SELECT kind, outcome, secret_uuid, totp_step FROM zstack_tfa.auth_event
		WHERE totp_step IS NOT NULL LIMIT 1;
	RAISE NOTICE 'a step was accepted twice';
EXCEPTION WHEN unique_violation THEN
	RAISE NOTICE 'second acceptance refused (%)', SQLSTATE;
END $$;

-- misuse raises
SELECT zstack_tfa.set_two_factor_authentication_enabled(NULL);
SELECT zstack_tfa.get_two_factor_authentication_secret('bob', 'bob-password', NULL);
SELECT zstack_tfa.reset_two_factor_authentication_secret(NULL, 'bob');
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'bob', NULL);

-- disabling deletes every secret; logins need no code again
SELECT zstack_tfa.set_two_factor_authentication_enabled(false);
SELECT count(*) AS secrets_left FROM zstack_tfa.secret;
SELECT pg_temp.login('bob', 'bob-password') AS no_code_needed;
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'bob');
SELECT zstack_tfa.reset_two_factor_authentication_secret('5e550000000000000000000000000001', 'bob', 'bob-password');
SELECT pg_temp.events();
DELETE FROM zstack_tfa.account WHERE name IN ('gina', 'hank');
