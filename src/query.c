/*
 * query.c
 *		QueryTwoFactorAuthentication: turns ZStack query conditions into
 *		parameterised, index-using SQL and returns the rows as a set or as
 *		ZStack's JSON reply.
 *
 * No caller text is ever spliced into SQL: field names are looked up in the
 * field table and only the table's column names are written; every value is
 * a typed parameter.  Plans are prepared once per query shape and kept.
 */
#include "zstack_tfa.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "access/xact.h"
#include "lib/ilist.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "crypto.h"

PG_FUNCTION_INFO_V1(query_two_factor_authentication);
PG_FUNCTION_INFO_V1(query_two_factor_authentication_json);

#define MAX_LABELS 8
#define PLAN_KEY_MAX 1024
/*
 * Kept plans per backend.  A query shape is planned once and kept; past
 * this many shapes the least recently used plan is freed, so a caller who
 * sends endless new shapes cannot make a backend grow without bound.
 */
#define PLAN_CACHE_MAX 64

/*
 * The SQL types of the inventory fields, resolved once per backend and
 * forgotten when one of them changes (see TypeChanged): a pooled connection
 * lives through DROP/CREATE EXTENSION and ALTER EXTENSION ... UPDATE.
 */
typedef struct FieldTypes
{
	bool		valid;
	Oid			schema;			/* zstack_tfa's OID when resolved */
	Oid			type[ZT_FIELD_COUNT];
	Oid			array_type[ZT_FIELD_COUNT];
	int16		typlen[ZT_FIELD_COUNT];
	bool		typbyval[ZT_FIELD_COUNT];
	char		typalign[ZT_FIELD_COUNT];
	Oid			label_oid[ZT_FIELD_COUNT][MAX_LABELS];
	/* syscache hash values of the enum types and labels, for TypeChanged */
	uint32		type_hash[ZT_FIELD_COUNT];
	uint32		label_hash[ZT_FIELD_COUNT][MAX_LABELS];
	uint32		schema_hash;
} FieldTypes;

/* A query being built: the WHERE clause and its parameters. */
typedef struct QueryBuild
{
	const char *from;			/* the rows the caller may see (see BuildQuery) */
	StringInfoData where;
	char	   *order_by;
	int			nparams;
	Oid		   *types;
	Datum	   *values;
	bool		mask[ZT_FIELD_COUNT];	/* the fields= filter */
	ZtCaller	caller;
	/* the one condition is uuid=by_uuid (NULL otherwise): see FetchOne */
	const char *by_uuid;
	size_t		by_uuid_len;
} QueryBuild;

typedef struct PlanEntry
{
	char		key[PLAN_KEY_MAX];	/* the SQL text */
	SPIPlanPtr	plan;
	dlist_node	lru;			/* in plan_lru, most recently used first */
} PlanEntry;

/* Receives each result row; values are in zt_fields order. */
typedef void (*RowSink) (void *arg, Datum *values, bool *nulls);

static FieldTypes field_types;
static HTAB *plan_cache = NULL;
static dlist_head plan_lru = DLIST_STATIC_INIT(plan_lru);
static char *select_list = NULL;
static char *field_names = NULL;

/*
 * A catalog invalidation: forget the field types when it concerns one of
 * ours (hash 0 means every entry of that cache was reset).  Only a flag is
 * set here; GetFieldTypes resolves them again, and frees the kept plans,
 * whose parameter types would name the old types, on the next call.
 */
static void
TypeChanged(Datum arg, int cacheid, uint32 hashvalue)
{
	if (hashvalue == 0 ||
		(cacheid == NAMESPACEOID && hashvalue == field_types.schema_hash))
		field_types.valid = false;
	for (int i = 0; i < ZT_FIELD_COUNT; i++)
	{
		if (cacheid == TYPEOID && hashvalue == field_types.type_hash[i])
			field_types.valid = false;
		for (int j = 0; j < MAX_LABELS; j++)
			if (cacheid == ENUMOID && hashvalue == field_types.label_hash[i][j])
				field_types.valid = false;
	}
}

/* Free every kept query plan. */
static void
FlushPlans(void)
{
	HASH_SEQ_STATUS seq;
	PlanEntry  *e;

	if (plan_cache == NULL)
		return;
	hash_seq_init(&seq, plan_cache);
	while ((e = hash_seq_search(&seq)) != NULL)
		SPI_freeplan(e->plan);
	hash_destroy(plan_cache);
	plan_cache = NULL;
	dlist_init(&plan_lru);
}

