-- Sessions are extended by each successful call to now +
-- zstack_tfa.session_timeout, except in a read-only transaction (PostgREST
-- GETs, hot standby), where the session is checked but left as it is.
UPDATE zstack_tfa.session SET expired_date = now() + interval '10 seconds'
	WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');

-- read-only: the query works, the expiry does not move
BEGIN READ ONLY;
SELECT json_array_length(zstack_tfa.query_two_factor_authentication_json(
	'5e550000000000000000000000000003')->'inventories') AS rows_read_only;
SELECT count(*) AS srf_rows_read_only
	FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000003');
SELECT expired_date < now() + interval '1 minute' AS not_extended
	FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');
-- errors in a read-only transaction are the same envelopes
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000007');
COMMIT;

SET default_transaction_read_only = on;
SELECT count(*) AS rows_default_read_only
	FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000003');
RESET default_transaction_read_only;
SELECT expired_date < now() + interval '1 minute' AS still_not_extended
	FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');

-- read-write: extended to now + the timeout (7200 s by default)
BEGIN;
SELECT count(*) FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000003');
-- (from the clock at the call, which is after the transaction began)
SELECT expired_date BETWEEN now() + interval '7200 seconds' AND clock_timestamp() + interval '7200 seconds'
	AS extended_to_timeout
	FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');
COMMIT;

-- a session that lags by less than the renew slack (60 s) is not rewritten:
-- reading the API does not cost a write and a commit on every call
UPDATE zstack_tfa.session SET expired_date = now() + interval '7170 seconds'
	WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');
SELECT xmin AS row_version FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003') \gset
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003', count => true);
SELECT xmin = :'row_version' AS not_rewritten FROM zstack_tfa.session
	WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');

-- the timeout is a setting, and only a superuser may change it
SET zstack_tfa.session_timeout = '1h';
UPDATE zstack_tfa.session SET expired_date = now() + interval '10 seconds'
	WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');
BEGIN;
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003', count => true);
SELECT expired_date BETWEEN now() + interval '1 hour' AND clock_timestamp() + interval '1 hour'
	AS extended_by_setting
	FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');
COMMIT;
-- each call sets the expiry, as ZStack's Session.renewSession(uuid, null)
-- does for every authorised call: a session valid for longer (a long
-- RenewSession) is cut back to now + the timeout
UPDATE zstack_tfa.session SET expired_date = '2100-01-01 00:00:00+00'
	WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003', count => true);
SELECT expired_date BETWEEN clock_timestamp() + interval '3540 seconds' AND clock_timestamp() + interval '1 hour'
	AS long_session_cut_back
	FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');
-- ... but not in a read-only transaction, which writes nothing
UPDATE zstack_tfa.session SET expired_date = '2100-01-01 00:00:00+00'
	WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');
BEGIN READ ONLY;
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003', count => true);
COMMIT;
SELECT expired_date = '2100-01-01 00:00:00+00' AS read_only_keeps_it
	FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');
-- the timeout is held to zstack_tfa.max_session_renewal, as RenewSession
-- without a duration is
SET zstack_tfa.max_session_renewal = '10min';
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003', count => true);
SELECT expired_date BETWEEN clock_timestamp() + interval '540 seconds' AND clock_timestamp() + interval '10 min'
	AS held_to_ceiling
	FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003');
RESET zstack_tfa.max_session_renewal;
RESET zstack_tfa.session_timeout;
-- the setting's range; a value outside it is refused (22023: the words of
-- the message are PostgreSQL's, and carry units since 17)
SELECT min_val, max_val, unit FROM pg_settings WHERE name = 'zstack_tfa.session_timeout';
\set VERBOSITY sqlstate
SET zstack_tfa.session_timeout = 0;
\set VERBOSITY default
SET zstack_tfa.no_such_setting = 1;

-- a failed session check extends nothing, and an expired session stays dead:
-- a read-only call leaves it as it is, a read-write one deletes it (ZStack's
-- Session.java logs an expired session out)
INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, expired_date) VALUES
	(zstack_tfa.session_key('5e550000000000000000000000000008'), 'a0000000000000000000000000000002',
	 'a0000000000000000000000000000002', now() - interval '1 second');
BEGIN READ ONLY;
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000008', count => true);
COMMIT;
SELECT expired_date < now() AS expired_stays_expired
	FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000008');
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000008', count => true);
SELECT count(*) AS expired_deleted
	FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000008');
