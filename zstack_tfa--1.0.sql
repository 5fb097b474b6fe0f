/* zstack_tfa--1.0.sql: the data model, the query API and the 2FA life cycle */

\echo Use "CREATE EXTENSION zstack_tfa" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Types (SPEC §2).  Labels are ZStack's, case and all.
-- ---------------------------------------------------------------------------
CREATE TYPE zstack_tfa.secret_status AS ENUM ('NewCreated', 'Logined');
CREATE TYPE zstack_tfa.user_type AS ENUM ('AccountVO', 'IAM2VirtualIDVO');
CREATE TYPE zstack_tfa.account_type AS ENUM ('SystemAdmin', 'Normal', 'ThirdParty');

-- One inventory of QueryTwoFactorAuthentication, in the reply's key order.
CREATE TYPE zstack_tfa.secret_inventory AS (
	uuid text,
	secret text,
	user_uuid text,
	user_type zstack_tfa.user_type,
	create_date timestamptz,
	last_op_date timestamptz,
	status zstack_tfa.secret_status
);

-- ZStack uuids: 32 lower-case hex digits, no dashes.  The C collation keeps
-- comparisons byte-wise (as ZStack's MySQL does for them) and index-friendly.
CREATE DOMAIN zstack_tfa.zuuid AS text COLLATE "C"
	CHECK (VALUE ~ '^[0-9a-f]{32}$');

-- ---------------------------------------------------------------------------
-- Tables.  No PUBLIC access; the functions below are the way in.
-- ---------------------------------------------------------------------------
CREATE TABLE zstack_tfa.account (
	uuid zstack_tfa.zuuid PRIMARY KEY,
	name text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 255),
	-- PostgreSQL's own SCRAM-SHA-256 verifier (salted PBKDF2); NULL = no
	-- password login possible
	password_hash text CHECK (password_hash LIKE 'SCRAM-SHA-256$%'),
	type zstack_tfa.account_type NOT NULL DEFAULT 'Normal',
	create_date timestamptz NOT NULL DEFAULT now() CHECK (isfinite(create_date)),
	last_op_date timestamptz NOT NULL DEFAULT now() CHECK (isfinite(last_op_date))
);

-- Users inside an account (ZStack's IAM2 virtual IDs).
CREATE TABLE zstack_tfa.iam2_virtual_id (
	uuid zstack_tfa.zuuid PRIMARY KEY,
	name text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 255),
	password_hash text CHECK (password_hash LIKE 'SCRAM-SHA-256$%'),
	account_uuid zstack_tfa.zuuid NOT NULL
		REFERENCES zstack_tfa.account (uuid) ON DELETE CASCADE,
	create_date timestamptz NOT NULL DEFAULT now() CHECK (isfinite(create_date)),
	last_op_date timestamptz NOT NULL DEFAULT now() CHECK (isfinite(last_op_date))
);
CREATE INDEX iam2_virtual_id_account_uuid_idx
	ON zstack_tfa.iam2_virtual_id (account_uuid);

CREATE TABLE zstack_tfa.session (
	uuid zstack_tfa.zuuid PRIMARY KEY,
	account_uuid zstack_tfa.zuuid NOT NULL
		REFERENCES zstack_tfa.account (uuid) ON DELETE CASCADE,
	user_uuid zstack_tfa.zuuid NOT NULL,
	user_type zstack_tfa.user_type NOT NULL DEFAULT 'AccountVO',
	expired_date timestamptz NOT NULL,
	create_date timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_account_uuid_idx ON zstack_tfa.session (account_uuid);
CREATE INDEX session_expired_date_idx ON zstack_tfa.session (expired_date);

CREATE TABLE zstack_tfa.secret (
	uuid zstack_tfa.zuuid PRIMARY KEY,
	-- RFC 4648 base32, as generate_secret() makes it
	secret text COLLATE "C" NOT NULL CHECK (secret ~ '^[A-Z2-7]{16,128}$'),
	user_uuid zstack_tfa.zuuid NOT NULL,
	user_type zstack_tfa.user_type NOT NULL,
	account_uuid zstack_tfa.zuuid NOT NULL
		REFERENCES zstack_tfa.account (uuid) ON DELETE CASCADE,
	status zstack_tfa.secret_status NOT NULL DEFAULT 'NewCreated',
	create_date timestamptz NOT NULL DEFAULT now() CHECK (isfinite(create_date)),
	last_op_date timestamptz NOT NULL DEFAULT now() CHECK (isfinite(last_op_date)),
	-- replay protection: the newest TOTP time step accepted for this secret
	last_accepted_step bigint,
	-- lockout: wrong codes in a row, and until when 2FA logins are refused
	failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
	locked_until timestamptz,
	last_login_date timestamptz,
	-- one secret per user (SPEC §2)
	CONSTRAINT secret_user_uuid_key UNIQUE (user_uuid),
	-- an account's own secret belongs to that account
	CHECK (user_type <> 'AccountVO' OR user_uuid = account_uuid)
);
-- Every filter a user runs at scale: uuid (primary key), userUuid (unique
-- above), the owner of a normal account's view, and the admin page.
CREATE INDEX secret_account_uuid_idx ON zstack_tfa.secret (account_uuid);
CREATE INDEX secret_status_create_date_idx
	ON zstack_tfa.secret (status, create_date);
CREATE INDEX secret_create_date_idx ON zstack_tfa.secret (create_date);
CREATE INDEX secret_last_op_date_idx ON zstack_tfa.secret (last_op_date);

-- Global settings of the ZStack kind (the 2FA switch); a row exists only once
-- a value was set, so the table is dumped whole and restores cleanly.
CREATE TABLE zstack_tfa.global_config (
	name text PRIMARY KEY,
	value text NOT NULL
);

-- The initial admin account (SPEC §1).  It has no password until a DBA sets
-- one with set_account_password(): a published default password would be a
-- standing hole in every installation.
INSERT INTO zstack_tfa.account (uuid, name, password_hash, type)
VALUES ('36c27e8ff05c4780bf6d2fa65700f22e', 'admin', NULL, 'SystemAdmin');

-- pg_dump keeps the data; the admin row comes from this script, so only the
-- rows created later are dumped (and admin's password is set again after a
-- restore, see README "Backups").
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.account',
	'WHERE uuid <> ''36c27e8ff05c4780bf6d2fa65700f22e''');
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.iam2_virtual_id', '');
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.session', '');
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.secret', '');
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.global_config', '');

