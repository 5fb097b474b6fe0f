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
-- a repeated scalar parameter keeps its first value, as Tomcat gives it to
-- ZStack; scalar values (and names) are trimmed, q values are not
SELECT pg_temp.get('secrets', 'limit=2&limit=1&fields=uuid&sort=uuid') AS first_limit_wins;
SELECT pg_temp.get('secrets', 'fields=uuid&fields=status&limit=1&sort=uuid') AS first_fields_win;
SELECT pg_temp.get('secrets', 'limit=1&limit=x&fields=uuid&sort=uuid') AS a_bad_repeat_is_ignored;
SELECT pg_temp.get('secrets', '%20limit%20=%201%20&fields=%20uuid%20&sort=%20uuid') AS trimmed;
SELECT pg_temp.get('secrets', 'q=uuid=%20f0000000000000000000000000000001&count=true') AS q_value_not_trimmed;
SELECT pg_temp.get('secrets', '%20=uuid=f0000000000000000000000000000001&fields=uuid') AS blank_name_is_q;
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

-- headers that are not a JSON object are no headers; misuse raises
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secrets', '', '[1, 2]');
SELECT status, body FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secrets', '', '"OAuth x"');
SELECT * FROM zstack_tfa.http_request(NULL, '/zstack/v1/twofactorauthentication/state', '', NULL);
SELECT * FROM zstack_tfa.http_request('GET', NULL, '', NULL);
SELECT status FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/state', NULL, NULL) AS null_query_is_empty;

-- read-only transactions (hot standby): queries work, a login cannot write
-- and says so (SYS.1006), with nothing half-done
BEGIN READ ONLY;
SELECT pg_temp.get('secrets', 'count=true');
SELECT status, body FROM zstack_tfa.http_request('PUT', '/zstack/v1/accounts/login', '', NULL,
	'{"logInByAccount":{"accountName":"bob","password":"bob-password"}}');
SELECT pg_temp.get('secrets', 'count=true') AS still_usable_after_the_error;
COMMIT;

-- ZStack's condition syntax (its RestServer and commons-lang's split): a
-- separator where a part would begin is skipped, so uuid==X compares with
-- X; a condition without a name or a value is a 400 naming ZStack's operator
SELECT pg_temp.get('secrets', 'q=uuid%3D%3Df0000000000000000000000000000001&fields=uuid') AS double_equals;
SELECT pg_temp.get('secrets', 'q=%3Dx');
SELECT pg_temp.get('secrets', 'q=%3F%3Da');
SELECT pg_temp.get('secrets', 'q=%21%7E%3Da%25');
SELECT pg_temp.get('secrets', 'q=%20%3Dx');
SELECT pg_temp.get('secrets', 'q=uuidis%20null&count=true') AS is_null_anywhere;
-- fields: Java's split drops trailing empty parts; none left is a 400
SELECT pg_temp.get('secrets', 'fields=,,');
SELECT pg_temp.get('secrets', 'fields=uuid,,&limit=1&sort=uuid') AS trailing_empty_fields;
-- filterName: its form is checked (SYS.1007), then it is ignored
SELECT pg_temp.get('secrets', 'filterName=nocolon&count=true');
SELECT pg_temp.get('secrets', 'filterName=type%3A&count=true');
SELECT pg_temp.get('secrets', 'filterName=type%3Acondition&count=true') AS filter_ignored;
-- sort: the first sign is the direction, every leading sign goes; status
-- sorts as the text ZStack stores (Logined before NewCreated)
SELECT pg_temp.get('secrets', 'sort=-%2B-uuid&fields=uuid&limit=1') AS signs;
SELECT pg_temp.get('secrets', 'sort=status&fields=status') AS status_as_text;
-- U+2028 and U+2029 are escaped as Gson escapes them
SELECT pg_temp.get('secrets', 'q=nofield%E2%80%A8%E2%80%A9%3Dx');

-- "schema": every query reply has it; other replies when the request
-- carries X-JSON-Schema (any value), placed where ZStack's HashMap puts it
CREATE FUNCTION pg_temp.call(method text, path text, body text DEFAULT NULL,
	headers json DEFAULT '{"X-JSON-Schema":"true"}', query text DEFAULT '') RETURNS text
