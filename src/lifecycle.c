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

#include "totp.h"

PG_FUNCTION_INFO_V1(zt_hash_password);
PG_FUNCTION_INFO_V1(zt_new_uuid_sql);
PG_FUNCTION_INFO_V1(create_account);
PG_FUNCTION_INFO_V1(create_iam2_virtual_id);
PG_FUNCTION_INFO_V1(set_account_password);
PG_FUNCTION_INFO_V1(log_in_by_account);
PG_FUNCTION_INFO_V1(log_in_by_iam2_virtual_id);
PG_FUNCTION_INFO_V1(get_two_factor_authentication_state);
PG_FUNCTION_INFO_V1(set_two_factor_authentication_enabled);
PG_FUNCTION_INFO_V1(get_two_factor_authentication_secret);
PG_FUNCTION_INFO_V1(reset_two_factor_authentication_secret);

/*
 * From libpq/scram.h, whose includes need the GSSAPI headers (libkrb5-dev)
 * that a PGXS build otherwise does without; these two are stable in PG 15.
 */
extern char *pg_be_scram_build_secret(const char *password);
extern bool scram_verify_plain_password(const char *username,
										const char *password,
										const char *secret);

#define MAX_NAME_LEN 255
/*
 * Longer passwords are refused: hashing a 1 MB one takes seconds, a lever
 * for denial of service.  ZStack's clients send 128 hex digits (SHA-512).
 */
#define MAX_PASSWORD_LEN 1024
#define TFA_CONFIG_NAME "TwoFactorAuthentication.enable"
#define TOTP_WINDOW 1			/* steps t-1, t, t+1 (SPEC §3) */

/* Who is logging in: an account or an IAM2 user inside one. */
typedef struct Principal
{
	bool		found;
	bool		iam2;
	char		uuid[33];
	char		account_uuid[33];
	char	   *password_hash;	/* NULL: no password login */
} Principal;

static void LoadPrincipal(const char *name, bool iam2, Principal *p);
static bool TwoFactorEnabled(void);
static void EnsureSecret(const Principal *p);

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

	if (strlen(password) > MAX_PASSWORD_LEN)
		return false;			/* never stored, so never right: skip the work */
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
	if (password[0] == '\0' || strlen(password) > MAX_PASSWORD_LEN)
	{
		zt_fail(&f, ZT_ERR_SYS_1007, "%s password must be 1 to %d bytes long", what, MAX_PASSWORD_LEN);
		zt_raise(&f);
	}
}

/* hash_password(password): the verifier stored for a password. */
Datum
zt_hash_password(PG_FUNCTION_ARGS)
{
	char	   *password = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (strlen(password) > MAX_PASSWORD_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password must be at most %d bytes long", MAX_PASSWORD_LEN)));
	PG_RETURN_TEXT_P(cstring_to_text(HashPassword(password)));
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
	char	   *name = zt_text_arg(fcinfo, 0, "name");
	char	   *password = zt_text_arg(fcinfo, 1, "password");
	char		uuid[33];
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];

	zt_require_arg(fcinfo, 2, "type");
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
	/* new accounts get a secret while 2FA is enabled (SPEC §3) */
	if (TwoFactorEnabled())
	{
		Principal	p;

		LoadPrincipal(name, false, &p);
		EnsureSecret(&p);
	}
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(uuid));
}

