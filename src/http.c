/*
 * http.c
 *		The REST layer: http_request(method, path, query, headers, body) routes
 *		ZStack's URLs, decodes the raw query string, reads headers and JSON
 *		bodies, checks Authorization and answers with ZStack's status, content
 *		type and body (SPEC §1.2), as zstackio/zstack's RestServer does.
 *
 * Nothing a caller sends makes this raise or answer SYS.1000: every input
 * has its 400, 404, 405 or ZStack envelope.  SYS.1000 is left for faults of
 * the server itself.
 */
#include "zstack_tfa.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "common/base64.h"
#include "enrolment.h"
#include "jsonread.h"
#include "lifecycle.h"

PG_FUNCTION_INFO_V1(http_request);

#define CT_JSON "application/json; charset=utf-8"
#define CT_TEXT "text/plain; charset=utf-8"
#define CONTEXT_PATH "/zstack"
/* request bodies nest no deeper than this (ZStack's are three deep) */
#define MAX_BODY_DEPTH 32

typedef struct HttpReply
{
	int			status;
	const char *content_type;
	StringInfoData body;
	bool		binary;			/* body holds bytes (a PNG), not text */
} HttpReply;

/* A request, as http_request received it. */
typedef struct HttpRequest
{
	const char *method;
	const char *path;			/* raw: percent-encoded */
	const char *query;			/* raw, without '?' */
	List	   *headers;		/* ZtJsonItems of the headers object */
	const char *body;			/* the body's text, or NULL */
	bool		json_schema;	/* X-JSON-Schema was sent */
} HttpRequest;

typedef void (*RouteHandler) (const HttpRequest *req, const char *param,
							  HttpReply *r);

/* A route: a method and a path whose "{}" stands for one path segment. */
typedef struct Route
{
	const char *method;
	const char *pattern;
	RouteHandler handler;
} Route;

/* The parameter object of a PUT body and its fields, ZStack's way. */
typedef struct ApiBody
{
	const char *name;			/* "logInByAccount", ... */
	List	   *items;
	const char *field[4];		/* the fields read, in ZStack's check order */
	char	   *value[4];		/* their values (NULL when absent) */
	ArrayType  *system_tags;	/* NULL when none */
} ApiBody;

static void TextReply(HttpReply *r, int status, const char *fmt,...) pg_attribute_printf(3, 4);

/* A plain-text reply (400, 404, 405), as ZStack's REST server writes them. */
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
	r->binary = false;
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
	r->binary = false;
	resetStringInfo(&r->body);
	zt_error_envelope(&r->body, f);
}

/* A SYS.1007 envelope with ZStack's text for a missing API parameter. */
static void
MandatoryReply(HttpReply *r, const char *field)
{
	ZtFailure	f;

	zt_fail(&f, ZT_ERR_SYS_1007, ZT_MANDATORY_FORMAT, field);
	FailureReply(r, &f);
}

/*
 * The reply for a life-cycle function's JSON: 503 for an envelope, else
 * 200.  When the request carried X-JSON-Schema, a success also gets
 * ZStack's "schema" member (its JsonSchemaBuilder's entries are given),
 * placed where Java's HashMap puts it in ZStack's reply map: before the
 * reply's one member, or after it when the two share a bucket ("valid").
 */
static void
JsonReply(const HttpRequest *req, HttpReply *r, const char *json,
		  const char *schema, bool schema_last)
{
	bool		error = strncmp(json, "{\"error\":", 9) == 0;
	size_t		len = strlen(json);

	r->status = error ? 503 : 200;
	r->content_type = CT_JSON;
	r->binary = false;
	resetStringInfo(&r->body);
	if (error || !req->json_schema || len < 2)
	{
		appendStringInfoString(&r->body, json);
		return;
	}
	if (strcmp(json, "{}") == 0)
		appendStringInfo(&r->body, "{\"schema\":{%s}}", schema);
	else if (schema_last)
	{
		appendBinaryStringInfo(&r->body, json, (int) len - 1);
		appendStringInfo(&r->body, ",\"schema\":{%s}}", schema);
	}
	else
		appendStringInfo(&r->body, "{\"schema\":{%s},%s", schema, json + 1);
}

/* Java's String.trim(): every character up to ' ' goes from both ends. */
static char *
JavaTrim(char *s)
{
	size_t		len = strlen(s);

	while (len > 0 && (unsigned char) s[len - 1] <= ' ')
		s[--len] = '\0';
	while (*s != '\0' && (unsigned char) *s <= ' ')
		s++;
	return s;
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
		*items = (const char **) (*items ? repalloc((void *) *items, sizeof(char *) * *cap)
								  : palloc(sizeof(char *) * *cap));
		*lens = *lens ? repalloc(*lens, sizeof(size_t) * *cap) : palloc(sizeof(size_t) * *cap);
	}
	(*items)[*n] = s;
	(*lens)[*n] = len;
	(*n)++;
}