LANGUAGE sql AS $$
	SELECT status || ' ' || body FROM zstack_tfa.http_request(method, '/zstack/v1/' || path, query, headers, body)
$$;
SELECT pg_temp.call('GET', 'twofactorauthentication/state') AS state_with_schema;
SELECT pg_temp.call('GET', 'twofactorauthentication/state', headers => '{"x-json-schema":""}') AS any_value_counts;
SELECT pg_temp.call('GET', 'twofactorauthentication/state', headers => '{}') AS state_without_schema;
SELECT regexp_replace(pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","password":"bob-password"}}'),
	'[0-9a-f]{32}|"[A-Z][a-z]{2} [0-9]+, [0-9]{4} [0-9:]+ [AP]M"', 'X', 'g') AS login_with_schema;
SELECT regexp_replace(pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","password":"bob-password"}}', '{}'),
	'[0-9a-f]{32}|"[A-Z][a-z]{2} [0-9]+, [0-9]{4} [0-9:]+ [AP]M"', 'X', 'g') AS login_without_schema;
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","password":"wrong"}}') AS errors_never_have_one;

-- PUT bodies the way RestServer reads them: missing fields are SYS.1007 in
-- the order ZStack's validator meets them; a body that is not JSON, too deep,
-- with a member twice, or a field that is no scalar is a 400 (ZStack: 500)
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{}}');
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"password":"x"}}');
SELECT pg_temp.call('PUT', 'accounts/login', '{"somethingElse":{}}');
SELECT pg_temp.call('PUT', 'accounts/login', 'not json');
SELECT pg_temp.call('PUT', 'accounts/login', repeat('[', 60000) || repeat(']', 60000));
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","accountName":"eve","password":"x"}}');
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":["bob"],"password":"x"}}');
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob\u0000","password":"x"}}');
SELECT pg_temp.call('PUT', 'accounts/login', '["logInByAccount"]');
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":"bob"}');
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":" bob ","password":" bob-password "}}',
	'{}')::text LIKE '200 {"inventory":%' AS fields_trimmed;
-- X-Job-UUID, when sent, is a uuid without its dashes
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","password":"wrong"}}',
	'{"X-Job-UUID":"36c27e8f-f05c-4780-bf6d-2fa65700f22e"}');
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","password":"wrong"}}',
	'{"X-Job-UUID":"36c27e8ff05c4780bf6d2fa65700f22e"}') LIKE '503 %ID.1000%' AS a_good_job_uuid;

-- the secret fetch: repeated or missing parameters in ZStack's words
SELECT pg_temp.call('GET', 'twofactorauthentication/secret', query => 'name=bob&name=eve&password=x&type=account');
SELECT pg_temp.call('GET', 'twofactorauthentication/secret', query => 'name=bob&password=x');
SELECT pg_temp.call('GET', 'twofactorauthentication/secret', query => 'name=bob&password=x&type=root');

-- the session routes: IAM2 login, ZStack's unified login, LogOut,
-- ValidateSession, RenewSession
SELECT pg_temp.call('PUT', 'iam2/virtual-ids/login', '{"loginIAM2VirtualID":{"name":"alice-dev1","password":"dev1-password"}}', '{}')
	LIKE '200 {"inventory":{%,"noSessionEvaluation":false}}' AS iam2_login;
SELECT pg_temp.call('PUT', 'iam2/virtual-ids/login', '{"loginIAM2VirtualID":{"name":"alice-dev1"}}');
SELECT pg_temp.call('PUT', 'login', '{"logIn":{"username":"bob","password":"bob-password","loginType":"account"}}', '{}')
	LIKE '200 {"inventory":{%' AS unified_account;
SELECT pg_temp.call('PUT', 'login', '{"logIn":{"username":"alice-dev1","password":"dev1-password","loginType":"iam2"}}', '{}')
	LIKE '200 {"inventory":{%' AS unified_iam2;