/* Resolve the field types, and forget kept plans if they changed. */
static const FieldTypes *
GetFieldTypes(void)
{
	static bool callbacks = false;
	Oid			schema = zt_schema_oid();

	if (field_types.valid && field_types.schema == schema)
		return &field_types;

	if (!callbacks)
	{
		CacheRegisterSyscacheCallback(TYPEOID, TypeChanged, (Datum) 0);
		CacheRegisterSyscacheCallback(ENUMOID, TypeChanged, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, TypeChanged, (Datum) 0);
		callbacks = true;
	}
	FlushPlans();
	memset(&field_types, 0, sizeof(field_types));
	field_types.schema_hash = GetSysCacheHashValue1(NAMESPACEOID, ObjectIdGetDatum(schema));
	for (int i = 0; i < ZT_FIELD_COUNT; i++)
	{
		const ZtField *fd = &zt_fields[i];
		Oid			t;

		switch (fd->kind)
		{
			case ZT_KIND_TEXT:
				t = TEXTOID;
				break;
			case ZT_KIND_TIMESTAMP:
				t = TIMESTAMPTZOID;
				break;
			default:
				t = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
									CStringGetDatum(fd->enum_type),
									ObjectIdGetDatum(schema));
				if (!OidIsValid(t))
					elog(ERROR, "type zstack_tfa.%s is missing", fd->enum_type);
				field_types.type_hash[i] = GetSysCacheHashValue1(TYPEOID, ObjectIdGetDatum(t));
				for (int j = 0; j < MAX_LABELS && fd->labels[j] != NULL; j++)
				{
					Oid			label = DatumGetObjectId(DirectFunctionCall2(enum_in,
																			 CStringGetDatum(fd->labels[j]),
																			 ObjectIdGetDatum(t)));

					field_types.label_oid[i][j] = label;
					field_types.label_hash[i][j] = GetSysCacheHashValue1(ENUMOID, ObjectIdGetDatum(label));
				}
				break;
		}
		field_types.type[i] = t;
		field_types.array_type[i] = get_array_type(t);
		get_typlenbyvalalign(t, &field_types.typlen[i],
							 &field_types.typbyval[i], &field_types.typalign[i]);
	}
	field_types.schema = schema;
	field_types.valid = true;
	return &field_types;
}

/* Build the fixed texts that derive from the field table, once. */
static void
InitFieldTexts(void)
{
	StringInfoData sel;
	StringInfoData names;

	if (select_list != NULL)
		return;
	initStringInfo(&sel);
	initStringInfo(&names);
	for (int i = 0; i < ZT_FIELD_COUNT; i++)
	{
		appendStringInfo(&sel, "%ss.%s", i ? ", " : "", zt_fields[i].column);
		appendStringInfo(&names, "%s%s", i ? ", " : "", zt_fields[i].api_name);
	}
	select_list = MemoryContextStrdup(TopMemoryContext, sel.data);
	field_names = MemoryContextStrdup(TopMemoryContext, names.data);
	pfree(sel.data);
	pfree(names.data);
}

/*
 * Return a kept plan for this SQL shape, preparing it on first use.  The
 * cache holds at most PLAN_CACHE_MAX plans: the least recently used one is
 * freed to make room.  (Plans are only ever taken here, at the start of a
 * statement, so the one freed is never running.)
 */
static SPIPlanPtr
GetPlan(const char *sql, int nparams, Oid *types)
{
	PlanEntry  *e;
	SPIPlanPtr	plan;

	if (strlen(sql) >= PLAN_KEY_MAX)
	{
		/* a very long query is rare: plan it for this call only (SPI_finish frees it) */
		plan = SPI_prepare(sql, nparams, types);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		return plan;
	}
	if (plan_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = PLAN_KEY_MAX;
		ctl.entrysize = sizeof(PlanEntry);
		plan_cache = hash_create("zstack_tfa plans", PLAN_CACHE_MAX, &ctl,
								 HASH_ELEM | HASH_STRINGS);
	}
	e = hash_search(plan_cache, sql, HASH_FIND, NULL);
	if (e != NULL)
	{
		dlist_move_head(&plan_lru, &e->lru);
		return e->plan;
	}
	if (hash_get_num_entries(plan_cache) >= PLAN_CACHE_MAX)
	{
		/* cppcheck-suppress nullPointer ; dlist_container's offsetof */
		PlanEntry  *old = dlist_container(PlanEntry, lru, dlist_tail_node(&plan_lru));

		dlist_delete(&old->lru);
		SPI_freeplan(old->plan);
		hash_search(plan_cache, old->key, HASH_REMOVE, NULL);
	}
	plan = NULL;
	zt_keep_plan(&plan, sql, nparams, types);
	e = hash_search(plan_cache, sql, HASH_ENTER, NULL);
	e->plan = plan;
	dlist_push_head(&plan_lru, &e->lru);
	return plan;
}

static int
AddParam(QueryBuild *q, Oid type, Datum value)
{
	q->types[q->nparams] = type;
	q->values[q->nparams] = value;
	return ++q->nparams;
}

/*
 * Decode a timestamptz literal the way timestamptz_in does.  PostgreSQL 15's
 * DecodeDateTime raises (rather than returns) some of its errors, such as an
 * unknown time zone name ("2026-01-01 10:00 Foo/Bar"), so it runs in a
 * subtransaction and any data error becomes false: a value a caller typed
 * must give a ZStack error, never a raised one.
 */
static bool
DecodeTimestampText(const char *str, TimestampTz *out)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		char		workbuf[MAXDATELEN + MAXDATEFIELDS];
		char	   *field[MAXDATEFIELDS];
		int			ftype[MAXDATEFIELDS];
		int			nf;
		int			dtype;
		int			tz;
		struct pg_tm tm;
		fsec_t		fsec;

		ok = ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
						   MAXDATEFIELDS, &nf) == 0 &&
			zt_decode_date_time(field, ftype, nf, &dtype, &tm, &fsec, &tz) == 0 &&
			dtype == DTK_DATE &&
			tm2timestamp(&tm, fsec, &tz, out) == 0;
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		/* a cancel, or anything but bad data, is not ours to swallow */
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			ReThrowError(edata);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * Parse a timestamp condition value: epoch milliseconds (what ZStack's Java
 * clients send) or any finite PostgreSQL timestamptz literal, including
 * ZStack's own "Nov 28, 2026 3:04:05 PM".  Never raises for bad data.
 */
