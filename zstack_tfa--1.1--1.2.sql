/* zstack_tfa--1.1--1.2.sql: security round 3 (issue 18) */

\echo Use "ALTER EXTENSION zstack_tfa UPDATE TO '1.2'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Wrong codes are recorded by a background worker that runs as a role of
-- its own, with only the rights that recording needs.
-- ---------------------------------------------------------------------------
-- Roles belong to the cluster: the first database to install 1.2 makes it,
-- the others reuse it.  It cannot log in; the worker switches to it.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'zstack_tfa_recorder') THEN
		CREATE ROLE zstack_tfa_recorder NOLOGIN NOINHERIT;
	END IF;
END
$$;
GRANT USAGE ON SCHEMA zstack_tfa TO zstack_tfa_recorder;
GRANT SELECT (uuid, failed_attempts, locked_until),
	UPDATE (failed_attempts, locked_until) ON zstack_tfa.secret TO zstack_tfa_recorder;
GRANT INSERT ON zstack_tfa.auth_event TO zstack_tfa_recorder;
GRANT USAGE ON SEQUENCE zstack_tfa.auth_event_id_seq TO zstack_tfa_recorder;

-- ---------------------------------------------------------------------------
-- Sessions at rest: only a one-way hash of each session uuid.
-- ---------------------------------------------------------------------------
-- A session uuid is the bearer credential: the table keeps its key, the
-- first 32 hex digits of its SHA-256, so a dump, WAL or a base backup holds
-- nothing a client could present.  The client still sends and receives the
-- uuid; the C code computes the same key (zt_session_key).  A DBA ends a
-- stolen session with
--   DELETE FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('<uuid>');
-- No SET clause, so that the planner inlines it (every name is qualified).
CREATE FUNCTION zstack_tfa.session_key(session_uuid text)
RETURNS zstack_tfa.zuuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(
	pg_catalog.convert_to(session_uuid, 'UTF8')), 'hex'), 32)::zstack_tfa.zuuid $$;

-- the sessions of 1.1 go on working: their clients' uuids now find the keys
UPDATE zstack_tfa.session SET uuid = zstack_tfa.session_key(uuid);

CREATE OR REPLACE FUNCTION zstack_tfa.log_out(session_uuid text)
RETURNS void
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp
AS $$ DELETE FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key(session_uuid) $$;

REVOKE EXECUTE ON FUNCTION zstack_tfa.session_key(text) FROM PUBLIC;


-- ---------------------------------------------------------------------------
-- Key rotation under a pinned search_path.
-- ---------------------------------------------------------------------------
-- A procedure that COMMITs may not have a SET clause, so its operator is
-- named in full: a planted public.>(bigint, integer) is never looked up.
-- (reencrypt_secrets, in C, pins the path itself.)
CREATE OR REPLACE PROCEDURE zstack_tfa.encrypt_all_secrets(batch_size integer DEFAULT 1000)
LANGUAGE plpgsql
AS $$
BEGIN
	WHILE zstack_tfa.reencrypt_secrets(batch_size) OPERATOR(pg_catalog.>) 0 LOOP
		COMMIT;
	END LOOP;
END
$$;


-- ---------------------------------------------------------------------------
-- ZStack clients, round 3 (issue 19): ResetTwoFactorAuthenticationSecret as
-- ZStack serves it, and who reset whose secret.
-- ---------------------------------------------------------------------------
-- ZStack's form: a SystemAdmin's session resets the secret of the user
-- (type 'account' or 'iam2') whose name and password it sends.  1.1's form,
-- (session_uuid, account_name), stays as it is.
CREATE FUNCTION zstack_tfa.reset_two_factor_authentication_secret(
	session_uuid text,
	name text,
	password text,
	type text DEFAULT 'account')
RETURNS json
AS 'MODULE_PATHNAME', 'reset_two_factor_authentication_secret'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;
REVOKE EXECUTE ON FUNCTION zstack_tfa.reset_two_factor_authentication_secret(text, text, text, text) FROM PUBLIC;

-- The session that acted, where it is not the user the event speaks of (a
-- reset names the reset user in account_uuid/user_uuid, the SystemAdmin's
-- session here).  Uuids only, no foreign keys: events outlive accounts.
-- Events written before 1.2 have none.
ALTER TABLE zstack_tfa.auth_event
	ADD COLUMN actor_account_uuid zstack_tfa.zuuid,
	ADD COLUMN actor_user_uuid zstack_tfa.zuuid;