SELECT pg_temp.call('PUT', 'login', '{"logIn":{"username":"bob","password":"bob-password","loginType":"ldap"}}');
SELECT pg_temp.call('PUT', 'login', '{"logIn":{"username":"bob","password":"bob-password"}}');
SELECT zstack_tfa.log_in_by_account('bob', 'bob-password')->'inventory'->>'uuid' AS bob_session \gset
SELECT zstack_tfa.log_in_by_account('alice', 'alice-password')->'inventory'->>'uuid' AS alice_session \gset
SELECT pg_temp.call('GET', 'accounts/sessions/' || :'bob_session' || '/valid') AS valid;
SELECT pg_temp.call('GET', 'accounts/sessions/' || :'bob_session' || '/valid', headers => '{}') AS valid_without_schema;
SELECT pg_temp.call('GET', 'accounts/sessions/5e550000000000000000000000000007/valid') AS expired_is_invalid;
SELECT count(*) AS expired_session_deleted FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000007');
SELECT pg_temp.call('GET', 'accounts/sessions/not-a-session/valid') AS malformed_is_invalid;
-- renew: one's own session, with a duration; another user's is ID.1002 but a
-- SystemAdmin's; the duration has ZStack's range
SELECT regexp_replace(pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', '{"renewSession":{"duration":600}}',
	json_build_object('Authorization', 'OAuth ' || :'bob_session', 'X-JSON-Schema', 'true')),
	'[0-9a-f]{32}|"[A-Z][a-z]{2} [0-9]+, [0-9]{4} [0-9:]+ [AP]M"', 'X', 'g') AS renewed;
SELECT expired_date BETWEEN clock_timestamp() + interval '590 seconds' AND clock_timestamp() + interval '600 seconds'
	AS renewed_for_600_seconds FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(:'bob_session');
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', NULL,
	json_build_object('Authorization', 'OAuth ' || :'alice_session'));
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', NULL,
	'{"Authorization":"OAuth 5e550000000000000000000000000001"}') LIKE '200 {"inventory":%' AS admin_renews_any;
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', '{"renewSession":{"duration":59}}',
	json_build_object('Authorization', 'OAuth ' || :'bob_session'));
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', '{"renewSession":{"duration":"soon"}}',
	json_build_object('Authorization', 'OAuth ' || :'bob_session'));
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', NULL, '{}');
SELECT pg_temp.call('PUT', 'accounts/sessions/5e55000000000000000000000000dead/renew', NULL,
	json_build_object('Authorization', 'OAuth ' || :'bob_session'));
-- the duration as ZStack's TypeVerifier takes a Long: a whole double passes
-- (Gson reads every JSON number as a double), any other number is its 400
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', '{"renewSession":{"duration":600.0}}',
	json_build_object('Authorization', 'OAuth ' || :'bob_session')) LIKE '200 {"inventory":%' AS whole_double_600;
SELECT expired_date BETWEEN clock_timestamp() + interval '540 seconds' AND clock_timestamp() + interval '600 seconds'
	AS renewed_for_600_0_seconds FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(:'bob_session');
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', '{"renewSession":{"duration":6e2}}',
	json_build_object('Authorization', 'OAuth ' || :'bob_session')) LIKE '200 {"inventory":%' AS exponent_600;
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', '{"renewSession":{"duration":600.5}}',
	json_build_object('Authorization', 'OAuth ' || :'bob_session')) AS fraction_refused;
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', '{"renewSession":{"duration":1e12}}',
	json_build_object('Authorization', 'OAuth ' || :'bob_session')) AS huge_is_out_of_range;
-- every authorised call sets the expiry to now + the timeout, as ZStack's
-- AuthorizationManager does: the next call cuts a long renewal back
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', '{"renewSession":{"duration":31536000}}',
	json_build_object('Authorization', 'OAuth ' || :'bob_session')) LIKE '200 {"inventory":%' AS renewed_for_a_year;
SELECT expired_date > clock_timestamp() + interval '364 days' AS a_year FROM zstack_tfa.session
	WHERE uuid = zstack_tfa.session_key(:'bob_session');
SELECT pg_temp.get('secrets', 'count=true', 'OAuth ' || :'bob_session') AS a_call;
SELECT expired_date BETWEEN clock_timestamp() + interval '7140 seconds' AND clock_timestamp() + interval '7200 seconds'
	AS cut_back_to_timeout FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(:'bob_session');
