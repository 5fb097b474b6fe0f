/*
 * lifecycle.c
 *		Accounts, IAM2 users, passwords and logins.
 */
#include "zstack_tfa.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(zt_hash_password);
PG_FUNCTION_INFO_V1(zt_new_uuid_sql);
PG_FUNCTION_INFO_V1(create_account);
PG_FUNCTION_INFO_V1(create_iam2_virtual_id);
PG_FUNCTION_INFO_V1(set_account_password);
PG_FUNCTION_INFO_V1(log_in_by_account);
PG_FUNCTION_INFO_V1(log_in_by_iam2_virtual_id);

/*
 * From libpq/scram.h, whose includes need the GSSAPI headers (libkrb5-dev)
 * that a PGXS build otherwise does without; these two are stable in PG 15.
 */
extern char *pg_be_scram_build_secret(const char *password);
extern bool scram_verify_plain_password(const char *username,
										const char *password,
										const char *secret);

#define MAX_NAME_LEN 255

/* Who is logging in: an account or an IAM2 user inside one. */
typedef struct Principal
{
	bool		found;
	bool		iam2;
	char		uuid[33];
	char		account_uuid[33];
	char	   *password_hash;	/* NULL: no password login */
} Principal;

/* Return argument argno as a C string, raising 22004 if it is NULL. */
static char *
RequiredText(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* A salted, slow verifier: PostgreSQL's own SCRAM-SHA-256 secret. */
static char *
HashPassword(const char *password)
{
	return pg_be_scram_build_secret(password);
}

/*
 * Check a password in time that does not tell whether the principal exists:
 * an unknown name is checked against a throwaway verifier.
 */
static bool
VerifyPassword(const Principal *p, const char *password)
{
	static char *dummy = NULL;

	if (p->found && p->password_hash != NULL)
		return scram_verify_plain_password("zstack_tfa", password, p->password_hash);
	if (dummy == NULL)
	{
		char		random_password[33];
		char	   *h;

		zt_new_uuid(random_password);
		h = HashPassword(random_password);
		dummy = MemoryContextStrdup(TopMemoryContext, h);
	}
	(void) scram_verify_plain_password("zstack_tfa", password, dummy);
	return false;
}

/* Validate a name for a new account or IAM2 user. */
static void
CheckNewName(const char *what, const char *name, const char *password)
{
	ZtFailure	f;

	if (name[0] == '\0' || strlen(name) > MAX_NAME_LEN)
	{
		zt_fail(&f, ZT_ERR_SYS_1007, "%s name must be 1 to %d bytes long", what, MAX_NAME_LEN);
		zt_raise(&f);
	}
	if (password[0] == '\0')
	{
		zt_fail(&f, ZT_ERR_SYS_1007, "%s password must not be empty", what);
		zt_raise(&f);
	}
}

/* hash_password(password): the verifier stored for a password. */
Datum
zt_hash_password(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(HashPassword(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

/* new_uuid(): a fresh ZStack uuid. */
Datum
zt_new_uuid_sql(PG_FUNCTION_ARGS)
{
	char		uuid[33];

	zt_new_uuid(uuid);
	PG_RETURN_TEXT_P(cstring_to_text(uuid));
}

/*
 * Insert a new principal with INSERT ... ON CONFLICT DO NOTHING, so that a
 * concurrent twin gives the same clear error as an earlier one.
 */
static void
InsertPrincipal(const char *sql, int nargs, Oid *types, Datum *values,
				const char *what, const char *name)
{
	ZtFailure	f;
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "insert failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		zt_fail(&f, ZT_ERR_SYS_1007, "an %s named \"%s\" already exists", what, name);
		zt_raise(&f);
	}
}

/* create_account(name, password, type): a new account; returns its uuid. */
Datum
create_account(PG_FUNCTION_ARGS)
{
	char	   *name = RequiredText(fcinfo, 0, "name");
	char	   *password = RequiredText(fcinfo, 1, "password");
	char		uuid[33];
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("type must not be NULL")));
	CheckNewName("account", name, password);
	zt_new_uuid(uuid);
	values[0] = CStringGetTextDatum(uuid);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(HashPassword(password));
	values[3] = DirectFunctionCall1(textin, DirectFunctionCall1(enum_out, PG_GETARG_DATUM(2)));

	SPI_connect();
	InsertPrincipal("INSERT INTO zstack_tfa.account (uuid, name, password_hash, type)"
					" VALUES ($1, $2, $3, $4::zstack_tfa.account_type)"
					" ON CONFLICT (name) DO NOTHING RETURNING uuid",
					4, types, values, "account", name);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(uuid));
}