/*
 * Step to the next query parameter, decoded.  Parameters with an empty raw
 * name are skipped, as Tomcat drops them.  Returns false at the end, and
 * also (with *bad set) for a piece that is not percent-encoded UTF-8.
 */
static bool
NextParam(const char **pos, const char *end, char **name, char **value,
		  size_t *value_len, bool *bad)
{
	const char *rn,
			   *rv;
	size_t		rn_len,
				rv_len;
	bool		has_value;

	*bad = false;
	do
	{
		if (!zt_next_query_param(pos, end, &rn, &rn_len, &rv, &rv_len, &has_value))
			return false;
	} while (rn_len == 0);
	*name = DecodePiece(rn, rn_len, true, NULL);
	*value = DecodePiece(rv, rv_len, true, value_len);
	*bad = (*name == NULL || *value == NULL);
	return !*bad;
}

/* The 400 for a query string that is not percent-encoded UTF-8. */
static void
BadQueryString(HttpReply *r)
{
	TextReply(r, 400, "Invalid query string: a parameter is not valid percent-encoded UTF-8");
}

/*
 * Read the query parameters of QueryTwoFactorAuthentication into req, as
 * RestServer's handleQueryApi does: names trimmed, a repeated scalar
 * parameter keeps its first value, scalar values trimmed, q values not;
 * a name that trims to nothing counts as q ("q".startsWith("")).  Unknown
 * parameters (groupBy, ...) are accepted and ignored.
 */
static bool
ParseQueryParams(const char *qs, ZtQueryRequest *req, HttpReply *r)
{
	static const char *const scalars[] = {
		"limit", "start", "count", "groupBy", "replyWithCount", "filterName", "sort", "fields"
	};
	bool		seen[lengthof(scalars)] = {false};
	const char *pos = qs;
	const char *end = qs + strlen(qs);
	char	   *name;
	char	   *raw;
	size_t		raw_len;
	bool		bad;
	int			ccap = 0,
				fcap = 0;

	req->limit = 1000;
	req->start = 0;
	while (NextParam(&pos, end, &name, &raw, &raw_len, &bad))
	{
		char	   *value;
		int			which = -1;

		name = JavaTrim(name);
		if (name[0] == '\0' || strcmp(name, "q") == 0)
		{
			PushSpan(&req->cond, &req->cond_len, &req->ncond, &ccap, raw, raw_len);
			continue;
		}
		for (int i = 0; i < (int) lengthof(scalars); i++)
			if (strcmp(name, scalars[i]) == 0)
				which = i;
		if (which < 0 || seen[which])
			continue;			/* unknown, or a repeat: the first one counts */
		seen[which] = true;
		value = JavaTrim(raw);
		if (strcmp(name, "limit") == 0 || strcmp(name, "start") == 0)
		{
			if (!zt_parse_int(value, strlen(value), name[0] == 'l' ? &req->limit : &req->start))
			{
				TextReply(r, 400, "Invalid query parameter. '%s' must be an integer", name);
				return false;
			}
		}
		else if (strcmp(name, "count") == 0)
			req->count = zt_parse_bool(value, strlen(value));
		else if (strcmp(name, "replyWithCount") == 0)
			req->reply_with_count = zt_parse_bool(value, strlen(value));
		else if (strcmp(name, "filterName") == 0)
		{
			req->filter_name = value;
			req->filter_name_len = strlen(value);
		}
		else if (strcmp(name, "sort") == 0)
		{
			req->sort = value;
			req->sort_len = strlen(value);
		}
		else if (strcmp(name, "fields") == 0)
		{
			const char *fpos = value;
			const char *item;
			size_t		item_len;
			int			kept;

			/* Java's split(","): trailing empty parts are dropped */
			while (zt_next_list_item(&fpos, value + strlen(value), &item, &item_len))
				PushSpan(&req->fields, &req->fields_len, &req->nfields, &fcap, item, item_len);
			kept = req->nfields;
			while (kept > 0 && req->fields_len[kept - 1] == 0)
				kept--;
			if (kept == 0 && value[0] != '\0')
			{
				TextReply(r, 400, "Invalid query parameter. 'fields' contains zero field");
				return false;
			}
			req->nfields = Max(kept, 1);
		}
	}
	if (bad)
	{
		BadQueryString(r);
		return false;
	}
	return true;
}

/* A request header, found case-insensitively; NULL when absent. */
static const char *
Header(const HttpRequest *req, const char *name)
{
	const ZtJsonItem *item = zt_json_find(req->headers, name, true);

	if (item == NULL || item->kind == ZT_JSON_OBJECT || item->kind == ZT_JSON_ARRAY)
		return NULL;
	return item->value ? item->value : "";
}