-- an expired session to renew is deleted and answers ID.1001 (ZStack's
-- Session.renewSession); a caller whose own session expired likewise
SELECT zstack_tfa.log_in_by_account('bob', 'bob-password')->'inventory'->>'uuid' AS bob_old_session \gset
UPDATE zstack_tfa.session SET expired_date = clock_timestamp() - interval '1 second'
	WHERE uuid = zstack_tfa.session_key(:'bob_old_session');
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_old_session' || '/renew', NULL,
	json_build_object('Authorization', 'OAuth ' || :'bob_session')) AS expired_target;
SELECT count(*) AS expired_target_deleted FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(:'bob_old_session');
SELECT zstack_tfa.log_in_by_account('bob', 'bob-password')->'inventory'->>'uuid' AS bob_old_session \gset
UPDATE zstack_tfa.session SET expired_date = clock_timestamp() - interval '1 second'
	WHERE uuid = zstack_tfa.session_key(:'bob_old_session');
SELECT pg_temp.call('PUT', 'accounts/sessions/' || :'bob_session' || '/renew', NULL,
	json_build_object('Authorization', 'OAuth ' || :'bob_old_session')) AS expired_caller;
SELECT count(*) AS expired_caller_deleted FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(:'bob_old_session');
-- LogInByAccount logs in an account for no accountType or "account" only
-- (ZStack's AccountLoginBackend); any other is ID.1000
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","password":"bob-password","accountType":"account"}}', '{}')
	LIKE '200 {"inventory":%' AS account_type_account;
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","password":"bob-password","accountType":"iam2"}}') AS account_type_iam2;
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","password":"bob-password","accountType":" "}}') AS account_type_blank;
SELECT kind, outcome, error_code, user_uuid IS NULL AS names_no_user FROM zstack_tfa.auth_event ORDER BY id DESC LIMIT 1;
BEGIN READ ONLY;
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","password":"bob-password","accountType":"iam2"}}') AS account_type_read_only;
COMMIT;
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","password":"bob-password","accountType":null}}', '{}')
	LIKE '200 {"inventory":%' AS account_type_null;
-- log out: a success even for a session that is not there
SELECT pg_temp.call('DELETE', 'accounts/sessions/' || :'bob_session') AS logged_out;
SELECT pg_temp.call('DELETE', 'accounts/sessions/' || :'bob_session', headers => '{}') AS again_without_schema;
SELECT pg_temp.call('GET', 'accounts/sessions/' || :'bob_session' || '/valid') AS gone;
-- wrong methods on the new routes
SELECT pg_temp.call('GET', 'accounts/sessions/5e550000000000000000000000000099');
SELECT pg_temp.call('POST', 'login');

-- 2FA through the Java SDK's body: its systemTags sit inside the parameter
-- object; top-level systemTags, when sent, win.  (The switch replaces every
-- secret; the pinned ones are put back afterwards for the tests after this.)
CREATE TEMP TABLE pinned AS SELECT uuid, secret, user_uuid, user_type, account_uuid, status,
	create_date, last_op_date FROM zstack_tfa.secret;
SELECT zstack_tfa.set_two_factor_authentication_enabled(true)->>'state' AS state;
SELECT body::json->'inventory'->>'secret' AS bob_secret FROM zstack_tfa.http_request('GET',
	'/zstack/v1/twofactorauthentication/secret', 'name=bob&password=bob-password&type=account', '{}', NULL) \gset
SELECT pg_temp.call('PUT', 'accounts/login', json_build_object('logInByAccount', json_build_object(
	'accountName', 'bob', 'password', 'bob-password',
	'systemTags', json_build_array('twofatoken::' || zstack_tfa.totp(:'bob_secret'))))::text, '{}') LIKE '200 {"inventory":%'
	AS sdk_body_logs_in;
SELECT pg_temp.call('PUT', 'accounts/login', json_build_object(
	'logInByAccount', json_build_object('accountName', 'bob', 'password', 'bob-password',
		'systemTags', json_build_array('twofatoken::' || zstack_tfa.totp(:'bob_secret', now() + interval '30 seconds'))),
	'systemTags', json_build_array('twofatoken::000000'))::text, '{}') LIKE '503 %ID.2002%' AS top_level_wins;
SELECT pg_temp.call('PUT', 'accounts/login', '{"logInByAccount":{"accountName":"bob","password":"bob-password"}}', '{}');
SELECT pg_temp.call('GET', 'twofactorauthentication/secret', query => 'name=bob&password=bob-password&type=account')
	LIKE '200 {"schema":{"inventory":"org.zstack.twoFactorAuthentication.TwoFactorAuthenticationSecretInventory","inventory.status":"org.zstack.twoFactorAuthentication.TwoFactorAuthenticationSecretStatus"},"inventory":{"uuid":%,"secret":"","status":"Logined",%'
	AS secret_with_schema;

-- ResetTwoFactorAuthenticationSecret as ZStack's SDKs send it: PUT on the
-- query's path, the API told by the body's key; admin-only; the target is
-- the user whose name, password and type match; answered at once (200)
CREATE FUNCTION pg_temp.reset(body text, session text DEFAULT '5e550000000000000000000000000001',
	schema boolean DEFAULT true) RETURNS text
LANGUAGE sql AS $$
	SELECT pg_temp.call('PUT', 'twofactorauthentication/secrets', body,
		CASE WHEN schema THEN json_build_object('Authorization', 'OAuth ' || session, 'X-JSON-Schema', 'true')
		ELSE json_build_object('Authorization', 'OAuth ' || session) END)
$$;
SELECT coalesce(max(id), 0) AS reset_events_before FROM zstack_tfa.auth_event \gset
SELECT pg_temp.reset('{"systemTags":[],"userTags":[]}') AS no_action_key;
SELECT pg_temp.reset(NULL) AS no_body;
SELECT pg_temp.call('PUT', 'twofactorauthentication/secrets',
	'{"resetTwoFactorAuthenticationSecret":{"name":"bob","password":"bob-password","type":"account"}}', '{}') AS no_authorization;
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"bob","type":"account"}}') AS no_password;
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"bob","password":"bob-password"}}') AS no_type;
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"bob","password":"bob-password","type":"root"}}') AS bad_type;
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"bob","password":"bob-password","type":"account"}}',
	'5e55000000000000000000000000ffff') AS unknown_session;
