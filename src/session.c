/*
 * session.c
 *		Authorization: checks a ZStack session and says what its caller may see.
 */
#include "zstack_tfa.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

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

/*
 * True when the installed SQL objects are those of 1.2 or later, which store
 * session keys (zstack_tfa.session_key exists).  The library is replaced
 * before ALTER EXTENSION ... UPDATE runs: until then the 1.1 table still
 * holds uuids, and its sessions must go on working.  A syscache probe, which
 * DDL invalidates, so the update takes effect at once in every backend.
 */
static bool
SessionsKeyed(void)
{
	static const oidvector *text_arg = NULL;

	if (text_arg == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		text_arg = buildoidvector(argtypes, 1);
		MemoryContextSwitchTo(old);
	}
	return SearchSysCacheExists3(PROCNAMEARGSNSP, CStringGetDatum("session_key"),
								 PointerGetDatum(text_arg),
								 ObjectIdGetDatum(zt_schema_oid()));
}

/*
 * Write into out[33] the key under which zstack_tfa.session stores the
 * session uuid (len bytes): the first 32 hex digits of its SHA-256, as
 * zstack_tfa.session_key() computes them in SQL.  The uuid is the bearer
 * credential and only this key is at rest, so a dump, a base backup or WAL
 * holds nothing a client could present.  Unkeyed is enough: a session uuid
 * is 122 random bits, too many to guess back from its hash.  Before the
 * update to 1.2 the key is the uuid itself (empty for what is no uuid).
 */
void
zt_session_key(const char *uuid, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_cryptohash_ctx *ctx;

	if (!SessionsKeyed())
	{
		size_t		n = len == ZT_SESSION_KEY_LEN ? len : 0;

		memcpy(out, uuid, n);
		out[n] = '\0';
		return;
	}
	ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) uuid, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		/* the context's message names the failure, never the input */
		const char *why = ctx != NULL ? pg_cryptohash_error(ctx) : "out of memory";

		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("could not compute a session key: %s", why)));
	}
	pg_cryptohash_free(ctx);
	for (int i = 0; i < ZT_SESSION_KEY_LEN / 2; i++)
	{
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 15];
	}
	out[ZT_SESSION_KEY_LEN] = '\0';
}

/*
 * Find the row of relation relname (in zstack_tfa) whose primary key, a
 * text uuid, equals key, and store it in a slot made for the relation (NULL
 * if there is none).  This reads the primary-key index directly, with the
 * statement's snapshot and the same lock a SELECT takes, and so costs a
 * fraction of an SPI statement (no planning check, no executor start-up);
 * it is used for the lookups every API call makes.  The caller ends the
 * fetch with zt_fetch_end().  The functions that call this are SECURITY
 * DEFINER and run as the tables' owner, as an SPI statement would.
 */
TupleTableSlot *
zt_fetch_by_uuid(const char *relname, const char *key, size_t len,
				 Relation *relp)
{
	Oid			relid = get_relname_relid(relname, zt_schema_oid());
	Relation	heap;
	Relation	index;
	Oid			pkey;
	Oid			eqop;
	ScanKeyData sk;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		found;

	if (!OidIsValid(relid))
		elog(ERROR, "table zstack_tfa.%s is missing", relname);
	heap = table_open(relid, AccessShareLock);
	pkey = zt_primary_key_index(heap);
	if (!OidIsValid(pkey))
		elog(ERROR, "table zstack_tfa.%s has no primary key", relname);
	index = index_open(pkey, AccessShareLock);
	eqop = get_opfamily_member(index->rd_opfamily[0], TEXTOID, TEXTOID,
							   BTEqualStrategyNumber);
	if (!OidIsValid(eqop))
		elog(ERROR, "the primary key of zstack_tfa.%s is not on text", relname);

	ScanKeyEntryInitialize(&sk, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], get_opcode(eqop),
						   PointerGetDatum(cstring_to_text_with_len(key, (int) len)));
	slot = table_slot_create(heap, NULL);
	scan = zt_index_beginscan(heap, index, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &sk, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
		slot_getallattrs(slot);
	index_endscan(scan);
	index_close(index, NoLock);
	*relp = heap;
	if (!found)
	{
		zt_fetch_end(slot, heap);
		return NULL;
	}
	return slot;
}

