/*
 * logins.c
 *		Logins and sessions: LogInByAccount and the IAM2 user's login, with
 *		the second factor when 2FA is enabled.
 */
#include "lifecycle.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(log_in_by_account);
PG_FUNCTION_INFO_V1(log_in_by_iam2_virtual_id);

/* Create a session for p and write ZStack's session inventory reply. */
static void
CreateSession(const Principal *p, StringInfo out)
{
	static SPIPlanPtr insert_plan = NULL;
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID};
	Datum		values[5];
	char		uuid[33];
	bool		isnull;
	bool		first = true;
	HeapTuple	tup;
	TupleDesc	desc;

	zt_new_uuid(uuid);
	values[0] = CStringGetTextDatum(uuid);
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

	appendStringInfoString(out, "{\"inventory\":{");
	zt_json_key(out, "uuid", &first);
	zt_json_cstring(out, uuid);
	zt_json_key(out, "accountUuid", &first);
	zt_json_cstring(out, p->account_uuid);
	zt_json_key(out, "userUuid", &first);
	zt_json_cstring(out, p->uuid);
	zt_json_key(out, "expiredDate", &first);
	zt_json_date(out, DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull)));
	zt_json_key(out, "createDate", &first);
	zt_json_date(out, DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull)));
	appendStringInfoString(out, "}}");
}

/*
 * The login of both principal kinds: password, then (with 2FA enabled) the
 * TOTP code from the twofatoken:: tag, then a session.  Every refusal is a
 * returned envelope, so its audit row and failure count are committed.
 */
static Datum
LogIn(FunctionCallInfo fcinfo, bool iam2)
{
	char	   *name = zt_text_arg(fcinfo, 0, iam2 ? "name" : "account_name");
	char	   *password = zt_text_arg(fcinfo, 1, "password");
	StringInfoData out;
	Principal	p;
	ZtFailure	f;
	bool		ok;
	bool		second_factor = false;

	zt_json_begin(&out, 512);
	SPI_connect();
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
	SPI_finish();
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
