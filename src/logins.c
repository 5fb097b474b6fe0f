/*
 * logins.c
 *		Logins and sessions: LogInByAccount and the IAM2 user's login, with
 *		the second factor when 2FA is enabled; ValidateSession and
 *		RenewSession.  (LogOut is SQL, in the install script.)
 */
#include "lifecycle.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(log_in_by_account);
PG_FUNCTION_INFO_V1(log_in_by_iam2_virtual_id);
PG_FUNCTION_INFO_V1(validate_session);
PG_FUNCTION_INFO_V1(renew_session);

/* RenewSession's duration, in seconds (ZStack's numberRange) */
#define MIN_RENEW_SECONDS 60

/*
 * Write {"inventory":{...}}, ZStack's SessionInventory: its userType is never
 * set (so never written), and noSessionEvaluation, which its SDK hides, is.
 */
static void
WriteSessionInventory(StringInfo out, const char *uuid, const char *account_uuid,
					  const char *user_uuid, TimestampTz expired, TimestampTz created)
{
	bool		first = true;

	appendStringInfoString(out, "{\"inventory\":{");
	zt_json_key(out, "uuid", &first);
	zt_json_cstring(out, uuid);
	zt_json_key(out, "accountUuid", &first);
	zt_json_cstring(out, account_uuid);
	zt_json_key(out, "userUuid", &first);
	zt_json_cstring(out, user_uuid);
	zt_json_key(out, "expiredDate", &first);
	zt_json_date(out, expired);
	zt_json_key(out, "createDate", &first);
	zt_json_date(out, created);
	appendStringInfoString(out, ",\"noSessionEvaluation\":false}}");
}

/* Create a session for p and write ZStack's session inventory reply. */
static void
CreateSession(const Principal *p, StringInfo out)
{
	static SPIPlanPtr insert_plan = NULL;
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID};
	Datum		values[5];
	char		uuid[33];
	char		key[ZT_SESSION_KEY_LEN + 1];
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;

	zt_new_uuid(uuid);
	/* only the key is stored; the uuid itself goes to the client alone */
	zt_session_key(uuid, strlen(uuid), key);
	values[0] = CStringGetTextDatum(key);
	values[1] = CStringGetTextDatum(p->account_uuid);
	values[2] = CStringGetTextDatum(p->uuid);
	values[3] = CStringGetTextDatum(p->iam2 ? "IAM2VirtualIDVO" : "AccountVO");
	values[4] = Float8GetDatum((double) zt_session_timeout);
	/* the same statement also drops this account's expired sessions */
	if (SPI_execute_plan(zt_keep_plan(&insert_plan,
									  "WITH gone AS (DELETE FROM zstack_tfa.session"
									  " WHERE account_uuid = $2 AND expired_date < pg_catalog.clock_timestamp())"
									  " INSERT INTO zstack_tfa.session"
									  " (uuid, account_uuid, user_uuid, user_type, create_date, expired_date)"
									  " SELECT $1, $2, $3, $4::zstack_tfa.user_type, t, t + $5 * interval '1 second'"
									  " FROM pg_catalog.clock_timestamp() t"
									  " RETURNING create_date, expired_date",
									  5, types),
						 values, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "session insert failed");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	WriteSessionInventory(out, uuid, p->account_uuid, p->uuid,
						  DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull)),
						  DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull)));
}

/*
 * The login of both principal kinds: password, then (with 2FA enabled) the
 * TOTP code from the twofatoken:: tag, then a session.  Every refusal is a
 * returned envelope, so its audit row and failure count are committed.
 */
