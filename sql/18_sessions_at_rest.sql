-- Sessions at rest (issue 18): a session uuid is a bearer credential, so
-- zstack_tfa.session keeps only its key, the first 32 hex digits of its
-- SHA-256.  The client still gets and sends the uuid; a DBA finds the row
-- of a given uuid with zstack_tfa.session_key().  And RenewSession stays
-- under zstack_tfa.max_session_renewal, a superuser's ceiling.
\i sql/include/err.sql

-- the key of a known uuid, as any SHA-256 tool computes it
-- (printf 5e550000000000000000000000000001 | sha256sum | cut -c1-32)
SELECT zstack_tfa.session_key('5e550000000000000000000000000001') AS key_of_admin_fixture;
SELECT zstack_tfa.session_key('5e550000000000000000000000000001') = 'd241be8ee17b28ef712788f9595a542c' AS sha256_prefix;
SELECT zstack_tfa.session_key(NULL) IS NULL AS strict;

-- a login stores the key the C code computed, which the SQL function finds;
-- the uuid the client got is nowhere in the table
SELECT zstack_tfa.log_in_by_account('bob', 'bob-password')->'inventory'->>'uuid' AS bob_session \gset
SELECT count(*) AS rows_under_plain_uuid FROM zstack_tfa.session WHERE uuid = :'bob_session';
SELECT count(*) AS rows_under_sql_key, bool_and(account_uuid = 'a0000000000000000000000000000002') AS bobs
	FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(:'bob_session');
SELECT count(*) AS uuid_in_any_column FROM zstack_tfa.session s
	WHERE strpos(s::text, :'bob_session') > 0;