/* ZStack's session check at the REST layer: 400 for a missing or wrong header. */
static bool
SessionFromHeaders(const HttpRequest *req, const char **session,
				   size_t *session_len, HttpReply *r)
{
	const char *auth = Header(req, "authorization");

	if (auth == NULL)
	{
		TextReply(r, 400, "missing header 'Authorization'");
		return false;
	}
	if (zt_parse_authorization(auth, strlen(auth), session, session_len) != ZT_AUTH_OK)
	{
		TextReply(r, 400, "Authorization type must be 'OAuth'");
		return false;
	}
	return true;
}

/*
 * ZStack's check of X-Job-UUID, for every API that is not a query: when
 * sent, it must be 32 characters long (a uuid without its dashes).
 */
static bool
JobUuidOk(const HttpRequest *req, HttpReply *r)
{
	const char *job = Header(req, "x-job-uuid");

	if (job == NULL || strlen(job) == 32)
		return true;
	TextReply(r, 400, "Invalid header[X-Job-UUID], it must be a UUID with '-' stripped");
	return false;
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

/* Call a life-cycle SQL function that returns json; returns its text. */
static char *
CallJson(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "life-cycle call failed");
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* GET .../twofactorauthentication/secrets: QueryTwoFactorAuthentication. */
static void
QuerySecrets(const HttpRequest *req, const char *param, HttpReply *r)
{
	ZtQueryRequest q;

	memset(&q, 0, sizeof(q));
	if (SessionFromHeaders(req, &q.session_uuid, &q.session_len, r) &&
		ParseQueryParams(req->query, &q, r))
		QueryReply(&q, r);
}

/* GET .../secrets/{uuid}: one condition, every query parameter ignored. */
static void
QueryOneSecret(const HttpRequest *req, const char *param, HttpReply *r)
{
	ZtQueryRequest q;

	memset(&q, 0, sizeof(q));
	if (!SessionFromHeaders(req, &q.session_uuid, &q.session_len, r))
		return;
	q.path_uuid = param;
	q.path_uuid_len = strlen(param);
	q.limit = 1000;
	QueryReply(&q, r);
}

/* GET .../twofactorauthentication/state. */
static void
GetState(const HttpRequest *req, const char *param, HttpReply *r)
{
	JsonReply(req, r, CallJson("SELECT zstack_tfa.get_two_factor_authentication_state()::text",
							   0, NULL, NULL, NULL), "", false);
}

/*
 * The "schema" entries of GetTwoFactorAuthenticationSecret's reply: its
 * inventory and that inventory's status.
 */
static char *
SecretSchema(void)
{
	StringInfoData s;
	bool		mask[ZT_FIELD_COUNT];
	bool		first = true;

	memset(mask, true, sizeof(mask));
	initStringInfo(&s);
	zt_json_inventory_schema(&s, "inventory", 9, ZT_CLASS_SECRET_INVENTORY, mask,
							 zt_secret_key_order, &first);
	return s.data;
}

#define SESSION_SCHEMA "\"inventory\":\"" ZT_CLASS_SESSION_INVENTORY "\""

/*
 * Read the query parameters of the secret routes into params[] (names[] in
 * the order ZStack's validator meets them; the first nrequired must be
 * there).  A repeated parameter is ZStack's 400, a missing one its SYS.1007;
 * values are trimmed, as its validator does.
 */
static bool
SecretParams(const HttpRequest *req, const char *const *names, char **params,
			 int nparams, int nrequired, HttpReply *r)
{
	const char *pos = req->query;
	const char *end = req->query + strlen(req->query);
	char	   *name;
	char	   *value;
	size_t		value_len;
	bool		bad;

	if (!JobUuidOk(req, r))
		return false;
	for (int i = 0; i < nparams; i++)
		params[i] = NULL;
	while (NextParam(&pos, end, &name, &value, &value_len, &bad))
	{
		for (int i = 0; i < nparams; i++)
		{
			if (strcmp(name, names[i]) != 0)
				continue;
			if (params[i] != NULL)
			{
				TextReply(r, 400, "Invalid query parameter[%s], only one value is allowed for the parameter but multiple values found",
						  names[i]);
				return false;
			}
			params[i] = JavaTrim(value);
		}
	}
	if (bad)
	{
		BadQueryString(r);
		return false;
	}
	for (int i = 0; i < nrequired; i++)
	{
		if (params[i] == NULL)
		{
			MandatoryReply(r, names[i]);
			return false;
		}
	}
	return true;
}

/* GetTwoFactorAuthenticationSecret's JSON for name, password and type. */
static char *
CallGetSecret(const char *name, const char *password, const char *type)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(password);
	values[2] = CStringGetTextDatum(type);
	return CallJson("SELECT zstack_tfa.get_two_factor_authentication_secret($1, $2, $3)::text",
					3, types, values, NULL);
}