-- ---------------------------------------------------------------------------
-- The query API (SPEC §1, §2), in C.
-- ---------------------------------------------------------------------------
CREATE FUNCTION zstack_tfa.query_two_factor_authentication(
	session_uuid text,
	conditions text[] DEFAULT '{}',
	"limit" integer DEFAULT 1000,
	start integer DEFAULT 0,
	sort text DEFAULT NULL)
RETURNS SETOF zstack_tfa.secret_inventory
AS 'MODULE_PATHNAME', 'query_two_factor_authentication'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

CREATE FUNCTION zstack_tfa.query_two_factor_authentication_json(
	session_uuid text,
	conditions text[] DEFAULT '{}',
	"limit" integer DEFAULT 1000,
	start integer DEFAULT 0,
	sort text DEFAULT NULL,
	fields text[] DEFAULT NULL,
	count boolean DEFAULT false,
	reply_with_count boolean DEFAULT false)
RETURNS json
AS 'MODULE_PATHNAME', 'query_two_factor_authentication_json'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

-- ---------------------------------------------------------------------------
-- Accounts and sessions.
-- ---------------------------------------------------------------------------

-- A salted, slow password verifier (SCRAM-SHA-256, 4096 rounds).
CREATE FUNCTION zstack_tfa.hash_password(password text)
RETURNS text
AS 'MODULE_PATHNAME', 'zt_hash_password'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION zstack_tfa.new_uuid()
RETURNS text
AS 'MODULE_PATHNAME', 'zt_new_uuid_sql'
LANGUAGE C VOLATILE;

CREATE FUNCTION zstack_tfa.log_in_by_account(
	account_name text,
	password text,
	system_tags text[] DEFAULT '{}')
RETURNS json
AS 'MODULE_PATHNAME', 'log_in_by_account'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

CREATE FUNCTION zstack_tfa.log_in_by_iam2_virtual_id(
	name text,
	password text,
	system_tags text[] DEFAULT '{}')
RETURNS json
AS 'MODULE_PATHNAME', 'log_in_by_iam2_virtual_id'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

CREATE FUNCTION zstack_tfa.log_out(session_uuid text)
RETURNS void
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp
AS $$ DELETE FROM zstack_tfa.session WHERE uuid = session_uuid $$;

CREATE FUNCTION zstack_tfa.create_account(
	name text,
	password text,
	type zstack_tfa.account_type DEFAULT 'Normal')
RETURNS text
AS 'MODULE_PATHNAME', 'create_account'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

CREATE FUNCTION zstack_tfa.create_iam2_virtual_id(
	account_name text,
	name text,
	password text)
RETURNS text
AS 'MODULE_PATHNAME', 'create_iam2_virtual_id'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

CREATE FUNCTION zstack_tfa.set_account_password(name text, password text)
RETURNS void
AS 'MODULE_PATHNAME', 'set_account_password'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

-- ---------------------------------------------------------------------------
-- Two-factor authentication (SPEC §2 TOTP primitives, §3 life cycle).
-- ---------------------------------------------------------------------------

-- Authentication events for audits and reports.  Only fixed words and uuids
-- are stored: never a secret, a code, a password or a typed name.
CREATE TYPE zstack_tfa.auth_event_kind AS ENUM
	('login', 'get_secret', 'reset_secret', 'enable', 'disable');