static bool
ParseTimestamp(const char *s, size_t len, TimestampTz *out)
{
	char		str[MAXDATELEN + 1];
	int			ms_sign = 1;
	size_t		i = 0;
	size_t		digits;

	if (len == 0 || len > MAXDATELEN)
		return false;
	if (s[0] == '-')
	{
		ms_sign = -1;
		i = 1;
	}
	/* s is a span, not a C string: count its digits within len (valgrind) */
	digits = i;
	while (digits < len && s[digits] >= '0' && s[digits] <= '9')
		digits++;
	if (i < len && len - i <= 15 && digits == len)
	{
		int64		ms = 0;

		for (; i < len; i++)
			ms = ms * 10 + (s[i] - '0');
		*out = ms_sign * ms * 1000 -
			(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
		return true;
	}
	if (memchr(s, '\0', len) != NULL)
		return false;
	memcpy(str, s, len);
	str[len] = '\0';
	return DecodeTimestampText(str, out) && !TIMESTAMP_NOT_FINITE(*out);
}

/* Convert one condition value to the field's SQL type. */
static bool
ConvertValue(int fi, const FieldTypes *ft, const char *s, size_t len,
			 Datum *out, ZtFailure *f)
{
	const ZtField *fd = &zt_fields[fi];

	switch (fd->kind)
	{
		case ZT_KIND_TEXT:
			*out = PointerGetDatum(cstring_to_text_with_len(s, (int) len));
			return true;
		case ZT_KIND_TIMESTAMP:
			{
				TimestampTz ts;

				if (!ParseTimestamp(s, len, &ts))
				{
					zt_fail(f, ZT_ERR_SYS_1007,
							"invalid value for field %s: expected a timestamp (epoch milliseconds or a date such as 2026-11-28 15:04:05)",
							fd->api_name);
					return false;
				}
				*out = TimestampTzGetDatum(ts);
				return true;
			}
		case ZT_KIND_ENUM:
			{
				StringInfoData valid;

				for (int j = 0; fd->labels[j] != NULL; j++)
				{
					if (strlen(fd->labels[j]) == len &&
						memcmp(fd->labels[j], s, len) == 0)
					{
						*out = ObjectIdGetDatum(ft->label_oid[fi][j]);
						return true;
					}
				}
				initStringInfo(&valid);
				for (int j = 0; fd->labels[j] != NULL; j++)
					appendStringInfo(&valid, "%s%s", j ? ", " : "", fd->labels[j]);
				zt_fail(f, ZT_ERR_SYS_1007, "invalid value for field %s; valid values are %s",
						fd->api_name, valid.data);
				return false;
			}
	}
	return false;
}

/* The SQL operator of a comparison condition. */
static const char *
SqlComparison(ZtOperator op)
{
	switch (op)
	{
		case ZT_OP_NE:
			return "<>";
		case ZT_OP_GE:
			return ">=";
		case ZT_OP_LE:
			return "<=";
		case ZT_OP_GT:
			return ">";
		case ZT_OP_LT:
			return "<";
		default:
			return "=";
	}
}

/*
 * The SQL of a field's value in conditions and sorts: its column, but for
 * the secret, which may be stored encrypted, the secret itself (decrypted by
 * secret_text, which the query runs as the tables' owner).  Conditions and
 * sorts on the secret are rare; every other one runs on the plain column.
 */
static const char *
FieldSql(int fi)
{
	if (fi == ZT_FIELD_SECRET)
		return "zstack_tfa.secret_text(s.uuid, s.secret)";
	return psprintf("s.%s", zt_fields[fi].column);
}

/* Append one typed condition to the WHERE clause. */
static bool
AddCondition(QueryBuild *q, const FieldTypes *ft, const ZtCondition *c,
			 ZtFailure *f)
{
	int			fi = zt_field_lookup(c->name, c->name_len);
	const ZtField *fd;
	Datum		v;

	if (fi < 0)
		return zt_fail(f, ZT_ERR_SYS_1007,
					   "unknown field '%s' in a query condition; valid fields are %s",
					   zt_clip(c->name, c->name_len, 64), field_names);
	fd = &zt_fields[fi];
	appendStringInfo(&q->where, " AND %s", FieldSql(fi));

	switch (c->op)
	{
		case ZT_OP_IS_NULL:
			appendStringInfoString(&q->where, " IS NULL");
			return true;
		case ZT_OP_NOT_NULL:
			appendStringInfoString(&q->where, " IS NOT NULL");
			return true;
		case ZT_OP_LIKE:
		case ZT_OP_NOT_LIKE:
			if (fd->kind == ZT_KIND_TIMESTAMP)
				return zt_fail(f, ZT_ERR_SYS_1007,
							   "operator %s cannot be used with field %s, which is a timestamp",
							   zt_operator_tokens[c->op], fd->api_name);
			/* refused here, before any row is read: LIKE would raise per row */
			if (!zt_like_pattern_ok(c->value, c->value_len))
				return zt_fail(f, ZT_ERR_SYS_1007,
							   "invalid pattern for field %s: a LIKE pattern must not end with the escape character \\",
							   fd->api_name);
			appendStringInfo(&q->where, "%s %s $%d",
							 fd->kind == ZT_KIND_ENUM ? "::text" : "",
							 c->op == ZT_OP_LIKE ? "LIKE" : "NOT LIKE",
							 AddParam(q, TEXTOID,
									  PointerGetDatum(cstring_to_text_with_len(c->value, (int) c->value_len))));
			return true;
		case ZT_OP_IN:
		case ZT_OP_NOT_IN:
			{
				const char *pos = c->value;
				const char *end = c->value + c->value_len;
				const char *item;
				size_t		item_len;
				int			n = 0;
				int			cap = 8;
				Datum	   *elems = palloc(cap * sizeof(Datum));
				const ArrayType *arr;

				while (zt_next_list_item(&pos, end, &item, &item_len))
				{
					if (n == cap)
					{
						cap *= 2;
						elems = repalloc(elems, cap * sizeof(Datum));
					}
					if (!ConvertValue(fi, ft, item, item_len, &elems[n++], f))
						return false;
				}
				arr = construct_array(elems, n, ft->type[fi], ft->typlen[fi],
									  ft->typbyval[fi], ft->typalign[fi]);
				appendStringInfo(&q->where, c->op == ZT_OP_IN ? " = ANY($%d)" : " <> ALL($%d)",
								 AddParam(q, ft->array_type[fi], PointerGetDatum(arr)));
				return true;
			}
		case ZT_OP_GT:
		case ZT_OP_GE:
		case ZT_OP_LT:
		case ZT_OP_LE:
			if (fd->kind == ZT_KIND_ENUM)
			{
				/*
				 * ZStack keeps these labels in a varchar column, so an order
				 * compares them as text (Logined < NewCreated), not in the
				 * enum's order.  The label must still be a valid one.
				 */
				if (!ConvertValue(fi, ft, c->value, c->value_len, &v, f))
					return false;
				appendStringInfo(&q->where, "::pg_catalog.text COLLATE \"C\" %s $%d",
								 SqlComparison(c->op),
								 AddParam(q, TEXTOID,
										  PointerGetDatum(cstring_to_text_with_len(c->value, (int) c->value_len))));
				return true;
			}
			/* FALLTHROUGH */
		case ZT_OP_EQ:
		case ZT_OP_NE:
			if (!ConvertValue(fi, ft, c->value, c->value_len, &v, f))
				return false;
			appendStringInfo(&q->where, " %s $%d", SqlComparison(c->op),
							 AddParam(q, ft->type[fi], v));
			return true;
		case ZT_OP_COUNT:
			break;
	}
	elog(ERROR, "unknown condition operator %d", (int) c->op);
	return false;				/* keep the compiler quiet */
}

/*
 * Is filterName of ZStack's form "filterType:condition(s)"?  ZStack splits it
 * with Java's String.split(":"), which drops trailing empty parts, and wants
 * two parts: so something other than ':' must follow the first ':'.
 */
static bool
FilterNameOk(const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);

	if (colon == NULL)
		return false;
	for (const char *p = colon + 1; p < s + len; p++)
		if (*p != ':')
			return true;
	return false;
}