/* Release what zt_fetch_by_uuid() took (the lock stays, as for a SELECT). */
void
zt_fetch_end(TupleTableSlot *slot, Relation rel)
{
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
}

/* The value of column name in a fetched row (errors if there is none). */
Datum
zt_fetched_column(TupleTableSlot *slot, const char *name, bool *isnull)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
		{
			*isnull = slot->tts_isnull[i];
			return slot->tts_values[i];
		}
	}
	elog(ERROR, "column %s is missing", name);
	return (Datum) 0;			/* keep the compiler quiet */
}

/* Copy a fetched text uuid column into dst[33]. */
static void
CopyUuid(char *dst, TupleTableSlot *slot, const char *name)
{
	bool		isnull;
	Datum		d = zt_fetched_column(slot, name, &isnull);

	if (isnull)
		dst[0] = '\0';
	else
		text_to_cstring_buffer(DatumGetTextPP(d), dst, 33);
}

/* True when a fetched enum column holds the label. */
static bool
EnumIs(TupleTableSlot *slot, const char *name, const char *label)
{
	bool		isnull;
	Datum		d = zt_fetched_column(slot, name, &isnull);
	HeapTuple	tup;
	bool		is;

	if (isnull)
		return false;
	tup = SearchSysCache1(ENUMOID, d);
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for enum %u", DatumGetObjectId(d));
	is = strcmp(NameStr(((Form_pg_enum) GETSTRUCT(tup))->enumlabel), label) == 0;
	ReleaseSysCache(tup);
	return is;
}

/*
 * True when the caller is a SystemAdmin account (never for an IAM2 user's
 * session).  The account is read on the first question only: most calls
 * never ask, since a row the caller owns needs no such check.
 */
bool
zt_caller_is_admin(ZtCaller *caller)
{
	TupleTableSlot *slot;
	Relation	rel;

	if (caller->admin_known)
		return caller->is_admin;
	slot = zt_fetch_by_uuid("account", caller->account_uuid,
							strlen(caller->account_uuid), &rel);
	/* session.account_uuid references the account, so it is there */
	caller->is_admin = slot != NULL && EnumIs(slot, "type", "SystemAdmin");
	if (slot != NULL)
		zt_fetch_end(slot, rel);
	caller->admin_known = true;
	return caller->is_admin;
}

/*
 * The longest an expiry may lag behind now + the renewal before a call
 * writes it: 60 seconds, or a tenth of a short timeout.  A busy session is
 * then written about once a minute instead of on every call, so reading
 * the API does not mean a WAL write and a commit each time.
 */
static double
RenewSlackSeconds(int renewal)
{
	double		tenth = renewal / 10.0;

	return tenth < 60.0 ? tenth : 60.0;
}

/*
 * How long each authorised call makes a session live from now: ZStack's
 * AuthorizationManager calls Session.renewSession(uuid, null), a renewal
 * by zstack_tfa.session_timeout, which RenewSession without a duration is
 * too; both are held to the ceiling a DBA set (zstack_tfa.max_session_renewal).
 */
int
zt_session_renewal(void)
{
	return Min(zt_session_timeout, zt_max_session_renewal);
}

/*
 * Delete the session stored under key when it has expired by the clock,
 * as ZStack's Session.checkSessionExpired logs it out; nothing in a call
 * that may not write.  Must run inside an SPI connection.
 */
