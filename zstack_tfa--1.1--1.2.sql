/* zstack_tfa--1.1--1.2.sql: security round 3 (issue 18) */

\echo Use "ALTER EXTENSION zstack_tfa UPDATE TO '1.2'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Wrong codes are recorded by a background worker that runs as a role of
-- its own, with only the rights that recording needs.
-- ---------------------------------------------------------------------------

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
