/*
 * session.c
 *		Authorization: checks a ZStack session and says what its caller may see.
 */
#include "zstack_tfa.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

/*
 * True when this call must not write: a read-only transaction (PostgREST
 * runs GETs that way) or a hot standby.  The session is still checked then,
 * but its expiry is left as it is (SPEC §1.3).
 */
bool
zt_read_only(void)
{
	return XactReadOnly || RecoveryInProgress();
}

/* The OID of the extension's schema; errors if the extension is missing. */
Oid
zt_schema_oid(void)
{
	return get_namespace_oid("zstack_tfa", false);
}

/*
 * Prepare sql once per backend and keep the plan in *slot.  Plans are
 * re-validated by the plan cache, so they survive ALTERs and even a
 * re-created extension (the SQL names everything by qualified name).
 *
 * The plans are generic: every statement here is an index lookup or an
 * index-ordered page whose best plan does not depend on the values, and the
 * plan cache, left to choose, kept re-planning custom plans on each call
 * (a uuid lookup took 43 µs instead of 16 µs).
 */
SPIPlanPtr
zt_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes,
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/* Write a new ZStack uuid (32 hex digits, random version 4) into out[33]. */
void
zt_new_uuid(char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char bytes[16];

	if (!pg_strong_random(bytes, sizeof(bytes)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
	bytes[6] = (bytes[6] & 0x0f) | 0x40;
	bytes[8] = (bytes[8] & 0x3f) | 0x80;
	for (int i = 0; i < 16; i++)
	{
		out[2 * i] = hex[bytes[i] >> 4];
		out[2 * i + 1] = hex[bytes[i] & 15];
	}
	out[32] = '\0';
}

static void
CopyUuid(char *dst, HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	strlcpy(dst, v ? v : "", 33);
}

/*
 * The longest an expiry may lag behind now + zstack_tfa.session_timeout
 * before a call writes it: 60 seconds, or a tenth of a short timeout.  A
 * busy session is then written about once a minute instead of on every
 * call, so reading the API does not mean a WAL write and a commit each time.
 */
static double
RenewSlackSeconds(void)
{
	double		tenth = zt_session_timeout / 10.0;

	return tenth < 60.0 ? tenth : 60.0;
}

/*
 * Check a session uuid and fill in the caller; on success the session's
 * expiry moves to now + zstack_tfa.session_timeout (never earlier than it
 * was, and only once it lags by more than the renew slack), unless this
 * call may not write.  Must run inside an SPI connection.
 */
bool
zt_authenticate(const char *uuid, size_t len, ZtCaller *caller, ZtFailure *f)
{
	static SPIPlanPtr check_plan = NULL;
	static SPIPlanPtr extend_plan = NULL;
	Oid			types[3] = {TEXTOID, FLOAT8OID, FLOAT8OID};
	Datum		values[3];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	bool		stale;
	char	   *s;

	/* a malformed uuid cannot name a session: no need to ask the table */
	if (!zt_is_uuid(uuid, len))
		return zt_fail(f, ZT_ERR_ID_1001, "session uuid is not a 32-character lower-case hex string");

	values[0] = PointerGetDatum(cstring_to_text_with_len(uuid, (int) len));
	values[1] = Float8GetDatum((double) zt_session_timeout);
	values[2] = Float8GetDatum(RenewSlackSeconds());
	if (SPI_execute_plan(zt_keep_plan(&check_plan,
									  "SELECT s.account_uuid, s.user_uuid, s.user_type::text, a.type::text,"
									  " s.expired_date < pg_catalog.now() + ($2 - $3) * interval '1 second'"
									  " FROM zstack_tfa.session s"
									  " JOIN zstack_tfa.account a ON a.uuid = s.account_uuid"
									  " WHERE s.uuid = $1 AND s.expired_date > pg_catalog.now()",
									  3, types),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "session lookup failed");
	if (SPI_processed == 0)
		/* the uuid is a bearer credential: never echo it */
		return zt_fail(f, ZT_ERR_ID_1001, "no such session, or it has expired");

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	CopyUuid(caller->account_uuid, tup, desc, 1);
	CopyUuid(caller->user_uuid, tup, desc, 2);
	s = SPI_getvalue(tup, desc, 3);
	caller->is_iam2 = (s != NULL && strcmp(s, "IAM2VirtualIDVO") == 0);
	s = SPI_getvalue(tup, desc, 4);
	caller->is_admin = (s != NULL && strcmp(s, "SystemAdmin") == 0 && !caller->is_iam2);
	stale = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
	SPI_freetuptable(SPI_tuptable);

	if (stale && !zt_read_only())
	{
		if (SPI_execute_plan(zt_keep_plan(&extend_plan,
										  "UPDATE zstack_tfa.session"
										  " SET expired_date = GREATEST(expired_date,"
										  " pg_catalog.now() + $2 * interval '1 second')"
										  " WHERE uuid = $1",
										  2, types),
							 values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "session extension failed");
	}
	return true;
}