/* create_iam2_virtual_id(account_name, name, password): a user in an account. */
Datum
create_iam2_virtual_id(PG_FUNCTION_ARGS)
{
	char	   *account_name = RequiredText(fcinfo, 0, "account_name");
	char	   *name = RequiredText(fcinfo, 1, "name");
	char	   *password = RequiredText(fcinfo, 2, "password");
	char		uuid[33];
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	ZtFailure	f;

	CheckNewName("IAM2 virtual ID", name, password);
	zt_new_uuid(uuid);
	values[0] = CStringGetTextDatum(uuid);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(HashPassword(password));
	values[3] = CStringGetTextDatum(account_name);

	SPI_connect();
	if (SPI_execute_with_args("SELECT 1 FROM zstack_tfa.account WHERE name = $1 FOR KEY SHARE",
							  1, &types[3], &values[3], NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "account lookup failed");
	if (SPI_processed == 0)
	{
		zt_fail(&f, ZT_ERR_SYS_1007, "no account named \"%s\"",
				zt_clip(account_name, strlen(account_name), 64));
		zt_raise(&f);
	}
	InsertPrincipal("INSERT INTO zstack_tfa.iam2_virtual_id (uuid, name, password_hash, account_uuid)"
					" SELECT $1, $2, $3, a.uuid FROM zstack_tfa.account a WHERE a.name = $4"
					" ON CONFLICT (name) DO NOTHING RETURNING uuid",
					4, types, values, "IAM2 virtual ID", name);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(uuid));
}

/* set_account_password(name, password): replace an account's password. */
Datum
set_account_password(PG_FUNCTION_ARGS)
{
	char	   *name = RequiredText(fcinfo, 0, "name");
	char	   *password = RequiredText(fcinfo, 1, "password");
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	ZtFailure	f;

	CheckNewName("account", name, password);
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(HashPassword(password));
	SPI_connect();
	if (SPI_execute_with_args("UPDATE zstack_tfa.account SET password_hash = $2,"
							  " last_op_date = pg_catalog.now() WHERE name = $1",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "password update failed");
	if (SPI_processed == 0)
	{
		zt_fail(&f, ZT_ERR_SYS_1007, "no account named \"%s\"", zt_clip(name, strlen(name), 64));
		zt_raise(&f);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/* Look up the principal named name; p->found says whether it exists. */
static void
LoadPrincipal(const char *name, bool iam2, Principal *p)
{
	static SPIPlanPtr account_plan = NULL;
	static SPIPlanPtr iam2_plan = NULL;
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(name);
	SPIPlanPtr	plan;
	HeapTuple	tup;
	TupleDesc	desc;

	if (iam2)
		plan = zt_keep_plan(&iam2_plan,
							"SELECT uuid, account_uuid, password_hash"
							" FROM zstack_tfa.iam2_virtual_id WHERE name = $1",
							1, &type);
	else
		plan = zt_keep_plan(&account_plan,
							"SELECT uuid, uuid, password_hash"
							" FROM zstack_tfa.account WHERE name = $1",
							1, &type);
	if (SPI_execute_plan(plan, &value, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "principal lookup failed");
	memset(p, 0, sizeof(*p));
	p->iam2 = iam2;
	if (SPI_processed == 0)
		return;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	p->found = true;
	strlcpy(p->uuid, SPI_getvalue(tup, desc, 1), sizeof(p->uuid));
	strlcpy(p->account_uuid, SPI_getvalue(tup, desc, 2), sizeof(p->account_uuid));
	p->password_hash = SPI_getvalue(tup, desc, 3);
}

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
									  " WHERE account_uuid = $2 AND expired_date <= pg_catalog.now())"
									  " INSERT INTO zstack_tfa.session"
									  " (uuid, account_uuid, user_uuid, user_type, expired_date)"
									  " VALUES ($1, $2, $3, $4::zstack_tfa.user_type,"
									  " pg_catalog.now() + $5 * interval '1 second')"
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

/* The login of both principal kinds: password, then session. */
static Datum
LogIn(FunctionCallInfo fcinfo, bool iam2)
{
	char	   *name = RequiredText(fcinfo, 0, iam2 ? "name" : "account_name");
	char	   *password = RequiredText(fcinfo, 1, "password");
	StringInfoData out;
	Principal	p;
	ZtFailure	f;

	initStringInfo(&out);
	SPI_connect();
	LoadPrincipal(name, iam2, &p);
	if (!VerifyPassword(&p, password))
	{
		/* one answer for unknown name and wrong password: no user probing */
		zt_fail(&f, ZT_ERR_ID_1000, "wrong %s name or password", iam2 ? "IAM2 virtual ID" : "account");
		zt_error_envelope(&out, &f);
	}
	else
		CreateSession(&p, &out);
	SPI_finish();
	PG_RETURN_DATUM(zt_json_result(&out));
}

/* log_in_by_account(account_name, password, system_tags): a session. */
Datum
log_in_by_account(PG_FUNCTION_ARGS)
{
	return LogIn(fcinfo, false);
}

/* log_in_by_iam2_virtual_id(name, password, system_tags): a session. */
Datum
log_in_by_iam2_virtual_id(PG_FUNCTION_ARGS)
{
	return LogIn(fcinfo, true);
}
