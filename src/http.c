/*
 * http.c
 *		The REST layer: http_request(method, path, query, headers, body) routes
 *		ZStack's URLs, decodes the raw query string, checks Authorization and
 *		answers with ZStack's status, content type and body (SPEC §1.2).
 */
#include "zstack_tfa.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

PG_FUNCTION_INFO_V1(http_request);

#define CT_JSON "application/json; charset=utf-8"
#define CT_TEXT "text/plain; charset=utf-8"
#define API_PREFIX "/zstack/v1/twofactorauthentication/"
#define LOGIN_PATH "/zstack/v1/accounts/login"

typedef struct HttpReply
{
	int			status;
	const char *content_type;
	StringInfoData body;
} HttpReply;

/* The parts of a request, as http_request received them. */
typedef struct HttpRequest
{
	const char *method;
	const char *path;			/* raw: percent-encoded */
	const char *query;			/* raw, without '?' */
	Datum		headers;		/* json, or 0 */
	Datum		body;			/* json, or 0 */
} HttpRequest;

/* A plain-text reply (400, 404, 405), as ZStack's REST server writes them. */
static void
TextReply(HttpReply *r, int status, const char *fmt,...) pg_attribute_printf(3, 4);

static void
TextReply(HttpReply *r, int status, const char *fmt,...)
{
	va_list		args;
	char		buf[2048];

	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	buf[pg_mbcliplen(buf, strlen(buf), sizeof(buf) - 1)] = '\0';
	r->status = status;
	r->content_type = CT_TEXT;
	resetStringInfo(&r->body);
	appendStringInfoString(&r->body, buf);
}

/* The reply for an API failure: 400 text for bad requests, else the envelope. */
static void
FailureReply(HttpReply *r, const ZtFailure *f)
{
	if (f->bad_request)
	{
		TextReply(r, 400, "%s", f->details);
		return;
	}
	r->status = zt_errors[f->code].http_status;
	r->content_type = CT_JSON;
	resetStringInfo(&r->body);
	zt_error_envelope(&r->body, f);
}

/* The reply for a life-cycle function's JSON: 503 for an envelope, else 200. */
static void
JsonReply(HttpReply *r, const char *json)
{
	r->status = strncmp(json, "{\"error\":", 9) == 0 ? 503 : 200;
	r->content_type = CT_JSON;
	resetStringInfo(&r->body);
	appendStringInfoString(&r->body, json);
}

/*
 * Percent-decode a URL piece into a palloc'd, NUL-terminated string that is
 * valid in the database encoding and holds no NUL; NULL if it cannot be.
 */
static char *
DecodePiece(const char *s, size_t len, bool plus_is_space, size_t *out_len)
{
	char	   *out = palloc(len + 1);
	size_t		n;

	if (!zt_percent_decode(s, len, plus_is_space, out, &n) ||
		memchr(out, '\0', n) != NULL ||
		!pg_verifymbstr(out, (int) n, true))
		return NULL;
	out[n] = '\0';
	if (out_len)
		*out_len = n;
	return out;
}

/* Append to a growing array of spans. */
static void
PushSpan(const char ***items, size_t **lens, int *n, int *cap, const char *s, size_t len)
{
	if (*n == *cap)
	{
		*cap = *cap ? *cap * 2 : 8;
		*items = *items ? repalloc(*items, sizeof(char *) * *cap) : palloc(sizeof(char *) * *cap);
		*lens = *lens ? repalloc(*lens, sizeof(size_t) * *cap) : palloc(sizeof(size_t) * *cap);
	}
	(*items)[*n] = s;
	(*lens)[*n] = len;
	(*n)++;
}

/*
 * Read the query parameters of QueryTwoFactorAuthentication into req.
 * Unknown parameters (groupBy, ...) are accepted and ignored, as in ZStack.
 */
