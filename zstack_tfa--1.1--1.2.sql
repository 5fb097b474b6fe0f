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
