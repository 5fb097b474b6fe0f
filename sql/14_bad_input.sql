-- The bad-input sweep: huge and empty inputs, NULL for every argument of
-- every function (found from the catalog, so new functions are covered),
-- odd escapes and unicode names.  Each gives its documented answer, fast
-- (statement_timeout would cancel anything slow), and no message holds the
-- planted secret.
SET statement_timeout = '5s';
SET timezone = 'UTC';
UPDATE zstack_tfa.secret SET secret = 'ZTLOGCANARYSECRET' WHERE uuid = 'f0000000000000000000000000000001';
CREATE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text;
	detail text;
BEGIN
	EXECUTE sql INTO result;
	RETURN coalesce(left(result, 160), 'NULL');
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ' ' || left(SQLERRM || coalesce(' | ' || nullif(detail, ''), ''), 150);
END $$;
CREATE TEMP TABLE replies (what text, reply text);
CREATE FUNCTION pg_temp.j(what text, conditions text[] DEFAULT '{}', sort text DEFAULT NULL,
	fields text[] DEFAULT NULL) RETURNS text
LANGUAGE sql AS $$
	INSERT INTO replies SELECT what, zstack_tfa.query_two_factor_authentication_json(
		'5e550000000000000000000000000001', conditions, 1000, 0, sort, fields)::text
	RETURNING left(reply, 200)
$$;

-- 1 MB inputs: conditions, names, values, patterns, sort, fields
SELECT pg_temp.j('1 MB field name', ARRAY[repeat('x', 1000000) || '=1']);
SELECT pg_temp.j('1 MB value', ARRAY['uuid=' || repeat('f', 1000000)]);
SELECT pg_temp.j('1 MB in-list', ARRAY['uuid?=' || repeat('f0000000000000000000000000000001,', 30000)]);
SELECT pg_temp.j('1 MB like pattern', ARRAY['secret~=' || repeat('%_', 500000)]);
SELECT pg_temp.j('1 MB condition without operator', ARRAY[repeat('y', 1000000)]);
SELECT pg_temp.j('1 MB timestamp', ARRAY['createDate>' || repeat('9', 1000000)]);
SELECT pg_temp.j('1 MB sort', sort => repeat('+', 1000000));
SELECT pg_temp.j('1 MB fields entry', fields => ARRAY[repeat('u', 1000000)]);
SELECT pg_temp.try($$SELECT count(*) FROM zstack_tfa.query_two_factor_authentication(repeat('5e55', 250000))$$) AS "1 MB session";
SELECT pg_temp.try($$SELECT zstack_tfa.log_in_by_account(repeat('a', 1000000), repeat('p', 1000000))::text$$) AS "1 MB credentials";
SELECT pg_temp.try($$SELECT zstack_tfa.totp(repeat('A', 1000000))$$) AS "1 MB secret";
SELECT pg_temp.try($$SELECT zstack_tfa.totp_verify('JBSWY3DPEHPK3PXP', repeat('1', 1000000))::text$$) AS "1 MB code";
SELECT pg_temp.try($$SELECT zstack_tfa.create_account(repeat('n', 1000000), 'pw')$$) AS "1 MB account name";
SELECT pg_temp.try($$SELECT zstack_tfa.create_account('mallory', repeat('p', 1025))$$) AS "over-long password";
SELECT pg_temp.try($$SELECT zstack_tfa.hash_password(repeat('p', 1000000))$$) AS "1 MB password hash";
SELECT pg_temp.try($$SELECT zstack_tfa.get_two_factor_authentication_secret('admin', repeat('p', 1000000))::text$$) AS "1 MB password, secret API";
SELECT pg_temp.try($$SELECT status || ' ' || left(body, 80) FROM zstack_tfa.http_request('GET',
	'/zstack/v1/twofactorauthentication/secrets', 'q=' || repeat('z', 1000000),
	'{"Authorization":"OAuth 5e550000000000000000000000000001"}')$$) AS "1 MB query string";
SELECT pg_temp.try($$SELECT status || ' ' || left(body, 60) FROM zstack_tfa.http_request('GET',
	'/zstack/v1/' || repeat('p', 1000000), '', '{}')$$) AS "1 MB path";

-- 10,000 conditions: refused with SYS.1007, through SQL and through HTTP
SELECT pg_temp.j('10,000 q', array(SELECT 'uuid!=' || i FROM generate_series(1, 10000) i));
SELECT pg_temp.try($$SELECT status || ' ' || body FROM zstack_tfa.http_request('GET',
	'/zstack/v1/twofactorauthentication/secrets',
	(SELECT string_agg('q=uuid%21%3D' || i, '&') FROM generate_series(1, 10000) i),
	'{"Authorization":"OAuth 5e550000000000000000000000000001"}')$$) AS "10,000 q over HTTP";

