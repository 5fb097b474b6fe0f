/*
 * twofactor.c
 *		The 2FA switch and the secret: GetTwoFactorAuthenticationState, the
 *		switch, GetTwoFactorAuthenticationSecret, ResetTwoFactorAuthenticationSecret,
 *		and the second factor of a login.
 */
#include "lifecycle.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "crypto.h"
#include "totp.h"

PG_FUNCTION_INFO_V1(get_two_factor_authentication_state);
PG_FUNCTION_INFO_V1(set_two_factor_authentication_enabled);
PG_FUNCTION_INFO_V1(get_two_factor_authentication_secret);
PG_FUNCTION_INFO_V1(reset_two_factor_authentication_secret);

#define TFA_CONFIG_NAME "TwoFactorAuthentication.enable"
#define TOTP_WINDOW 1			/* steps t-1, t, t+1 (SPEC §3) */

/* Is the global 2FA switch on?  Absent means off, as in ZStack. */
bool
zt_two_factor_enabled(void)
{
	static SPIPlanPtr plan = NULL;
	bool		isnull;
	bool		enabled = false;

	if (SPI_execute_plan(zt_keep_plan(&plan,
									  "SELECT value = 'true' FROM zstack_tfa.global_config"
									  " WHERE name = '" TFA_CONFIG_NAME "'",
									  0, NULL),
						 NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "global_config lookup failed");
	if (SPI_processed == 1)
		enabled = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return enabled;
}

/* Give the principal a NewCreated secret unless it has one already. */
void
zt_ensure_secret(const Principal *p)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		uuid[33];
	char		secret[ZT_SECRET_MIN + 1];

	zt_new_uuid(uuid);
	zt_generate_secret(secret, ZT_SECRET_MIN);
	values[0] = CStringGetTextDatum(uuid);
	values[1] = CStringGetTextDatum(secret);
	values[2] = CStringGetTextDatum(p->uuid);
	values[3] = CStringGetTextDatum(p->iam2 ? "IAM2VirtualIDVO" : "AccountVO");
	values[4] = CStringGetTextDatum(p->account_uuid);
	explicit_bzero(secret, sizeof(secret));
	if (SPI_execute_plan(zt_keep_plan(&plan,
									  "INSERT INTO zstack_tfa.secret"
									  " (uuid, secret, user_uuid, user_type, account_uuid)"
									  " VALUES ($1, $2, $3, $4::zstack_tfa.user_type, $5)"
									  " ON CONFLICT (user_uuid) DO NOTHING",
									  5, types),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "secret insert failed");
}

/* Write {"inventory":{...}} for the principal's secret. */
static void
WriteSecretReply(const Principal *p, StringInfo out)
{
	const char *sql = psprintf("SELECT %s, s.status = 'Logined' FROM zstack_tfa.secret s"
							   " WHERE s.user_uuid = $1", zt_inventory_columns());
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(p->uuid);
	bool		isnull;
	bool		logined;

	if (SPI_execute_with_args(sql, 1, &type, &value, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "secret lookup failed");
	logined = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 ZT_FIELD_COUNT + 1, &isnull));
	appendStringInfoString(out, "{\"inventory\":");
	zt_json_secret_inventory(out, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, logined);
	appendStringInfoChar(out, '}');
}

/*
 * Find the first "twofatoken::<code>" system tag; returns false when there
 * is none, else points *code at the code.
 */
static bool
FindTokenTag(ArrayType *tags, const char **code, size_t *code_len)
{
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;

	if (tags == NULL)
		return false;
	deconstruct_array(tags, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n);
	for (int i = 0; i < n; i++)
	{
		text	   *t;

		if (elem_nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		if (zt_parse_token_tag(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), code, code_len))
			return true;
	}
	return false;
}

/*
 * Take a lock, for the rest of the transaction, that serializes the second
 * factors of one user: of many logins presenting codes at once, each sees
 * what the one before it recorded (a lockout, a used step).  An advisory
 * lock rather than the secret's row lock, since a wrong code is recorded by
 * a worker that must be able to update that row while we wait for it.
 */
