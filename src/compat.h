/*
 * compat.h
 *		The differences between the PostgreSQL majors zstack_tfa builds on
 *		(15, 17 and 18), behind names defined once, so that the code that
 *		uses them reads the same on every version.  Every PG_VERSION_NUM
 *		test of the extension lives here.
 */
#ifndef ZT_COMPAT_H
#define ZT_COMPAT_H

#include "postgres.h"

/*
 * The names below are macros that expand where they are used, so this
 * header pulls in no PostgreSQL header of its own: each user includes what
 * the expansion names (common/jsonapi.h, utils/datetime.h, access/genam.h,
 * common/base64.h, storage/proc.h).
 */

/*
 * A function that never returns: 18 spells it as a prefix (pg_noreturn),
 * before it the suffix pg_attribute_noreturn(), which gcc and clang also
 * take before a declaration.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * The JSON parser's semantic callbacks return JsonParseErrorType since 16
 * (void before); a callback ends with ZT_JSON_CALLBACK_DONE.
 */
#if PG_VERSION_NUM >= 160000
#define ZtJsonCallbackResult JsonParseErrorType
#define ZT_JSON_CALLBACK_DONE return JSON_SUCCESS
#else
#define ZtJsonCallbackResult void
#define ZT_JSON_CALLBACK_DONE return
#endif

/* A lexer over len bytes of json; 17 takes a context to fill (NULL: a new one). */
#if PG_VERSION_NUM >= 170000
#define zt_json_lexer(json, len, encoding) \
	makeJsonLexContextCstringLen(NULL, (json), (len), (encoding), true)
#else
#define zt_json_lexer(json, len, encoding) \
	makeJsonLexContextCstringLen((json), (len), (encoding), true)
#endif

/*
 * DecodeDateTime reports what it could not read through a DateTimeErrorExtra
 * since 16 (and raises no more); its contents are not used here.
 */
#if PG_VERSION_NUM >= 160000
#define zt_decode_date_time(field, ftype, nf, dtype, tm, fsec, tz) \
	DecodeDateTime((field), (ftype), (nf), (dtype), (tm), (fsec), (tz), \
				   &(DateTimeErrorExtra) {0})
#else
#define zt_decode_date_time(field, ftype, nf, dtype, tm, fsec, tz) \
	DecodeDateTime((field), (ftype), (nf), (dtype), (tm), (fsec), (tz))
#endif

/*
 * The primary key index of a table (18 asks whether a deferrable one will
 * do: ours are never deferrable) and an index scan on it (18 takes the
 * EXPLAIN instrumentation of the scan: none).
 */
#if PG_VERSION_NUM >= 180000
#define zt_primary_key_index(rel) RelationGetPrimaryKeyIndex((rel), false)
#define zt_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define zt_primary_key_index(rel) RelationGetPrimaryKeyIndex(rel)
#define zt_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/*
 * This backend's number among the PGPROCs (17 keeps it in MyProcNumber, no
 * more in the PGPROC); the user includes storage/proc.h.
 */
#if PG_VERSION_NUM >= 170000
#define zt_my_procno() MyProcNumber
#else
#define zt_my_procno() (MyProc->pgprocno)
#endif

/*
 * The timeouts that could end or cancel the wrong-code recorder, which pins
 * them to 0 whatever a database's or a role's settings say: 17 adds
 * transaction_timeout, which ends the session (FATAL) rather than the
 * statement.
 */
#if PG_VERSION_NUM >= 170000
#define ZT_SESSION_TIMEOUTS \
	{"statement_timeout", "idle_in_transaction_session_timeout", "transaction_timeout"}
#else
#define ZT_SESSION_TIMEOUTS \
	{"statement_timeout", "idle_in_transaction_session_timeout"}
#endif

/* May role use schema nsp?  16 checks every kind of object with one call. */
#if PG_VERSION_NUM >= 160000
#define zt_schema_usage(nsp, role) \
	(object_aclcheck(NamespaceRelationId, (nsp), (role), ACL_USAGE) == ACLCHECK_OK)
#else
#define zt_schema_usage(nsp, role) \
	(pg_namespace_aclcheck((nsp), (role), ACL_USAGE) == ACLCHECK_OK)
#endif

/* Base64 of len bytes: 18 takes them as uint8, before as char. */
#define zt_b64_encode(src, len, dst, dstlen) \
	pg_b64_encode((const void *) (src), (len), (dst), (dstlen))

#endif							/* ZT_COMPAT_H */
