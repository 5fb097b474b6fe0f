-- http_request: the REST layer of SPEC §1.2 without a web server.  Routing
-- (404, 405), Authorization (400s, case-insensitive header names), the raw
-- query string (percent-encoding, '+', repeats, empty and valueless
-- parameters, broken escapes), every error status, and the life-cycle paths.
SET timezone = 'UTC';
-- 12_lifecycle ended by switching 2FA off, which deletes every secret: pin
-- three again (alice's, her IAM2 user's, admin's)
INSERT INTO zstack_tfa.secret
	(uuid, secret, user_uuid, user_type, account_uuid, status, create_date, last_op_date) VALUES
	('f0000000000000000000000000000001', 'JBSWY3DPEHPK3PXP', 'a0000000000000000000000000000001', 'AccountVO', 'a0000000000000000000000000000001', 'NewCreated', '2026-01-10 09:00:00+00', '2026-01-10 09:00:00+00'),
	('f0000000000000000000000000000002', 'KRUGKIDROVUWG2ZA', 'e0000000000000000000000000000001', 'IAM2VirtualIDVO', 'a0000000000000000000000000000001', 'Logined', '2026-02-11 13:30:00+00', '2026-02-12 08:15:00+00'),
	('f0000000000000000000000000000003', 'NB2HI4DTHIXS653X', '36c27e8ff05c4780bf6d2fa65700f22e', 'AccountVO', '36c27e8ff05c4780bf6d2fa65700f22e', 'Logined', '2026-06-15 06:07:08+00', '2026-06-15 06:07:08+00');
CREATE FUNCTION pg_temp.get(path text, query text DEFAULT '',
	auth text DEFAULT 'OAuth 5e550000000000000000000000000001') RETURNS text
LANGUAGE sql AS $$
	SELECT status || ' ' || content_type || ' ' || body
	FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/' || path, query,
		CASE WHEN auth IS NULL THEN '{}'::json ELSE json_build_object('Authorization', auth) END)
$$;

-- a list, and the uuid form (which ignores the query string entirely)
SELECT pg_temp.get('secrets', 'q=status%3DNewCreated&fields=uuid,status&sort=uuid');
SELECT pg_temp.get('secrets/f0000000000000000000000000000003', 'limit=x&q=%zz&fields=nope');
SELECT pg_temp.get('secrets/%66' || substr('f0000000000000000000000000000003', 2), 'fields=uuid') AS encoded_uuid_segment;
SELECT pg_temp.get('secrets/f0000000000000000000000000000003', '', 'OAuth 5e550000000000000000000000000002') AS outside_alices_view;

-- Authorization: missing, another scheme, case-insensitive name, spacing
SELECT pg_temp.get('secrets', '', NULL);
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secrets', '', NULL);
SELECT pg_temp.get('secrets', '', 'Bearer 5e550000000000000000000000000001');
SELECT pg_temp.get('secrets', '', 'oauth 5e550000000000000000000000000001');
SELECT pg_temp.get('secrets', 'count=true', '   OAuth    5e550000000000000000000000000001   ') AS spaces_trimmed;
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secrets', 'count=true',
	'{"AUTHORIZATION": "OAuth 5e550000000000000000000000000001", "Accept": "*/*"}') AS upper_case_name;
SELECT pg_temp.get('secrets', '', 'OAuth5e550000000000000000000000000001') AS no_space_after_oauth;
SELECT pg_temp.get('secrets', '', 'OAuthX');
SELECT pg_temp.get('secrets', '', 'OAuth 5e550000000000000000000000000007') AS expired;

-- the query string: encodings, '+', repeats, empty and valueless parameters
SELECT pg_temp.get('secrets', 'q=status=Logined&q=userType%3DAccountVO&fields=uuid&sort=uuid') AS repeated_q;
SELECT pg_temp.get('secrets', '%71=uuid%3Df0000000000000000000000000000002&fields=uuid') AS encoded_name;
SELECT pg_temp.get('secrets', 'q=createDate>Feb+11,+2026+1:30:00+PM&fields=uuid&sort=uuid') AS plus_is_space;
SELECT pg_temp.get('secrets', 'q=secret%3DA%2BB&count=true') AS encoded_plus_is_plus;
SELECT pg_temp.get('secrets', '&&fields=uuid&&limit=1&sort=uuid&') AS empty_pieces;
SELECT pg_temp.get('secrets', 'count&fields=uuid&limit=1&sort=uuid') AS valueless_count_is_false;
SELECT pg_temp.get('secrets', 'count=yes&limit=1&fields=uuid&sort=uuid') AS only_true_is_true;
SELECT pg_temp.get('secrets', 'replyWithCount=True&limit=1&fields=uuid&sort=%2Buuid');
SELECT pg_temp.get('secrets', 'limit=2&limit=1&fields=uuid&sort=uuid') AS last_limit_wins;
SELECT pg_temp.get('secrets', 'fields=uuid&fields=status&limit=1&sort=uuid') AS fields_accumulate;
SELECT pg_temp.get('secrets', 'groupBy=status&select=secret&order=uuid.desc&uuid=eq.x&count=true') AS others_ignored;
SELECT pg_temp.get('secrets', 'q=uuid%3D%E4%B8%AD&count=true') AS utf8_value;

