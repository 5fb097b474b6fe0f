-- What an attacker tried, and what each attempt gets now (one block per
-- finding of the security review; the oracle on hidden rows is
-- 15_hidden_rows, the log and the plans are TAP tests).
SET timezone = 'UTC';
SET client_min_messages = warning;
\i sql/include/err.sql

-- 1. The management role cannot mint a SystemAdmin: creating one is a
-- superuser's act, also when a superuser has switched to that role
CREATE ROLE zt_mgmt;
GRANT USAGE ON SCHEMA zstack_tfa TO zt_mgmt;
GRANT EXECUTE ON FUNCTION zstack_tfa.create_account(text, text, zstack_tfa.account_type) TO zt_mgmt;
SET ROLE zt_mgmt;
SELECT pg_temp.err($$SELECT zstack_tfa.create_account('mallory', 'mallory-password', 'SystemAdmin')$$);
SELECT length(zstack_tfa.create_account('dora', 'dora-password', 'ThirdParty')) AS third_party_is_fine;
RESET ROLE;
SELECT count(*) AS mallory_accounts FROM zstack_tfa.account WHERE name = 'mallory';
SELECT length(zstack_tfa.create_account('root2', 'root2-password', 'SystemAdmin')) AS a_superuser_may;
SELECT type FROM zstack_tfa.account WHERE name = 'root2';

-- 2. A wrong TOTP code counts, and is audited, even when the caller rolls
-- back: each one is recorded by a background worker in a transaction of
-- its own.  Erin guesses 8 codes inside a DO block that then raises, and
-- 2 more inside a savepoint that is rolled back.
SELECT zstack_tfa.set_two_factor_authentication_enabled(true)->>'state' AS state;
SELECT length(zstack_tfa.create_account('erin', 'erin-password')) AS erin;
SELECT zstack_tfa.get_two_factor_authentication_secret('erin', 'erin-password')->'inventory'->>'secret' AS erin_secret \gset
-- a code that is certainly wrong now: one from a day ago
SELECT zstack_tfa.totp(:'erin_secret', now() - interval '1 day') AS wrong_code \gset
SELECT count(*) AS audit_before FROM zstack_tfa.auth_event e JOIN zstack_tfa.account a
	ON a.uuid = e.account_uuid WHERE a.name = 'erin' AND e.outcome LIKE 'wrong_code%' \gset
DO $$
DECLARE
	reply json;
BEGIN
	FOR i IN 1 .. 8 LOOP
		reply := zstack_tfa.log_in_by_account('erin', 'erin-password',
			ARRAY['twofatoken::' || zstack_tfa.totp(
				(SELECT zstack_tfa.secret_text(s.uuid, s.secret) FROM zstack_tfa.secret s JOIN zstack_tfa.account a ON a.uuid = s.user_uuid
				 WHERE a.name = 'erin'), now() - interval '1 day')]);
	END LOOP;
	RAISE EXCEPTION 'roll it all back';
END $$;
BEGIN;
SAVEPOINT guesses;
SELECT zstack_tfa.log_in_by_account('erin', 'erin-password', ARRAY['twofatoken::' || :'wrong_code'])->'error'->>'code' AS in_savepoint;
ROLLBACK TO SAVEPOINT guesses;
COMMIT;
-- the count and the lock survived both rollbacks, and so did the audit rows
SELECT failed_attempts >= 5 AS counted, locked_until > now() AS locked
	FROM zstack_tfa.secret s JOIN zstack_tfa.account a ON a.uuid = s.user_uuid WHERE a.name = 'erin';
SELECT count(*) - :audit_before AS wrong_codes_audited FROM zstack_tfa.auth_event e JOIN zstack_tfa.account a
	ON a.uuid = e.account_uuid WHERE a.name = 'erin' AND e.outcome LIKE 'wrong_code%';
-- and the right code found by guessing no longer works: the account is locked
SELECT zstack_tfa.log_in_by_account('erin', 'erin-password',
	ARRAY['twofatoken::' || zstack_tfa.totp(:'erin_secret')])->'error'->>'details' LIKE '%locked%' AS right_code_refused;