static void
LockSecondFactor(const char *user_uuid)
{
	LOCKTAG		tag;
	uint32		hash = DatumGetUInt32(hash_any((const unsigned char *) user_uuid,
											   (int) strlen(user_uuid)));

	/* field4 3: a space of its own, apart from pg_advisory_lock's 1 and 2 */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, hash, 0x7a74, 3);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* Is the tuple's xmin or (plain) xmax a transaction of ours? */
static bool
RowIsOurs(HeapTuple tup, TupleDesc desc, int xmin_col, int xmax_col)
{
	bool		isnull;
	TransactionId xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, xmin_col, &isnull));
	TransactionId xmax = DatumGetTransactionId(SPI_getbinval(tup, desc, xmax_col, &isnull));

	return TransactionIdIsCurrentTransactionId(xmin) ||
		(TransactionIdIsValid(xmax) && TransactionIdIsCurrentTransactionId(xmax));
}

/*
 * The second factor of a login with 2FA enabled.  The state it decides on
 * (a lockout, the last accepted step) is read with the newest snapshot, so
 * an old transaction cannot see an account as unlocked.  A wrong code is
 * counted in a transaction of its own (by the recorder, failures.c), so it counts
 * even if the caller rolls back.  A right code locks the secret's row and
 * checks again: a time step is accepted at most once, and only steps later
 * than the last accepted one count.  Wrong codes in a row lock 2FA logins
 * for a while.  A recovery code is checked in the same frame, instead of
 * the TOTP code (recovery.c).
 */
