-- The plain-SQL baselines: what a DBA would write for the same replies.
CREATE SCHEMA IF NOT EXISTS bench;

-- a ZStack date, as to_char writes it
CREATE OR REPLACE FUNCTION bench.zdate(timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT to_char($1, 'Mon FMDD, YYYY FMHH12:MI:SS AM') $$;

-- one inventory object in ZStack's exact bytes: keys in the SDK class's
-- order, no spaces (json_build_object would write " : "), values escaped by
-- to_json; every column is NOT NULL, so there is nothing to strip.  The
-- secret as stored: the baseline database holds its secrets plain.
CREATE OR REPLACE FUNCTION bench.inventory(s zstack_tfa.secret) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT '{"uuid":' || to_json(s.uuid::text) || ',"secret":' || to_json(s.secret)
		|| ',"userUuid":' || to_json(s.user_uuid::text) || ',"userType":' || to_json(s.user_type::text)
		|| ',"status":' || to_json(s.status::text)
		|| ',"createDate":' || to_json(bench.zdate(s.create_date)) || ',"lastOpDate":' || to_json(bench.zdate(s.last_op_date)) || '}'
$$;

-- the "schema" member of a reply with n inventories, as ZStack's
-- JsonSchemaBuilder writes it: the last inventory first
CREATE OR REPLACE FUNCTION bench.schema(n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT '{' || coalesce(string_agg(format('"inventories[%s]":"org.zstack.twoFactorAuthentication.TwoFactorAuthenticationInventory",'
		'"inventories[%s].status":"org.zstack.twoFactorAuthentication.TwoFactorAuthenticationSecretStatus"', i, i), ',' ORDER BY i DESC), '') || '}'
	FROM generate_series(0, n - 1) i
$$;

-- the ID.1001 envelope as ZStack writes it
CREATE OR REPLACE FUNCTION bench.id1001() RETURNS json
LANGUAGE sql IMMUTABLE AS $$
	SELECT '{"error":{"code":"ID.1001","description":"The session is invalid, either wrong session id or the session has been expired","details":"Session expired"}}'::json
$$;

-- the reply for GET .../secrets?q=<conditions>: session check with the
-- same renew rule, ownership, the inventories or ZStack's ID.1001 envelope
CREATE OR REPLACE FUNCTION bench.caller(session_uuid text)
RETURNS TABLE (account_uuid text, is_admin boolean)
LANGUAGE sql AS $$
	WITH s AS (
		SELECT s.uuid, s.account_uuid, a.type = 'SystemAdmin' AS is_admin,
			s.expired_date < clock_timestamp() + interval '7140 seconds' AS stale
		FROM zstack_tfa.session s JOIN zstack_tfa.account a ON a.uuid = s.account_uuid
		WHERE s.uuid = zstack_tfa.session_key(session_uuid) AND s.expired_date > clock_timestamp()),
	renew AS (
		UPDATE zstack_tfa.session t SET expired_date = greatest(t.expired_date, clock_timestamp() + interval '7200 seconds')
		FROM s WHERE t.uuid = s.uuid AND s.stale)
	SELECT account_uuid, is_admin FROM s
$$;

CREATE OR REPLACE FUNCTION bench.by_uuid(session_uuid text, secret_uuid text) RETURNS json
LANGUAGE sql AS $$
	SELECT CASE WHEN c.account_uuid IS NULL THEN bench.id1001()
	ELSE (SELECT ('{"schema":' || bench.schema(count(*)) || ',"inventories":['
		|| coalesce(string_agg(bench.inventory(x), ','), '') || ']}')::json FROM zstack_tfa.secret x
		WHERE x.uuid = secret_uuid AND (c.is_admin OR x.account_uuid = c.account_uuid)) END
	FROM (SELECT * FROM bench.caller(session_uuid) RIGHT JOIN (VALUES (1)) one ON true) c
$$;

-- (kept for reference: wrapped in a SQL function this page takes 240 ms, as a
-- generic plan; bench/run.sh uses the same SQL inline, as a DBA would)
CREATE OR REPLACE FUNCTION bench.page(session_uuid text, page_size int) RETURNS json
LANGUAGE sql AS $$
	SELECT CASE WHEN c.account_uuid IS NULL THEN bench.id1001()
	ELSE (SELECT ('{"schema":' || bench.schema(count(*)) || ',"inventories":['
		|| coalesce(string_agg(bench.inventory(x), ',' ORDER BY x.create_date, x.uuid), '') || ']}')::json FROM (
			SELECT * FROM zstack_tfa.secret x WHERE x.status = 'Logined'
			AND (c.is_admin OR x.account_uuid = c.account_uuid)
			ORDER BY x.create_date, x.uuid LIMIT page_size) x) END
	FROM (SELECT * FROM bench.caller(session_uuid) RIGHT JOIN (VALUES (1)) one ON true) c
$$;

-- How many of n random secrets and times the peer's totp.generate agrees with
-- totp() on, and on how many it fails (it cannot decode secrets whose bytes
-- hold a zero: "null character not permitted").
CREATE OR REPLACE FUNCTION bench.peer_agreement(n int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	s text;
	t timestamptz;
	agree int := 0;
	differ int := 0;
	fail int := 0;
BEGIN
	FOR i IN 1 .. n LOOP
		s := zstack_tfa.generate_secret();
		t := to_timestamp(1764342245 + i * 997);
		BEGIN
			IF zstack_tfa.totp(s, t) = totp.generate(s, time_from => t) THEN
				agree := agree + 1;
			ELSE
				differ := differ + 1;
			END IF;
		EXCEPTION WHEN OTHERS THEN
			fail := fail + 1;
		END;
	END LOOP;
	RETURN format('agree %s, differ %s, peer fails %s (of %s)', agree, differ, fail, n);
END $$;