-- a Normal account, and an IAM2 user of the admin account, are no admins
INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, user_type, expired_date) VALUES
	(zstack_tfa.session_key('5e55000000000000000000000000b0b0'), 'a0000000000000000000000000000002',
	 'a0000000000000000000000000000002', 'AccountVO', now() + interval '1 day');
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"bob","password":"bob-password","type":"account"}}',
	'5e55000000000000000000000000b0b0') AS normal_account;
SELECT zstack_tfa.create_iam2_virtual_id('admin', 'admin-ops', 'ops1-password') IS NOT NULL AS admin_iam2_user;
SELECT body::json->'inventory'->>'secret' AS ops1_secret FROM zstack_tfa.http_request('GET',
	'/zstack/v1/twofactorauthentication/secret', 'name=admin-ops&password=ops1-password&type=iam2', '{}', NULL) \gset
SELECT zstack_tfa.log_in_by_iam2_virtual_id('admin-ops', 'ops1-password',
	ARRAY['twofatoken::' || zstack_tfa.totp(:'ops1_secret')])->'inventory'->>'uuid' AS ops1_session \gset
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"bob","password":"bob-password","type":"account"}}',
	:'ops1_session') AS iam2_user_of_admin;
-- a name, password or type that does not match: one ID.1000 answer
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"bob","password":"wrong","type":"account"}}') AS wrong_password;
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"nobody","password":"bob-password","type":"account"}}') AS unknown_name;
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"bob","password":"bob-password","type":"iam2"}}') AS wrong_type;
-- success: a new NewCreated secret, shown in full, schema as for the fetch;
-- the old one goes with its replay and lockout state
UPDATE zstack_tfa.secret SET failed_attempts = 5, locked_until = now() + interval '1 hour'
	WHERE user_uuid = 'a0000000000000000000000000000002';
SELECT uuid AS bob_old_secret_uuid FROM zstack_tfa.secret WHERE user_uuid = 'a0000000000000000000000000000002' \gset
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"bob","password":"bob-password","type":"account",'
	'"captchaUuid":null,"verifyCode":null},"systemTags":[],"userTags":[]}') AS reset_reply \gset