static bool
ParseQueryParams(const char *qs, ZtQueryRequest *req, HttpReply *r)
{
	const char *pos = qs;
	const char *end = qs + strlen(qs);
	const char *rn,
			   *rv;
	size_t		rn_len,
				rv_len;
	bool		has_value;
	int			ccap = 0,
				fcap = 0;

	req->limit = 1000;
	req->start = 0;
	while (zt_next_query_param(&pos, end, &rn, &rn_len, &rv, &rv_len, &has_value))
	{
		size_t		vlen;
		char	   *name = DecodePiece(rn, rn_len, true, NULL);
		char	   *value = DecodePiece(rv, rv_len, true, &vlen);

		if (name == NULL || value == NULL)
		{
			TextReply(r, 400, "Invalid query string: '%s' is not valid percent-encoded UTF-8",
					  zt_clip(rn, rn_len, 64));
			return false;
		}
		if (strcmp(name, "q") == 0)
			PushSpan(&req->cond, &req->cond_len, &req->ncond, &ccap, value, vlen);
		else if (strcmp(name, "limit") == 0 || strcmp(name, "start") == 0)
		{
			int		   *target = (name[0] == 'l') ? &req->limit : &req->start;

			if (!zt_parse_int(value, vlen, target))
			{
				TextReply(r, 400, "Invalid query parameter. '%s' must be an integer", name);
				return false;
			}
		}
		else if (strcmp(name, "count") == 0)
			req->count = zt_parse_bool(value, vlen);
		else if (strcmp(name, "replyWithCount") == 0)
			req->reply_with_count = zt_parse_bool(value, vlen);
		else if (strcmp(name, "sort") == 0)
		{
			req->sort = value;
			req->sort_len = vlen;
		}
		else if (strcmp(name, "fields") == 0)
		{
			const char *fpos = value;
			const char *item;
			size_t		item_len;

			while (zt_next_list_item(&fpos, value + vlen, &item, &item_len))
				PushSpan(&req->fields, &req->fields_len, &req->nfields, &fcap, item, item_len);
		}
	}
	return true;
}