CREATE TABLE zstack_tfa.auth_event (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	kind zstack_tfa.auth_event_kind NOT NULL,
	outcome text NOT NULL CHECK (outcome IN ('success', 'bad_credentials',
		'code_required', 'no_secret', 'wrong_code', 'wrong_code_locked', 'locked', 'denied')),
	error_code text CHECK (error_code ~ '^(ID|SYS)\.[0-9]{4}$'),
	-- no foreign keys: events outlive the accounts they speak of
	account_uuid zstack_tfa.zuuid,
	user_uuid zstack_tfa.zuuid,
	user_type zstack_tfa.user_type,
	-- for 2FA logins: which secret (its uuid, never its value), and for a
	-- success the RFC 6238 time step it accepted
	secret_uuid zstack_tfa.zuuid,
	totp_step bigint CHECK (totp_step >= 0),
	CHECK (totp_step IS NULL OR (outcome = 'success' AND secret_uuid IS NOT NULL))
);
CREATE INDEX auth_event_at_idx ON zstack_tfa.auth_event (at);
-- defence in depth for replay protection: should the check ever let a step
-- through twice, this insert fails and the login rolls back with it
CREATE UNIQUE INDEX auth_event_accepted_step_key
	ON zstack_tfa.auth_event (secret_uuid, totp_step) WHERE totp_step IS NOT NULL;
CREATE INDEX auth_event_account_uuid_idx ON zstack_tfa.auth_event (account_uuid, at);
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.auth_event', '');
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.auth_event_id_seq', '');

CREATE FUNCTION zstack_tfa.generate_secret(length integer DEFAULT 16)
RETURNS text
AS 'MODULE_PATHNAME', 'generate_secret'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

CREATE FUNCTION zstack_tfa.totp(secret text, at timestamptz DEFAULT now())
RETURNS text
AS 'MODULE_PATHNAME', 'totp'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION zstack_tfa.totp_verify(secret text, code text,
	at timestamptz DEFAULT now(), "window" integer DEFAULT 1)
RETURNS boolean
AS 'MODULE_PATHNAME', 'totp_verify'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION zstack_tfa.otpauth_uri(secret text, label text, issuer text DEFAULT 'ZStack')
RETURNS text
AS 'MODULE_PATHNAME', 'otpauth_uri'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION zstack_tfa.get_two_factor_authentication_state()
RETURNS json
AS 'MODULE_PATHNAME', 'get_two_factor_authentication_state'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

CREATE FUNCTION zstack_tfa.set_two_factor_authentication_enabled(enabled boolean)
RETURNS json
AS 'MODULE_PATHNAME', 'set_two_factor_authentication_enabled'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

CREATE FUNCTION zstack_tfa.get_two_factor_authentication_secret(
	name text,
	password text,
	type text DEFAULT 'account')
RETURNS json
AS 'MODULE_PATHNAME', 'get_two_factor_authentication_secret'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

CREATE FUNCTION zstack_tfa.reset_two_factor_authentication_secret(
	session_uuid text,
	account_name text)
RETURNS json
AS 'MODULE_PATHNAME', 'reset_two_factor_authentication_secret'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

-- ---------------------------------------------------------------------------
-- The REST layer (SPEC §1.2, §2): full URL path, raw query string, headers.
-- ---------------------------------------------------------------------------
CREATE FUNCTION zstack_tfa.http_request(
	method text,
	path text,
	query text,
	headers json,
	body json DEFAULT NULL)
RETURNS TABLE (status integer, content_type text, body text)
AS 'MODULE_PATHNAME', 'http_request'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

-- ---------------------------------------------------------------------------
-- Reports for DBAs: never the secret column.
-- ---------------------------------------------------------------------------

-- One row per user (every account and every IAM2 user) with its 2FA state.
CREATE VIEW zstack_tfa.two_factor_report AS
SELECT a.uuid AS account_uuid, a.name AS account_name, a.type AS account_type,
	u.user_uuid, u.user_name, u.user_type,
	s.status,
	now() - s.create_date AS secret_age,
	s.last_login_date,
	-- a lock that has run out no longer counts: the next attempt starts anew
	CASE WHEN s.locked_until <= now() THEN 0 ELSE s.failed_attempts END AS failed_attempts,
	CASE WHEN s.locked_until > now() THEN s.locked_until END AS locked_until,
	coalesce(s.locked_until > now(), false) AS locked
FROM zstack_tfa.account a
CROSS JOIN LATERAL (
	SELECT a.uuid AS user_uuid, a.name AS user_name, 'AccountVO'::zstack_tfa.user_type AS user_type
	UNION ALL
	SELECT v.uuid, v.name, 'IAM2VirtualIDVO' FROM zstack_tfa.iam2_virtual_id v
	WHERE v.account_uuid = a.uuid
) u
LEFT JOIN zstack_tfa.secret s ON s.user_uuid = u.user_uuid;

-- Secrets by status and user type.
CREATE VIEW zstack_tfa.secret_status_counts AS
SELECT status, user_type, count(*) AS secrets
FROM zstack_tfa.secret
GROUP BY status, user_type;

-- ---------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC.  Grant per role as README "Security" shows.
-- This section stays last, so that it covers every object above.
-- ---------------------------------------------------------------------------
REVOKE ALL ON ALL TABLES IN SCHEMA zstack_tfa FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA zstack_tfa FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA zstack_tfa FROM PUBLIC;
