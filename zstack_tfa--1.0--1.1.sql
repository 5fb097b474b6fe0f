/* zstack_tfa--1.0--1.1.sql: security fixes and what real ZStack clients need */

\echo Use "ALTER EXTENSION zstack_tfa UPDATE TO '1.1'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- A deleted IAM2 user takes its sessions and its secret with it.  A session
-- or secret names its user by (user_uuid, user_type); for IAM2 users a
-- generated column holds the uuid, and a foreign key on it (with the
-- account, so a user cannot be claimed for another account) cascades.
-- Rows left behind by users deleted before 1.1 are removed first.
-- ---------------------------------------------------------------------------
DELETE FROM zstack_tfa.session s
	WHERE s.user_type = 'IAM2VirtualIDVO' AND NOT EXISTS (SELECT 1 FROM zstack_tfa.iam2_virtual_id v
		WHERE v.uuid = s.user_uuid AND v.account_uuid = s.account_uuid);
DELETE FROM zstack_tfa.secret s
	WHERE s.user_type = 'IAM2VirtualIDVO' AND NOT EXISTS (SELECT 1 FROM zstack_tfa.iam2_virtual_id v
		WHERE v.uuid = s.user_uuid AND v.account_uuid = s.account_uuid);
ALTER TABLE zstack_tfa.iam2_virtual_id
	ADD CONSTRAINT iam2_virtual_id_uuid_account_uuid_key UNIQUE (uuid, account_uuid);
ALTER TABLE zstack_tfa.session
	ADD COLUMN iam2_uuid zstack_tfa.zuuid
		GENERATED ALWAYS AS (CASE WHEN user_type = 'IAM2VirtualIDVO' THEN user_uuid END) STORED,
	ADD CONSTRAINT session_iam2_user_fkey FOREIGN KEY (iam2_uuid, account_uuid)
		REFERENCES zstack_tfa.iam2_virtual_id (uuid, account_uuid) ON DELETE CASCADE;
ALTER TABLE zstack_tfa.secret
	ADD COLUMN iam2_uuid zstack_tfa.zuuid
		GENERATED ALWAYS AS (CASE WHEN user_type = 'IAM2VirtualIDVO' THEN user_uuid END) STORED,
	ADD CONSTRAINT secret_iam2_user_fkey FOREIGN KEY (iam2_uuid, account_uuid)
		REFERENCES zstack_tfa.iam2_virtual_id (uuid, account_uuid) ON DELETE CASCADE;
-- the cascade finds the rows of a deleted user by these
CREATE INDEX session_iam2_uuid_idx ON zstack_tfa.session (iam2_uuid) WHERE iam2_uuid IS NOT NULL;
CREATE INDEX secret_iam2_uuid_idx ON zstack_tfa.secret (iam2_uuid) WHERE iam2_uuid IS NOT NULL;