/* GET .../secret?name=&password=&type=: GetTwoFactorAuthenticationSecret. */
static void
GetSecret(const HttpRequest *req, const char *param, HttpReply *r)
{
	static const char *const names[3] = {"password", "name", "type"};
	char	   *params[3];
	char	   *json;

	if (!SecretParams(req, names, params, 3, 3, r))
		return;
	json = CallGetSecret(params[1], params[0], params[2]);
	JsonReply(req, r, json, SecretSchema(), false);
	explicit_bzero(json, strlen(json));
}

/*
 * GET .../secret/qrcode?name=&password=&type=&format=: the enrolment QR code
 * of the secret GetTwoFactorAuthenticationSecret shows, for the same
 * credentials and with its errors (a route of ours; ZStack's UI draws the
 * code in the browser).  format is svg (the default), png or text.  A
 * Logined secret is not shown again, so it has no QR code: SYS.1006.
 */
static void
GetSecretQrCode(const HttpRequest *req, const char *param, HttpReply *r)
{
	static const char *const names[4] = {"password", "name", "type", "format"};
	static const char *const formats[3] = {"svg", "png", "text"};
	static const char *const content_types[3] = {
		"image/svg+xml; charset=utf-8", "image/png", CT_TEXT
	};
	char	   *params[4];
	int			format = -1;
	char	   *json;
	List	   *items;
	const ZtJsonItem *secret;
	ZtFailure	f;

	if (!SecretParams(req, names, params, 4, 3, r))
		return;
	for (int i = 0; i < 3; i++)
		if (strcmp(params[3] ? params[3] : "svg", formats[i]) == 0)
			format = i;
	if (format < 0)
	{
		zt_fail(&f, ZT_ERR_SYS_1007, ZT_BAD_VALUE_FORMAT, "format", "[svg, png, text]",
				zt_clip(params[3], strlen(params[3]), 64));
		FailureReply(r, &f);
		return;
	}
	json = CallGetSecret(params[1], params[0], params[2]);
	if (strncmp(json, "{\"error\":", 9) == 0)
	{
		JsonReply(req, r, json, "", false);
		return;
	}
	if (zt_json_read(json, strlen(json), 4, false, &items) != ZT_JSON_READ_OK)
		elog(ERROR, "unexpected reply of get_two_factor_authentication_secret");
	secret = zt_json_find(items, "inventory.secret", false);
	if (secret == NULL || secret->value == NULL)
		elog(ERROR, "unexpected reply of get_two_factor_authentication_secret");
	explicit_bzero(json, strlen(json));
	if (secret->value[0] == '\0')
	{
		zt_fail(&f, ZT_ERR_SYS_1006,
				"the secret has been used to log in (Logined) and is not shown again; a SystemAdmin can reset it (ResetTwoFactorAuthenticationSecret)");
		FailureReply(r, &f);
	}
	else
	{
		struct varlena *drawing = zt_otpauth_qr(secret->value, params[1], "ZStack",
												(ZtQrFormat) format, 8, false);

		r->status = 200;
		r->content_type = content_types[format];
		r->binary = (format == ZT_QR_FORMAT_PNG);
		resetStringInfo(&r->body);
		appendBinaryStringInfo(&r->body, VARDATA(drawing), VARSIZE(drawing) - VARHDRSZ);
		explicit_bzero(VARDATA(drawing), VARSIZE(drawing) - VARHDRSZ);
	}
	explicit_bzero(secret->value, strlen(secret->value));
}

/* The string text of a JSON scalar, or false for an object or array. */
static bool
ScalarText(const ZtJsonItem *item, char **out)
{
	if (item == NULL || item->kind == ZT_JSON_NULL)
	{
		*out = NULL;
		return true;
	}
	if (item->kind == ZT_JSON_OBJECT || item->kind == ZT_JSON_ARRAY)
		return false;
	*out = item->value;			/* Gson turns numbers and booleans to text */
	return true;
}

/* The tags of a JSON array at path: true and *tags (NULL if none) if fine. */
static bool
TagsAt(List *items, const char *path, ArrayType **tags)
{
	const ZtJsonItem *list = zt_json_find(items, path, false);
	const char *element_path;
	List	   *texts = NIL;
	ListCell   *lc;
	Datum	   *elems;
	int			n = 0;

	*tags = NULL;
	if (list == NULL || list->kind == ZT_JSON_NULL)
		return true;
	if (list->kind != ZT_JSON_ARRAY)
		return false;
	element_path = psprintf("%s[]", path);
	foreach(lc, items)
	{
		ZtJsonItem *item = (ZtJsonItem *) lfirst(lc);

		if (strcmp(item->path, element_path) != 0)
			continue;
		if (item->kind == ZT_JSON_OBJECT || item->kind == ZT_JSON_ARRAY)
			return false;
		if (item->value != NULL)
			texts = lappend(texts, item->value);
	}
	elems = palloc(sizeof(Datum) * (list_length(texts) + 1));
	foreach(lc, texts)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	*tags = construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
	return true;
}

