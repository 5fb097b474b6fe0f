/*
 * recovery.c
 *		Recovery codes: single-use codes for a user whose authenticator is
 *		lost, typed where the six TOTP digits go (ZStack's twofatoken::
 *		system tag), so every ZStack client can use them unchanged.
 *
 * A batch of ZT_RECOVERY_BATCH codes is shown once, to a caller with a valid
 * session and the password; a new batch revokes the previous one.  A code is
 * ZT_RECOVERY_CHARS base32 characters (50 bits from the CSPRNG), shown as two
 * groups of five joined by a dash and read without regard to case or
 * dashes.  Only HMAC-SHA-256 of "<secret uuid>:<code>" is stored, under a
 * key derived from a key of zstack_tfa.encryption_key_file (crypto.c): the
 * table, a dump or a backup lets no one test a guess offline.  Without a key
 * file no batch is generated.
 *
 * At a login (twofactor.c), a code of this form is checked instead of a TOTP
 * code, inside the same fail-closed frame: once the recorder's slot is
 * reserved, the user's unused codes are read and the code's MAC computed
 * (an error there, a key gone from the file, gives the slot back
 * uncompared); then the comparison runs with interrupts held, and a wrong
 * code is handed to the recorder like a wrong TOTP code, counting toward
 * the same lockout.
 */
#include "lifecycle.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(generate_recovery_codes);
PG_FUNCTION_INFO_V1(revoke_recovery_codes);
PG_FUNCTION_INFO_V1(count_recovery_codes);

/* "<secret uuid>:<code>", what is hashed */
#define MAC_INPUT_LEN (32 + 1 + ZT_RECOVERY_CHARS)

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* Has the code as typed a recovery code's form (rather than a TOTP code's)? */
bool
zt_recovery_code_form(const char *code, size_t len)
{
	char		normal[ZT_RECOVERY_CHARS + 1];
	bool		form = zt_parse_recovery_code(code, len, normal);

	explicit_bzero(normal, sizeof(normal));
	return form;
}

/* The MAC of a code for a secret, under key_id (NULL: the current key). */
static void
CodeMac(const char *secret_uuid, const char *code, const char *key_id,
		unsigned char *mac, char *key_id_out)
{
	char		input[MAC_INPUT_LEN + 1];
	int			len = snprintf(input, sizeof(input), "%s:%s", secret_uuid, code);

	zt_recovery_mac(key_id, input, (size_t) len, mac, key_id_out);
	explicit_bzero(input, sizeof(input));
}

/*
 * Get ready to check a code at a login: when it has a recovery code's form,
 * read the secret's unused codes (with the newest snapshot, as the lockout
 * is read) and compute the code's MAC under each one's key.  Nothing is
 * compared here.  False when the code is not of that form: it is then a
 * TOTP code.
 */
bool
zt_recovery_prepare(const char *secret_uuid, const char *code, size_t code_len,
					ZtRecoveryCheck *rc)
{
	static SPIPlanPtr plan = NULL;
	Oid			type = TEXTOID;
	Datum		value;
	char		normal[ZT_RECOVERY_CHARS + 1];
	char		last_key[ZT_KEY_ID_LEN + 1] = "";

	memset(rc, 0, sizeof(*rc));
	rc->matched = -1;
	if (!zt_parse_recovery_code(code, code_len, normal))
		return false;
	value = CStringGetTextDatum(secret_uuid);
	if (SPI_execute_snapshot(zt_keep_plan(&plan,
										  "SELECT key_id, hash FROM zstack_tfa.recovery_code"
										  " WHERE secret_uuid OPERATOR(pg_catalog.=) $1 AND used_at IS NULL"
										  " ORDER BY hash LIMIT " CppAsString2(ZT_RECOVERY_BATCH),
										  1, &type),
							 &value, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, ZT_RECOVERY_BATCH) != SPI_OK_SELECT)
		elog(ERROR, "recovery code lookup failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		const char *key_id = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
		bool		isnull;
		bytea	   *hash = DatumGetByteaPP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));

		if (isnull || VARSIZE_ANY_EXHDR(hash) != ZT_RECOVERY_MAC_LEN)
			continue;
		memcpy(rc->hash[rc->ncodes], VARDATA_ANY(hash), ZT_RECOVERY_MAC_LEN);
		/* a batch shares one key: its MAC is computed once */
		if (rc->ncodes > 0 && strcmp(key_id, last_key) == 0)
			memcpy(rc->mac[rc->ncodes], rc->mac[rc->ncodes - 1], ZT_RECOVERY_MAC_LEN);
		else
			CodeMac(secret_uuid, normal, key_id, rc->mac[rc->ncodes], last_key);
		rc->ncodes++;
	}
	SPI_freetuptable(SPI_tuptable);
	explicit_bzero(normal, sizeof(normal));
	return true;
}