/*
 * Validate a request and build its query: syntax first (the REST layer's
 * 400s), then the session, then everything that needs a field's type.
 * Runs inside an SPI connection.
 */
static bool
BuildQuery(const ZtQueryRequest *req, QueryBuild *q, ZtFailure *f)
{
	const FieldTypes *ft;
	ZtCondition *conds;
	int			sort_field;
	bool		descending;
	bool		any_field = false;

	int			ncond = req->ncond;

	InitFieldTexts();
	if (ncond > ZT_MAX_CONDITIONS)
		return zt_fail(f, ZT_ERR_SYS_1007, "too many query conditions: %d (at most %d)",
					   ncond, ZT_MAX_CONDITIONS);
	conds = palloc(sizeof(ZtCondition) * (ncond + 1));
	for (int i = 0; i < ncond; i++)
	{
		/* ZStack's REST layer answers these with a 400, in its words */
		switch (zt_parse_condition(req->cond[i], req->cond_len[i], &conds[i]))
		{
			case ZT_COND_OK:
				continue;
			case ZT_COND_NO_OPERATOR:
				zt_fail(f, ZT_ERR_SYS_1007,
						"Invalid query parameter. The '%s' in the parameter[q] doesn't contain any query operator. Valid query operators are " ZT_VALID_OPERATORS,
						zt_clip(req->cond[i], req->cond_len[i], 400));
				break;
			case ZT_COND_NOT_A_PAIR:
				zt_fail(f, ZT_ERR_SYS_1007,
						"Invalid query parameter. The '%s' in parameter[q] is not a key-value pair split by %s",
						zt_clip(req->cond[i], req->cond_len[i], 400),
						zt_operator_names[conds[i].op]);
				break;
		}
		f->bad_request = true;
		return false;
	}
	/* GET .../secrets/{uuid}: the one condition uuid = the path's uuid */
	if (req->path_uuid != NULL)
	{
		conds[ncond].name = "uuid";
		conds[ncond].name_len = 4;
		conds[ncond].op = ZT_OP_EQ;
		conds[ncond].value = req->path_uuid;
		conds[ncond].value_len = req->path_uuid_len;
		ncond++;
	}

	if (!zt_authenticate(req->session_uuid, req->session_len, &q->caller, f))
		return false;

	/* ZStack's query layer checks the form of a filter; we apply none */
	if (req->filter_name_len > 0 && !FilterNameOk(req->filter_name, req->filter_name_len))
		return zt_fail(f, ZT_ERR_SYS_1007, "filterName must be formatted as [filterType:condition(s)]");

	ft = GetFieldTypes();
	initStringInfo(&q->where);
	q->nparams = 0;
	/* one parameter per condition, plus owner, limit and offset */
	q->types = palloc(sizeof(Oid) * (ncond + 3));
	q->values = palloc(sizeof(Datum) * (ncond + 3));

	/* one secret by uuid, the first page, no count: see FetchOne */
	q->by_uuid = NULL;
	if (ncond == 1 && conds[0].op == ZT_OP_EQ &&
		zt_field_lookup(conds[0].name, conds[0].name_len) == ZT_FIELD_UUID &&
		req->start == 0 && req->limit > 0 && !req->count && !req->reply_with_count)
	{
		q->by_uuid = conds[0].value;
		q->by_uuid_len = conds[0].value_len;
	}

	/*
	 * Who sees what; CallerMaySee() is the same rule for one fetched row.
	 * The rule is a fence the planner cannot cross: the caller's conditions
	 * apply to the rows of a subquery that holds only the caller's own
	 * (OFFSET 0 keeps PostgreSQL from pulling it up or pushing conditions
	 * into it), so no condition a caller wrote is ever evaluated on a row
	 * the caller may not see, and nothing it does can tell such rows apart.
	 * A SystemAdmin sees every row and needs no fence.
	 */
	q->from = "zstack_tfa.secret s";
	if (q->by_uuid != NULL)
		;						/* FetchOne applies it to the row */
	else if (q->caller.is_iam2)
		q->from = psprintf("(SELECT * FROM zstack_tfa.secret WHERE user_uuid = $%d OFFSET 0) s",
						   AddParam(q, TEXTOID, CStringGetTextDatum(q->caller.user_uuid)));
	else if (!zt_caller_is_admin(&q->caller))
		q->from = psprintf("(SELECT * FROM zstack_tfa.secret WHERE account_uuid = $%d OFFSET 0) s",
						   AddParam(q, TEXTOID, CStringGetTextDatum(q->caller.account_uuid)));

	for (int i = 0; i < ncond; i++)
		if (!AddCondition(q, ft, &conds[i], f))
			return false;

	if (req->limit < 0)
		return zt_fail(f, ZT_ERR_SYS_1007, "limit must not be negative");
	if (req->start < 0)
		return zt_fail(f, ZT_ERR_SYS_1007, "start must not be negative");

	q->order_by = "";
	if (req->sort != NULL)
	{
		switch (zt_parse_sort(req->sort, req->sort_len, &sort_field, &descending))
		{
			case ZT_SORT_UNKNOWN_FIELD:
				return zt_fail(f, ZT_ERR_SYS_1007,
							   "unknown field '%s' in sort; valid fields are %s",
							   zt_clip(req->sort, req->sort_len, 64), field_names);
			case ZT_SORT_OK:
				/*
				 * uuid breaks ties, so that paging through equal dates is
				 * stable; labels sort as the text ZStack stores them as
				 */
				q->order_by = sort_field == 0
					? psprintf(" ORDER BY s.uuid %s", descending ? "DESC" : "ASC")
					: psprintf(" ORDER BY %s%s %s, s.uuid %s", FieldSql(sort_field),
							   zt_fields[sort_field].kind == ZT_KIND_ENUM
							   ? "::pg_catalog.text COLLATE \"C\"" : "",
							   descending ? "DESC" : "ASC", descending ? "DESC" : "ASC");
				break;
			case ZT_SORT_NONE:
				break;
		}
	}

	memset(q->mask, false, sizeof(q->mask));
	for (int i = 0; i < req->nfields; i++)
	{
		const char *name = req->fields[i];
		size_t		len = req->fields_len[i];
		int			fi;

		zt_trim(&name, &len);
		if (len == 0)
			continue;
		fi = zt_field_lookup(name, len);
		if (fi < 0)
			return zt_fail(f, ZT_ERR_SYS_1007,
						   "unknown field '%s' in fields; valid fields are %s",
						   zt_clip(name, len, 64), field_names);
		q->mask[fi] = true;
		any_field = true;
	}
	if (!any_field)
		memset(q->mask, true, sizeof(q->mask));	/* no fields, or "fields=": all */
	return true;
}