/*
 * Read a PUT body the way RestServer does: the parameter object named
 * body->name holds the fields; systemTags may come inside it or at the top
 * level, and a top-level list wins (ZStack's SDK sends them inside).  A
 * body that is not a JSON object, or a field that is not a scalar, is a
 * 400 here (ZStack answers 500 with Gson's exception text).
 */
static bool
ReadApiBody(const HttpRequest *req, ApiBody *body, HttpReply *r)
{
	const ZtJsonItem *root;
	const ZtJsonItem *object;
	ArrayType  *inner;

	body->items = NIL;
	body->system_tags = NULL;
	if (req->body != NULL)
	{
		switch (zt_json_read(req->body, strlen(req->body), MAX_BODY_DEPTH, true, &body->items))
		{
			case ZT_JSON_READ_OK:
				break;
			case ZT_JSON_READ_TOO_DEEP:
				TextReply(r, 400, "Invalid request body: it nests deeper than %d levels", MAX_BODY_DEPTH);
				return false;
			case ZT_JSON_READ_DUPLICATE_KEY:
				TextReply(r, 400, "Invalid request body: an object names a member twice");
				return false;
			case ZT_JSON_READ_INVALID:
				TextReply(r, 400, "Invalid request body: it is not valid JSON");
				return false;
		}
	}
	root = zt_json_find(body->items, "", false);
	if (root != NULL && root->kind != ZT_JSON_OBJECT && root->kind != ZT_JSON_NULL)
	{
		TextReply(r, 400, "Invalid request body: it must be a JSON object");
		return false;
	}
	object = zt_json_find(body->items, body->name, false);
	if (object != NULL && object->kind != ZT_JSON_OBJECT && object->kind != ZT_JSON_NULL)
	{
		TextReply(r, 400, "Invalid request body: '%s' must be a JSON object", body->name);
		return false;
	}
	for (int i = 0; i < (int) lengthof(body->field) && body->field[i] != NULL; i++)
	{
		const char *path = psprintf("%s.%s", body->name, body->field[i]);

		if (!ScalarText(zt_json_find(body->items, path, false), &body->value[i]))
		{
			TextReply(r, 400, "Invalid request body: field[%s] must be a string", body->field[i]);
			return false;
		}
		if (body->value[i] != NULL)
			body->value[i] = JavaTrim(body->value[i]);	/* the validator trims */
	}
	if (!TagsAt(body->items, "systemTags", &body->system_tags) ||
		!TagsAt(body->items, psprintf("%s.systemTags", body->name), &inner))
	{
		TextReply(r, 400, "Invalid request body: systemTags must be a list of strings");
		return false;
	}
	if (body->system_tags == NULL)
		body->system_tags = inner;
	return true;
}

/* Check the fields a body must have, in body->field order; false if one is missing. */
static bool
MandatoryFields(const ApiBody *body, int nrequired, HttpReply *r)
{
	for (int i = 0; i < nrequired; i++)
	{
		if (body->value[i] == NULL)
		{
			MandatoryReply(r, body->field[i]);
			return false;
		}
	}
	return true;
}

/* Log in an account or an IAM2 user with name, password and tags. */
static void
CallLogin(const HttpRequest *req, bool iam2, const char *name, const char *password,
		  const ArrayType *tags, HttpReply *r)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(password);
	values[2] = PointerGetDatum(tags);
	if (tags == NULL)
		nulls[2] = 'n';
	JsonReply(req, r, CallJson(iam2 ? "SELECT zstack_tfa.log_in_by_iam2_virtual_id($1, $2, $3)::text"
							   : "SELECT zstack_tfa.log_in_by_account($1, $2, $3)::text",
							   3, types, values, nulls), SESSION_SCHEMA, false);
}

/*
 * PUT /zstack/v1/accounts/login: LogInByAccount.  Required fields are
 * checked in the order ZStack's validator meets them: password, accountName.
 * An accountType other than "account" is ID.1000.
 */
static void
LogInByAccount(const HttpRequest *req, const char *param, HttpReply *r)
{
	ApiBody		body = {.name = "logInByAccount", .field = {"password", "accountName", "accountType"}};
	ZtFailure	f;

	if (!JobUuidOk(req, r) || !ReadApiBody(req, &body, r) || !MandatoryFields(&body, 2, r))
		return;
	/*
	 * ZStack's AccountLoginBackend logs in an account only for no
	 * accountType or "account"; any other goes to login extensions, and
	 * with none (as here) it is the bad-credentials answer.
	 */
	if (body.value[2] != NULL && strcmp(body.value[2], "account") != 0)
	{
		/* as a login refused: nothing written where nothing may be, else audited */
		if (zt_read_only())
			zt_fail(&f, ZT_ERR_SYS_1006, ZT_READ_ONLY_DETAILS);
		else
		{
			zt_fail(&f, ZT_ERR_ID_1000, "wrong account name or password");
			zt_audit("login", "bad_credentials", "ID.1000", NULL);
		}
		FailureReply(r, &f);
		return;
	}
	CallLogin(req, false, body.value[1], body.value[0], body.system_tags, r);
}