-- 400s: no operator, non-integers, broken escapes, bad UTF-8, NUL
SELECT pg_temp.get('secrets', 'q');
SELECT pg_temp.get('secrets', 'q=status%20Logined');
SELECT pg_temp.get('secrets', 'limit=1.5');
SELECT pg_temp.get('secrets', 'limit=%201');
SELECT pg_temp.get('secrets', 'start=99999999999');
SELECT pg_temp.get('secrets', 'start');
SELECT pg_temp.get('secrets', 'q=uuid%');
SELECT pg_temp.get('secrets', 'q=uuid%4');
SELECT pg_temp.get('secrets', 'q=uuid%zz');
SELECT pg_temp.get('secrets', 'q=uuid%3D%C3');
SELECT pg_temp.get('secrets', 'q=uuid%3D%00');
SELECT pg_temp.get('secrets', 'sort=%ff');
-- the syntax of q is checked before the session, as ZStack's REST server does
SELECT pg_temp.get('secrets', 'q=uuid', NULL) AS header_first;
SELECT pg_temp.get('secrets', 'q=uuid', 'OAuth 5e55000000000000000000000000dead') AS syntax_before_session;

-- 503 envelopes: argument errors after the session check
SELECT pg_temp.get('secrets', 'q=name%3Dadmin');
SELECT pg_temp.get('secrets', 'sort=-name');
SELECT pg_temp.get('secrets', 'fields=uuid,password');
SELECT pg_temp.get('secrets', 'q=status%3Dlogined');
SELECT pg_temp.get('secrets', 'q=createDate%3Eyesterday-ish');
SELECT pg_temp.get('secrets', 'limit=-1');
SELECT pg_temp.get('secrets', 'start=-1');
SELECT pg_temp.get('secrets', 'q=name%3Dadmin', 'OAuth 5e55000000000000000000000000dead') AS session_before_fields;

-- routing: 404 and 405
SELECT status, content_type, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication', '', '{}');
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secrets/', '', '{}');
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secrets/a/b', '', '{}');
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/Secrets', '', '{}');
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v2/twofactorauthentication/secrets', '', '{}');
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/%zz', '', '{}');
SELECT status, content_type, body FROM zstack_tfa.http_request('POST', '/zstack/v1/twofactorauthentication/secrets', '', '{}');
SELECT status, body FROM zstack_tfa.http_request('get', '/zstack/v1/twofactorauthentication/state', '', '{}');
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/accounts/login', '', '{}');

-- the life-cycle paths: state, secret, login (2FA is disabled here)
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/state', '', NULL);
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secret', 'name=bob&password=bob-password', NULL);
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secret', 'password=x', NULL);
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secret', 'name=%', NULL);
SELECT status, content_type, body::json->'inventory'->>'accountUuid' AS account
	FROM zstack_tfa.http_request('PUT', '/zstack/v1/accounts/login', '', NULL,
	'{"logInByAccount":{"accountName":"bob","password":"bob-password"},"systemTags":["twofatoken::123456"]}');
SELECT status, body FROM zstack_tfa.http_request('PUT', '/zstack/v1/accounts/login', '', NULL,
	'{"logInByAccount":{"accountName":"bob","password":"wrong"}}');
SELECT status, body FROM zstack_tfa.http_request('PUT', '/zstack/v1/accounts/login', '', NULL,
	'{"logInByAccount":{"accountName":"bob"}}');
SELECT status, body FROM zstack_tfa.http_request('PUT', '/zstack/v1/accounts/login', '', NULL, '{"accountName":"bob"}');
SELECT status, body FROM zstack_tfa.http_request('PUT', '/zstack/v1/accounts/login', '', NULL, NULL);
SELECT status, body FROM zstack_tfa.http_request('PUT', '/zstack/v1/accounts/login', '', NULL,
	'{"logInByAccount":{"accountName":"bob","password":"bob-password"},"systemTags":"twofatoken::1"}')
	WHERE status <> 200;

-- anything unexpected is a SYS.1000 envelope without internals; misuse raises
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secrets', '', '[1, 2]');
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secrets', '', '"OAuth x"');
SELECT * FROM zstack_tfa.http_request(NULL, '/zstack/v1/twofactorauthentication/state', '', NULL);
SELECT * FROM zstack_tfa.http_request('GET', NULL, '', NULL);
SELECT status FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/state', NULL, NULL) AS null_query_is_empty;

-- read-only transactions (hot standby): queries work, a login cannot write
-- and becomes SYS.1000 with nothing half-done
BEGIN READ ONLY;
SELECT pg_temp.get('secrets', 'count=true');
SELECT status, body FROM zstack_tfa.http_request('PUT', '/zstack/v1/accounts/login', '', NULL,
	'{"logInByAccount":{"accountName":"bob","password":"bob-password"}}');
SELECT pg_temp.get('secrets', 'count=true') AS still_usable_after_the_error;
COMMIT;