/* Count the rows the conditions select (count=true, replyWithCount). */
static int64
RunCount(QueryBuild *q)
{
	const char *sql = psprintf("SELECT pg_catalog.count(*) FROM %s WHERE true%s",
							   q->from, q->where.data);
	bool		isnull;
	int64		total;

	if (SPI_execute_plan(GetPlan(sql, q->nparams, q->types), q->values, NULL,
						 true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "count query failed");
	total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return total;
}

/*
 * The rule of BuildQuery's owner condition, for one row: an IAM2 user sees
 * its own secrets, an account those it owns, a SystemAdmin account all.
 * The account's type is only looked up when the row is not its own.
 */
static bool
CallerMaySee(ZtCaller *caller, TupleTableSlot *slot)
{
	bool		iam2 = caller->is_iam2;
	const char *own = iam2 ? caller->user_uuid : caller->account_uuid;
	bool		isnull;
	Datum		d = zt_fetched_column(slot, iam2 ? "user_uuid" : "account_uuid",
									  &isnull);

	if (!isnull)
	{
		text	   *t = DatumGetTextPP(d);

		if (VARSIZE_ANY_EXHDR(t) == strlen(own) &&
			memcmp(VARDATA_ANY(t), own, strlen(own)) == 0)
			return true;
	}
	return !iam2 && zt_caller_is_admin(caller);
}

/*
 * The most common query, one secret by its uuid (uuid=X alone), read
 * straight from the primary-key index instead of through an SPI statement:
 * the same row, the same owner rule (CallerMaySee), about half the cost.
 * The regression tests compare it with the SQL path for every caller.
 */
static void
FetchOne(QueryBuild *q, RowSink sink, void *arg)
{
	Relation	rel;
	TupleTableSlot *slot = zt_fetch_by_uuid("secret", q->by_uuid,
											q->by_uuid_len, &rel);
	Datum		values[ZT_FIELD_COUNT];
	bool		nulls[ZT_FIELD_COUNT];

	if (slot != NULL && !CallerMaySee(&q->caller, slot))
	{
		zt_fetch_end(slot, rel);
		slot = NULL;
	}
	if (slot == NULL)
		return;
	for (int i = 0; i < ZT_FIELD_COUNT; i++)
		values[i] = zt_fetched_column(slot, zt_fields[i].column, &nulls[i]);
	sink(arg, values, nulls);
	zt_fetch_end(slot, rel);
}

/* A DestReceiver that hands each row the executor makes to a RowSink. */
typedef struct RowReceiver
{
	DestReceiver pub;
	RowSink		sink;
	void	   *arg;
} RowReceiver;

static bool
ReceiveRow(TupleTableSlot *slot, DestReceiver *self)
{
	RowReceiver *r = (RowReceiver *) self;

	slot_getallattrs(slot);
	r->sink(r->arg, slot->tts_values, slot->tts_isnull);
	return true;
}

static void
ReceiverStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
ReceiverNoop(DestReceiver *self)
{
}

/*
 * Run the page query and hand each row to sink as the executor makes it:
 * no copy of the rows in between, and the same small memory for a page of
 * one row or of 100,000.
 */
static void
RunRows(QueryBuild *q, int limit, int start, RowSink sink, void *arg)
{
	const char *sql;
	SPIExecuteOptions options;
	ParamListInfo params;
	RowReceiver receiver = {
		.pub = {
			.receiveSlot = ReceiveRow,
			.rStartup = ReceiverStartup,
			.rShutdown = ReceiverNoop,
			.rDestroy = ReceiverNoop,
			/* any kind but DestNone (SPI then says "no rows") or DestSPI */
			.mydest = DestTuplestore,
		},
		.sink = sink,
		.arg = arg,
	};

	if (q->by_uuid != NULL)
	{
		FetchOne(q, sink, arg);
		return;
	}
	sql = psprintf("SELECT %s FROM %s WHERE true%s%s LIMIT $%d OFFSET $%d",
				   select_list, q->from, q->where.data, q->order_by,
				   q->nparams + 1, q->nparams + 2);
	AddParam(q, INT8OID, Int64GetDatum(limit));
	AddParam(q, INT8OID, Int64GetDatum(start));

	params = makeParamList(q->nparams);
	for (int i = 0; i < q->nparams; i++)
	{
		params->params[i].value = q->values[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = q->types[i];
	}
	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = &receiver.pub;
	if (SPI_execute_plan_extended(GetPlan(sql, q->nparams, q->types), &options) != SPI_OK_SELECT)
		elog(ERROR, "secret query failed");
	q->nparams -= 2;
}

/*
 * Write one inventory object with its keys in the given order; null members
 * are left out (SPEC §1), and so is every field mask excludes.  hide_secret
 * writes "secret" as "", as GetTwoFactorAuthenticationSecret does once a
 * secret is Logined.
 */
static void
WriteInventory(StringInfo out, const FieldTypes *ft, const Datum *values,
			   const bool *nulls, const bool *mask, const int *order,
			   bool hide_secret)
{
	bool		first = true;

	appendStringInfoCharMacro(out, '{');
	for (int k = 0; k < ZT_FIELD_COUNT; k++)
	{
		int			i = order[k];
		const ZtField *fd = &zt_fields[i];

		if (!mask[i] || nulls[i])
			continue;
		zt_json_key(out, fd->api_name, &first);
		switch (fd->kind)
		{
			case ZT_KIND_TEXT:
				{
					text	   *t = DatumGetTextPP(values[i]);

					if (i != ZT_FIELD_SECRET)
						zt_json_string(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
					else if (hide_secret)
						appendStringInfoString(out, "\"\"");
					else
					{
						/* decrypted only to be written, and wiped at once */
						text	   *uuid = DatumGetTextPP(values[ZT_FIELD_UUID]);
						char		plain[ZT_MAX_SECRET_TEXT + 1];
						size_t		len = zt_open_secret(VARDATA_ANY(uuid), VARSIZE_ANY_EXHDR(uuid),
														 VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), plain);

						zt_json_string(out, plain, len);
						explicit_bzero(plain, sizeof(plain));
					}
					break;
				}
			case ZT_KIND_TIMESTAMP:
				zt_json_date(out, DatumGetTimestampTz(values[i]));
				break;
			case ZT_KIND_ENUM:
				{
					Oid			label = DatumGetObjectId(values[i]);
					const char *name = NULL;

					for (int j = 0; fd->labels[j] != NULL; j++)
						if (ft->label_oid[i][j] == label)
							name = fd->labels[j];
					if (name == NULL)	/* a label added to the type by hand */
						name = DatumGetCString(DirectFunctionCall1(enum_out, values[i]));
					zt_json_cstring(out, name);
					break;
				}
		}
	}
	appendStringInfoCharMacro(out, '}');
}

/*
 * Write the "schema" entries of one inventory at path, as ZStack's
 * JsonSchemaBuilder does: the inventory's class, then one entry per written
 * member of one of ZStack's own types (the status enum), children in the
 * reverse of their key order.
 */
void
zt_json_inventory_schema(StringInfo out, const char *path, size_t path_len,
						 const char *java_class, const bool *mask,
						 const int *order, bool *first)
{
	if (!*first)
		appendStringInfoCharMacro(out, ',');
	*first = false;
	appendStringInfoCharMacro(out, '"');
	appendBinaryStringInfo(out, path, (int) path_len);
	appendStringInfoString(out, "\":\"");
	appendStringInfoString(out, java_class);
	appendStringInfoCharMacro(out, '"');
	for (int k = ZT_FIELD_COUNT - 1; k >= 0; k--)
	{
		const ZtField *fd = &zt_fields[order[k]];

		if (fd->java_class == NULL || !mask[order[k]])
			continue;
		appendStringInfoString(out, ",\"");
		appendBinaryStringInfo(out, path, (int) path_len);
		appendStringInfoCharMacro(out, '.');
		appendStringInfoString(out, fd->api_name);
		appendStringInfoString(out, "\":\"");
		appendStringInfoString(out, fd->java_class);
		appendStringInfoCharMacro(out, '"');
	}
}

/*
 * Write the "schema" member of a query reply with n inventories: the last
 * inventory comes first, since JsonSchemaBuilder reverses what it collects.
 * Every query reply has it, {} when there is nothing to describe.
 */
static void
WriteQuerySchema(StringInfo out, int64 n, const bool *mask)
{
	bool		first = true;

	appendStringInfoString(out, "\"schema\":{");
	for (int64 i = n - 1; i >= 0; i--)
	{
		char		path[48];
		int			len;

		strcpy(path, "inventories[");
		len = 12 + pg_lltoa(i, path + 12);
		path[len++] = ']';
		zt_json_inventory_schema(out, path, len, ZT_CLASS_INVENTORY, mask,
								 zt_query_key_order, &first);
	}
	appendStringInfoCharMacro(out, '}');
}

/* The select list of an inventory, from the field table ("s.uuid, ..."). */
const char *
zt_inventory_columns(void)
{
	InitFieldTexts();
	return select_list;
}

/*
 * Write the inventory of a row selected with zt_inventory_columns() as
 * GetTwoFactorAuthenticationSecret's reply has it ({"inventory":{...}}).
 */
void
zt_json_secret_inventory(StringInfo out, HeapTuple tup, TupleDesc desc,
						 bool hide_secret)
{
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	bool		mask[ZT_FIELD_COUNT];

	Assert(desc->natts >= ZT_FIELD_COUNT);
	memset(mask, true, sizeof(mask));
	heap_deform_tuple(tup, desc, values, nulls);
	WriteInventory(out, GetFieldTypes(), values, nulls, mask,
				   zt_secret_key_order, hide_secret);
}

typedef struct JsonSink
{
	StringInfo	out;
	int64		rows;
	const bool *mask;
	const FieldTypes *ft;
} JsonSink;

static void
JsonRow(void *arg, Datum *values, bool *nulls)
{
	JsonSink   *js = (JsonSink *) arg;

	if (js->rows++ > 0)
		appendStringInfoCharMacro(js->out, ',');
	WriteInventory(js->out, js->ft, values, nulls, js->mask,
				   zt_query_key_order, false);
}

/*
 * Build the JSON reply body of a query into out: {"schema":...,"total":N,
 * "inventories":[...]}, in the order Java's HashMap gives ZStack's reply
 * map.  Returns false with the failure filled in (out is then left as it
 * was) for every API-level error.
 */
bool
zt_query_json(const ZtQueryRequest *req, StringInfo out, ZtFailure *f)
{
	int			spi_level;
	QueryBuild	q;
	JsonSink	js;
	StringInfoData rows;

	spi_level = zt_spi_connect();
	if (!BuildQuery(req, &q, f))
	{
		zt_spi_finish(spi_level);
		return false;			/* nothing was written to out yet */
	}
	if (req->count)
		appendStringInfo(out, "{\"schema\":{},\"total\":" INT64_FORMAT "}", RunCount(&q));
	else
	{
		int64		total = 0;

		/* the schema comes first and depends on the rows: write them aside */
		initStringInfo(&rows);
		js.out = &rows;
		js.rows = 0;
		js.mask = q.mask;
		js.ft = &field_types;
		RunRows(&q, req->limit, req->start, JsonRow, &js);
		if (req->reply_with_count)
			total = RunCount(&q);
		enlargeStringInfo(out, rows.len + (int) Min(js.rows, 1000000) * 200 + 64);
		appendStringInfoCharMacro(out, '{');
		WriteQuerySchema(out, js.rows, q.mask);
		if (req->reply_with_count)
			appendStringInfo(out, ",\"total\":" INT64_FORMAT, total);
		appendStringInfoString(out, ",\"inventories\":[");
		appendBinaryStringInfo(out, rows.data, rows.len);
		appendStringInfoString(out, "]}");
		pfree(rows.data);
	}
	zt_spi_finish(spi_level);
	return true;
}

/* Unpack a text[] argument into spans; NULL elements are misuse. */
static int
TextArrayArg(FunctionCallInfo fcinfo, int argno, const char *argname,
			 const char ***items, size_t **lens)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;

	if (PG_ARGISNULL(argno))
		return 0;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, &n);
	*items = (const char **) palloc(sizeof(char *) * (n + 1));
	*lens = palloc(sizeof(size_t) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		text	   *t;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL elements", argname)));
		t = DatumGetTextPP(elems[i]);
		(*items)[i] = VARDATA_ANY(t);
		(*lens)[i] = VARSIZE_ANY_EXHDR(t);
	}
	return n;
}