-- empty strings everywhere
SELECT pg_temp.j('empty condition', '{""}');
SELECT pg_temp.j('empty sort', '{uuid=f0000000000000000000000000000002}', sort => '');
SELECT pg_temp.j('empty fields entry', '{uuid=f0000000000000000000000000000002}', fields => '{""}');
SELECT pg_temp.try($$SELECT zstack_tfa.query_two_factor_authentication_json('')::text$$) AS empty_session;
SELECT pg_temp.try($$SELECT zstack_tfa.log_in_by_account('', '')::text$$) AS empty_login;
SELECT pg_temp.try($$SELECT zstack_tfa.get_two_factor_authentication_secret('', '', '')::text$$) AS empty_secret_request;
SELECT pg_temp.try($$SELECT zstack_tfa.reset_two_factor_authentication_secret('', '')::text$$) AS empty_reset;
SELECT pg_temp.try($$SELECT zstack_tfa.create_account('', '')$$) AS empty_account;
SELECT pg_temp.try($$SELECT zstack_tfa.create_iam2_virtual_id('', '', '')$$) AS empty_iam2;
SELECT pg_temp.try($$SELECT zstack_tfa.totp('')$$) AS empty_secret;
SELECT pg_temp.try($$SELECT zstack_tfa.totp_verify('JBSWY3DPEHPK3PXP', '')::text$$) AS empty_code;
SELECT pg_temp.try($$SELECT zstack_tfa.otpauth_uri('JBSWY3DPEHPK3PXP', '', 'ZStack')$$) AS empty_label;
SELECT pg_temp.try($$SELECT zstack_tfa.otpauth_uri('JBSWY3DPEHPK3PXP', 'alice', '')$$) AS empty_issuer_left_out;
SELECT pg_temp.try($$SELECT status || ' ' || body FROM zstack_tfa.http_request('', '', '', '{}')$$) AS empty_request;

-- escapes that look like other encodings are plain characters; unicode
-- names are echoed whole or cut at a character boundary
SELECT pg_temp.j('backslash escapes', ARRAY['uuid=\xff\u0000\000']);
SELECT pg_temp.j('unicode field name', ARRAY['状态=Logined']);
SELECT pg_temp.j('long unicode field name', ARRAY[repeat('é', 100) || '=1']);
SELECT pg_temp.j('emoji sort', sort => '-🔑');
SELECT pg_temp.try($$SELECT status || ' ' || body FROM zstack_tfa.http_request('GET',
	'/zstack/v1/twofactorauthentication/secrets', 'q=uuid%3D%C3%28',
	'{"Authorization":"OAuth 5e550000000000000000000000000001"}')$$) AS overlong_utf8_escape;
SELECT pg_temp.try($$SELECT status || ' ' || body FROM zstack_tfa.http_request('GET',
	'/zstack/v1/twofactorauthentication/secrets', 'q=uuid%3D%ED%A0%80',
	'{"Authorization":"OAuth 5e550000000000000000000000000001"}')$$) AS surrogate_escape;
SELECT pg_temp.try($$SELECT status || ' ' || left(body, 120) FROM zstack_tfa.http_request('GET',
	'/zstack/v1/twofactorauthentication/secrets', 'q=%E7%8A%B6%E6%80%81%3DLogined',
	'{"Authorization":"OAuth 5e550000000000000000000000000001"}')$$) AS unicode_field_over_http;

-- every reply above is valid JSON (a clipped name never splits a character)
SELECT count(*) AS replies, count(*) FILTER (WHERE reply::json IS NOT NULL) AS valid_json FROM replies;

-- NULL for every argument of every function of the extension
SELECT p.proname AS function,
	pg_temp.try(format(CASE WHEN p.proretset THEN 'SELECT count(*)::text FROM %s(%s)'
		ELSE 'SELECT (%s(%s))::text' END,
		p.oid::regproc, (SELECT string_agg(format('NULL::%s', t::regtype), ', ' ORDER BY n)
			FROM unnest(p.proargtypes) WITH ORDINALITY a(t, n)))) AS with_all_nulls
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'zstack_tfa'
WHERE p.pronargs > 0 AND p.prokind = 'f'
ORDER BY 1;

-- no error reply above holds the planted secret (successful replies carry
-- secrets by design: the admin may see them)
SELECT count(*) FILTER (WHERE reply LIKE '{"error"%') AS error_replies,
	count(*) FILTER (WHERE reply LIKE '{"error"%' AND reply LIKE '%ZTLOGCANARY%') AS leaks
FROM replies;
RESET statement_timeout;
