-- Every error of SPEC §1.2 that applies to SQL, in both forms: the JSON
-- function returns the ZStack envelope, the set-returning function raises
-- with the ZStack code first and the SQLSTATE of SPEC §2.  No secret or
-- session uuid is ever echoed back.
\i sql/include/err.sql
CREATE FUNCTION pg_temp.j(session text, conditions text[] DEFAULT '{}',
	"limit" int DEFAULT 1000, start int DEFAULT 0, sort text DEFAULT NULL,
	fields text[] DEFAULT NULL) RETURNS json
LANGUAGE sql AS $$
	SELECT zstack_tfa.query_two_factor_authentication_json(session, conditions,
		"limit", start, sort, fields)
$$;

-- ID.1001: unknown, expired and malformed sessions
SELECT pg_temp.j('5e55000000000000000000000000ffff');
SELECT pg_temp.j('5e550000000000000000000000000007');
SELECT pg_temp.j('not a session');
SELECT pg_temp.j('');
SELECT pg_temp.j('5E550000000000000000000000000001');
SELECT pg_temp.err($$SELECT * FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000007')$$);
SELECT pg_temp.err($$SELECT * FROM zstack_tfa.query_two_factor_authentication('x''; DROP TABLE zstack_tfa.secret; --')$$);
-- an expired session is not revived by a call: the failed call deletes it,
-- as ZStack's Session.java logs an expired session out (the typed query
-- above raised, which rolled its own delete back; the JSON call's stays)
SELECT count(*) AS expired_session_deleted FROM zstack_tfa.session
	WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000007');
-- (put back, expired, for the tests that follow)
INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, user_type, expired_date) VALUES
	(zstack_tfa.session_key('5e550000000000000000000000000007'), 'a0000000000000000000000000000001',
	 'a0000000000000000000000000000001', 'AccountVO', now() - interval '1 second');

-- a condition without an operator (HTTP 400 through the REST layer); it is
-- reported before the session is looked at
SELECT pg_temp.j('5e550000000000000000000000000001', '{uuid}');
SELECT pg_temp.j('5e55000000000000000000000000ffff', '{"status is nul"}');
SELECT pg_temp.err($$SELECT * FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001', '{""}')$$);

-- SYS.1007: unknown fields in conditions, sort and fields (after the
-- session check, so a stranger learns nothing about the schema)
SELECT pg_temp.j('5e550000000000000000000000000001', '{name=admin}');
SELECT pg_temp.j('5e55000000000000000000000000ffff', '{name=admin}');
SELECT pg_temp.j('5e550000000000000000000000000001', '{Uuid=x}');
SELECT pg_temp.j('5e550000000000000000000000000001', sort => '+name');
SELECT pg_temp.j('5e550000000000000000000000000001', sort => '-');
SELECT pg_temp.j('5e550000000000000000000000000001', fields => '{uuid,password}');
SELECT pg_temp.err($$SELECT * FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001', '{account_uuid=x}')$$);
SELECT pg_temp.err($$SELECT * FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001', sort => 'secretx')$$);

-- SYS.1007: bad enum labels name the valid values (labels are case-sensitive)
SELECT pg_temp.j('5e550000000000000000000000000001', '{status=logined}');
SELECT pg_temp.j('5e550000000000000000000000000001', ARRAY['userType?=AccountVO,Admin']);
SELECT pg_temp.err($$SELECT * FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001', '{status>Deleted}')$$);

-- SYS.1007: bad timestamps, and like on a timestamp
SELECT pg_temp.j('5e550000000000000000000000000001', '{createDate>yesterday-ish}');
-- PostgreSQL's own relative literals are timestamps too
SELECT pg_temp.j('5e550000000000000000000000000001', '{createDate>now}');
SELECT pg_temp.j('5e550000000000000000000000000001', '{createDate=infinity}');
SELECT pg_temp.j('5e550000000000000000000000000001', '{"createDate?=2026-01-01,13/45/2026"}');
SELECT pg_temp.j('5e550000000000000000000000000001', ARRAY['createDate=' || repeat('9', 200)]);
SELECT pg_temp.j('5e550000000000000000000000000001', '{lastOpDate~=2026%}');
SELECT pg_temp.err($$SELECT * FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001', '{createDate<tomorrow-ish}')$$);

-- SYS.1007: negative limit and start
SELECT pg_temp.j('5e550000000000000000000000000001', "limit" => -1);
SELECT pg_temp.j('5e550000000000000000000000000001', start => -5);
SELECT pg_temp.err($$SELECT * FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001', "limit" => -1)$$);

-- SYS.1007: more than 1000 conditions
SELECT pg_temp.j('5e550000000000000000000000000001',
	array(SELECT 'uuid!=' || i FROM generate_series(1, 1001) i));
SELECT json_array_length(pg_temp.j('5e550000000000000000000000000001',
	array(SELECT 'uuid!=' || i FROM generate_series(1, 1000) i))->'inventories') AS a_thousand_is_fine;

-- a long bad condition is cut in the message, at a character boundary
SELECT length(pg_temp.j('5e550000000000000000000000000001',
	ARRAY[repeat('é', 100000)])::text) < 600 AS message_is_short;

-- misuse raises: NULL where a value is required
SELECT pg_temp.err($$SELECT zstack_tfa.query_two_factor_authentication_json(NULL)$$);
SELECT pg_temp.err($$SELECT * FROM zstack_tfa.query_two_factor_authentication(NULL)$$);
SELECT pg_temp.err($$SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', '{uuid=x,NULL}')$$);
SELECT pg_temp.err($$SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', fields => '{NULL}')$$);
-- NULL for an optional argument means its default
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	NULL, NULL, NULL, NULL, NULL, NULL, NULL)::text =
	zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003')::text
	AS nulls_are_defaults;

-- no error text anywhere above holds a secret or a session uuid
SELECT count(*) AS leaks FROM (VALUES
	(pg_temp.j('5e550000000000000000000000000007')::text),
	(pg_temp.err($$SELECT * FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000002', '{secret=JBSWY3DPEHPK3PXP, status=Bad}')$$))) v(t)
WHERE t ~ '5e55|JBSWY3DPEHPK3PXP';