/*
 * Read the SQL arguments shared by both query functions.  NULL for an
 * optional argument means its default; a NULL session is misuse.
 */
static void
RequestFromArgs(FunctionCallInfo fcinfo, ZtQueryRequest *req, bool json)
{
	text	   *t;

	memset(req, 0, sizeof(*req));
	zt_require_arg(fcinfo, 0, "session_uuid");
	t = PG_GETARG_TEXT_PP(0);
	req->session_uuid = VARDATA_ANY(t);
	req->session_len = VARSIZE_ANY_EXHDR(t);
	req->ncond = TextArrayArg(fcinfo, 1, "conditions", &req->cond, &req->cond_len);
	req->limit = PG_ARGISNULL(2) ? 1000 : PG_GETARG_INT32(2);
	req->start = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	if (!PG_ARGISNULL(4))
	{
		t = PG_GETARG_TEXT_PP(4);
		req->sort = VARDATA_ANY(t);
		req->sort_len = VARSIZE_ANY_EXHDR(t);
	}
	if (json)
	{
		req->nfields = TextArrayArg(fcinfo, 5, "fields", &req->fields, &req->fields_len);
		req->count = !PG_ARGISNULL(6) && PG_GETARG_BOOL(6);
		req->reply_with_count = !PG_ARGISNULL(7) && PG_GETARG_BOOL(7);
	}
}

