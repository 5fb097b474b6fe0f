-- Privileges: PUBLIC and a fresh role can read no table and execute no
-- function; every SECURITY DEFINER function pins search_path; the roles of
-- README "Security" work; a search_path hijack changes nothing.

-- from the catalogs, so new objects are covered automatically
SELECT count(*) AS functions_executable_by_public
	FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'zstack_tfa'
	WHERE has_function_privilege('public', p.oid, 'EXECUTE');
SELECT c.relname, c.relacl FROM pg_class c
	WHERE c.relnamespace = 'zstack_tfa'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'm')
	AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0)
	ORDER BY 1;
SELECT has_schema_privilege('public', 'zstack_tfa', 'USAGE') AS public_schema_usage;
SELECT p.proname, p.proconfig FROM pg_proc p
	WHERE p.pronamespace = 'zstack_tfa'::regnamespace AND p.prosecdef
	AND (p.proconfig IS NULL OR NOT 'search_path=pg_catalog, zstack_tfa, pg_temp' = ANY (p.proconfig));
SELECT count(*) > 5 AS has_security_definer_functions FROM pg_proc p
	WHERE p.pronamespace = 'zstack_tfa'::regnamespace AND p.prosecdef;

-- a role with no grants can do nothing: walk every relation and function
-- of the schema, whatever is added later
CREATE ROLE zt_nobody;
SELECT c.relname, c.relkind FROM pg_class c
	WHERE c.relnamespace = 'zstack_tfa'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'S', 'p')
	AND (has_table_privilege('zt_nobody', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
		OR (c.relkind = 'S' AND has_sequence_privilege('zt_nobody', c.oid, 'USAGE, SELECT, UPDATE')));
SELECT p.proname FROM pg_proc p
	WHERE p.pronamespace = 'zstack_tfa'::regnamespace AND has_function_privilege('zt_nobody', p.oid, 'EXECUTE');
SELECT count(*) > 10 AS relations_walked FROM pg_class WHERE relnamespace = 'zstack_tfa'::regnamespace;
SELECT count(*) > 15 AS functions_walked FROM pg_proc WHERE pronamespace = 'zstack_tfa'::regnamespace;
SET ROLE zt_nobody;
SELECT * FROM zstack_tfa.secret;
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001');
RESET ROLE;
GRANT USAGE ON SCHEMA zstack_tfa TO zt_nobody;
SET ROLE zt_nobody;
SELECT * FROM zstack_tfa.secret;
SELECT * FROM zstack_tfa.session;
SELECT * FROM zstack_tfa.account;
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001');
SELECT zstack_tfa.log_in_by_account('admin', 'admin-password');
SELECT zstack_tfa.create_account('x', 'y');
SELECT zstack_tfa.hash_password('x');
RESET ROLE;

-- the management role of README "Security": the API functions, no tables
CREATE ROLE zt_management;
GRANT USAGE ON SCHEMA zstack_tfa TO zt_management;
GRANT EXECUTE ON FUNCTION
	zstack_tfa.query_two_factor_authentication(text, text[], int, int, text),
	zstack_tfa.query_two_factor_authentication_json(text, text[], int, int, text, text[], boolean, boolean),
	zstack_tfa.log_in_by_account(text, text, text[]),
	zstack_tfa.log_in_by_iam2_virtual_id(text, text, text[]),
	zstack_tfa.log_out(text),
	zstack_tfa.create_account(text, text, zstack_tfa.account_type),
	zstack_tfa.create_iam2_virtual_id(text, text, text)
	TO zt_management;
SET ROLE zt_management;
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003', fields => '{uuid}');
SELECT count(*) FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001');
SELECT zstack_tfa.log_in_by_account('bob', 'bob-password')->'inventory'->>'uuid' IS NOT NULL AS can_log_in;
SELECT * FROM zstack_tfa.secret;
SELECT zstack_tfa.set_account_password('admin', 'mine now');
RESET ROLE;

-- the reporting role of README "Security": the views and the audit log only
CREATE ROLE zt_reports;
GRANT USAGE ON SCHEMA zstack_tfa TO zt_reports;
GRANT SELECT ON zstack_tfa.two_factor_report, zstack_tfa.secret_status_counts,
	zstack_tfa.auth_event TO zt_reports;
SET ROLE zt_reports;
SELECT count(*) AS report_rows FROM zstack_tfa.two_factor_report;
SELECT sum(secrets) AS secrets_counted FROM zstack_tfa.secret_status_counts;
SELECT count(*) >= 0 AS audit_readable FROM zstack_tfa.auth_event;
SELECT secret FROM zstack_tfa.secret;
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001');
RESET ROLE;
REVOKE ALL ON zstack_tfa.two_factor_report, zstack_tfa.secret_status_counts,
	zstack_tfa.auth_event FROM zt_reports;
REVOKE ALL ON SCHEMA zstack_tfa FROM zt_reports;
DROP ROLE zt_reports;

-- search_path hijack: an attacker's "=" operator and now() on the path
-- first, and a temp table named like ours, change nothing
CREATE SCHEMA zt_evil;
CREATE TABLE zt_evil.calls (n int);
GRANT ALL ON SCHEMA zt_evil TO zt_management;
GRANT ALL ON zt_evil.calls TO zt_management;
CREATE FUNCTION zt_evil.always(text, text) RETURNS boolean
	LANGUAGE sql AS $$ INSERT INTO zt_evil.calls VALUES (1) RETURNING true $$;
CREATE OPERATOR zt_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = zt_evil.always);
CREATE FUNCTION zt_evil.now() RETURNS timestamptz
	LANGUAGE sql AS $$ SELECT timestamptz 'infinity' $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA zt_evil TO zt_management;
GRANT EXECUTE ON FUNCTION zstack_tfa.http_request(text, text, text, json, json) TO zt_management;
SET ROLE zt_management;
SET search_path = zt_evil, pg_catalog;
CREATE TEMP TABLE secret (uuid text);
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	'{uuid=f0000000000000000000000000000001}', count => true) AS bob_sees_alice;
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000007',
	count => true)->'error'->>'code' AS expired_still_expired;
-- functions in pg_temp are never found by unqualified names, and the
-- pinned path puts pg_temp last anyway
CREATE FUNCTION pg_temp.json_each_text(json) RETURNS TABLE (key text, value text)
	LANGUAGE sql AS $$ SELECT 'authorization', 'OAuth 5e550000000000000000000000000001' $$;
CREATE FUNCTION pg_temp.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'authorization' $$;
SET search_path = pg_temp, zt_evil, pg_catalog;
SELECT status, left(body, 40) AS body FROM zstack_tfa.http_request('GET',
	'/zstack/v1/twofactorauthentication/secrets', '', '{"X":"y"}') AS pg_temp_hijack;
DROP FUNCTION pg_temp.json_each_text(json), pg_temp.lower(text);
DROP TABLE pg_temp.secret;
RESET search_path;
RESET ROLE;
SELECT count(*) AS hijack_calls FROM zt_evil.calls;

DROP SCHEMA zt_evil CASCADE;
REVOKE ALL ON SCHEMA zstack_tfa FROM zt_nobody, zt_management;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA zstack_tfa FROM zt_management;
DROP ROLE zt_nobody, zt_management;