/* create_iam2_virtual_id(account_name, name, password): a user in an account. */
Datum
create_iam2_virtual_id(PG_FUNCTION_ARGS)
{
	char	   *account_name = zt_text_arg(fcinfo, 0, "account_name");
	char	   *name = zt_text_arg(fcinfo, 1, "name");
	char	   *password = zt_text_arg(fcinfo, 2, "password");
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
	char	   *name = zt_text_arg(fcinfo, 0, "name");
	char	   *password = zt_text_arg(fcinfo, 1, "password");
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

/*
 * Record an authentication event.  Only fixed words, uuids and a time step
 * number go in: never a secret, a code, a password or a name someone typed.
 */
static void
AuditWithSecret(const char *kind, const char *outcome, const char *zstack_code,
			const Principal *p, const char *secret_uuid, int64 step)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[8] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID};
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		known = (p != NULL && p->found);

	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(outcome);
	values[2] = zstack_code ? CStringGetTextDatum(zstack_code) : (Datum) 0;
	values[3] = known ? CStringGetTextDatum(p->account_uuid) : (Datum) 0;
	values[4] = known ? CStringGetTextDatum(p->uuid) : (Datum) 0;
	values[5] = known ? CStringGetTextDatum(p->iam2 ? "IAM2VirtualIDVO" : "AccountVO") : (Datum) 0;
	values[6] = secret_uuid ? CStringGetTextDatum(secret_uuid) : (Datum) 0;
	values[7] = Int64GetDatum(step);
	if (!zstack_code)
		nulls[2] = 'n';
	if (!known)
		nulls[3] = nulls[4] = nulls[5] = 'n';
	if (!secret_uuid)
		nulls[6] = 'n';
	if (step < 0)
		nulls[7] = 'n';
	if (SPI_execute_plan(zt_keep_plan(&plan,
									  "INSERT INTO zstack_tfa.auth_event (kind, outcome, error_code,"
									  " account_uuid, user_uuid, user_type, secret_uuid, totp_step)"
									  " VALUES ($1::zstack_tfa.auth_event_kind, $2, $3, $4, $5,"
									  " $6::zstack_tfa.user_type, $7, $8)",
									  8, types),
						 values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "audit insert failed");
}

/* An audit event that concerns no particular secret. */
static void
Audit(const char *kind, const char *outcome, const char *zstack_code,
	  const Principal *p)
{
	AuditWithSecret(kind, outcome, zstack_code, p, NULL, -1);
}

/* Is the global 2FA switch on?  Absent means off, as in ZStack. */
static bool
TwoFactorEnabled(void)
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
static void
EnsureSecret(const Principal *p)
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
	char	   *sql = psprintf("SELECT %s, s.status = 'Logined' FROM zstack_tfa.secret s"
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
FindTokenTag(FunctionCallInfo fcinfo, int argno, const char **code,
			 size_t *code_len)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;

	if (PG_ARGISNULL(argno))
		return false;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n);
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
 * The second factor of a login with 2FA enabled.  The secret's row is locked
 * for the whole check, so of two logins presenting the same code at the same
 * moment one waits and then sees the step already used: a time step is
 * accepted at most once, and only steps later than the last accepted one
 * count.  Wrong codes in a row lock 2FA logins for a while.
 */