static Datum
LogIn(FunctionCallInfo fcinfo, bool iam2)
{
	int			spi_level;
	char	   *name = zt_text_arg(fcinfo, 0, iam2 ? "name" : "account_name");
	char	   *password = zt_text_arg(fcinfo, 1, "password");
	StringInfoData out;
	Principal	p;
	ZtFailure	f;
	bool		ok;
	bool		second_factor = false;

	memset(&p, 0, sizeof(p));
	zt_json_begin(&out, 512);
	spi_level = zt_spi_connect();
	/* a login writes a session (and audit rows): none on a standby */
	if (zt_read_only())
		ok = zt_fail(&f, ZT_ERR_SYS_1006, ZT_READ_ONLY_DETAILS);
	else
		ok = zt_check_credentials(name, password, iam2, "login", &p, &f);
	if (ok && zt_two_factor_enabled())
		ok = second_factor = zt_check_second_factor(&p, name,
												 PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2), &f);
	if (ok)
	{
		CreateSession(&p, &out);
		/* a 2FA login's success was audited with its secret and step */
		if (!second_factor)
			zt_audit("login", "success", NULL, &p);
	}
	else
		zt_error_envelope(&out, &f);
	zt_spi_finish(spi_level);
	PG_RETURN_DATUM(zt_json_result(&out));
}

/* log_in_by_account(account_name, password, system_tags): a session. */
static Datum
LogInByAccount(PG_FUNCTION_ARGS)
{
	return LogIn(fcinfo, false);
}

/* SQL entry point of LogInByAccount, its caller's statement kept out of the log. */
Datum
log_in_by_account(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, LogInByAccount);
}

/* log_in_by_iam2_virtual_id(name, password, system_tags): a session. */
static Datum
LogInByIam2VirtualId(PG_FUNCTION_ARGS)
{
	return LogIn(fcinfo, true);
}

/* SQL entry point of LogInByIam2VirtualId, its caller's statement kept out of the log. */
Datum
log_in_by_iam2_virtual_id(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, LogInByIam2VirtualId);
}

/*
 * validate_session(session_uuid): ZStack's ValidateSession, {"valid":true}
 * while the session is valid, else {"valid":false}; never an error.  An
 * expired session is deleted on the way, as ZStack does (unless this call
 * may not write); a valid one is not extended.
 */
static Datum
ValidateSession(PG_FUNCTION_ARGS)
{
	const char *uuid = zt_text_arg(fcinfo, 0, "session_uuid");
	StringInfoData out;
	char		key[ZT_SESSION_KEY_LEN + 1];
	TupleTableSlot *slot = NULL;
	Relation	rel;
	bool		valid = false;
	bool		expired = false;

	zt_json_begin(&out, 32);
	if (zt_is_uuid(uuid, strlen(uuid)))
	{
		zt_session_key(uuid, strlen(uuid), key);
		slot = zt_fetch_by_uuid("session", key, strlen(key), &rel);
	}
	if (slot != NULL)
	{
		bool		isnull;
		TimestampTz until = DatumGetTimestampTz(zt_fetched_column(slot, "expired_date", &isnull));

		valid = !isnull && until >= GetCurrentTimestamp();
		expired = !valid;
		zt_fetch_end(slot, rel);
	}
	if (expired && !zt_read_only())
	{
		Oid			type = TEXTOID;
		Datum		value = CStringGetTextDatum(key);
		int			spi_level = zt_spi_connect();
		if (SPI_execute_with_args("DELETE FROM zstack_tfa.session WHERE uuid = $1"
								  " AND expired_date < pg_catalog.clock_timestamp()",
								  1, &type, &value, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "session delete failed");
		zt_spi_finish(spi_level);
	}
	appendStringInfo(&out, "{\"valid\":%s}", valid ? "true" : "false");
	PG_RETURN_DATUM(zt_json_result(&out));
}

/* SQL entry point of ValidateSession, its caller's statement kept out of the log. */
Datum
validate_session(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, ValidateSession);
}

/*
 * renew_session(session_uuid, renew_uuid, duration DEFAULT NULL): ZStack's
 * RenewSession.  The caller's session renews renew_uuid, its own or (a
 * SystemAdmin's) anyone's, to now + duration seconds (default
 * zt_session_renewal(), never beyond zstack_tfa.max_session_renewal); the
 * reply is the renewed session's inventory, under the uuid the caller sent
 * (the table holds only its key).  A uuid that names no stored session is
 * ZStack's SYS.1003 (its PortApiValidator, for the message's resourceType);
 * an expired one is deleted and answers ID.1001, as Session.renewSession does.
 */