/* PUT /zstack/v1/iam2/virtual-ids/login: LoginIAM2VirtualID. */
static void
LogInIam2(const HttpRequest *req, const char *param, HttpReply *r)
{
	ApiBody		body = {.name = "loginIAM2VirtualID", .field = {"password", "name"}};

	if (JobUuidOk(req, r) && ReadApiBody(req, &body, r) && MandatoryFields(&body, 2, r))
		CallLogin(req, true, body.value[1], body.value[0], body.system_tags, r);
}

/*
 * PUT /zstack/v1/login: ZStack's unified LogIn.  loginType names the login
 * backend: "account" is LogInByAccount's, "iam2" the IAM2 user's (ZStack's
 * IAM2 module is not open source; its backend name is the one ZStack's SDK
 * uses for an IAM2 user's secret); any other is SYS.1006 as in ZStack.
 */
static void
LogInUnified(const HttpRequest *req, const char *param, HttpReply *r)
{
	ApiBody		body = {.name = "logIn", .field = {"password", "loginType", "username"}};
	const char *type;
	ZtFailure	f;

	if (!JobUuidOk(req, r) || !ReadApiBody(req, &body, r) || !MandatoryFields(&body, 3, r))
		return;
	type = body.value[1];
	if (strcmp(type, "account") == 0 || strcmp(type, "iam2") == 0)
		CallLogin(req, type[0] == 'i', body.value[2], body.value[0], body.system_tags, r);
	else
	{
		zt_fail(&f, ZT_ERR_SYS_1006, "unsupported login type %s", zt_clip(type, strlen(type), 64));
		FailureReply(r, &f);
	}
}