static bool
CheckSecondFactor(FunctionCallInfo fcinfo, const Principal *p, const char *name,
				  ZtFailure *f)
{
	static SPIPlanPtr lock_plan = NULL;
	static SPIPlanPtr success_plan = NULL;
	static SPIPlanPtr failure_plan = NULL;
	const char *code;
	size_t		code_len;
	bool		has_tag = FindTokenTag(fcinfo, 2, &code, &code_len);
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
	char	   *secret_uuid;
	bool		ok;

	if (!has_tag)
	{
		StringInfoData details;

		/* ZStack's answer names the method and the user to ask again for */
		initStringInfo(&details);
		appendStringInfoString(&details, "{\"authentications\":[\"googleAuth\"],\"credentials\":");
		zt_json_cstring(&details, name);
		appendStringInfoChar(&details, '}');
		zt_fail(f, ZT_ERR_ID_2001, "%s", details.data);
		Audit("login", "code_required", "ID.2001", p);
		return false;
	}

	values[0] = CStringGetTextDatum(p->uuid);
	if (SPI_execute_plan(zt_keep_plan(&lock_plan,
									  "SELECT secret, coalesce(last_accepted_step, -1), failed_attempts, locked_until, uuid"
									  " FROM zstack_tfa.secret WHERE user_uuid = $1 FOR UPDATE",
									  1, types),
						 values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "secret lookup failed");
	if (SPI_processed == 0)
	{
		zt_fail(f, ZT_ERR_ID_2000,
				"this user has no two-factor authentication secret yet; get one with GetTwoFactorAuthenticationSecret");
		Audit("login", "no_secret", "ID.2000", p);
		return false;
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	secret = SPI_getvalue(tup, desc, 1);
	last_step = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	failures = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	locked_until = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &locked_null));
	secret_uuid = SPI_getvalue(tup, desc, 5);

	if (!locked_null && locked_until > now_ts)
	{
		long		secs;
		int			usecs;

		TimestampDifference(now_ts, locked_until, &secs, &usecs);
		explicit_bzero(secret, strlen(secret));
		zt_fail(f, ZT_ERR_ID_2002,
				"two-factor logins of this account are locked after %d wrong codes in a row; try again in %ld seconds",
				failures, secs + (usecs > 0 ? 1 : 0));
		AuditWithSecret("login", "locked", "ID.2002", p, secret_uuid, -1);
		return false;
	}
	if (!locked_null)
		failures = 0;			/* a lock that has run out starts a new count */

	zt_totp_decode(secret, strlen(secret), &key);
	explicit_bzero(secret, strlen(secret));
	ok = zt_totp_match(&key, code, code_len, zt_totp_step(now_ts), TOTP_WINDOW,
					   last_step, &matched);
	zt_totp_free_key(&key);

	values[2] = TimestampTzGetDatum(now_ts);
	if (ok)
	{
		values[1] = Int64GetDatum(matched);
		if (SPI_execute_plan(zt_keep_plan(&success_plan,
										  "UPDATE zstack_tfa.secret SET last_accepted_step = $2,"
										  " failed_attempts = 0, locked_until = NULL, last_login_date = $3,"
										  " last_op_date = CASE WHEN status = 'Logined' THEN last_op_date ELSE $3 END,"
										  " status = 'Logined' WHERE user_uuid = $1",
										  3, types),
							 values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "secret update failed");
		AuditWithSecret("login", "success", NULL, p, secret_uuid, matched);
		return true;
	}

	failures++;
	{
		Oid			ftypes[3] = {TEXTOID, INT4OID, TIMESTAMPTZOID};
		Datum		fvalues[3];
		char		fnulls[3] = {' ', ' ', ' '};

		fvalues[0] = values[0];
		fvalues[1] = Int32GetDatum(failures);
		if (failures >= zt_max_failed_attempts)
			fvalues[2] = TimestampTzGetDatum(now_ts + (int64) zt_lockout_seconds * USECS_PER_SEC);
		else
			fnulls[2] = 'n';
		if (SPI_execute_plan(zt_keep_plan(&failure_plan,
										  "UPDATE zstack_tfa.secret SET failed_attempts = $2, locked_until = $3"
										  " WHERE user_uuid = $1",
										  3, ftypes),
							 fvalues, fnulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "secret update failed");
	}
	if (failures >= zt_max_failed_attempts)
	{
		zt_fail(f, ZT_ERR_ID_2002,
				"wrong or already used two-factor authentication code; after %d wrong codes in a row two-factor logins of this account are locked for %d seconds",
				failures, zt_lockout_seconds);
		AuditWithSecret("login", "wrong_code_locked", "ID.2002", p, secret_uuid, -1);
	}
	else
	{
		zt_fail(f, ZT_ERR_ID_2002, "wrong or already used two-factor authentication code");
		AuditWithSecret("login", "wrong_code", "ID.2002", p, secret_uuid, -1);
	}
	return false;
}

/*
 * Load the principal named name and check its password.  Every bad
 * credential gets the same ID.1000 answer, audited under kind.
 */
static bool
CheckCredentials(const char *name, const char *password, bool iam2,
				 const char *kind, Principal *p, ZtFailure *f)
{
	LoadPrincipal(name, iam2, p);
	if (VerifyPassword(p, password))
		return true;
	/* one answer for unknown name and wrong password: no user probing */
	zt_fail(f, ZT_ERR_ID_1000, "wrong %s name or password", iam2 ? "IAM2 virtual ID" : "account");
	Audit(kind, "bad_credentials", "ID.1000", p);
	return false;
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
	ok = CheckCredentials(name, password, iam2, "login", &p, &f);
	if (ok && TwoFactorEnabled())
		ok = second_factor = CheckSecondFactor(fcinfo, &p, name, &f);
	if (ok)
	{
		CreateSession(&p, &out);
		/* a 2FA login's success was audited with its secret and step */
		if (!second_factor)
			Audit("login", "success", NULL, &p);
	}
	else
		zt_error_envelope(&out, &f);
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
	StringInfoData out;

	zt_json_begin(&out, 512);
	SPI_connect();
	WriteState(&out, TwoFactorEnabled());
	SPI_finish();
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
	bool		enable;
	StringInfoData out;

	zt_require_arg(fcinfo, 0, "enabled");
	enable = PG_GETARG_BOOL(0);
	zt_json_begin(&out, 512);
	SPI_connect();
	/* one switch at a time: concurrent flips would interleave their secrets */
	if (SPI_execute("LOCK TABLE zstack_tfa.global_config IN SHARE ROW EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not lock global_config");
	if (TwoFactorEnabled() != enable)
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
		Audit(enable ? "enable" : "disable", "success", NULL, NULL);
	}
	WriteState(&out, enable);
	SPI_finish();
	PG_RETURN_DATUM(zt_json_result(&out));
}

/*
 * get_two_factor_authentication_secret(name, password, type): the caller's
 * own secret, created if missing; "secret" is "" once it is Logined.
 */
Datum
get_two_factor_authentication_secret(PG_FUNCTION_ARGS)
{
	char	   *name = zt_text_arg(fcinfo, 0, "name");
	char	   *password = zt_text_arg(fcinfo, 1, "password");
	char	   *type = zt_text_arg(fcinfo, 2, "type");
	StringInfoData out;
	Principal	p;
	ZtFailure	f;
	bool		ok = false;
	bool		iam2 = (strcmp(type, "iam2") == 0);

	zt_json_begin(&out, 512);
	SPI_connect();
	if (!iam2 && strcmp(type, "account") != 0)
		zt_fail(&f, ZT_ERR_SYS_1007, "type must be 'account' or 'iam2'");
	else if (!TwoFactorEnabled())
		zt_fail(&f, ZT_ERR_SYS_1006, "two-factor authentication is disabled");
	else if (CheckCredentials(name, password, iam2, "get_secret", &p, &f))
	{
		EnsureSecret(&p);
		WriteSecretReply(&p, &out);
		Audit("get_secret", "success", NULL, &p);
		ok = true;
	}
	if (!ok)
		zt_error_envelope(&out, &f);
	SPI_finish();
	PG_RETURN_DATUM(zt_json_result(&out));
}

/*
 * reset_two_factor_authentication_secret(session_uuid, account_name): a
 * SystemAdmin replaces an account's secret with a new NewCreated one.
 */
Datum
reset_two_factor_authentication_secret(PG_FUNCTION_ARGS)
{
	char	   *session = zt_text_arg(fcinfo, 0, "session_uuid");
	char	   *name = zt_text_arg(fcinfo, 1, "account_name");
	StringInfoData out;
	ZtCaller	caller;
	Principal	admin;
	Principal	p;
	ZtFailure	f;
	bool		ok = false;

	zt_json_begin(&out, 512);
	SPI_connect();
	if (zt_authenticate(session, strlen(session), &caller, &f))
	{
		memset(&admin, 0, sizeof(admin));
		admin.found = true;
		admin.iam2 = caller.is_iam2;
		strlcpy(admin.uuid, caller.user_uuid, sizeof(admin.uuid));
		strlcpy(admin.account_uuid, caller.account_uuid, sizeof(admin.account_uuid));
		if (!zt_caller_is_admin(&caller))
		{
			zt_fail(&f, ZT_ERR_ID_1002, "only a SystemAdmin account may reset two-factor authentication secrets");
			Audit("reset_secret", "denied", "ID.1002", &admin);
		}
		else if (!TwoFactorEnabled())
			zt_fail(&f, ZT_ERR_SYS_1006, "two-factor authentication is disabled");
		else
		{
			LoadPrincipal(name, false, &p);
			if (!p.found)
				zt_fail(&f, ZT_ERR_SYS_1007, "no account named \"%s\"", zt_clip(name, strlen(name), 64));
			else
			{
				Oid			type = TEXTOID;
				Datum		value = CStringGetTextDatum(p.uuid);

				if (SPI_execute_with_args("DELETE FROM zstack_tfa.secret WHERE user_uuid = $1",
										  1, &type, &value, NULL, false, 0) != SPI_OK_DELETE)
					elog(ERROR, "secret delete failed");
				EnsureSecret(&p);
				WriteSecretReply(&p, &out);
				Audit("reset_secret", "success", NULL, &p);
				ok = true;
			}
		}
	}
	if (!ok)
		zt_error_envelope(&out, &f);
	SPI_finish();
	PG_RETURN_DATUM(zt_json_result(&out));
}
