/*
 * accounts.c
 *		Accounts and IAM2 users: creating them, their passwords, and the
 *		helpers hash_password and new_uuid.
 */
#include "lifecycle.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(zt_hash_password);
PG_FUNCTION_INFO_V1(zt_new_uuid_sql);
PG_FUNCTION_INFO_V1(create_account);
PG_FUNCTION_INFO_V1(create_iam2_virtual_id);
PG_FUNCTION_INFO_V1(set_account_password);

/* Validate a name for a new account or IAM2 user. */
static void
CheckNewName(const char *what, const char *name, const char *password)
{
	ZtFailure	f;

	if (name[0] == '\0' || strlen(name) > ZT_MAX_NAME_LEN)
	{
		zt_fail(&f, ZT_ERR_SYS_1007, "%s name must be 1 to %d bytes long", what, ZT_MAX_NAME_LEN);
		zt_raise(&f);
	}
	if (password[0] == '\0' || strlen(password) > ZT_MAX_PASSWORD_LEN)
	{
		zt_fail(&f, ZT_ERR_SYS_1007, "%s password must be 1 to %d bytes long", what, ZT_MAX_PASSWORD_LEN);
		zt_raise(&f);
	}
}

/* hash_password(password): the verifier stored for a password. */
static Datum
HashPasswordText(PG_FUNCTION_ARGS)
{
	const char *password = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (strlen(password) > ZT_MAX_PASSWORD_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password must be at most %d bytes long", ZT_MAX_PASSWORD_LEN)));
	PG_RETURN_TEXT_P(cstring_to_text(zt_password_verifier(password)));
}

/* SQL entry point of HashPasswordText, its caller's statement kept out of the log. */
Datum
zt_hash_password(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, HashPasswordText);
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
static Datum
CreateAccount(PG_FUNCTION_ARGS)
{
	int			spi_level;
	const char *name = zt_text_arg(fcinfo, 0, "name");
	const char *password = zt_text_arg(fcinfo, 1, "password");
	char		uuid[33];
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];

	const char *type;

	zt_require_arg(fcinfo, 2, "type");
	type = DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(2)));
	/*
	 * A SystemAdmin sees every secret and resets anyone's: only a DBA (a
	 * superuser, as the role that runs this call, not as this function's
	 * owner) may create one.  Roles granted create_account for management
	 * code make Normal and ThirdParty accounts.
	 */
	if (strcmp(type, "SystemAdmin") == 0 && !superuser_arg(GetOuterUserId()))
	{
		ZtFailure	f;

		zt_fail(&f, ZT_ERR_ID_1002, "only a superuser may create a SystemAdmin account");
		zt_raise(&f);
	}
	CheckNewName("account", name, password);
	zt_new_uuid(uuid);
	values[0] = CStringGetTextDatum(uuid);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(zt_password_verifier(password));
	values[3] = CStringGetTextDatum(type);

	spi_level = zt_spi_connect();
	InsertPrincipal("INSERT INTO zstack_tfa.account (uuid, name, password_hash, type)"
					" VALUES ($1, $2, $3, $4::zstack_tfa.account_type)"
					" ON CONFLICT (name) DO NOTHING RETURNING uuid",
					4, types, values, "account", name);
	/* new accounts get a secret while 2FA is enabled (SPEC §3) */
	if (zt_two_factor_enabled())
	{
		Principal	p;

		zt_load_principal(name, false, &p);
		zt_ensure_secret(&p);
	}
	zt_spi_finish(spi_level);
	PG_RETURN_TEXT_P(cstring_to_text(uuid));
}

/* SQL entry point of CreateAccount, its caller's statement kept out of the log. */
Datum
create_account(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, CreateAccount);
}

/* create_iam2_virtual_id(account_name, name, password): a user in an account. */
static Datum
CreateIam2VirtualId(PG_FUNCTION_ARGS)
{
	int			spi_level;
	const char *account_name = zt_text_arg(fcinfo, 0, "account_name");
	const char *name = zt_text_arg(fcinfo, 1, "name");
	const char *password = zt_text_arg(fcinfo, 2, "password");
	char		uuid[33];
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	ZtFailure	f;

	CheckNewName("IAM2 virtual ID", name, password);
	zt_new_uuid(uuid);
	values[0] = CStringGetTextDatum(uuid);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(zt_password_verifier(password));
	values[3] = CStringGetTextDatum(account_name);

	spi_level = zt_spi_connect();
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
	zt_spi_finish(spi_level);
	PG_RETURN_TEXT_P(cstring_to_text(uuid));
}

/* SQL entry point of CreateIam2VirtualId, its caller's statement kept out of the log. */
Datum
create_iam2_virtual_id(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, CreateIam2VirtualId);
}

/* set_account_password(name, password): replace an account's password. */
static Datum
SetAccountPassword(PG_FUNCTION_ARGS)
{
	int			spi_level;
	const char *name = zt_text_arg(fcinfo, 0, "name");
	const char *password = zt_text_arg(fcinfo, 1, "password");
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	ZtFailure	f;

	CheckNewName("account", name, password);
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(zt_password_verifier(password));
	spi_level = zt_spi_connect();
	if (SPI_execute_with_args("UPDATE zstack_tfa.account SET password_hash = $2,"
							  " last_op_date = pg_catalog.now() WHERE name = $1",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "password update failed");
	if (SPI_processed == 0)
	{
		zt_fail(&f, ZT_ERR_SYS_1007, "no account named \"%s\"", zt_clip(name, strlen(name), 64));
		zt_raise(&f);
	}
	zt_spi_finish(spi_level);
	PG_RETURN_VOID();
}

/* SQL entry point of SetAccountPassword, its caller's statement kept out of the log. */
Datum
set_account_password(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, SetAccountPassword);
}