typedef struct TupleSink
{
	Tuplestorestate *store;
	TupleDesc	desc;
} TupleSink;

static void
TupleRow(void *arg, Datum *values, bool *nulls)
{
	TupleSink  *ts = (TupleSink *) arg;
	Datum		row[ZT_FIELD_COUNT];
	text	   *plain_text = NULL;

	memcpy(row, values, sizeof(row));
	if (!nulls[ZT_FIELD_SECRET])
	{
		/* the row's secret, decrypted: the set-returning function returns it */
		text	   *uuid = DatumGetTextPP(values[ZT_FIELD_UUID]);
		text	   *stored = DatumGetTextPP(values[ZT_FIELD_SECRET]);
		char		plain[ZT_MAX_SECRET_TEXT + 1];
		size_t		len = zt_open_secret(VARDATA_ANY(uuid), VARSIZE_ANY_EXHDR(uuid),
										 VARDATA_ANY(stored), VARSIZE_ANY_EXHDR(stored), plain);

		plain_text = cstring_to_text_with_len(plain, (int) len);
		explicit_bzero(plain, sizeof(plain));
		row[ZT_FIELD_SECRET] = PointerGetDatum(plain_text);
	}
	tuplestore_putvalues(ts->store, ts->desc, row, nulls);
	if (plain_text != NULL)
	{
		explicit_bzero(VARDATA(plain_text), VARSIZE(plain_text) - VARHDRSZ);
		pfree(plain_text);
	}
}