/* DELETE /zstack/v1/accounts/sessions/{uuid}: LogOut, a success even for no session. */
static void
LogOut(const HttpRequest *req, const char *param, HttpReply *r)
{
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(param);

	ZtFailure	f;

	if (!JobUuidOk(req, r))
		return;
	if (zt_read_only())
	{
		zt_fail(&f, ZT_ERR_SYS_1006, ZT_READ_ONLY_DETAILS);
		FailureReply(r, &f);
		return;
	}
	if (SPI_execute_with_args("SELECT zstack_tfa.log_out($1)", 1, &type, &value, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "log out failed");
	JsonReply(req, r, "{}", "", false);
}

/* GET /zstack/v1/accounts/sessions/{uuid}/valid: ValidateSession. */
static void
ValidateSession(const HttpRequest *req, const char *param, HttpReply *r)
{
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(param);

	if (JobUuidOk(req, r))
		JsonReply(req, r, CallJson("SELECT zstack_tfa.validate_session($1)::text", 1, &type, &value, NULL),
				  "", true);
}

/*
 * PUT /zstack/v1/accounts/sessions/{uuid}/renew: RenewSession, with an
 * optional duration in seconds in {"renewSession":{"duration":N}}.
 */
static void
RenewSession(const HttpRequest *req, const char *param, HttpReply *r)
{
	ApiBody		body = {.name = "renewSession", .field = {"duration"}};
	const char *session;
	size_t		session_len;
	Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			duration = 0;

	if (!JobUuidOk(req, r) || !ReadApiBody(req, &body, r) ||
		!SessionFromHeaders(req, &session, &session_len, r))
		return;
	if (body.value[0] != NULL && !zt_parse_whole_number(body.value[0], strlen(body.value[0]), &duration))
	{
		/* RestServer's TypeVerifier, for a Long field: a whole double ("600.0") passes */
		TextReply(r, 400, "[%s] field is excepted an int or long, but was [%s].", "duration",
				  zt_clip(body.value[0], strlen(body.value[0]), 64));
		return;
	}
	values[0] = PointerGetDatum(cstring_to_text_with_len(session, (int) session_len));
	values[1] = CStringGetTextDatum(param);
	values[2] = Int32GetDatum(duration);
	if (body.value[0] == NULL)
		nulls[2] = 'n';
	JsonReply(req, r, CallJson("SELECT zstack_tfa.renew_session($1, $2, $3)::text", 3, types, values, nulls),
			  SESSION_SCHEMA, false);
}

/*
 * PUT /zstack/v1/twofactorauthentication/secrets:
 * ResetTwoFactorAuthenticationSecret.  ZStack's path also has the query,
 * so RestServer picks the API by the body's key and answers 400 when it is
 * missing; then come the Authorization header, X-Job-UUID, the mandatory
 * fields (password, name, type, as for the secret fetch) and the API
 * itself.  captchaUuid and verifyCode are taken and ignored: no captcha
 * is kept here.  Answered at once with 200 (ZStack: 202 and a job to poll).
 */
static void
ResetSecret(const HttpRequest *req, const char *param, HttpReply *r)
{
	ApiBody		body = {.name = "resetTwoFactorAuthenticationSecret", .field = {"password", "name", "type"}};
	const char *session;
	size_t		session_len;
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	char	   *json;

	if (!ReadApiBody(req, &body, r))
		return;
	if (zt_json_find(body.items, body.name, false) == NULL)
	{
		TextReply(r, 400, "the body doesn't contain action mapping to the URL[%s]",
				  "/v1/twofactorauthentication/secrets");
		return;
	}
	if (!SessionFromHeaders(req, &session, &session_len, r) || !JobUuidOk(req, r) ||
		!MandatoryFields(&body, 3, r))
		return;
	values[0] = PointerGetDatum(cstring_to_text_with_len(session, (int) session_len));
	values[1] = CStringGetTextDatum(body.value[1]);
	values[2] = CStringGetTextDatum(body.value[0]);
	values[3] = CStringGetTextDatum(body.value[2]);
	json = CallJson("SELECT zstack_tfa.reset_two_factor_authentication_secret($1, $2, $3, $4)::text",
					4, types, values, NULL);
	JsonReply(req, r, json, SecretSchema(), false);
	explicit_bzero(json, strlen(json));
}

/*
 * POST /zstack/v1/twofactorauthentication/recovery-codes: a new batch of
 * recovery codes for the session's user, who gives the password again in
 * {"params":{"password":"..."}} (an addition of ours, in ZStack's style;
 * the work is recovery.c's generate_recovery_codes).
 */
static void
GenerateRecoveryCodes(const HttpRequest *req, const char *param, HttpReply *r)
{
	ApiBody		body = {.name = "params", .field = {"password"}};
	const char *session;
	size_t		session_len;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char	   *json;

	if (!JobUuidOk(req, r) || !ReadApiBody(req, &body, r) ||
		!SessionFromHeaders(req, &session, &session_len, r) || !MandatoryFields(&body, 1, r))
		return;
	values[0] = PointerGetDatum(cstring_to_text_with_len(session, (int) session_len));
	values[1] = CStringGetTextDatum(body.value[0]);
	json = CallJson("SELECT zstack_tfa.generate_recovery_codes($1, $2)::text", 2, types, values, NULL);
	JsonReply(req, r, json, "", false);
	explicit_bzero(json, strlen(json));
}

/* Every route served, in one place (SPEC §1, §3; README "Serving over HTTP"). */
static const Route routes[] = {
	{"GET", "/zstack/v1/twofactorauthentication/secrets", QuerySecrets},
	{"PUT", "/zstack/v1/twofactorauthentication/secrets", ResetSecret},
	{"GET", "/zstack/v1/twofactorauthentication/secrets/{}", QueryOneSecret},
	{"GET", "/zstack/v1/twofactorauthentication/state", GetState},
	{"GET", "/zstack/v1/twofactorauthentication/secret", GetSecret},
	{"GET", "/zstack/v1/twofactorauthentication/secret/qrcode", GetSecretQrCode},
	{"PUT", "/zstack/v1/accounts/login", LogInByAccount},
	{"PUT", "/zstack/v1/iam2/virtual-ids/login", LogInIam2},
	{"PUT", "/zstack/v1/login", LogInUnified},
	{"DELETE", "/zstack/v1/accounts/sessions/{}", LogOut},
	{"GET", "/zstack/v1/accounts/sessions/{}/valid", ValidateSession},
	{"PUT", "/zstack/v1/accounts/sessions/{}/renew", RenewSession},
	{"POST", "/zstack/v1/twofactorauthentication/recovery-codes", GenerateRecoveryCodes},
};

/*
 * Does the decoded path match the pattern?  "{}" takes one non-empty path
 * segment, which goes to *param.
 */
static bool
PathMatches(const char *pattern, const char *path, char **param)
{
	const char *hole = strstr(pattern, "{}");
	size_t		head;
	size_t		tail_len;
	const char *seg_end;

	if (hole == NULL)
		return strcmp(pattern, path) == 0;
	head = hole - pattern;
	if (strncmp(pattern, path, head) != 0)
		return false;
	seg_end = path + head;
	while (*seg_end != '\0' && *seg_end != '/')
		seg_end++;
	if (seg_end == path + head)
		return false;
	tail_len = strlen(hole + 2);
	if (strlen(seg_end) != tail_len || strcmp(seg_end, hole + 2) != 0)
		return false;
	*param = pnstrdup(path + head, seg_end - (path + head));
	return true;
}

/* Route a request (404 for unknown paths, 405 for a wrong method). */
static void
Dispatch(const HttpRequest *req, HttpReply *r)
{
	int			spi_level;
	const char *path = DecodePiece(req->path, strlen(req->path), false, NULL);
	const char *allowed = NULL;
	char	   *param = NULL;
	StringInfoData methods;

	if (path == NULL)
	{
		TextReply(r, 400, "Invalid path: it is not valid percent-encoded UTF-8");
		return;
	}
	for (int i = 0; i < (int) lengthof(routes); i++)
	{
		if (!PathMatches(routes[i].pattern, path, &param))
			continue;
		if (strcmp(req->method, routes[i].method) == 0)
		{
			spi_level = zt_spi_connect();
			routes[i].handler(req, param, r);
			zt_spi_finish(spi_level);
			return;
		}
		/* a path may serve more than one method (the query and the reset) */
		if (allowed == NULL)
			initStringInfo(&methods);
		else
			appendStringInfoString(&methods, " or ");
		appendStringInfoString(&methods, routes[i].method);
		allowed = methods.data;
	}
	if (allowed != NULL)
		TextReply(r, 405, "the method %s is not allowed for %s; use %s",
				  zt_clip(req->method, strlen(req->method), 16),
				  zt_clip(path, strlen(path), 512), allowed);
	else
		/* ZStack names the path within its /zstack context */
		TextReply(r, 404, "no api mapping to %s",
				  zt_clip(path + (strncmp(path, CONTEXT_PATH "/", 8) == 0 ? 7 : 0),
						  strlen(path), 512));
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
 * Read the headers argument: a JSON object of header names and values.
 * Anything else counts as no headers (a missing Authorization is then the
 * caller's 400).
 */
static List *
ReadHeaders(FunctionCallInfo fcinfo, int argno)
{
	List	   *items;
	text	   *t;
	const ZtJsonItem *root;

	if (PG_ARGISNULL(argno))
		return NIL;
	t = PG_GETARG_TEXT_PP(argno);
	if (zt_json_read(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), 2, false, &items) != ZT_JSON_READ_OK)
		return NIL;
	root = zt_json_find(items, "", false);
	return (root != NULL && root->kind == ZT_JSON_OBJECT) ? items : NIL;
}

/*
 * http_request(method, path, query, headers, body): the REST layer.  The
 * body may be json or text (the text form lets PostgREST pass a body that
 * is not JSON, for the 400 it deserves).  A fault inside becomes a SYS.1000
 * envelope (logged for the DBA without the request, which may hold a
 * password or a session uuid); its work is rolled back by a subtransaction,
 * so nothing is half-written.
 */
static Datum
ServeHttpRequest(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HttpRequest req;
	HttpReply	r;
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, true};

	req.method = zt_text_arg(fcinfo, 0, "method");
	req.path = zt_text_arg(fcinfo, 1, "path");
	req.query = PG_ARGISNULL(2) ? "" : zt_text_arg(fcinfo, 2, "query");
	InitMaterializedSRF(fcinfo, 0);
	initStringInfo(&r.body);
	r.binary = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		req.headers = ReadHeaders(fcinfo, 3);
		req.json_schema = Header(&req, "x-json-schema") != NULL;
		req.body = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
		if (req.body != NULL && strlen(req.body) == 0)
			req.body = NULL;	/* an empty body is no body, as in ZStack */
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
				(errmsg("zstack_tfa: an HTTP %s request failed: %s",
						zt_clip(req.method, strlen(req.method), 16), edata->message)));
		zt_fail(&f, ZT_ERR_SYS_1000, "the request could not be completed");
		FailureReply(&r, &f);
	}
	PG_END_TRY();

	values[0] = Int32GetDatum(r.status);
	values[1] = CStringGetTextDatum(r.content_type);
	if (!r.binary)
		values[2] = PointerGetDatum(cstring_to_text_with_len(r.body.data, r.body.len));
	else if (rsinfo->setDesc->natts >= 4)
	{
		/* the text-body form has a bytea column for bytes */
		bytea	   *bytes = palloc(VARHDRSZ + r.body.len);

		SET_VARSIZE(bytes, VARHDRSZ + r.body.len);
		memcpy(VARDATA(bytes), r.body.data, r.body.len);
		nulls[2] = true;
		nulls[3] = false;
		values[3] = PointerGetDatum(bytes);
	}
	else
	{
		/* 1.0's form has text only, which cannot hold a PNG: base64 */
		int			len = pg_b64_enc_len(r.body.len);
		char	   *b64 = palloc(len + 1);

		len = zt_b64_encode(r.body.data, r.body.len, b64, len);
		values[2] = PointerGetDatum(cstring_to_text_with_len(b64, len));
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	explicit_bzero(r.body.data, r.body.len);
	return (Datum) 0;
}

/* SQL entry point of ServeHttpRequest, its caller's statement kept out of the log. */
Datum
http_request(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, ServeHttpRequest);
}