void
zt_delete_expired_session(const char *key)
{
	static SPIPlanPtr plan = NULL;
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(key);

	if (zt_read_only())
		return;
	if (SPI_execute_plan(zt_keep_plan(&plan,
									  "DELETE FROM zstack_tfa.session WHERE uuid OPERATOR(pg_catalog.=) $1"
									  " AND expired_date OPERATOR(pg_catalog.<) pg_catalog.clock_timestamp()",
									  1, &type),
						 &value, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "session delete failed");
}

/*
 * Check a session uuid (found by its key, zt_session_key) and fill in the
 * caller.  On success the session's expiry is set to now +
 * zt_session_renewal(), as ZStack's Session.renewSession does on every
 * authorised call (so a call after a long RenewSession cuts it back), once
 * it differs from that by more than the renew slack, unless this call may
 * not write.  An expired session is deleted on the way, as ZStack does.
 * Must run inside an SPI connection.
 */
bool
zt_authenticate(const char *uuid, size_t len, ZtCaller *caller, ZtFailure *f)
{
	static SPIPlanPtr extend_plan = NULL;
	TupleTableSlot *slot;
	Relation	rel;
	/*
	 * The clock, not now(): a transaction that began before a session
	 * expired must not find it still valid, nor extend it.
	 */
	TimestampTz clock = GetCurrentTimestamp();
	TimestampTz expires;
	TimestampTz target;
	int			renewal = zt_session_renewal();
	bool		isnull;
	bool		stale;
	char		key[ZT_SESSION_KEY_LEN + 1];

	/* a malformed uuid cannot name a session: no need to ask the table */
	if (!zt_is_uuid(uuid, len))
		return zt_fail(f, ZT_ERR_ID_1001, ZT_SESSION_EXPIRED);

	zt_session_key(uuid, len, key);
	slot = zt_fetch_by_uuid("session", key, strlen(key), &rel);
	if (slot != NULL)
	{
		expires = DatumGetTimestampTz(zt_fetched_column(slot, "expired_date", &isnull));
		/* valid up to and at its expiry instant, as ZStack's curr.after(expired) */
		if (isnull || expires < clock)
		{
			zt_fetch_end(slot, rel);
			zt_delete_expired_session(key);
			/* the uuid is a bearer credential: never echo it */
			return zt_fail(f, ZT_ERR_ID_1001, ZT_SESSION_EXPIRED);
		}
	}
	if (slot == NULL)
		return zt_fail(f, ZT_ERR_ID_1001, ZT_SESSION_EXPIRED);
	CopyUuid(caller->account_uuid, slot, "account_uuid");
	CopyUuid(caller->user_uuid, slot, "user_uuid");
	caller->is_iam2 = EnumIs(slot, "user_type", "IAM2VirtualIDVO");
	target = clock + (TimestampTz) renewal * USECS_PER_SEC;
	/* behind by more than the slack, or beyond (a RenewSession's longer expiry) */
	stale = expires < target - (TimestampTz) (RenewSlackSeconds(renewal) * USECS_PER_SEC) ||
		expires > target;
	zt_fetch_end(slot, rel);

	/* an IAM2 user is never an admin; an account's type is read when asked */
	caller->admin_known = caller->is_iam2;
	caller->is_admin = false;

	if (stale && !zt_read_only())
	{
		Oid			types[2] = {TEXTOID, FLOAT8OID};
		Datum		values[2];

		values[0] = CStringGetTextDatum(key);
		values[1] = Float8GetDatum((double) renewal);
		if (SPI_execute_plan(zt_keep_plan(&extend_plan,
										  "UPDATE zstack_tfa.session"
										  " SET expired_date = pg_catalog.clock_timestamp()"
										  " OPERATOR(pg_catalog.+) ($2 OPERATOR(pg_catalog.*) interval '1 second')"
										  " WHERE uuid OPERATOR(pg_catalog.=) $1"
										  " AND expired_date OPERATOR(pg_catalog.>=) pg_catalog.clock_timestamp()",
										  2, types),
							 values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "session extension failed");
	}
	return true;
}
