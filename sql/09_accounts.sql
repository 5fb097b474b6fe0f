-- Accounts, IAM2 users, passwords and logins with 2FA disabled: the session
-- reply, the one ID.1000 answer for every bad credential, and the errors of
-- the account functions.
\i sql/include/err.sql

-- a new account: a ZStack uuid back, a salted slow hash stored, never the password
SELECT zstack_tfa.create_account('dave', 'dave-password') AS dave \gset
SELECT :'dave' ~ '^[0-9a-f]{32}$' AS is_zstack_uuid;
SELECT type, password_hash ~ '^SCRAM-SHA-256\$4096:' AS scram_4096,
	strpos(password_hash, 'dave-password') = 0 AS no_plain_password
	FROM zstack_tfa.account WHERE name = 'dave';
-- the same password hashes differently each time (salted)
SELECT zstack_tfa.hash_password('x') <> zstack_tfa.hash_password('x') AS salted;
SELECT zstack_tfa.create_account('erin', 'erin-password', 'ThirdParty') IS NOT NULL AS created;
SELECT type FROM zstack_tfa.account WHERE name = 'erin';

-- login: ZStack's session inventory, keys in order, dates in ZStack format
SELECT zstack_tfa.log_in_by_account('dave', 'dave-password') AS reply \gset
SELECT array_agg(k) AS keys FROM json_object_keys(:'reply'::json->'inventory') k;
SELECT (:'reply'::json->'inventory'->>'accountUuid') = :'dave' AS account_uuid,
	(:'reply'::json->'inventory'->>'userUuid') = :'dave' AS user_uuid,
	(:'reply'::json->'inventory'->>'expiredDate') ~ '^[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d{2}:\d{2} [AP]M$' AS zstack_date;
SELECT expired_date - create_date AS lifetime, user_type FROM zstack_tfa.session
	WHERE uuid = zstack_tfa.session_key(:'reply'::json->'inventory'->>'uuid');

-- every bad credential gets the same ID.1000 reply: no probing for names
SELECT zstack_tfa.log_in_by_account('dave', 'wrong');
SELECT zstack_tfa.log_in_by_account('nobody', 'dave-password');
SELECT zstack_tfa.log_in_by_account('dave', '');
SELECT zstack_tfa.log_in_by_account('DAVE', 'dave-password')::text =
	zstack_tfa.log_in_by_account('dave', 'wrong')::text AS names_are_case_sensitive;
SELECT zstack_tfa.log_in_by_iam2_virtual_id('alice-dev1', 'wrong');
-- an IAM2 user's name is not an account's, and the other way round
SELECT zstack_tfa.log_in_by_account('alice-dev1', 'dev1-password')->'error'->>'code' AS iam2_as_account;
SELECT zstack_tfa.log_in_by_iam2_virtual_id('alice', 'alice-password')->'error'->>'code' AS account_as_iam2;
-- an account without a password (as admin is after CREATE EXTENSION) cannot log in
INSERT INTO zstack_tfa.account (uuid, name, type) VALUES ('a00000000000000000000000000000ff', 'nopass', 'Normal');
SELECT zstack_tfa.log_in_by_account('nopass', '')->'error'->>'code' AS no_password;

-- the account functions' errors
SELECT pg_temp.err($$SELECT zstack_tfa.create_account('dave', 'other')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.create_account('', 'pw')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.create_account(repeat('x', 256), 'pw')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.create_account('frank', '')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.create_account(NULL, 'pw')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.create_account('frank', NULL)$$);
SELECT pg_temp.err($$SELECT zstack_tfa.create_account('frank', 'pw', NULL)$$);
SELECT pg_temp.err($$SELECT zstack_tfa.create_account('frank', 'pw', 'Root')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.create_iam2_virtual_id('nobody', 'dev9', 'pw')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.create_iam2_virtual_id('dave', 'alice-dev1', 'pw')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.create_iam2_virtual_id('dave', 'dave-dev', NULL)$$);
SELECT pg_temp.err($$SELECT zstack_tfa.set_account_password('nobody', 'pw')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.set_account_password('dave', '')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.log_in_by_account(NULL, 'pw')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.log_in_by_account('dave', NULL)$$);
-- a failed create leaves no row behind
SELECT count(*) AS franks FROM zstack_tfa.account WHERE name = 'frank';

-- IAM2 users belong to an account; changing a password takes effect at once
SELECT zstack_tfa.create_iam2_virtual_id('dave', 'dave-dev', 'dev-password') IS NOT NULL AS created;
SELECT a.name FROM zstack_tfa.iam2_virtual_id v JOIN zstack_tfa.account a ON a.uuid = v.account_uuid
	WHERE v.name = 'dave-dev';
SELECT zstack_tfa.set_account_password('dave', 'new-password');
SELECT zstack_tfa.log_in_by_account('dave', 'dave-password')->'error'->>'code' AS old_password;
SELECT zstack_tfa.log_in_by_account('dave', 'new-password')->'inventory'->>'uuid' IS NOT NULL AS new_password;

DELETE FROM zstack_tfa.account WHERE name IN ('dave', 'erin', 'nopass');
SELECT count(*) AS iam2_left FROM zstack_tfa.iam2_virtual_id;