-- ---------------------------------------------------------------------------
-- The rest of the session journey (ZStack's ValidateSession, RenewSession),
-- and http_request with a text body, so that a body that is not JSON (or is
-- nested too deep for the json type) reaches the REST layer for its 400.
-- ---------------------------------------------------------------------------
CREATE FUNCTION zstack_tfa.validate_session(session_uuid text)
RETURNS json
AS 'MODULE_PATHNAME', 'validate_session'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

CREATE FUNCTION zstack_tfa.renew_session(
	session_uuid text,
	renew_uuid text,
	duration integer DEFAULT NULL)
RETURNS json
AS 'MODULE_PATHNAME', 'renew_session'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

CREATE FUNCTION zstack_tfa.http_request(
	method text,
	path text,
	query text,
	headers json,
	body text)
RETURNS TABLE (status integer, content_type text, body text, binary_body bytea)
AS 'MODULE_PATHNAME', 'http_request'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp;

REVOKE EXECUTE ON FUNCTION zstack_tfa.validate_session(text),
	zstack_tfa.renew_session(text, text, integer),
	zstack_tfa.http_request(text, text, text, json, text) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Enrolment QR codes (libqrencode): the otpauth URI of a secret as an SVG
-- document, a PNG and Unicode half blocks for a terminal.
-- ---------------------------------------------------------------------------
CREATE FUNCTION zstack_tfa.otpauth_qr_svg(secret text, label text, issuer text DEFAULT 'ZStack')
RETURNS text
AS 'MODULE_PATHNAME', 'otpauth_qr_svg'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION zstack_tfa.otpauth_qr_png(secret text, label text, issuer text DEFAULT 'ZStack',
	scale integer DEFAULT 8)
RETURNS bytea
AS 'MODULE_PATHNAME', 'otpauth_qr_png'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION zstack_tfa.otpauth_qr_text(secret text, label text, issuer text DEFAULT 'ZStack',
	invert boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'otpauth_qr_text'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

REVOKE EXECUTE ON FUNCTION zstack_tfa.otpauth_qr_svg(text, text, text),
	zstack_tfa.otpauth_qr_png(text, text, text, integer),
	zstack_tfa.otpauth_qr_text(text, text, text, boolean) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- TOTP secrets encrypted at rest (AES-256-GCM) under the keys of the file
-- named by zstack_tfa.encryption_key_file.  With a key configured, the
-- trigger encrypts every secret written; secrets written before stay plain
-- until zstack_tfa.encrypt_all_secrets() (or reencrypt_secrets()) runs.
-- ---------------------------------------------------------------------------
CREATE FUNCTION zstack_tfa.secret_text(uuid text, stored text)
RETURNS text
AS 'MODULE_PATHNAME', 'secret_text'
LANGUAGE C STABLE STRICT;

CREATE FUNCTION zstack_tfa.seal_secret()
RETURNS trigger
AS 'MODULE_PATHNAME', 'seal_secret'
LANGUAGE C;

CREATE FUNCTION zstack_tfa.reencrypt_secrets(batch_size integer DEFAULT 1000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'reencrypt_secrets'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION zstack_tfa.encryption_keys(OUT key_id text, OUT current boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'encryption_keys'
LANGUAGE C STABLE;

-- every secret under the current key, a batch per transaction, so that a
-- rotation runs alongside logins and queries (CALL it outside a transaction;
-- no SET clause, which would forbid the COMMIT: every name is qualified)
CREATE PROCEDURE zstack_tfa.encrypt_all_secrets(batch_size integer DEFAULT 1000)
LANGUAGE plpgsql
AS $$
BEGIN
	WHILE zstack_tfa.reencrypt_secrets(batch_size) > 0 LOOP
		COMMIT;
	END LOOP;
END
$$;

-- a stored secret is plain base32 or "zt1:<key id>:<base64>"; the trigger
-- checks a plain secret before it encrypts it
ALTER TABLE zstack_tfa.secret DROP CONSTRAINT secret_secret_check,
	ADD CONSTRAINT secret_secret_check CHECK (secret ~ '^[A-Z2-7]{16,128}$'
		OR secret ~ '^zt1:[A-Za-z0-9._-]{1,32}:[A-Za-z0-9+/]+={0,2}$');
CREATE TRIGGER secret_seal BEFORE INSERT OR UPDATE OF secret, uuid ON zstack_tfa.secret
	FOR EACH ROW EXECUTE FUNCTION zstack_tfa.seal_secret();

-- for DBAs: how many secrets are plain, and how many under which key
CREATE VIEW zstack_tfa.secret_encryption AS
WITH stored AS (
	SELECT CASE WHEN secret LIKE 'zt1:%' THEN split_part(secret, ':', 2) END AS key_id
	FROM zstack_tfa.secret
), keys AS (
	SELECT * FROM zstack_tfa.encryption_keys()
)
SELECT coalesce(k.key_id, s.key_id) AS key_id,
	CASE WHEN k.key_id IS NULL AND s.key_id IS NULL THEN 'plain'
		WHEN k.current THEN 'current key'
		WHEN k.key_id IS NOT NULL THEN 'older key'
		ELSE 'not in the key file' END AS state,
	count(s.*) AS secrets
FROM stored s FULL JOIN keys k ON k.key_id = s.key_id
GROUP BY 1, 2;

REVOKE ALL ON zstack_tfa.secret_encryption FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION zstack_tfa.secret_text(text, text), zstack_tfa.seal_secret(),
	zstack_tfa.reencrypt_secrets(integer), zstack_tfa.encryption_keys() FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE zstack_tfa.encrypt_all_secrets(integer) FROM PUBLIC;