/* The Authorization header, found case-insensitively; NULL when absent. */
static char *
FindAuthorization(Datum headers)
{
	Oid			type = JSONOID;
	char	   *value = NULL;

	if (headers == (Datum) 0)
		return NULL;
	if (SPI_execute_with_args("SELECT value FROM pg_catalog.json_each_text($1)"
							  " WHERE pg_catalog.lower(key) = 'authorization' LIMIT 1",
							  1, &type, &headers, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "header lookup failed");
	if (SPI_processed == 1)
		value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return value;
}

/* ZStack's session check at the REST layer: 400 for a missing or wrong header. */
static bool
SessionFromHeaders(const HttpRequest *req, ZtQueryRequest *q, HttpReply *r)
{
	char	   *auth = FindAuthorization(req->headers);

	if (auth == NULL)
	{
		TextReply(r, 400, "missing header 'Authorization'");
		return false;
	}
	if (zt_parse_authorization(auth, strlen(auth), &q->session_uuid,
							   &q->session_len) != ZT_AUTH_OK)
	{
		TextReply(r, 400, "Authorization type must be 'OAuth'");
		return false;
	}
	return true;
}

/* Run a query request and turn its outcome into the reply. */
static void
QueryReply(const ZtQueryRequest *q, HttpReply *r)
{
	ZtFailure	f;

	resetStringInfo(&r->body);
	if (zt_query_json(q, &r->body, &f))
	{
		r->status = 200;
		r->content_type = CT_JSON;
	}
	else
		FailureReply(r, &f);
}

/* Call a life-cycle SQL function that returns json, and reply with it. */
static void
CallJson(HttpReply *r, const char *sql, int nargs, Oid *types, Datum *values,
		 const char *nulls)
{
	if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "life-cycle call failed");
	JsonReply(r, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

/* GET .../secret?name=&password=&type=: GetTwoFactorAuthenticationSecret. */
static void
SecretReply(const HttpRequest *req, HttpReply *r)
{
	const char *pos = req->query;
	const char *end = req->query + strlen(req->query);
	const char *rn,
			   *rv;
	size_t		rn_len,
				rv_len;
	bool		has_value;
	char	   *params[3] = {NULL, NULL, "account"};
	static const char *const names[3] = {"name", "password", "type"};
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	ZtFailure	f;

	while (zt_next_query_param(&pos, end, &rn, &rn_len, &rv, &rv_len, &has_value))
	{
		char	   *name = DecodePiece(rn, rn_len, true, NULL);
		char	   *value = DecodePiece(rv, rv_len, true, NULL);

		if (name == NULL || value == NULL)
		{
			TextReply(r, 400, "Invalid query string: a parameter is not valid percent-encoded UTF-8");
			return;
		}
		for (int i = 0; i < 3; i++)
			if (strcmp(name, names[i]) == 0)
				params[i] = value;
	}
	for (int i = 0; i < 3; i++)
	{
		if (params[i] == NULL)
		{
			zt_fail(&f, ZT_ERR_SYS_1007, "missing parameter '%s'", names[i]);
			FailureReply(r, &f);
			return;
		}
		values[i] = CStringGetTextDatum(params[i]);
	}
	CallJson(r, "SELECT zstack_tfa.get_two_factor_authentication_secret($1, $2, $3)::text",
			 3, types, values, NULL);
}

/* PUT /zstack/v1/accounts/login: LogInByAccount with its system tags. */
static void
LoginReply(const HttpRequest *req, HttpReply *r)
{
	Oid			type = JSONOID;
	Datum		body = req->body;
	char		null = req->body == (Datum) 0 ? 'n' : ' ';
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	ZtFailure	f;

	if (SPI_execute_with_args("SELECT pg_catalog.json_typeof($1->'logInByAccount') = 'object',"
							  " $1->'logInByAccount'->>'accountName', $1->'logInByAccount'->>'password',"
							  " ARRAY(SELECT pg_catalog.json_array_elements_text(CASE WHEN"
							  " pg_catalog.json_typeof($1->'systemTags') = 'array' THEN $1->'systemTags' END))",
							  1, &type, &body, &null, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "login body parse failed");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (!DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull)) || isnull)
	{
		TextReply(r, 400, "the request body must be {\"logInByAccount\":{\"accountName\":\"...\",\"password\":\"...\"},\"systemTags\":[...]}");
		return;
	}
	values[0] = SPI_getbinval(tup, desc, 2, &isnull);
	if (isnull)
	{
		zt_fail(&f, ZT_ERR_SYS_1007, "missing parameter 'accountName'");
		FailureReply(r, &f);
		return;
	}
	values[1] = SPI_getbinval(tup, desc, 3, &isnull);
	if (isnull)
	{
		zt_fail(&f, ZT_ERR_SYS_1007, "missing parameter 'password'");
		FailureReply(r, &f);
		return;
	}
	values[2] = SPI_getbinval(tup, desc, 4, &isnull);
	CallJson(r, "SELECT zstack_tfa.log_in_by_account($1, $2, $3)::text", 3, types, values, nulls);
}

/* Route a request to its API (404 for unknown paths, 405 for wrong methods). */
static void
Dispatch(const HttpRequest *req, HttpReply *r)
{
	size_t		path_len;
	char	   *path = DecodePiece(req->path, strlen(req->path), false, &path_len);
	const char *want = "GET";
	const char *rest;
	ZtQueryRequest q;

	if (path == NULL)
	{
		TextReply(r, 400, "Invalid path: it is not valid percent-encoded UTF-8");
		return;
	}
	memset(&q, 0, sizeof(q));
	if (strcmp(path, LOGIN_PATH) == 0)
		want = "PUT";
	else if (strncmp(path, API_PREFIX, strlen(API_PREFIX)) != 0)
	{
		TextReply(r, 404, "no api mapping to %s", zt_clip(req->path, strlen(req->path), 512));
		return;
	}
	rest = path + strlen(API_PREFIX);
	if (want[0] == 'G' && strcmp(rest, "secrets") != 0 && strcmp(rest, "state") != 0 &&
		strcmp(rest, "secret") != 0 &&
		!(strncmp(rest, "secrets/", 8) == 0 && rest[8] != '\0' && strchr(rest + 8, '/') == NULL))
	{
		TextReply(r, 404, "no api mapping to %s", zt_clip(req->path, strlen(req->path), 512));
		return;
	}
	if (strcmp(req->method, want) != 0)
	{
		TextReply(r, 405, "the method %s is not allowed for %s; use %s",
				  zt_clip(req->method, strlen(req->method), 16),
				  zt_clip(req->path, strlen(req->path), 512), want);
		return;
	}

	SPI_connect();
	if (want[0] == 'P')
		LoginReply(req, r);
	else if (strcmp(rest, "state") == 0)
		CallJson(r, "SELECT zstack_tfa.get_two_factor_authentication_state()::text", 0, NULL, NULL, NULL);
	else if (strcmp(rest, "secret") == 0)
		SecretReply(req, r);
	else if (SessionFromHeaders(req, &q, r))
	{
		if (strcmp(rest, "secrets") == 0)
		{
			if (ParseQueryParams(req->query, &q, r))
				QueryReply(&q, r);
		}
		else
		{
			/* GET .../secrets/{uuid}: one condition, the query string ignored */
			const char *cond = psprintf("uuid=%s", rest + 8);
			size_t		cond_len = strlen(cond);

			q.ncond = 1;
			q.cond = &cond;
			q.cond_len = &cond_len;
			q.limit = 1000;
			QueryReply(&q, r);
		}
	}
	SPI_finish();
}

/* Errors a request must not swallow: cancels, shutdowns, lack of resources, retries. */
static bool
MustPropagate(int sqlerrcode)
{
	int			class = ERRCODE_TO_CATEGORY(sqlerrcode);

	return class == ERRCODE_OPERATOR_INTERVENTION ||
		class == ERRCODE_INSUFFICIENT_RESOURCES ||
		class == ERRCODE_TRANSACTION_ROLLBACK;
}

/*
 * http_request(method, path, query, headers, body): the REST layer.  An
 * unexpected error inside becomes a SYS.1000 envelope (logged for the DBA,
 * without internals for the client); its work is rolled back by a
 * subtransaction, so nothing is half-written.
 */
static Datum
ServeHttpRequest(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HttpRequest req;
	HttpReply	r;
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	req.method = zt_text_arg(fcinfo, 0, "method");
	req.path = zt_text_arg(fcinfo, 1, "path");
	req.query = PG_ARGISNULL(2) ? "" : zt_text_arg(fcinfo, 2, "query");
	req.headers = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	req.body = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	InitMaterializedSRF(fcinfo, 0);
	initStringInfo(&r.body);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		Dispatch(&req, &r);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		ZtFailure	f;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (MustPropagate(edata->sqlerrcode))
			ReThrowError(edata);
		ereport(LOG,
				(errmsg("zstack_tfa: %s %s failed: %s", req.method,
						zt_clip(req.path, strlen(req.path), 128), edata->message)));
		zt_fail(&f, ZT_ERR_SYS_1000, "the request could not be completed");
		FailureReply(&r, &f);
	}
	PG_END_TRY();

	values[0] = Int32GetDatum(r.status);
	values[1] = CStringGetTextDatum(r.content_type);
	values[2] = PointerGetDatum(cstring_to_text_with_len(r.body.data, r.body.len));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* SQL entry point of ServeHttpRequest, its caller's statement kept out of the log. */
Datum
http_request(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, ServeHttpRequest);
}
