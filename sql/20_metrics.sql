-- Metrics for monitoring (issue 20): zstack_tfa.metrics counts logins by
-- result (ok, wrong password, wrong code, replay, locked, ...), lockouts,
-- users locked now, secrets by status and by encryption key, live sessions,
-- recovery codes left and the wrong-code recorder's state.  What one user's
-- logins change is shown as the difference to the figures before them (the
-- earlier files of the suite logged in too).  A monitoring role reads the
-- view and recorder_state(), and nothing else: no secret, session, account
-- or audit row.
SET timezone = 'UTC';
SET client_min_messages = warning;
SELECT zstack_tfa.set_two_factor_authentication_enabled(true)->>'state' AS state;

-- every metric and label the view always has (the key ids vary)
SELECT metric, label FROM zstack_tfa.metrics WHERE metric <> 'secrets_by_key' ORDER BY 1, 2;
-- no column could carry a secret, a name or a uuid
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'zstack_tfa.metrics'::regclass AND attnum > 0 ORDER BY attnum;

CREATE TEMP TABLE before AS SELECT * FROM zstack_tfa.metrics;
CREATE FUNCTION pg_temp.changed() RETURNS TABLE (metric text, label text, delta bigint)
LANGUAGE sql AS $$
	SELECT m.metric, CASE WHEN m.metric = 'secrets_by_key' AND m.label <> 'plain' THEN '<key>'
		ELSE m.label END, m.value - coalesce(b.value, 0)
	FROM zstack_tfa.metrics m LEFT JOIN before b USING (metric, label)
	WHERE m.metric NOT LIKE 'recorder%' AND m.value <> coalesce(b.value, 0)
	ORDER BY 1, 2
$$;
CREATE FUNCTION pg_temp.login(code text) RETURNS text
LANGUAGE sql AS $$
	SELECT coalesce(r->'error'->>'code', 'session')
	FROM (SELECT zstack_tfa.log_in_by_account('mona', 'mona-password',
		CASE WHEN code IS NULL THEN '{}'::text[] ELSE ARRAY['twofatoken::' || code] END) AS r) x
$$;

-- mona: a new account with a new secret, one right code, the same code
-- again (a replay), a wrong password, no code, then wrong codes until she
-- is locked (the replay counted as the first), then her right code refused
SELECT length(zstack_tfa.create_account('mona', 'mona-password')) AS mona;
SELECT zstack_tfa.get_two_factor_authentication_secret('mona', 'mona-password')->'inventory'->>'secret' AS mona_secret \gset
SELECT zstack_tfa.totp(:'mona_secret') AS right_code,
	zstack_tfa.totp(:'mona_secret', now() - interval '1 day') AS wrong_code \gset
SELECT pg_temp.login(:'right_code') AS ok;
SELECT pg_temp.login(:'right_code') AS replay;
SELECT zstack_tfa.log_in_by_account('mona', 'not-her-password', ARRAY['twofatoken::' || :'right_code'])->'error'->>'code' AS wrong_password;
SELECT pg_temp.login(NULL) AS code_required;
SELECT pg_temp.login(:'wrong_code') AS wrong_1, pg_temp.login(:'wrong_code') AS wrong_2,
	pg_temp.login(:'wrong_code') AS wrong_3;
SELECT pg_temp.login(:'wrong_code') AS wrong_4_locks;
SELECT pg_temp.login(zstack_tfa.totp(:'mona_secret')) AS locked;
-- what the audit wrote for her
SELECT string_agg(e.outcome, ', ' ORDER BY e.id) AS events
FROM zstack_tfa.auth_event e JOIN zstack_tfa.account a ON a.uuid = e.account_uuid
WHERE a.name = 'mona' AND e.kind = 'login';
-- and what the metrics tell
SELECT * FROM pg_temp.changed();

-- the recorder that wrote her five wrong codes is running, has nothing
-- queued, failed no try and owes nothing
SELECT running, accepting, slots > 0 AS has_slots, pending, recorded >= 5 AS recorded_hers,
	failed_tries, owed
FROM zstack_tfa.recorder_state();

-- a DBA lifts the lock: locked_now goes back
UPDATE zstack_tfa.secret SET locked_until = NULL, failed_attempts = 0
WHERE user_uuid = (SELECT uuid FROM zstack_tfa.account WHERE name = 'mona');
SELECT value - (SELECT value FROM before WHERE metric = 'locked_now') AS locked_now_delta
FROM zstack_tfa.metrics WHERE metric = 'locked_now';

-- The monitoring role, granted as README's "grants: monitoring" block: the
-- view and recorder_state(), nothing else
CREATE ROLE zt_monitor;
GRANT USAGE ON SCHEMA zstack_tfa TO zt_monitor;
GRANT SELECT ON zstack_tfa.metrics TO zt_monitor;
GRANT EXECUTE ON FUNCTION zstack_tfa.recorder_state() TO zt_monitor;
SET ROLE zt_monitor;
SELECT count(*) > 0 AS sees_metrics, count(DISTINCT metric) AS metrics FROM zstack_tfa.metrics;
SELECT running FROM zstack_tfa.recorder_state();
\set VERBOSITY terse
SELECT secret FROM zstack_tfa.secret LIMIT 1;
SELECT uuid FROM zstack_tfa.session LIMIT 1;
SELECT name FROM zstack_tfa.account LIMIT 1;
SELECT outcome FROM zstack_tfa.auth_event LIMIT 1;
SELECT hash FROM zstack_tfa.recovery_code LIMIT 1;
SELECT * FROM zstack_tfa.two_factor_report LIMIT 1;
SELECT * FROM zstack_tfa.secret_encryption LIMIT 1;
SELECT zstack_tfa.query_two_factor_authentication_json('5e5500000000000000000000000000c4');
SELECT zstack_tfa.totp('JBSWY3DPEHPK3PXP');
\set VERBOSITY default
RESET ROLE;
-- PUBLIC has neither
SELECT has_table_privilege('public', 'zstack_tfa.metrics', 'SELECT') AS public_select,
	has_function_privilege('public', 'zstack_tfa.recorder_state()', 'EXECUTE') AS public_execute;