-- the same key from C and SQL over many random uuids (the login path's key
-- against the function's): every session a login makes is found by it
CREATE TEMP TABLE carol_logins AS
	SELECT zstack_tfa.log_in_by_account('carol', 'carol-password')->'inventory'->>'uuid' AS session_uuid
	FROM generate_series(1, 20);
SELECT count(*) FILTER (WHERE (SELECT count(*) FROM zstack_tfa.session
		WHERE uuid = zstack_tfa.session_key(l.session_uuid)) = 1) AS found_by_sql_key,
	count(DISTINCT session_uuid) AS logins
	FROM carol_logins l;

-- the uuid still works everywhere a client sends it
SELECT zstack_tfa.query_two_factor_authentication_json(:'bob_session', count => true)->>'total' IS NOT NULL AS query_works;
SELECT zstack_tfa.validate_session(:'bob_session') AS valid;
-- the key itself is not a credential: presenting what is at rest gets nothing
SELECT zstack_tfa.session_key(:'bob_session') AS bob_key \gset
SELECT zstack_tfa.query_two_factor_authentication_json(:'bob_key', count => true)->'error'->>'code' AS stored_key_refused;
SELECT zstack_tfa.validate_session(:'bob_key') AS stored_key_invalid;
-- (a key names no session as a uuid: ZStack's SYS.1003 for RenewSession)
SELECT zstack_tfa.renew_session(:'bob_session', :'bob_key')->'error'->>'code' AS stored_key_not_renewable;
-- a renewal answers with the uuid the client sent, not the stored key
SELECT (r->'inventory'->>'uuid') = :'bob_session' AS renew_replies_uuid,
	(r->'inventory'->>'accountUuid') AS account_uuid
	FROM zstack_tfa.renew_session(:'bob_session', :'bob_session', 600) r;
SELECT expired_date BETWEEN clock_timestamp() + interval '590 seconds' AND clock_timestamp() + interval '600 seconds'
	AS renewed_by_key FROM zstack_tfa.session WHERE uuid = :'bob_key';
-- a SystemAdmin renews another's session by its uuid
SELECT (zstack_tfa.renew_session('5e550000000000000000000000000001', :'bob_session')->'inventory'->>'uuid') = :'bob_session'
	AS admin_renews_by_uuid;

-- a stolen uuid: the DBA's one expression ends that session and no other
SELECT count(*) AS sessions_before FROM zstack_tfa.session \gset
DELETE FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(:'bob_session');
SELECT :sessions_before - count(*) AS rows_deleted FROM zstack_tfa.session;
SELECT zstack_tfa.query_two_factor_authentication_json(:'bob_session', count => true)->'error'->>'code' AS stolen_session_ended;
SELECT zstack_tfa.validate_session(:'bob_session') AS stolen_session_invalid;
-- LogOut finds the row by the key too
SELECT zstack_tfa.log_in_by_account('bob', 'bob-password')->'inventory'->>'uuid' AS bob_session \gset
SELECT zstack_tfa.log_out(:'bob_session');
SELECT count(*) AS logged_out FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(:'bob_session');
-- an expired session found by ValidateSession is deleted by its key
UPDATE zstack_tfa.session SET expired_date = clock_timestamp() - interval '1 second'
	WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000004');
SELECT zstack_tfa.validate_session('5e550000000000000000000000000004') AS expired_invalid;
SELECT count(*) AS expired_deleted FROM zstack_tfa.session
	WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000004');

-- zstack_tfa.max_session_renewal: ZStack's range by default, so a ZStack
-- client sees no change; a superuser may lower it
SHOW zstack_tfa.max_session_renewal;
SELECT zstack_tfa.log_in_by_account('bob', 'bob-password')->'inventory'->>'uuid' AS bob_session \gset
SELECT zstack_tfa.renew_session(:'bob_session', :'bob_session', 31536000)->'inventory'->>'uuid' = :'bob_session' AS a_year_by_default;
SELECT zstack_tfa.renew_session(:'bob_session', :'bob_session', 31536001);
SET zstack_tfa.max_session_renewal = '1h';
SHOW zstack_tfa.max_session_renewal;
-- above the ceiling: refused as an out-of-range duration is, naming the setting
SELECT zstack_tfa.renew_session(:'bob_session', :'bob_session', 3601);
SELECT zstack_tfa.renew_session(:'bob_session', :'bob_session', 31536000)->'error'->>'code' AS a_year_refused;
-- a SystemAdmin is held to it as well
SELECT zstack_tfa.renew_session('5e550000000000000000000000000001', :'bob_session', 7200)->'error'->>'code' AS admin_refused;
SELECT zstack_tfa.renew_session(:'bob_session', :'bob_session', 3600)->'inventory'->>'uuid' = :'bob_session' AS at_ceiling;
SELECT expired_date <= clock_timestamp() + interval '1 hour' AS within_ceiling
	FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(:'bob_session');
-- no duration asked: the session timeout (2 hours), held to the ceiling
SELECT zstack_tfa.renew_session(:'bob_session', :'bob_session')->'inventory'->>'uuid' = :'bob_session' AS default_renewed;
SELECT expired_date BETWEEN clock_timestamp() + interval '3590 seconds' AND clock_timestamp() + interval '3600 seconds'
	AS default_held_to_ceiling FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(:'bob_session');
-- the ceiling's own range
SELECT pg_temp.err($$SET zstack_tfa.max_session_renewal = 59$$) ~ '^22023 ' AS below_a_minute_refused;
SELECT pg_temp.err($$SET zstack_tfa.max_session_renewal = 31536001$$) ~ '^22023 ' AS above_a_year_refused;
RESET zstack_tfa.max_session_renewal;

-- privileges: a role that is not a superuser can neither raise the ceiling
-- (nor lower it for its own session) nor compute keys (a DBA's tool)
CREATE ROLE zt_at_rest_nobody;
GRANT USAGE ON SCHEMA zstack_tfa TO zt_at_rest_nobody;
SET ROLE zt_at_rest_nobody;
SELECT pg_temp.err($$SET zstack_tfa.max_session_renewal = 60$$) ~ '^42501 ' AS set_refused;
SELECT pg_temp.err($$SELECT zstack_tfa.session_key('x')$$) ~ '^42501 ' AS session_key_refused;
SELECT pg_temp.err($$SELECT uuid FROM zstack_tfa.session$$) ~ '^42501 ' AS table_refused;
RESET ROLE;
SHOW zstack_tfa.max_session_renewal;
REVOKE ALL ON SCHEMA zstack_tfa FROM zt_at_rest_nobody;
DROP ROLE zt_at_rest_nobody;