SELECT regexp_replace(:'reset_reply', '[0-9a-f]{32}|"[A-Z2-7]{16}"|"[A-Z][a-z]{2} [0-9]+, [0-9]{4} [0-9:]+ [AP]M"', 'X', 'g') AS reset;
SELECT substr(:'reset_reply', 5)::json->'inventory'->>'secret' AS bob_new_secret \gset
SELECT :'bob_new_secret' <> :'bob_secret' AS a_new_secret,
	(SELECT uuid FROM zstack_tfa.secret WHERE user_uuid = 'a0000000000000000000000000000002') <> :'bob_old_secret_uuid' AS a_new_row,
	(SELECT count(*) FROM zstack_tfa.secret WHERE user_uuid = 'a0000000000000000000000000000002') AS one_secret,
	(SELECT failed_attempts = 0 AND locked_until IS NULL AND last_accepted_step IS NULL FROM zstack_tfa.secret
	 WHERE user_uuid = 'a0000000000000000000000000000002') AS no_lockout_or_replay_state;
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"bob","password":"bob-password","type":"account"}}', schema => false)
	LIKE '200 {"inventory":{"uuid":%,"status":"NewCreated",%' AS without_schema;
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"bob","password":"bob-password","type":"account"}}') AS reset_reply \gset
SELECT substr(:'reset_reply', 5)::json->'inventory'->>'secret' AS bob_new_secret \gset
-- the secret route and its QR code show the new secret, as for any NewCreated one
SELECT substr(pg_temp.call('GET', 'twofactorauthentication/secret', query => 'name=bob&password=bob-password&type=account',
	headers => '{}'), 5)::json->'inventory'->>'secret' = :'bob_new_secret' AS fetch_shows_it;
SELECT status, content_type FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secret/qrcode',
	'name=bob&password=bob-password&type=account&format=text', '{}', NULL::text);
-- the old secret no longer logs in; the new one does, with its first code
SELECT pg_temp.call('PUT', 'accounts/login', json_build_object('logInByAccount', json_build_object(
	'accountName', 'bob', 'password', 'bob-password',
	'systemTags', json_build_array('twofatoken::' || zstack_tfa.totp(:'bob_secret', now() + interval '60 seconds'))))::text, '{}')
	LIKE '503 %ID.2002%' AS old_secret_refused;
SELECT pg_temp.call('PUT', 'accounts/login', json_build_object('logInByAccount', json_build_object(
	'accountName', 'bob', 'password', 'bob-password',
	'systemTags', json_build_array('twofatoken::' || zstack_tfa.totp(:'bob_new_secret'))))::text, '{}')
	LIKE '200 {"inventory":%' AS new_secret_logs_in;
-- an IAM2 user's secret (type iam2), reset by the admin
SELECT pg_temp.reset('{"resetTwoFactorAuthenticationSecret":{"name":"admin-ops","password":"ops1-password","type":"iam2"}}', schema => false)
	LIKE '200 {"inventory":{%"status":"NewCreated",%"userType":"IAM2VirtualIDVO"}}' AS iam2_user_reset;
-- the audit log: who reset whose secret, and who tried
SELECT e.outcome, e.error_code,
	coalesce((SELECT name FROM zstack_tfa.account WHERE uuid = e.user_uuid),
		(SELECT name FROM zstack_tfa.iam2_virtual_id WHERE uuid = e.user_uuid)) AS whose,
	coalesce((SELECT name FROM zstack_tfa.account WHERE uuid = e.actor_user_uuid),
		(SELECT name FROM zstack_tfa.iam2_virtual_id WHERE uuid = e.actor_user_uuid)) AS by_whom,
	e.actor_account_uuid = '36c27e8ff05c4780bf6d2fa65700f22e' AS in_admin_account,
	e.secret_uuid IS NOT NULL AS names_new_secret
	FROM zstack_tfa.auth_event e WHERE e.kind = 'reset_secret' AND e.id > :reset_events_before ORDER BY e.id;
-- the other methods on the path
SELECT pg_temp.call('DELETE', 'twofactorauthentication/secrets') AS delete_refused;
DELETE FROM zstack_tfa.iam2_virtual_id WHERE name = 'admin-ops';
DELETE FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e55000000000000000000000000b0b0');

SELECT zstack_tfa.set_two_factor_authentication_enabled(false)->>'state' AS state;
INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid, status, create_date, last_op_date)
	SELECT * FROM pinned;