-- 1.4: the login counts up to a horizon.  The horizon put back to its start
-- (every audit row counted at scrape time; 14_bad_input moved it), then
-- three logins audited (as DBA-written rows, for the test) are counted
DELETE FROM zstack_tfa.login_total;
DELETE FROM zstack_tfa.login_total_through;
CREATE TEMP TABLE before_old AS SELECT * FROM zstack_tfa.metrics;
INSERT INTO zstack_tfa.auth_event (kind, outcome, error_code) VALUES
	('login', 'success', NULL), ('login', 'wrong_code_locked', 'ID.2002'),
	('login', 'bad_credentials', 'ID.1000');
SELECT m.metric, m.label, m.value - b.value AS delta
FROM zstack_tfa.metrics m JOIN before_old b USING (metric, label)
WHERE m.metric IN ('logins', 'lockouts') AND m.value <> b.value ORDER BY 1, 2;
CREATE TEMP TABLE before_roll AS
	SELECT * FROM zstack_tfa.metrics WHERE metric IN ('logins', 'lockouts');
-- a first move sets the horizon in waiting (the last id), a second takes it
-- once no older transaction runs; the figures stay; a third within the
-- pause (10 s) does nothing
SELECT zstack_tfa.roll_up_logins() AS first_sets_it_in_waiting;
SELECT through_id = 0 AND pending_id = (SELECT max(id) FROM zstack_tfa.auth_event) AS waiting_at_the_last_id
FROM zstack_tfa.login_total_through;
SELECT zstack_tfa.roll_up_logins('0') AS second_moves;
SELECT through_id = (SELECT max(id) FROM zstack_tfa.auth_event) AS through_the_last_id
FROM zstack_tfa.login_total_through;
SELECT sum(n) >= 3 AS rows_in_totals FROM zstack_tfa.login_total;
SELECT count(*) AS figures_changed_by_the_move
FROM (SELECT metric, label, value FROM zstack_tfa.metrics WHERE metric IN ('logins', 'lockouts')
	EXCEPT SELECT metric, label, value FROM before_roll) d;
SELECT zstack_tfa.roll_up_logins() AS third_within_the_pause;
-- the figures are a full count of the audit log
SELECT count(*) AS differences_to_a_full_count
FROM (SELECT label, value FROM zstack_tfa.metrics WHERE metric = 'logins'
	EXCEPT SELECT r.result, count(*) FROM zstack_tfa.login_result r GROUP BY r.result) d;
SELECT (SELECT value FROM zstack_tfa.metrics WHERE metric = 'lockouts')
	= (SELECT count(*) FROM zstack_tfa.login_result WHERE lockout) AS lockouts_a_full_count;
-- audit rows deleted behind the horizon stay counted
DELETE FROM zstack_tfa.auth_event
WHERE id <= (SELECT through_id FROM zstack_tfa.login_total_through) AND kind = 'login';
SELECT count(*) AS figures_changed_by_the_delete
FROM (SELECT metric, label, value FROM zstack_tfa.metrics WHERE metric IN ('logins', 'lockouts')
	EXCEPT SELECT metric, label, value FROM before_roll) d;
-- no move in a read-only or a repeatable-read transaction (a concurrent
-- move would fail the scrape there), nor in one that already has an id
BEGIN TRANSACTION READ ONLY;
SELECT zstack_tfa.roll_up_logins('0') AS moved_read_only;
ROLLBACK;
BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ;
SELECT zstack_tfa.roll_up_logins('0') AS moved_repeatable_read;
ROLLBACK;
BEGIN;
SELECT pg_current_xact_id() IS NOT NULL AS has_an_id;
SELECT zstack_tfa.roll_up_logins('0') AS moved_with_an_id;
ROLLBACK;
-- the monitoring role runs queries.yaml's rollup and logins queries: it
-- moves the horizon and reads the same figures; the totals themselves it
-- cannot read
GRANT EXECUTE ON FUNCTION zstack_tfa.roll_up_logins(interval) TO zt_monitor;
INSERT INTO zstack_tfa.auth_event (kind, outcome) VALUES ('login', 'locked');
UPDATE before_roll SET value = value + 1 WHERE metric = 'logins' AND label = 'locked';
SET ROLE zt_monitor;
SELECT zstack_tfa.roll_up_logins('0')::integer AS moved;
SELECT count(*) AS rows FROM zstack_tfa.metrics WHERE metric = 'logins';
\set VERBOSITY terse
SELECT n FROM zstack_tfa.login_total LIMIT 1;
SELECT result FROM zstack_tfa.login_result LIMIT 1;
\set VERBOSITY default
RESET ROLE;
SELECT count(*) AS figures_changed_by_the_monitor
FROM (SELECT metric, label, value FROM zstack_tfa.metrics WHERE metric IN ('logins', 'lockouts')
	EXCEPT SELECT metric, label, value FROM before_roll) d;
-- PUBLIC may not move it
SELECT has_function_privilege('public', 'zstack_tfa.roll_up_logins(interval)', 'EXECUTE') AS public_roll_up;

DROP OWNED BY zt_monitor;
DROP ROLE zt_monitor;
