/* zstack_tfa--1.3--1.4.sql: login counts rolled up, so a scrape reads only the recent audit */

\echo Use "ALTER EXTENSION zstack_tfa UPDATE TO '1.4'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- 1.3's metrics counted the logins from the whole audit log at every
-- scrape: a scrape's time grew with the log.  From 1.4 the counts of audit
-- rows before a horizon are kept in zstack_tfa.login_total, and a scrape
-- adds only the rows since.  The same figures as 1.3's, also after a DBA
-- deletes old audit rows (they stay counted).
-- ---------------------------------------------------------------------------

-- each login's audit row as the metrics count it: its time, its result
-- (the labels of logins{result}) and whether it locked the user's 2FA logins
-- (kinds compared as text: CREATE EXTENSION runs 1.2's ADD VALUE in the same
-- transaction, and a new enum value may not be used before commit)
CREATE VIEW zstack_tfa.login_result AS
SELECT e.at,
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

-- the counts of every login audited before login_total_through.through
-- (none: no row, every audit row is counted at scrape time)
CREATE TABLE zstack_tfa.login_total (
	result text PRIMARY KEY,
	n bigint NOT NULL CHECK (n >= 0),
	lockouts bigint NOT NULL CHECK (lockouts >= 0)
);
CREATE TABLE zstack_tfa.login_total_through (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	through timestamptz NOT NULL
);
REVOKE ALL ON zstack_tfa.login_total, zstack_tfa.login_total_through FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.login_total', '');
SELECT pg_catalog.pg_extension_config_dump('zstack_tfa.login_total_through', '');

-- ---------------------------------------------------------------------------
-- Move the horizon forward, counting the audit rows it passes.  A row is
-- passed only once no transaction can still commit it: a row's time is
-- taken when it is written, by a transaction that has an id from then on
-- and started before, so the horizon stays below the start of every
-- transaction of this database that has an id (and a margin below now:
-- the moment between a row's time and its transaction's id).  Nothing
-- moves on a standby, in a read-only or non-read-committed transaction
-- (a concurrent update there would fail the scrape), while prepared
-- transactions are in the database, within 10 s of the last move, or while
-- another call moves it.  True when it moved.  A NULL margin is the
-- default.  The exporter's logins query calls it (queries.yaml); a DBA may
-- from cron.  Without it the view still counts right, from the horizon it
-- has.  Granted below to the roles that may read the metrics.
-- ---------------------------------------------------------------------------
CREATE FUNCTION zstack_tfa.roll_up_logins(margin interval DEFAULT interval '1 minute')
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, zstack_tfa, pg_temp
AS $$
DECLARE
	old_through timestamptz;
	new_through timestamptz;
BEGIN
	IF pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'
		OR current_setting('transaction_isolation') <> 'read committed'
		OR NOT pg_try_advisory_xact_lock('zstack_tfa.login_total_through'::regclass::oid::bigint) THEN
		RETURN false;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE database = current_database()) THEN
		RETURN false;
	END IF;
	SELECT coalesce(max(t.through), '-infinity') INTO old_through FROM zstack_tfa.login_total_through t;
	SELECT least(clock_timestamp(), min(a.xact_start))
		- greatest(coalesce(margin, interval '1 minute'), interval '0')
	INTO new_through
	FROM pg_stat_activity a
	WHERE a.backend_xid IS NOT NULL AND a.datname = current_database();
	IF new_through < old_through + interval '10 seconds' THEN
		RETURN false;
	END IF;
	INSERT INTO zstack_tfa.login_total AS t (result, n, lockouts)
	SELECT r.result, count(*), count(*) FILTER (WHERE r.lockout)
	FROM zstack_tfa.login_result r
	WHERE r.at >= old_through AND r.at < new_through
	GROUP BY r.result
	ON CONFLICT (result) DO UPDATE SET n = t.n + excluded.n, lockouts = t.lockouts + excluded.lockouts;
	INSERT INTO zstack_tfa.login_total_through AS t (only_row, through) VALUES (true, new_through)
	ON CONFLICT (only_row) DO UPDATE SET through = excluded.through;
	RETURN true;
END
$$;
REVOKE EXECUTE ON FUNCTION zstack_tfa.roll_up_logins(interval) FROM PUBLIC;
-- the roles that read the metrics of 1.3 move the horizon of 1.4
DO $$
DECLARE
	r name;
BEGIN
	FOR r IN
		SELECT a.rolname FROM pg_catalog.pg_roles a
		WHERE pg_catalog.has_table_privilege(a.oid, 'zstack_tfa.metrics', 'SELECT')
			AND NOT a.rolsuper AND a.rolname !~ '^pg_'
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION zstack_tfa.roll_up_logins(interval) TO %I', r);
	END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- The metrics view of 1.3, its logins from the totals and the audit rows
-- since their horizon (an index range scan on auth_event.at).  Same
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
		WHERE r.at >= coalesce((SELECT h.through FROM zstack_tfa.login_total_through h), '-infinity')
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