bool
zt_check_second_factor(const Principal *p, const char *name, ArrayType *system_tags,
					   ZtFailure *f)
{
	static SPIPlanPtr read_plan = NULL;
	static SPIPlanPtr lock_plan = NULL;
	static SPIPlanPtr success_plan = NULL;
	const char *code;
	size_t		code_len;
	bool		has_tag = FindTokenTag(system_tags, &code, &code_len);
	Oid			types[3] = {TEXTOID, INT8OID, TIMESTAMPTZOID};
	Datum		values[3];
	TimestampTz now_ts = GetCurrentTimestamp();
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	bool		locked_null;
	char	   *secret;
	int64		last_step;
	int32		failures;
	TimestampTz locked_until;
	ZtTotpKey	key;
	int64		matched = -1;
	const char *secret_uuid;
	bool		row_is_ours;
	bool		ok;
	bool		locked;
	bool		is_recovery = false;
	bool		used = false;
	bool		replay_known;
	ZtRecoveryCheck recovery;

	if (!has_tag)
	{
		StringInfoData details;

		/* ZStack's answer names the method and the user to ask again for */
		initStringInfo(&details);
		appendStringInfoString(&details, "{\"authentications\":[\"googleAuth\"],\"credentials\":");
		zt_json_cstring(&details, name);
		appendStringInfoChar(&details, '}');
		zt_fail(f, ZT_ERR_ID_2001, "%s", details.data);
		zt_audit("login", "code_required", "ID.2001", p);
		return false;
	}

	LockSecondFactor(p->uuid);
	/* a wrong code of this user still on its way counts before the next */
	if (!zt_await_user_recorded(p->uuid, f))
		return false;
	values[0] = CStringGetTextDatum(p->uuid);
	if (SPI_execute_snapshot(zt_keep_plan(&read_plan,
										  "SELECT secret, coalesce(last_accepted_step, -1), failed_attempts,"
										  " locked_until, uuid, xmin, xmax"
										  " FROM zstack_tfa.secret WHERE user_uuid = $1",
										  1, types),
							 values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "secret lookup failed");
	if (SPI_processed == 0)
	{
		zt_fail(f, ZT_ERR_ID_2000,
				"this user has no two-factor authentication secret yet; get one with GetTwoFactorAuthenticationSecret");
		zt_audit("login", "no_secret", "ID.2000", p);
		return false;
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	secret = SPI_getvalue(tup, desc, 1);
	last_step = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	failures = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	locked_until = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &locked_null));
	secret_uuid = SPI_getvalue(tup, desc, 5);
	row_is_ours = RowIsOurs(tup, desc, 6, 7);

	if (!locked_null && locked_until > now_ts)
	{
		long		secs;
		int			usecs;

		TimestampDifference(now_ts, locked_until, &secs, &usecs);
		explicit_bzero(secret, strlen(secret));
		zt_fail(f, ZT_ERR_ID_2002,
				"two-factor logins of this account are locked after %d wrong codes in a row; try again in %ld seconds",
				failures, secs + (usecs > 0 ? 1 : 0));
		zt_audit_secret("login", "locked", "ID.2002", p, secret_uuid, -1);
		return false;
	}

	/*
	 * The recorder writes in a transaction of its own, so it would wait for
	 * ours if ours had changed this secret's row; and what ours counted
	 * itself could be rolled back.  Such a transaction gets no comparison.
	 */
	if (row_is_ours)
	{
		explicit_bzero(secret, strlen(secret));
		zt_fail(f, ZT_ERR_ID_2002,
				"this transaction has changed the user's two-factor authentication secret; commit it before the next code is checked");
		return false;
	}

	{
		char		plain[ZT_MAX_SECRET_TEXT + 1];
		size_t		len = zt_open_secret(secret_uuid, strlen(secret_uuid), secret,
										 strlen(secret), plain);

		explicit_bzero(secret, strlen(secret));
		zt_totp_decode(plain, len, &key);
		explicit_bzero(plain, sizeof(plain));
	}
	/*
	 * 1.3's audit names a replay apart from a wrong code (the metrics count
	 * them); a database not yet updated has no such outcome, and gets
	 * "wrong_code" as before.  Looked up before interrupts are held.
	 */
	replay_known = OidIsValid(get_relname_relid("metrics", zt_schema_oid()));
	/* a code is compared only once a wrong one is sure to be recorded */
	if (!zt_reserve_recorder(f))
	{
		zt_totp_free_key(&key);
		return false;
	}
	/* a recovery code (recovery.c) goes where the six digits go */
	if (zt_recovery_code_form(code, code_len))
	{
		zt_totp_free_key(&key);
		is_recovery = zt_recovery_prepare(secret_uuid, code, code_len, &recovery);
	}
	HOLD_INTERRUPTS();

	/*
	 * Counted by t/016 and t/018, which play the attacker.  To the server
	 * log only: a message to the client, sent with interrupts held, would
	 * keep this backend (its slot, the user's lock) for as long as the client
	 * does not read.
	 */
	if (log_min_messages <= DEBUG1)
		ereport(LOG_SERVER_ONLY, (errmsg_internal("zstack_tfa: comparing a second-factor code")));
	ok = is_recovery ? zt_recovery_match(&recovery)
		: zt_totp_match(&key, code, code_len, zt_totp_step(now_ts), TOTP_WINDOW,
						last_step, &matched, &used);
	zt_totp_free_key(&key);
	if (!ok)
	{
		ZtRecordResult recorded;

		zt_hand_over_wrong_code(p, secret_uuid, used && replay_known);
		/* from here a cancel waits for the count (zt_await_wrong_code) */
		HOLD_CANCEL_INTERRUPTS();
		RESUME_INTERRUPTS();
		recorded = zt_await_wrong_code(&failures, &locked);
		RESUME_CANCEL_INTERRUPTS();
		if (recorded == ZT_RECORDED && locked)
			zt_fail(f, ZT_ERR_ID_2002,
					"wrong or already used two-factor authentication code; after %d wrong codes in a row two-factor logins of this account are locked for %d seconds",
					failures, zt_lockout_seconds);
		else
			zt_fail(f, ZT_ERR_ID_2002, "wrong or already used two-factor authentication code");
		return false;
	}
	zt_release_recorder();
	RESUME_INTERRUPTS();
	if (is_recovery)
		return zt_recovery_log_in(p, secret_uuid, &recovery, now_ts, f);

	/*
	 * Lock the row and look again: a login that got here first wins.  By the
	 * secret compared, not the user's: a reset that came between us and the
	 * row made another secret, which this code proves nothing about.
	 */
	values[0] = CStringGetTextDatum(secret_uuid);
	if (SPI_execute_plan(zt_keep_plan(&lock_plan,
									  "SELECT 1 FROM zstack_tfa.secret WHERE uuid OPERATOR(pg_catalog.=) $1"
									  " AND coalesce(last_accepted_step, -1) OPERATOR(pg_catalog.<) $2"
									  " AND (locked_until IS NULL OR locked_until OPERATOR(pg_catalog.<=) $3) FOR UPDATE",
									  3, types),
						 (Datum[]) {values[0], Int64GetDatum(matched), TimestampTzGetDatum(now_ts)},
						 NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "secret lookup failed");
	if (SPI_processed != 1)
	{
		/* a concurrent login took this step first (or a lock came between) */
		zt_fail(f, ZT_ERR_ID_2002, "wrong or already used two-factor authentication code");
		if (replay_known)
			zt_audit_secret("login", "replay", "ID.2002", p, secret_uuid, -1);
		return false;
	}
	values[1] = Int64GetDatum(matched);
	values[2] = TimestampTzGetDatum(now_ts);
	if (SPI_execute_plan(zt_keep_plan(&success_plan,
									  "UPDATE zstack_tfa.secret SET last_accepted_step = $2,"
									  " failed_attempts = 0, locked_until = NULL, last_login_date = $3,"
									  " last_op_date = CASE WHEN status = 'Logined' THEN last_op_date ELSE $3 END,"
									  " status = 'Logined' WHERE uuid OPERATOR(pg_catalog.=) $1",
									  3, types),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "secret update failed");
	zt_commit_durably();
	zt_audit_secret("login", "success", NULL, p, secret_uuid, matched);
	return true;
}

/* Write {"state":"Enable"|"Disable"}. */
static void
WriteState(StringInfo out, bool enabled)
{
	appendStringInfo(out, "{\"state\":\"%s\"}", enabled ? "Enable" : "Disable");
}

/* get_two_factor_authentication_state(): the global switch. */
Datum
get_two_factor_authentication_state(PG_FUNCTION_ARGS)
{
	int			spi_level;
	StringInfoData out;

	zt_json_begin(&out, 512);
	spi_level = zt_spi_connect();
	WriteState(&out, zt_two_factor_enabled());
	zt_spi_finish(spi_level);
	PG_RETURN_DATUM(zt_json_result(&out));
}

/*
 * set_two_factor_authentication_enabled(enabled): flip the switch.  A change
 * deletes every secret and, when enabling, gives every account a new one;
 * setting the current value changes nothing.
 */
Datum
set_two_factor_authentication_enabled(PG_FUNCTION_ARGS)
{
	int			spi_level;
	bool		enable;
	StringInfoData out;

	zt_require_arg(fcinfo, 0, "enabled");
	enable = PG_GETARG_BOOL(0);
	zt_json_begin(&out, 512);
	spi_level = zt_spi_connect();
	/* one switch at a time: concurrent flips would interleave their secrets */
	if (SPI_execute("LOCK TABLE zstack_tfa.global_config IN SHARE ROW EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not lock global_config");
	if (zt_two_factor_enabled() != enable)
	{
		Oid			type = TEXTOID;
		Datum		value = CStringGetTextDatum(enable ? "true" : "false");

		if (SPI_execute_with_args("INSERT INTO zstack_tfa.global_config (name, value)"
								  " VALUES ('" TFA_CONFIG_NAME "', $1)"
								  " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
								  1, &type, &value, NULL, false, 0) != SPI_OK_INSERT ||
			SPI_execute("DELETE FROM zstack_tfa.secret", false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not change the two-factor authentication state");
		if (enable &&
			SPI_execute("INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid)"
						" SELECT zstack_tfa.new_uuid(), zstack_tfa.generate_secret(16), a.uuid, 'AccountVO', a.uuid"
						" FROM zstack_tfa.account a", false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not create secrets");
		zt_audit(enable ? "enable" : "disable", "success", NULL, NULL);
	}
	WriteState(&out, enable);
	zt_spi_finish(spi_level);
	PG_RETURN_DATUM(zt_json_result(&out));
}

/*
 * get_two_factor_authentication_secret(name, password, type): the caller's
 * own secret, created if missing; "secret" is "" once it is Logined.
 */
static Datum
GetTwoFactorAuthenticationSecret(PG_FUNCTION_ARGS)
{
	int			spi_level;
	const char *name = zt_text_arg(fcinfo, 0, "name");
	const char *password = zt_text_arg(fcinfo, 1, "password");
	const char *type = zt_text_arg(fcinfo, 2, "type");
	StringInfoData out;
	Principal	p;
	ZtFailure	f;
	bool		ok = false;
	bool		iam2 = (strcmp(type, "iam2") == 0);

	zt_json_begin(&out, 512);
	spi_level = zt_spi_connect();
	if (!iam2 && strcmp(type, "account") != 0)
		zt_fail(&f, ZT_ERR_SYS_1007, ZT_BAD_VALUE_FORMAT, "type", "[account, iam2]",
				zt_clip(type, strlen(type), 64));
	else if (zt_read_only())
		zt_fail(&f, ZT_ERR_SYS_1006, ZT_READ_ONLY_DETAILS);
	else if (!zt_two_factor_enabled())
		zt_fail(&f, ZT_ERR_SYS_1006, "two factor authenticator is not enabled");
	else if (zt_check_credentials(name, password, iam2, "get_secret", &p, &f))
	{
		zt_ensure_secret(&p);
		WriteSecretReply(&p, &out);
		zt_audit("get_secret", "success", NULL, &p);
		ok = true;
	}
	if (!ok)
		zt_error_envelope(&out, &f);
	zt_spi_finish(spi_level);
	PG_RETURN_DATUM(zt_json_result(&out));
}

/* SQL entry point of GetTwoFactorAuthenticationSecret, its caller's statement kept out of the log. */
Datum
get_two_factor_authentication_secret(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, GetTwoFactorAuthenticationSecret);
}

/* The caller's session as the principal it is (for the audit log). */
static void
CallerPrincipal(const ZtCaller *caller, Principal *p)
{
	memset(p, 0, sizeof(*p));
	p->found = true;
	p->iam2 = caller->is_iam2;
	strlcpy(p->uuid, caller->user_uuid, sizeof(p->uuid));
	strlcpy(p->account_uuid, caller->account_uuid, sizeof(p->account_uuid));
}

/*
 * The checks every reset makes of its caller, in ZStack's order after the
 * session: a reset writes (SYS.1006 in a read-only transaction), is for
 * SystemAdmin accounts only (ID.1002, audited: who tried) and needs 2FA
 * enabled (SYS.1006).
 */
static bool
ResetAllowed(ZtCaller *caller, ZtFailure *f)
{
	Principal	self;

	if (zt_read_only())
		return zt_fail(f, ZT_ERR_SYS_1006, ZT_READ_ONLY_DETAILS);
	if (!zt_caller_is_admin(caller))
	{
		CallerPrincipal(caller, &self);
		zt_fail(f, ZT_ERR_ID_1002, "only a SystemAdmin account may reset two-factor authentication secrets");
		zt_audit_by("reset_secret", "denied", "ID.1002", &self, NULL, caller);
		return false;
	}
	if (!zt_two_factor_enabled())
		return zt_fail(f, ZT_ERR_SYS_1006, "two factor authenticator is not enabled");
	return true;
}

/*
 * Replace p's secret(s) by a new NewCreated one and write the reply with
 * its plaintext, so that the user can enrol again.  The old row goes with
 * its replay and lockout state (the audit log keeps its events); the event
 * names both the user and the session that reset it.
 */
static void
ResetSecret(const Principal *p, const ZtCaller *caller, StringInfo out)
{
	static SPIPlanPtr delete_plan = NULL;
	static SPIPlanPtr uuid_plan = NULL;
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(p->uuid);

	/* a login that has compared a code against the old secret finishes first */
	LockSecondFactor(p->uuid);
	if (SPI_execute_plan(zt_keep_plan(&delete_plan,
									  "DELETE FROM zstack_tfa.secret WHERE user_uuid OPERATOR(pg_catalog.=) $1",
									  1, &type),
						 &value, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "secret delete failed");
	zt_ensure_secret(p);
	WriteSecretReply(p, out);
	if (SPI_execute_plan(zt_keep_plan(&uuid_plan,
									  "SELECT uuid FROM zstack_tfa.secret WHERE user_uuid OPERATOR(pg_catalog.=) $1",
									  1, &type),
						 &value, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "secret lookup failed");
	zt_audit_by("reset_secret", "success", NULL, p,
				SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), caller);
}

/*
 * reset_two_factor_authentication_secret(session_uuid, account_name), the
 * form of 1.1: a SystemAdmin replaces an account's secret with a new
 * NewCreated one.
 */
static Datum
ResetTwoFactorAuthenticationSecretByName(PG_FUNCTION_ARGS)
{
	int			spi_level;
	const char *session = zt_text_arg(fcinfo, 0, "session_uuid");
	const char *name = zt_text_arg(fcinfo, 1, "account_name");
	StringInfoData out;
	ZtCaller	caller;
	Principal	p;
	ZtFailure	f;
	bool		ok = false;

	zt_json_begin(&out, 512);
	spi_level = zt_spi_connect();
	if (zt_authenticate(session, strlen(session), &caller, &f) && ResetAllowed(&caller, &f))
	{
		zt_load_principal(name, false, &p);
		if (!p.found)
			zt_fail(&f, ZT_ERR_SYS_1007, "no account named \"%s\"", zt_clip(name, strlen(name), 64));
		else
		{
			ResetSecret(&p, &caller, &out);
			ok = true;
		}
	}
	if (!ok)
		zt_error_envelope(&out, &f);
	zt_spi_finish(spi_level);
	PG_RETURN_DATUM(zt_json_result(&out));
}

/*
 * reset_two_factor_authentication_secret(session_uuid, name, password, type),
 * ZStack's ResetTwoFactorAuthenticationSecret: a SystemAdmin's session
 * resets the secret of the user (type account or iam2) whose name and
 * password it sends.  The type is checked first (ZStack's validator runs
 * before the session check), then the session, the caller, the credentials
 * (ID.1000, one answer for every mismatch).
 */
static Datum
ResetTwoFactorAuthenticationSecret(PG_FUNCTION_ARGS)
{
	int			spi_level;
	const char *session = zt_text_arg(fcinfo, 0, "session_uuid");
	const char *name = zt_text_arg(fcinfo, 1, "name");
	const char *password = zt_text_arg(fcinfo, 2, "password");
	/* NULL for the optional type means its default, as for the secret fetch */
	const char *type = PG_ARGISNULL(3) ? "account" : zt_text_arg(fcinfo, 3, "type");
	bool		iam2 = (strcmp(type, "iam2") == 0);
	StringInfoData out;
	ZtCaller	caller;
	Principal	p;
	ZtFailure	f;
	bool		ok = false;

	zt_json_begin(&out, 512);
	spi_level = zt_spi_connect();
	if (!iam2 && strcmp(type, "account") != 0)
		zt_fail(&f, ZT_ERR_SYS_1007, ZT_BAD_VALUE_FORMAT, "type", "[account, iam2]",
				zt_clip(type, strlen(type), 64));
	else if (zt_authenticate(session, strlen(session), &caller, &f) &&
			 ResetAllowed(&caller, &f) &&
			 zt_check_credentials_for(name, password, iam2, "reset_secret", &caller, &p, &f))
	{
		ResetSecret(&p, &caller, &out);
		ok = true;
	}
	if (!ok)
		zt_error_envelope(&out, &f);
	zt_spi_finish(spi_level);
	PG_RETURN_DATUM(zt_json_result(&out));
}

/*
 * SQL entry point of both forms of ResetTwoFactorAuthenticationSecret (told
 * apart by their argument count), the caller's statement kept out of the log.
 */
Datum
reset_two_factor_authentication_secret(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, PG_NARGS() == 2 ? ResetTwoFactorAuthenticationSecretByName
							   : ResetTwoFactorAuthenticationSecret);
}