/*
 * query_two_factor_authentication(session_uuid, conditions, limit, start,
 * sort): the secrets the session may see, as rows.  API errors are raised
 * with the ZStack code first in the message.
 */
static Datum
QueryTwoFactorAuthentication(PG_FUNCTION_ARGS)
{
	int			spi_level;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ZtQueryRequest req;
	QueryBuild	q;
	ZtFailure	f;
	TupleSink	ts;

	RequestFromArgs(fcinfo, &req, false);
	InitMaterializedSRF(fcinfo, 0);
	ts.store = rsinfo->setResult;
	ts.desc = rsinfo->setDesc;

	spi_level = zt_spi_connect();
	if (!BuildQuery(&req, &q, &f))
	{
		zt_spi_finish(spi_level);
		zt_raise(&f);
	}
	RunRows(&q, req.limit, req.start, TupleRow, &ts);
	zt_spi_finish(spi_level);
	return (Datum) 0;
}

/* SQL entry point of QueryTwoFactorAuthentication, its caller's statement kept out of the log. */
Datum
query_two_factor_authentication(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, QueryTwoFactorAuthentication);
}

/*
 * query_two_factor_authentication_json(...): ZStack's exact reply body,
 * success or error envelope.  API errors are returned, not raised.
 */
static Datum
QueryTwoFactorAuthenticationJson(PG_FUNCTION_ARGS)
{
	ZtQueryRequest req;
	ZtFailure	f;
	StringInfoData out;

	RequestFromArgs(fcinfo, &req, true);
	/* room for an envelope; a page of rows grows the buffer as it comes */
	zt_json_begin(&out, 256);
	if (!zt_query_json(&req, &out, &f))
		zt_error_envelope(&out, &f);
	PG_RETURN_DATUM(zt_json_result(&out));
}

/* SQL entry point of QueryTwoFactorAuthenticationJson, its caller's statement kept out of the log. */
Datum
query_two_factor_authentication_json(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, QueryTwoFactorAuthenticationJson);
}