-- a transaction that changed the secret's row itself gets no comparison at
-- all (the recorder would wait for it, and a count of its own could be
-- rolled back): refused, nothing compared, nothing counted
UPDATE zstack_tfa.secret s SET failed_attempts = 0, locked_until = NULL
	FROM zstack_tfa.account a WHERE a.uuid = s.user_uuid AND a.name = 'erin';
BEGIN;
UPDATE zstack_tfa.secret s SET last_op_date = s.last_op_date
	FROM zstack_tfa.account a WHERE a.uuid = s.user_uuid AND a.name = 'erin';
SELECT zstack_tfa.log_in_by_account('erin', 'erin-password', ARRAY['twofatoken::' || :'wrong_code'])->'error'->>'code' AS own_row;
SELECT zstack_tfa.log_in_by_account('erin', 'erin-password', ARRAY['twofatoken::' || zstack_tfa.totp(:'erin_secret')])->'error'->>'details' AS own_row_right_code;
SELECT failed_attempts AS counted_in_own_transaction
	FROM zstack_tfa.secret s JOIN zstack_tfa.account a ON a.uuid = s.user_uuid WHERE a.name = 'erin';
COMMIT;
SELECT zstack_tfa.set_two_factor_authentication_enabled(false)->>'state' AS state;

-- 3. Deleting an IAM2 user deletes its sessions and its secret: its session
-- no longer answers, nor is it extended
SELECT zstack_tfa.create_iam2_virtual_id('dora', 'dora-dev', 'dev-password') AS dev_uuid \gset
SELECT zstack_tfa.log_in_by_iam2_virtual_id('dora-dev', 'dev-password')->'inventory'->>'uuid' AS dev_session \gset
INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid)
	SELECT zstack_tfa.new_uuid(), 'JBSWY3DPEHPK3PXP', :'dev_uuid', 'IAM2VirtualIDVO', account_uuid
	FROM zstack_tfa.iam2_virtual_id WHERE uuid = :'dev_uuid';
SELECT zstack_tfa.query_two_factor_authentication_json(:'dev_session', count => true) AS before_delete;
DELETE FROM zstack_tfa.iam2_virtual_id WHERE name = 'dora-dev';
SELECT zstack_tfa.query_two_factor_authentication_json(:'dev_session', count => true)->'error'->>'code' AS after_delete;
SELECT count(*) AS sessions_left FROM zstack_tfa.session WHERE user_uuid = :'dev_uuid';
SELECT count(*) AS secrets_left FROM zstack_tfa.secret WHERE user_uuid = :'dev_uuid';
-- nor can a session or secret claim an IAM2 user that does not exist, or
-- one of another account
SELECT pg_temp.err($$INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, user_type, expired_date)
	VALUES ('5e5500000000000000000000000000aa', 'a0000000000000000000000000000002',
	'e0000000000000000000000000000001', 'IAM2VirtualIDVO', now() + interval '1 hour')$$) AS foreign_iam2_user;

-- 4. An old transaction cannot revive an expired session: validity and the
-- new expiry are checked against the clock, not the transaction's start
UPDATE zstack_tfa.session SET expired_date = clock_timestamp() + interval '1 second'
	WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000004');
BEGIN;
SELECT 1 AS transaction_started;
SELECT pg_sleep(1.5);
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000004', count => true)->'error'->>'code' AS old_transaction;
COMMIT;
-- the failed call deleted the expired session, as ZStack's Session.java does
SELECT count(*) AS expired_session_deleted FROM zstack_tfa.session
	WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000004');
-- a session is still valid up to its expiry: one that ends in a minute works
INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, user_type, expired_date) VALUES
	(zstack_tfa.session_key('5e550000000000000000000000000004'), 'a0000000000000000000000000000003',
	 'a0000000000000000000000000000003', 'AccountVO', clock_timestamp() + interval '1 minute');
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000004', count => true)->>'total' IS NOT NULL AS valid;

REVOKE ALL ON SCHEMA zstack_tfa FROM zt_mgmt;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA zstack_tfa FROM zt_mgmt;
DROP ROLE zt_mgmt;
