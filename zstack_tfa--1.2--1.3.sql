/* zstack_tfa--1.2--1.3.sql: metrics for monitoring (issue 20) */

\echo Use "ALTER EXTENSION zstack_tfa UPDATE TO '1.3'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Replays: a code of a TOTP step already accepted is audited as "replay"
-- (it still counts toward the lockout, as a wrong code does; the code that
-- locks is "wrong_code_locked" either way).  The library writes "replay"
-- only once this update has run (it looks for zstack_tfa.metrics).
-- ---------------------------------------------------------------------------
ALTER TABLE zstack_tfa.auth_event DROP CONSTRAINT auth_event_outcome_check;
ALTER TABLE zstack_tfa.auth_event ADD CONSTRAINT auth_event_outcome_check
	CHECK (outcome IN ('success', 'bad_credentials', 'code_required', 'no_secret',
		'wrong_code', 'wrong_code_locked', 'replay', 'locked', 'denied'));

-- ---------------------------------------------------------------------------
-- The wrong-code recorder of this database, as shared memory has it:
-- whether one runs and takes codes, its slots and queue, the codes it
-- committed and the tries that failed since it started (it ends after a
-- minute without work, and the next starts from zero), and the codes owed
-- to the next recorder by one that ended with them.  No uuid, no code.
-- ---------------------------------------------------------------------------
CREATE FUNCTION zstack_tfa.recorder_state(OUT running boolean, OUT accepting boolean,
	OUT slots integer, OUT slots_in_use integer, OUT pending integer,
	OUT recorded bigint, OUT failed_tries bigint, OUT owed bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'recorder_state'
LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION zstack_tfa.recorder_state() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Metrics for monitoring: one row per metric and label value, counts only
-- (never a secret, a code, a hash, a name or a uuid).  The view reads the
-- tables as its owner, so a monitoring role needs SELECT on it and EXECUTE
-- on recorder_state() only (README, "grants: monitoring").  Every label
-- value is always present, zero when nothing happened, so that an
-- exporter's series do not come and go.  No security barrier: a query's
-- "WHERE metric = ..." prunes the other branches (an exporter reads one
-- metric a query), and what a pushed-down condition could see are the
-- metric names, statuses and key ids the view shows anyway.
--
--   logins{result}       2FA-era login attempts from the audit log, by result:
--                        ok, wrong_password, code_required, no_secret,
--                        wrong_code, replay, locked (refused: account locked),
--                        recovery (logins with a recovery code)
--   lockouts             wrong codes that locked an account's 2FA logins
--   locked_now           accounts and IAM2 users whose 2FA logins are locked now
--   secrets{status}      NewCreated, Logined
--   secrets_by_key{key}  the key file's key id that encrypts them, or "plain"
--   sessions_live        sessions not yet expired
--   recovery_codes_left  unused recovery codes, all users
--   recorder_*           recorder_state(): running (0/1), pending, recorded,
--                        failed_tries, owed
-- ---------------------------------------------------------------------------
CREATE VIEW zstack_tfa.metrics AS
WITH login AS (
	-- kinds compared as text: CREATE EXTENSION runs 1.2's ADD VALUE in the
	-- same transaction, and a new enum value may not be used before commit
	SELECT CASE WHEN e.kind::text = 'recovery_login' THEN 'recovery'
		ELSE CASE e.outcome
			WHEN 'success' THEN 'ok'
			WHEN 'bad_credentials' THEN 'wrong_password'
			WHEN 'wrong_code_locked' THEN 'wrong_code'
			ELSE e.outcome END
		END AS result,
		count(*) AS n,
		count(*) FILTER (WHERE e.outcome = 'wrong_code_locked') AS lockouts
	FROM zstack_tfa.auth_event e
	WHERE e.kind::text IN ('login', 'recovery_login')
		AND (e.kind::text = 'login' OR e.outcome = 'success')
	GROUP BY 1
), sec AS (
	-- the secrets in one pass: by status, key and whether locked now
	SELECT s.status,
		CASE WHEN s.secret LIKE 'zt1:%' THEN split_part(s.secret, ':', 2) ELSE 'plain' END AS key_id,
		count(*) AS n,
		count(*) FILTER (WHERE s.locked_until > now()) AS locked
	FROM zstack_tfa.secret s
	GROUP BY 1, 2
), recorder AS (
	SELECT * FROM zstack_tfa.recorder_state()
)
SELECT 'logins'::text AS metric, r.result AS label, coalesce(l.n, 0)::bigint AS value
FROM (VALUES ('ok'), ('wrong_password'), ('code_required'), ('no_secret'), ('wrong_code'),
	('replay'), ('locked'), ('recovery')) r(result)
LEFT JOIN login l ON l.result = r.result
UNION ALL
SELECT 'lockouts', '', coalesce((SELECT sum(lockouts) FROM login), 0)::bigint
UNION ALL
SELECT 'locked_now', '', coalesce((SELECT sum(locked) FROM sec), 0)::bigint
UNION ALL
SELECT 'secrets', st.status::text, coalesce(sum(sec.n), 0)::bigint
FROM unnest(enum_range(NULL::zstack_tfa.secret_status)) st(status)
LEFT JOIN sec ON sec.status = st.status
GROUP BY st.status
UNION ALL
SELECT 'secrets_by_key', sec.key_id, sum(sec.n)::bigint
FROM sec
GROUP BY sec.key_id
UNION ALL
SELECT 'sessions_live', '', count(*) FROM zstack_tfa.session WHERE expired_date > now()
UNION ALL
SELECT 'recovery_codes_left', '', count(*) FROM zstack_tfa.recovery_code WHERE used_at IS NULL
UNION ALL
SELECT 'recorder_running', '', running::integer::bigint FROM recorder
UNION ALL
SELECT 'recorder_pending', '', pending::bigint FROM recorder
UNION ALL
SELECT 'recorder_recorded', '', recorded FROM recorder
UNION ALL
SELECT 'recorder_failed_tries', '', failed_tries FROM recorder
UNION ALL
SELECT 'recorder_owed', '', owed FROM recorder;
REVOKE ALL ON zstack_tfa.metrics FROM PUBLIC;
