/*
 * zstack_tfa.h
 *		Declarations shared by the backend parts of zstack_tfa.
 */
#ifndef ZSTACK_TFA_H
#define ZSTACK_TFA_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "compat.h"
#include "parse.h"

/* Settings (zstack_tfa.c). */
extern int	zt_session_timeout;
extern int	zt_max_session_renewal;
extern int	zt_date_style;
extern int	zt_max_failed_attempts;
extern int	zt_lockout_seconds;
extern int	zt_stuck_wrong_code_seconds;
extern char *zt_encryption_key_file;
extern int	zt_key_file_generation;

/* The longest RenewSession ZStack accepts, in seconds (its numberRange). */
#define ZT_MAX_RENEW_SECONDS 31536000

/*
 * The search_path every statement sent through SPI runs under, from any
 * entry point: the one SECURITY DEFINER functions pin, so that no object a
 * caller planted in public or pg_temp is ever looked up.
 */
#define ZT_SEARCH_PATH "pg_catalog, zstack_tfa, pg_temp"
extern int	zt_spi_connect(void);
extern void zt_spi_finish(int guc_level);
extern void zt_pin_search_path(void);
extern bool zt_loaded_at_start(void);

/*
 * An API-level failure: a catalogue code plus details for the caller.
 * bad_request marks the failures the REST layer answers with HTTP 400 text
 * instead of an envelope (a condition without an operator).  details lives
 * inside the struct so it survives SPI_finish.
 */
typedef struct ZtFailure
{
	ZtErrorCode code;
	bool		bad_request;
	char		details[1024];
} ZtFailure;

extern bool zt_fail(ZtFailure *f, ZtErrorCode code, const char *fmt,...) pg_attribute_printf(3, 4);
pg_noreturn extern void zt_raise(const ZtFailure *f);
extern char *zt_clip(const char *s, size_t len, size_t max);
extern void zt_require_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern char *zt_text_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern Datum zt_hiding_statement(FunctionCallInfo fcinfo, PGFunction body);

/* reply.c: the JSON writer. */
extern void zt_json_string(StringInfo buf, const char *s, size_t len);
extern void zt_json_cstring(StringInfo buf, const char *s);
extern void zt_json_key(StringInfo buf, const char *key, bool *first);
extern void zt_json_date(StringInfo buf, TimestampTz ts);
extern void zt_error_envelope(StringInfo buf, const ZtFailure *f);
extern void zt_json_begin(StringInfo buf, int expected_size);
extern Datum zt_json_result(StringInfo buf);

/* session.c: who is calling. */
typedef struct ZtCaller
{
	char		account_uuid[33];
	char		user_uuid[33];
	bool		is_iam2;		/* an IAM2 user's session: sees its own only */
	/* a SystemAdmin account sees everything: ask zt_caller_is_admin() */
	bool		admin_known;
	bool		is_admin;
} ZtCaller;

/*
 * ZStack's details for every unknown, expired or malformed session
 * (identity's Session.java): one text, so a reply tells no case apart.
 */
#define ZT_SESSION_EXPIRED "Session expired"

extern bool zt_read_only(void);
extern bool zt_authenticate(const char *uuid, size_t len, ZtCaller *caller,
							ZtFailure *f);
extern bool zt_caller_is_admin(ZtCaller *caller);
extern int	zt_session_renewal(void);
extern void zt_delete_expired_session(const char *key);
extern void zt_new_uuid(char *out);

/* zstack_tfa.session stores this many hex digits of a session uuid's SHA-256. */
#define ZT_SESSION_KEY_LEN 32
extern void zt_session_key(const char *uuid, size_t len, char *out);
extern TupleTableSlot *zt_fetch_by_uuid(const char *relname, const char *key,
										size_t len, Relation *relp);
extern void zt_fetch_end(TupleTableSlot *slot, Relation rel);
extern Datum zt_fetched_column(TupleTableSlot *slot, const char *name,
							   bool *isnull);
extern Oid	zt_schema_oid(void);
extern SPIPlanPtr zt_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs,
							   Oid *argtypes);

/* query.c: the query API, also called by the REST layer. */
typedef struct ZtQueryRequest
{
	const char *session_uuid;
	size_t		session_len;
	int			ncond;
	const char **cond;
	size_t	   *cond_len;
	int			limit;
	int			start;
	const char *sort;			/* NULL: no sort */
	size_t		sort_len;
	int			nfields;		/* 0: every field */
	const char **fields;
	size_t	   *fields_len;
	bool		count;
	bool		reply_with_count;
	const char *filter_name;	/* checked for its form, else ignored */
	size_t		filter_name_len;
	const char *path_uuid;		/* GET .../secrets/{uuid}: the one condition */
	size_t		path_uuid_len;
} ZtQueryRequest;

#define ZT_MAX_CONDITIONS 1000

extern bool zt_query_json(const ZtQueryRequest *req, StringInfo out,
						  ZtFailure *f);
extern const char *zt_inventory_columns(void);
extern void zt_json_secret_inventory(StringInfo out, HeapTuple tup,
									 TupleDesc desc, bool hide_secret);
extern void zt_json_inventory_schema(StringInfo out, const char *path,
									 size_t path_len, const char *java_class,
									 const bool *mask, const int *order,
									 bool *first);

#endif							/* ZSTACK_TFA_H */
