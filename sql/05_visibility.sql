-- Who sees what (SPEC §1.3): a SystemAdmin sees every secret; any other
-- account sees the secrets it owns (its own and its IAM2 users'); an IAM2
-- user's session sees only its own.  Expired, unknown and malformed
-- sessions see nothing and get ID.1001.
CREATE FUNCTION pg_temp.sees(session text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN (SELECT coalesce(string_agg(right(uuid, 1), ' ' ORDER BY uuid), '(none)')
			FROM zstack_tfa.query_two_factor_authentication(session));
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || split_part(SQLERRM, ':', 1);
END $$;

SELECT who, pg_temp.sees(session) AS sees FROM (VALUES
	('admin (SystemAdmin)', '5e550000000000000000000000000001'),
	('ops (another SystemAdmin)', '5e550000000000000000000000000006'),
	('alice (Normal, owns dev1 and dev2)', '5e550000000000000000000000000002'),
	('bob (Normal)', '5e550000000000000000000000000003'),
	('carol (ThirdParty)', '5e550000000000000000000000000004'),
	('alice-dev1 (IAM2 user in alice)', '5e550000000000000000000000000005'),
	('alice, expired session', '5e550000000000000000000000000007'),
	('unknown session', '5e55000000000000000000000000dead'),
	('malformed session', '5e55-0000')) v(who, session);

-- conditions cannot widen a view: bob asking for alice's secret by uuid
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	'{uuid=f0000000000000000000000000000001}');
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	'{userUuid!=x}', count => true);
-- nor can "or"-looking values: they are plain values
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	ARRAY['uuid=x'' OR ''1''=''1'], count => true);

-- one secret by uuid (uuid=X alone) is read straight from the index, not
-- through SQL: for every caller and every secret, plus absent and odd
-- uuids, it must give the same reply as the SQL path (uuid?=X, a one-item
-- list), and both must follow the view above
SELECT s.session, count(*) AS lookups,
	count(*) FILTER (WHERE fast = sql) AS same,
	count(*) FILTER (WHERE fast LIKE '%"inventories":[{%') AS found,
	count(*) FILTER (WHERE fast LIKE '{"error":{"code":"ID.1001"%') AS id1001
FROM (VALUES ('5e550000000000000000000000000001'), ('5e550000000000000000000000000006'),
		('5e550000000000000000000000000002'), ('5e550000000000000000000000000003'),
		('5e550000000000000000000000000004'), ('5e550000000000000000000000000005'),
		('5e550000000000000000000000000007'), ('5e55000000000000000000000000dead')) s(session)
CROSS JOIN LATERAL (
	SELECT zstack_tfa.query_two_factor_authentication_json(s.session, ARRAY['uuid=' || u])::text AS fast,
		zstack_tfa.query_two_factor_authentication_json(s.session, ARRAY['uuid?=' || u])::text AS sql
	FROM (SELECT uuid::text FROM zstack_tfa.secret
		UNION ALL VALUES ('f000000000000000000000000000dead'), (''), ('F0000000000000000000000000000001'),
			('f0000000000000000000000000000001 '), ('%')) x(u)) r
GROUP BY s.session ORDER BY s.session;
-- the set-returning form takes the same path
SELECT uuid, user_uuid, status FROM zstack_tfa.query_two_factor_authentication(
	'5e550000000000000000000000000002', '{uuid=f0000000000000000000000000000001}');
SELECT count(*) AS bob_fetches_alices FROM zstack_tfa.query_two_factor_authentication(
	'5e550000000000000000000000000003', '{uuid=f0000000000000000000000000000001}');
-- and the rest of a request still applies: fields, a bad sort, start, count
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000002',
	'{uuid=f0000000000000000000000000000001}', fields => '{status}');
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000002',
	'{uuid=f0000000000000000000000000000001}', sort => '+nope');
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000002',
	'{uuid=f0000000000000000000000000000001}', start => 1);
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000002',
	'{uuid=f0000000000000000000000000000001}', "limit" => 0);
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000002',
	'{uuid=f0000000000000000000000000000001}', reply_with_count => true);

-- a real login gives a session with the same view
SELECT zstack_tfa.log_in_by_account('bob', 'bob-password')->'inventory'->>'uuid' AS bob_session \gset
SELECT pg_temp.sees(:'bob_session') AS bob_by_login;
SELECT zstack_tfa.log_in_by_iam2_virtual_id('alice-dev2', 'dev2-password')->'inventory'->>'uuid' AS dev2_session \gset
SELECT pg_temp.sees(:'dev2_session') AS dev2_by_login;
-- a login also drops its account's expired sessions (alice's old one)
SELECT count(*) AS alice_expired_sessions FROM zstack_tfa.session
	WHERE account_uuid = 'a0000000000000000000000000000001' AND expired_date <= now();

-- after log_out the session is gone
SELECT zstack_tfa.log_out(:'bob_session');
SELECT pg_temp.sees(:'bob_session') AS bob_after_logout;

-- deleting an account deletes its sessions and secrets
BEGIN;
DELETE FROM zstack_tfa.account WHERE name = 'alice';
SELECT pg_temp.sees('5e550000000000000000000000000001') AS admin_sees_after_delete;
SELECT count(*) AS alice_sessions FROM zstack_tfa.session
	WHERE account_uuid = 'a0000000000000000000000000000001';
SELECT count(*) AS alice_iam2_users FROM zstack_tfa.iam2_virtual_id;
ROLLBACK;
