/* zstack_tfa--1.3--1.4.sql: login counts rolled up, so a scrape reads only the recent audit */

\echo Use "ALTER EXTENSION zstack_tfa UPDATE TO '1.4'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- 1.3's metrics counted the logins from the whole audit log at every
-- scrape: a scrape's time grew with the log.  From 1.4 the counts of audit
-- rows up to a horizon are kept in zstack_tfa.login_total, and a scrape
-- adds only the rows past it.  The same figures as 1.3's, also after a DBA
-- deletes old audit rows (they stay counted).
-- ---------------------------------------------------------------------------

-- each login's audit row as the metrics count it: its id, its result (the
-- labels of logins{result}) and whether it locked the user's 2FA logins
-- (kinds compared as text: CREATE EXTENSION runs 1.2's ADD VALUE in the same
-- transaction, and a new enum value may not be used before commit)
CREATE VIEW zstack_tfa.login_result AS
SELECT e.id,
	CASE WHEN e.kind::text = 'recovery_login' THEN 'recovery'
		ELSE CASE e.outcome
			WHEN 'success' THEN 'ok'
			WHEN 'bad_credentials' THEN 'wrong_password'
			WHEN 'wrong_code_locked' THEN 'wrong_code'
			ELSE e.outcome END
		END AS result,
	e.outcome = 'wrong_code_locked' AS lockout
FROM zstack_tfa.auth_event e
WHERE e.kind::text IN ('login', 'recovery_login')
	AND (e.kind::text = 'login' OR e.outcome = 'success');
REVOKE ALL ON zstack_tfa.login_result FROM PUBLIC;

-- the counts of every login audited with an id up to
-- login_total_through.through_id (no row: 0, every audit row is counted at
-- scrape time), and the next horizon in waiting: pending_id, to be taken
-- once every transaction up to pending_xid has ended
CREATE TABLE zstack_tfa.login_total (
	result text PRIMARY KEY,
	n bigint NOT NULL CHECK (n >= 0),
	lockouts bigint NOT NULL CHECK (lockouts >= 0)
);
CREATE TABLE zstack_tfa.login_total_through (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	through_id bigint NOT NULL CHECK (through_id >= 0),
	pending_id bigint NOT NULL CHECK (pending_id >= through_id),
	pending_xid xid8 NOT NULL,
	moved_at timestamptz NOT NULL
);
REVOKE ALL ON zstack_tfa.login_total, zstack_tfa.login_total_through FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.login_total', '');
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.login_total_through', '');

-- ---------------------------------------------------------------------------
-- Move the horizon, counting the audit rows it passes; true when it moved.
-- An audit row's transaction has an id before the row has its id (the
-- library takes the transaction id first), so when this function reads the
-- last id handed out and then takes a transaction id of its own, every row
-- up to that last id belongs to a transaction with a smaller id.  The last
-- id becomes the horizon in waiting; a later call takes it once no
-- transaction up to that own id is running (the snapshot's xmin is past
-- it: committed or gone, prepared ones included), so no row at or below the
-- horizon can still commit.  No clock and no pg_stat_activity is involved.
-- Nothing moves on a standby, in a read-only or non-read-committed
-- transaction (a concurrent move would fail the scrape there), in a
-- transaction that already has an id, within `pause` (NULL: 10 s) of the
-- last move, or while another call moves it.  The exporter calls it
-- (monitoring/queries.yaml, a query of its own); a DBA may from cron.
-- Without it the view still counts right, from the horizon it has.
-- ---------------------------------------------------------------------------
CREATE FUNCTION zstack_tfa.roll_up_logins(pause interval DEFAULT interval '10 seconds')
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp
AS $$
DECLARE
	h record;
	last_id bigint;
	me xid8;
BEGIN
	IF pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'
		OR current_setting('transaction_isolation') <> 'read committed'
		OR pg_current_xact_id_if_assigned() IS NOT NULL THEN
		RETURN false;
	END IF;
	-- the last id handed out, read before this transaction has an id
	SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO last_id
	FROM zstack_tfa.auth_event_id_seq s;
	-- one mover at a time: the row, skipped when another holds it (locking
	-- it gives this transaction its id)
	SELECT t.* INTO h FROM zstack_tfa.login_total_through t FOR UPDATE SKIP LOCKED;
	IF NOT FOUND THEN
		-- taken by another move (whose update an insert would wait for)
		IF EXISTS (SELECT 1 FROM zstack_tfa.login_total_through) THEN
			RETURN false;
		END IF;
		-- the first move of all
		INSERT INTO zstack_tfa.login_total_through (through_id, pending_id, pending_xid, moved_at)
		VALUES (0, last_id, pg_current_xact_id(), clock_timestamp())
		ON CONFLICT (only_row) DO NOTHING;
		RETURN false;
	END IF;
	me := pg_current_xact_id();
	IF h.moved_at > clock_timestamp() - greatest(coalesce(pause, interval '10 seconds'), interval '0')
		OR pg_snapshot_xmin(pg_current_snapshot()) <= h.pending_xid THEN
		RETURN false;
	END IF;
	INSERT INTO zstack_tfa.login_total AS t (result, n, lockouts)
	SELECT r.result, count(*), count(*) FILTER (WHERE r.lockout)
	FROM zstack_tfa.login_result r
	WHERE r.id > h.through_id AND r.id <= h.pending_id
	GROUP BY r.result
	ON CONFLICT (result) DO UPDATE SET n = t.n + excluded.n, lockouts = t.lockouts + excluded.lockouts;
	UPDATE zstack_tfa.login_total_through
	SET through_id = h.pending_id, pending_id = greatest(last_id, h.pending_id), pending_xid = me,
		moved_at = clock_timestamp();
	RETURN true;
END
$$;
REVOKE EXECUTE ON FUNCTION zstack_tfa.roll_up_logins(interval) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- The metrics view of 1.3, its logins from the totals and the audit rows
-- past their horizon (an index range scan on auth_event's id).  Same
-- columns, same rows, same grants; it writes nothing.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE VIEW zstack_tfa.metrics AS
WITH login AS (
	SELECT x.result, sum(x.n) AS n, sum(x.lockouts) AS lockouts
	FROM (
		SELECT t.result, t.n, t.lockouts FROM zstack_tfa.login_total t
		UNION ALL
		SELECT r.result, count(*), count(*) FILTER (WHERE r.lockout)
		FROM zstack_tfa.login_result r
		WHERE r.id > coalesce((SELECT h.through_id FROM zstack_tfa.login_total_through h), 0)
		GROUP BY r.result
	) x
	GROUP BY x.result
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