/*
 * Compare the code's MACs with the unused codes' hashes, in time that does
 * not depend on where or whether they differ.  Called with interrupts held,
 * once a wrong code is sure to be recorded.
 */
bool
zt_recovery_match(ZtRecoveryCheck *rc)
{
	int			matched = -1;

	for (int i = 0; i < rc->ncodes; i++)
	{
		unsigned int diff = 0;
		int			mask;

		for (int j = 0; j < ZT_RECOVERY_MAC_LEN; j++)
			diff |= rc->mac[i][j] ^ rc->hash[i][j];
		/* all ones when diff is 0, without a branch on it */
		mask = -(int) (((diff - 1) >> 8) & 1);
		matched = (matched & ~mask) | (i & mask);
	}
	rc->matched = matched;
	explicit_bzero(rc->mac, sizeof(rc->mac));
	return matched >= 0;
}

/*
 * The rest of a login with a right recovery code: the code is spent, the
 * secret's count of wrong codes starts anew (the secret itself stays as it
 * was), and the login is audited as a recovery login.  False, with ID.2002,
 * when another login spent the code first or the user got locked meanwhile.
 */
bool
zt_recovery_log_in(const Principal *p, const char *secret_uuid, ZtRecoveryCheck *rc,
				   TimestampTz at, ZtFailure *f)
{
	static SPIPlanPtr lock_plan = NULL;
	static SPIPlanPtr spend_plan = NULL;
	static SPIPlanPtr success_plan = NULL;
	Oid			types[3] = {TEXTOID, TIMESTAMPTZOID, BYTEAOID};
	Datum		values[3];
	bytea	   *hash = palloc(VARHDRSZ + ZT_RECOVERY_MAC_LEN);

	Assert(rc->matched >= 0 && rc->matched < rc->ncodes);
	SET_VARSIZE(hash, VARHDRSZ + ZT_RECOVERY_MAC_LEN);
	memcpy(VARDATA(hash), rc->hash[rc->matched], ZT_RECOVERY_MAC_LEN);
	explicit_bzero(rc, sizeof(*rc));
	values[0] = CStringGetTextDatum(secret_uuid);
	values[1] = TimestampTzGetDatum(at);
	values[2] = PointerGetDatum(hash);

	/* lock the secret's row and look again, as a TOTP code's login does */
	if (SPI_execute_plan(zt_keep_plan(&lock_plan,
									  "SELECT 1 FROM zstack_tfa.secret WHERE uuid OPERATOR(pg_catalog.=) $1"
									  " AND (locked_until IS NULL OR locked_until OPERATOR(pg_catalog.<=) $2) FOR UPDATE",
									  2, types),
						 values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "secret lookup failed");
	if (SPI_processed == 1)
	{
		/* of two logins with one code, the second finds it spent */
		if (SPI_execute_plan(zt_keep_plan(&spend_plan,
										  "UPDATE zstack_tfa.recovery_code SET used_at = $2"
										  " WHERE secret_uuid OPERATOR(pg_catalog.=) $1"
										  " AND hash OPERATOR(pg_catalog.=) $3 AND used_at IS NULL",
										  3, types),
							 values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "recovery code update failed");
	}
	if (SPI_processed != 1)
		return zt_fail(f, ZT_ERR_ID_2002, "wrong or already used two-factor authentication code");
	if (SPI_execute_plan(zt_keep_plan(&success_plan,
									  "UPDATE zstack_tfa.secret SET failed_attempts = 0, locked_until = NULL,"
									  " last_login_date = $2 WHERE uuid OPERATOR(pg_catalog.=) $1",
									  2, types),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "secret update failed");
	zt_commit_durably();
	zt_audit_secret("recovery_login", "success", NULL, p, secret_uuid, -1);
	return true;
}

/* ---------------------------------------------------------------------------
 * Management: generate, revoke, count
 * ---------------------------------------------------------------------------
 */

/* The caller of a session as a principal (for the audit). */
static void
CallerPrincipal(const ZtCaller *caller, Principal *p)
{
	memset(p, 0, sizeof(*p));
	p->found = true;
	p->iam2 = caller->is_iam2;
	strlcpy(p->uuid, caller->user_uuid, sizeof(p->uuid));
	strlcpy(p->account_uuid, caller->account_uuid, sizeof(p->account_uuid));
}

/* The name of the session's user (an account or IAM2 user), or NULL. */
static char *
CallerName(const ZtCaller *caller)
{
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(caller->user_uuid);

	if (SPI_execute_with_args(caller->is_iam2
							  ? "SELECT name FROM zstack_tfa.iam2_virtual_id WHERE uuid OPERATOR(pg_catalog.=) $1"
							  : "SELECT name FROM zstack_tfa.account WHERE uuid OPERATOR(pg_catalog.=) $1",
							  1, &type, &value, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "principal lookup failed");
	return SPI_processed == 1 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
}

/* The uuid of the user's secret, or NULL when it has none. */
static char *
SecretOf(const char *user_uuid)
{
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(user_uuid);

	if (SPI_execute_with_args("SELECT uuid FROM zstack_tfa.secret WHERE user_uuid OPERATOR(pg_catalog.=) $1",
							  1, &type, &value, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "secret lookup failed");
	return SPI_processed == 1 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
}

/*
 * One batch of a user's codes made at a time: of two generations at once,
 * the second deletes the first one's batch.
 */
static void
LockBatch(const char *user_uuid)
{
	LOCKTAG		tag;
	uint32		hash = DatumGetUInt32(hash_any((const unsigned char *) user_uuid,
											   (int) strlen(user_uuid)));

	/* field4 5: a space of its own (failures.c takes 4, twofactor.c 3) */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, hash, 0x7a74, 5);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* Make one code, ZT_RECOVERY_CHARS base32 characters, from the CSPRNG. */
static void
NewCode(char *out)
{
	unsigned char bytes[ZT_RECOVERY_CHARS];

	if (!pg_strong_random(bytes, sizeof(bytes)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
	/* 256 is a multiple of 32: each character is uniform */
	for (int i = 0; i < ZT_RECOVERY_CHARS; i++)
		out[i] = base32_alphabet[bytes[i] & 31];
	out[ZT_RECOVERY_CHARS] = '\0';
	explicit_bzero(bytes, sizeof(bytes));
}

/*
 * Replace the secret's codes with a new batch and write the reply
 * {"inventory":{"userUuid","userType","codes":[...],"createDate"}}.
 */
static void
NewBatch(const Principal *p, const char *secret_uuid, StringInfo out)
{
	Oid			types[4] = {TEXTOID, TEXTOID, BYTEAOID, TIMESTAMPTZOID};
	Datum		values[4];
	TimestampTz created = GetCurrentTransactionStartTimestamp();
	bool		first = true;

	LockBatch(p->uuid);
	values[0] = CStringGetTextDatum(secret_uuid);
	/* the newest snapshot: a batch committed by a generation we waited for goes too */
	if (SPI_execute_snapshot(SPI_prepare("DELETE FROM zstack_tfa.recovery_code"
										 " WHERE secret_uuid OPERATOR(pg_catalog.=) $1", 1, types),
							 values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 false, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "recovery code delete failed");
	appendStringInfoString(out, "{\"inventory\":{");
	zt_json_key(out, "userUuid", &first);
	zt_json_cstring(out, p->uuid);
	zt_json_key(out, "userType", &first);
	zt_json_cstring(out, p->iam2 ? "IAM2VirtualIDVO" : "AccountVO");
	zt_json_key(out, "codes", &first);
	appendStringInfoChar(out, '[');
	for (int i = 0; i < ZT_RECOVERY_BATCH; i++)
	{
		char		code[ZT_RECOVERY_CHARS + 1];
		char		shown[ZT_RECOVERY_CHARS + 2];
		char		key_id[ZT_KEY_ID_LEN + 1];
		bytea	   *hash = palloc(VARHDRSZ + ZT_RECOVERY_MAC_LEN);

		NewCode(code);
		SET_VARSIZE(hash, VARHDRSZ + ZT_RECOVERY_MAC_LEN);
		CodeMac(secret_uuid, code, NULL, (unsigned char *) VARDATA(hash), key_id);
		values[1] = CStringGetTextDatum(key_id);
		values[2] = PointerGetDatum(hash);
		values[3] = TimestampTzGetDatum(created);
		/* two codes alike (a chance in 2^50) would share a key: try again */
		if (SPI_execute_with_args("INSERT INTO zstack_tfa.recovery_code (secret_uuid, key_id, hash, created_at)"
								  " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
								  4, types, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "recovery code insert failed");
		if (SPI_processed != 1)
		{
			i--;
			continue;
		}
		/* shown as two groups of five, for reading aloud and typing */
		memcpy(shown, code, ZT_RECOVERY_CHARS / 2);
		shown[ZT_RECOVERY_CHARS / 2] = '-';
		memcpy(shown + ZT_RECOVERY_CHARS / 2 + 1, code + ZT_RECOVERY_CHARS / 2,
			   ZT_RECOVERY_CHARS - ZT_RECOVERY_CHARS / 2 + 1);
		if (i > 0)
			appendStringInfoChar(out, ',');
		zt_json_cstring(out, shown);
		explicit_bzero(code, sizeof(code));
		explicit_bzero(shown, sizeof(shown));
	}
	appendStringInfoChar(out, ']');
	zt_json_key(out, "createDate", &first);
	zt_json_date(out, created);
	appendStringInfoString(out, "}}");
}

/*
 * generate_recovery_codes(session_uuid, password): a new batch for the
 * session's user, who gives the password again; the previous batch is
 * revoked.  The codes are in this reply only (out).  False, with the
 * refusal in f, otherwise.
 */
static bool
IssueBatch(const ZtCaller *caller, const char *password, StringInfo out, ZtFailure *f)
{
	const char *name;
	const char *secret_uuid;
	Principal	p;

	if (zt_read_only())
		return zt_fail(f, ZT_ERR_SYS_1006, ZT_READ_ONLY_DETAILS);
	if (!zt_encryption_configured())
		return zt_fail(f, ZT_ERR_SYS_1006,
					   "recovery codes need a key: the server has no zstack_tfa.encryption_key_file (README \"Recovery codes\")");
	name = CallerName(caller);
	if (name == NULL)
		elog(ERROR, "the session's user is missing");
	/* a refusal is audited by zt_check_credentials */
	if (!zt_check_credentials(name, password, caller->is_iam2, "generate_recovery_codes", &p, f))
		return false;
	secret_uuid = SecretOf(p.uuid);
	if (secret_uuid == NULL)
	{
		zt_fail(f, ZT_ERR_SYS_1006,
				"this user has no two-factor authentication secret (two-factor authentication is off, or the secret was never fetched): recovery codes belong to a secret");
		zt_audit("generate_recovery_codes", "no_secret", "SYS.1006", &p);
		return false;
	}
	NewBatch(&p, secret_uuid, out);
	zt_audit_secret("generate_recovery_codes", "success", NULL, &p, secret_uuid, -1);
	return true;
}

/*
 * A new batch of codes for the session's user (IssueBatch); its reply, or
 * the refusal's envelope.
 */
static Datum
GenerateRecoveryCodes(PG_FUNCTION_ARGS)
{
	int			spi_level;
	const char *session = zt_text_arg(fcinfo, 0, "session_uuid");
	const char *password = zt_text_arg(fcinfo, 1, "password");
	StringInfoData out;
	ZtCaller	caller;
	ZtFailure	f;
	bool		ok = false;

	zt_json_begin(&out, 1024);
	spi_level = zt_spi_connect();
	if (zt_authenticate(session, strlen(session), &caller, &f))
		ok = IssueBatch(&caller, password, &out, &f);
	if (!ok)
		zt_error_envelope(&out, &f);
	zt_spi_finish(spi_level);
	PG_RETURN_DATUM(zt_json_result(&out));
}

/* SQL entry point of GenerateRecoveryCodes, its caller's statement kept out of the log. */
Datum
generate_recovery_codes(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, GenerateRecoveryCodes);
}

/*
 * The user whose codes a revoke or count is about: the session's own (name
 * NULL), or the one named by name and type, which only a SystemAdmin may
 * name unless it is the caller.  False, with the refusal in f (audited
 * under kind, when kind is not NULL), otherwise.
 */
static bool
TargetUser(FunctionCallInfo fcinfo, ZtCaller *caller, const char *kind,
		   Principal *target, ZtFailure *f)
{
	/* NULL for an optional argument means its default */
	const char *type = PG_ARGISNULL(2) ? "account" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	bool		iam2 = strcmp(type, "iam2") == 0;
	const char *name;
	Principal	self;

	CallerPrincipal(caller, &self);
	if (!iam2 && strcmp(type, "account") != 0)
		return zt_fail(f, ZT_ERR_SYS_1007, ZT_BAD_VALUE_FORMAT, "type", "[account, iam2]",
					   zt_clip(type, strlen(type), 64));
	if (PG_ARGISNULL(1))
	{
		*target = self;
		return true;
	}
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	zt_load_principal(name, iam2, target);
	if (target->found && strcmp(target->uuid, caller->user_uuid) == 0)
		return true;
	/* one answer for a name that exists and one that does not */
	if (!zt_caller_is_admin(caller))
	{
		zt_fail(f, ZT_ERR_ID_1002, "only a SystemAdmin account may manage the recovery codes of another user");
		if (kind != NULL)
			zt_audit(kind, "denied", "ID.1002", &self);
		return false;
	}
	if (!target->found)
		return zt_fail(f, ZT_ERR_SYS_1007, "no %s named \"%s\"", iam2 ? "IAM2 virtual ID" : "account",
					   zt_clip(name, strlen(name), 64));
	return true;
}

/*
 * revoke_recovery_codes(session_uuid, name DEFAULT NULL, type DEFAULT
 * 'account'): delete a user's codes; {"revoked":N} counts the unused ones.
 */
static Datum
RevokeRecoveryCodes(PG_FUNCTION_ARGS)
{
	int			spi_level;
	const char *session = zt_text_arg(fcinfo, 0, "session_uuid");
	StringInfoData out;
	ZtCaller	caller;
	Principal	target;
	ZtFailure	f;
	bool		ok = false;

	zt_json_begin(&out, 256);
	spi_level = zt_spi_connect();
	if (zt_authenticate(session, strlen(session), &caller, &f))
	{
		if (zt_read_only())
			zt_fail(&f, ZT_ERR_SYS_1006, ZT_READ_ONLY_DETAILS);
		else if (TargetUser(fcinfo, &caller, "revoke_recovery_codes", &target, &f))
		{
			Oid			type = TEXTOID;
			Datum		value = CStringGetTextDatum(target.uuid);
			bool		isnull;
			int64		revoked;

			LockBatch(target.uuid);
			if (SPI_execute_with_args("WITH gone AS (DELETE FROM zstack_tfa.recovery_code c"
									  " USING zstack_tfa.secret s WHERE s.uuid OPERATOR(pg_catalog.=) c.secret_uuid"
									  " AND s.user_uuid OPERATOR(pg_catalog.=) $1 RETURNING c.used_at)"
									  " SELECT pg_catalog.count(*) FILTER (WHERE used_at IS NULL) FROM gone",
									  1, &type, &value, NULL, false, 1) != SPI_OK_SELECT)
				elog(ERROR, "recovery code delete failed");
			revoked = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			zt_audit("revoke_recovery_codes", "success", NULL, &target);
			appendStringInfo(&out, "{\"revoked\":" INT64_FORMAT "}", revoked);
			ok = true;
		}
	}
	if (!ok)
		zt_error_envelope(&out, &f);
	zt_spi_finish(spi_level);
	PG_RETURN_DATUM(zt_json_result(&out));
}

Datum
revoke_recovery_codes(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, RevokeRecoveryCodes);
}

/*
 * count_recovery_codes(session_uuid, name DEFAULT NULL, type DEFAULT
 * 'account'): {"left":N,"used":M} for a user's current batch; never a code.
 */
static Datum
CountRecoveryCodes(PG_FUNCTION_ARGS)
{
	int			spi_level;
	const char *session = zt_text_arg(fcinfo, 0, "session_uuid");
	StringInfoData out;
	ZtCaller	caller;
	Principal	target;
	ZtFailure	f;
	bool		ok = false;

	zt_json_begin(&out, 256);
	spi_level = zt_spi_connect();
	if (zt_authenticate(session, strlen(session), &caller, &f) &&
		TargetUser(fcinfo, &caller, NULL, &target, &f))
	{
		Oid			type = TEXTOID;
		Datum		value = CStringGetTextDatum(target.uuid);
		bool		isnull;

		if (SPI_execute_with_args("SELECT pg_catalog.count(*) FILTER (WHERE c.used_at IS NULL),"
								  " pg_catalog.count(c.used_at)"
								  " FROM zstack_tfa.recovery_code c JOIN zstack_tfa.secret s"
								  " ON s.uuid OPERATOR(pg_catalog.=) c.secret_uuid"
								  " WHERE s.user_uuid OPERATOR(pg_catalog.=) $1",
								  1, &type, &value, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "recovery code count failed");
		appendStringInfo(&out, "{\"left\":" INT64_FORMAT ",\"used\":" INT64_FORMAT "}",
						 DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
						 DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)));
		ok = true;
	}
	if (!ok)
		zt_error_envelope(&out, &f);
	zt_spi_finish(spi_level);
	PG_RETURN_DATUM(zt_json_result(&out));
}

Datum
count_recovery_codes(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, CountRecoveryCodes);
}
