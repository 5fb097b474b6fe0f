/* zstack_tfa--1.1--1.2.sql: security round 3 (issue 18) */

\echo Use "ALTER EXTENSION zstack_tfa UPDATE TO '1.2'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Wrong codes are recorded by a background worker that runs as a role of
-- its own, with only the rights that recording needs.
-- ---------------------------------------------------------------------------
-- Roles belong to the cluster: the first database to install 1.2 makes it,
-- the others reuse it.  It cannot log in; the worker switches to it.
-- One that exists already is taken only as the 1.2 update of another
-- database leaves it: no login, no password, no attributes, no members and
-- no memberships (on 16 and later, a CREATEROLE role that made it would hold
-- it WITH ADMIN OPTION), no settings of its own.  Anything else could be a
-- role someone made to act as the recorder: refused.
DO $$
DECLARE
	r pg_catalog.oid;
BEGIN
	SELECT oid INTO r FROM pg_catalog.pg_authid WHERE rolname OPERATOR(pg_catalog.=) 'zstack_tfa_recorder';
	IF r IS NULL THEN
		CREATE ROLE zstack_tfa_recorder NOLOGIN NOINHERIT;
	ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_authid WHERE oid OPERATOR(pg_catalog.=) r
			AND (rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication
				OR rolbypassrls OR rolinherit OR rolpassword IS NOT NULL))
		OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members
			WHERE roleid OPERATOR(pg_catalog.=) r OR member OPERATOR(pg_catalog.=) r)
		OR EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting WHERE setrole OPERATOR(pg_catalog.=) r) THEN
		RAISE EXCEPTION 'role "zstack_tfa_recorder" exists and is not as zstack_tfa makes it'
			USING ERRCODE = 'insufficient_privilege',
				DETAIL = 'It can log in, has a password, an attribute, members, memberships or settings of its own: whoever controls it could write the wrong-code counters.',
				HINT = 'Drop the role (or make it NOLOGIN NOINHERIT with no members, memberships or settings), then run the update again.';
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

-- ---------------------------------------------------------------------------
-- Recovery codes (issue 22): single-use codes that log a user in where the
-- six TOTP digits go, for a user whose authenticator is lost.
-- ---------------------------------------------------------------------------
-- Only a keyed one-way hash of each code is kept: HMAC-SHA-256 under a key
-- derived from the key file's key named by key_id (zstack_tfa.encryption_key_file),
-- so the table, a dump, WAL or a base backup lets no one test a guess
-- offline.  Without a key file no codes are generated (src/recovery.c).
-- A batch belongs to the secret: a reset or the 2FA switch deletes it.
CREATE TABLE zstack_tfa.recovery_code (
	secret_uuid zstack_tfa.zuuid NOT NULL
		REFERENCES zstack_tfa.secret (uuid) ON DELETE CASCADE,
	-- the key file's key whose derived key made the hash
	key_id text COLLATE "C" NOT NULL CHECK (key_id ~ '^[A-Za-z0-9._-]{1,32}$'),
	hash bytea NOT NULL CHECK (pg_catalog.length(hash) = 32),
	created_at timestamptz NOT NULL DEFAULT now(),
	used_at timestamptz,
	PRIMARY KEY (secret_uuid, hash)
);
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.recovery_code', '');
REVOKE ALL ON zstack_tfa.recovery_code FROM PUBLIC;

-- the audit's words for them (no code, no hash ever goes there)
ALTER TYPE zstack_tfa.auth_event_kind ADD VALUE IF NOT EXISTS 'recovery_login';
ALTER TYPE zstack_tfa.auth_event_kind ADD VALUE IF NOT EXISTS 'generate_recovery_codes';
ALTER TYPE zstack_tfa.auth_event_kind ADD VALUE IF NOT EXISTS 'revoke_recovery_codes';

-- the caller's session and password: a new batch of codes, shown once
CREATE FUNCTION zstack_tfa.generate_recovery_codes(session_uuid text, password text)
RETURNS json
AS 'MODULE_PATHNAME', 'generate_recovery_codes'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

-- a user's own codes (name NULL), or, for a SystemAdmin, anyone's
CREATE FUNCTION zstack_tfa.revoke_recovery_codes(session_uuid text, name text DEFAULT NULL,
	type text DEFAULT 'account')
RETURNS json
AS 'MODULE_PATHNAME', 'revoke_recovery_codes'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

CREATE FUNCTION zstack_tfa.count_recovery_codes(session_uuid text, name text DEFAULT NULL,
	type text DEFAULT 'account')
RETURNS json
AS 'MODULE_PATHNAME', 'count_recovery_codes'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

REVOKE EXECUTE ON FUNCTION zstack_tfa.generate_recovery_codes(text, text),
	zstack_tfa.revoke_recovery_codes(text, text, text),
	zstack_tfa.count_recovery_codes(text, text, text) FROM PUBLIC;

-- the DBA report gains the counts (never a code or a hash)
CREATE OR REPLACE VIEW zstack_tfa.two_factor_report AS
SELECT a.uuid AS account_uuid, a.name AS account_name, a.type AS account_type,
	u.user_uuid, u.user_name, u.user_type,
	s.status,
	now() - s.create_date AS secret_age,
	s.last_login_date,
	-- a lock that has run out no longer counts: the next attempt starts anew
	CASE WHEN s.locked_until <= now() THEN 0 ELSE s.failed_attempts END AS failed_attempts,
	CASE WHEN s.locked_until > now() THEN s.locked_until END AS locked_until,
	coalesce(s.locked_until > now(), false) AS locked,
	coalesce(r.left_codes, 0) AS recovery_codes_left,
	coalesce(r.used_codes, 0) AS recovery_codes_used,
	r.created_at AS recovery_codes_created,
	r.last_used_at AS recovery_code_last_used
FROM zstack_tfa.account a
CROSS JOIN LATERAL (
	SELECT a.uuid AS user_uuid, a.name AS user_name, 'AccountVO'::zstack_tfa.user_type AS user_type
	UNION ALL
	SELECT v.uuid, v.name, 'IAM2VirtualIDVO' FROM zstack_tfa.iam2_virtual_id v
	WHERE v.account_uuid = a.uuid
) u
LEFT JOIN zstack_tfa.secret s ON s.user_uuid = u.user_uuid
LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE c.used_at IS NULL) AS left_codes,
		count(*) FILTER (WHERE c.used_at IS NOT NULL) AS used_codes,
		max(c.created_at) AS created_at, max(c.used_at) AS last_used_at
	FROM zstack_tfa.recovery_code c WHERE c.secret_uuid = s.uuid
) r ON true;
REVOKE ALL ON zstack_tfa.two_factor_report FROM PUBLIC;
