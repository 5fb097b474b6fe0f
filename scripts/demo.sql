-- The demo's replies, run by scripts/demo.sh on the sample of sample.sql.
\pset format unaligned
\pset tuples_only on
\set QUIET on

\echo '== the 2FA switch (GET /zstack/v1/twofactorauthentication/state)'
SELECT zstack_tfa.get_two_factor_authentication_state();

\echo '\n== admin logs in without a code: ZStack asks for the second factor'
SELECT zstack_tfa.log_in_by_account('admin', 'demo-admin-password');

\echo '\n== admin fetches the secret (GET .../twofactorauthentication/secret) and its otpauth URI'
SELECT zstack_tfa.get_two_factor_authentication_secret('admin', 'demo-admin-password') AS reply \gset
SELECT :'reply';
SELECT zstack_tfa.otpauth_uri(:'reply'::json->'inventory'->>'secret', 'admin');

\echo '\n== the enrolment QR code, to scan with an authenticator app (otpauth_qr_text; also as SVG and PNG)'
SELECT zstack_tfa.otpauth_qr_text(:'reply'::json->'inventory'->>'secret', 'admin', invert => true);

\echo '\n== admin logs in with the authenticator code (PUT /zstack/v1/accounts/login, systemTags twofatoken::<code>)'
SELECT zstack_tfa.totp(:'reply'::json->'inventory'->>'secret') AS code \gset
SELECT zstack_tfa.log_in_by_account('admin', 'demo-admin-password', ARRAY['twofatoken::' || :'code']) AS login \gset
SELECT :'login';
SELECT :'login'::json->'inventory'->>'uuid' AS admin_session \gset
-- demo.sh's HTTP part uses this session (the table keeps only a hash of it)
\if :{?session_file}
\o :session_file
\qecho :admin_session
\o
\endif

\echo '\n== the same code again is refused: replay protection'
SELECT zstack_tfa.log_in_by_account('admin', 'demo-admin-password', ARRAY['twofatoken::' || :'code']);

\echo '\n== the admin view (GET /zstack/v1/twofactorauthentication/secrets?limit=3&sort=-createDate&replyWithCount=true)'
SELECT zstack_tfa.query_two_factor_authentication_json(:'admin_session',
	"limit" => 3, sort => '-createDate', reply_with_count => true);

\echo '\n== conditions (?q=status=Logined&q=userType=IAM2VirtualIDVO&count=true)'
SELECT zstack_tfa.query_two_factor_authentication_json(:'admin_session',
	'{status=Logined,userType=IAM2VirtualIDVO}', count => true);

\echo '\n== alice, a normal account, sees her own secret and her IAM2 users'' (fields=uuid,userUuid,userType,status)'
SELECT zstack_tfa.log_in_by_account('alice', 'alice-password', ARRAY['twofatoken::' ||
	zstack_tfa.totp(zstack_tfa.get_two_factor_authentication_secret('alice', 'alice-password')->'inventory'->>'secret')])
	->'inventory'->>'uuid' AS alice_session \gset
SELECT zstack_tfa.query_two_factor_authentication_json(:'alice_session',
	sort => 'userType', fields => '{uuid,userUuid,userType,status}');

\echo '\n== alice lost her phone: recovery codes (POST .../twofactorauthentication/recovery-codes), shown once'
SELECT zstack_tfa.generate_recovery_codes(:'alice_session', 'alice-password') AS codes \gset
SELECT :'codes';
\echo '\n== one of them where the six digits go, in any case, with or without its dash; then it is spent'
SELECT lower(replace(:'codes'::json->'inventory'->'codes'->>0, '-', '')) AS rcode \gset
SELECT zstack_tfa.log_in_by_account('alice', 'alice-password', ARRAY['twofatoken::' || :'rcode'])->'inventory'->>'userUuid' AS alice_logged_in;
SELECT zstack_tfa.log_in_by_account('alice', 'alice-password', ARRAY['twofatoken::' || :'rcode']);
SELECT zstack_tfa.count_recovery_codes(:'alice_session');

\echo '\n== errors are ZStack envelopes'
SELECT zstack_tfa.query_two_factor_authentication_json('0123456789abcdef0123456789abcdef');
SELECT zstack_tfa.query_two_factor_authentication_json(:'admin_session', '{status=Enabled}');
SELECT zstack_tfa.reset_two_factor_authentication_secret(:'alice_session', 'bob');

\echo '\n== the DBA report'
\pset format aligned
\pset tuples_only off
SELECT account_name, user_name, user_type, status, last_login_date IS NOT NULL AS logged_in, failed_attempts, locked,
	recovery_codes_left AS codes_left, recovery_codes_used AS codes_used
FROM zstack_tfa.two_factor_report ORDER BY account_name, user_name;

\echo '\n== encryption at rest (zstack_tfa.encryption_key_file): the table holds ciphertext, the replies the secret'
SELECT key_id, state, secrets FROM zstack_tfa.secret_encryption ORDER BY key_id;
SELECT left(s.secret, 40) || '...' AS stored_in_the_table,
	zstack_tfa.get_two_factor_authentication_secret('partner', 'partner-password')->'inventory'->>'secret' AS partner_gets
FROM zstack_tfa.secret s JOIN zstack_tfa.account a ON a.uuid = s.user_uuid WHERE a.name = 'partner';