static Datum
RenewSession(PG_FUNCTION_ARGS)
{
	int			spi_level;
	const char *session = zt_text_arg(fcinfo, 0, "session_uuid");
	const char *target = zt_text_arg(fcinfo, 1, "renew_uuid");
	/* no duration asked: the timeout, within the ceiling a DBA set */
	int			duration = PG_ARGISNULL(2) ? zt_session_renewal() : PG_GETARG_INT32(2);
	StringInfoData out;
	ZtCaller	caller;
	ZtFailure	f;
	bool		ok = false;

	zt_json_begin(&out, 512);
	spi_level = zt_spi_connect();
	if (!zt_authenticate(session, strlen(session), &caller, &f))
		;
	else if (duration < MIN_RENEW_SECONDS || duration > ZT_MAX_RENEW_SECONDS)
		zt_fail(&f, ZT_ERR_SYS_1007, "field[duration] must be in range of [%d, %d]",
				MIN_RENEW_SECONDS, ZT_MAX_RENEW_SECONDS);
	else if (duration > zt_max_session_renewal)
		/* ZStack's own words, with the range the DBA's ceiling leaves */
		zt_fail(&f, ZT_ERR_SYS_1007,
				"field[duration] must be in range of [%d, %d] (zstack_tfa.max_session_renewal)",
				MIN_RENEW_SECONDS, zt_max_session_renewal);
	else if (zt_read_only())
		zt_fail(&f, ZT_ERR_SYS_1006, "a session cannot be renewed in a read-only transaction");
	else
	{
		static SPIPlanPtr find_plan = NULL;
		static SPIPlanPtr renew_plan = NULL;
		Oid			types[2] = {TEXTOID, INT4OID};
		Datum		values[2];
		char		key[ZT_SESSION_KEY_LEN + 1];
		bool		isnull;

		zt_session_key(target, strlen(target), key);
		values[0] = CStringGetTextDatum(key);
		values[1] = Int32GetDatum(duration);
		if (SPI_execute_plan(zt_keep_plan(&find_plan,
										  "SELECT user_uuid, expired_date OPERATOR(pg_catalog.>=) pg_catalog.clock_timestamp()"
										  " FROM zstack_tfa.session WHERE uuid OPERATOR(pg_catalog.=) $1 FOR UPDATE",
										  1, types),
							 values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "session lookup failed");
		if (SPI_processed == 0)
			/* it names no session, so it is no credential: ZStack's text names it */
			zt_fail(&f, ZT_ERR_SYS_1003, "invalid field[sessionUuid], resource[uuid:%s, type:SessionVO] not found",
					zt_clip(target, strlen(target), 64));
		else if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), caller.user_uuid) != 0 &&
				 !zt_caller_is_admin(&caller))
			zt_fail(&f, ZT_ERR_ID_1002, "a session can be renewed by its own user or a SystemAdmin only");
		else if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		{
			zt_delete_expired_session(key);
			zt_fail(&f, ZT_ERR_ID_1001, ZT_SESSION_EXPIRED);
		}
		else if (SPI_execute_plan(zt_keep_plan(&renew_plan,
											   "UPDATE zstack_tfa.session SET expired_date = pg_catalog.clock_timestamp()"
											   " OPERATOR(pg_catalog.+) ($2 OPERATOR(pg_catalog.*) interval '1 second')"
											   " WHERE uuid OPERATOR(pg_catalog.=) $1"
											   " RETURNING account_uuid, user_uuid, expired_date, create_date",
											   2, types),
								  values, NULL, false, 1) != SPI_OK_UPDATE_RETURNING ||
				 SPI_processed != 1)
			elog(ERROR, "session renewal failed");
		else
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;

			WriteSessionInventory(&out, target, SPI_getvalue(tup, desc, 1),
								  SPI_getvalue(tup, desc, 2),
								  DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull)),
								  DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull)));
			ok = true;
		}
	}
	if (!ok)
		zt_error_envelope(&out, &f);
	zt_spi_finish(spi_level);
	PG_RETURN_DATUM(zt_json_result(&out));
}

/* SQL entry point of RenewSession, its caller's statement kept out of the log. */
Datum
renew_session(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, RenewSession);
}
