/*
 * reply.c
 *		The JSON writer: strings, ZStack dates, error envelopes, and the
 *		raising of failures as PostgreSQL errors.
 */
#include "zstack_tfa.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"

/* Record a failure; returns false so callers can "return zt_fail(...)". */
bool
zt_fail(ZtFailure *f, ZtErrorCode code, const char *fmt,...)
{
	va_list		args;

	f->code = code;
	f->bad_request = false;
	va_start(args, fmt);
	vsnprintf(f->details, sizeof(f->details), fmt, args);
	va_end(args);
	/* vsnprintf may have cut a multibyte character in half */
	f->details[pg_mbcliplen(f->details, strlen(f->details),
							sizeof(f->details) - 1)] = '\0';
	return false;
}

/*
 * Copy at most max bytes of caller text for a message, cut at a character
 * boundary, with "..." when cut, so a 1 MB condition does not make a 1 MB
 * error.
 */
char *
zt_clip(const char *s, size_t len, size_t max)
{
	int			keep;
	char	   *out;

	if (len <= max)
		return pnstrdup(s, len);
	keep = pg_mbcliplen(s, (int) len, (int) max);
	out = palloc(keep + 4);
	memcpy(out, s, keep);
	memcpy(out + keep, "...", 4);
	return out;
}

/*
 * Raise 22004 when a required argument is NULL: misuse of the SQL function,
 * not an API error, so it is raised even by functions that return envelopes.
 */
void
zt_require_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
}

/* A required text argument as a C string. */
char *
zt_text_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	zt_require_arg(fcinfo, argno, name);
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* The error context callback of zt_hiding_statement. */
static void
HideStatement(void *arg)
{
	errhidestmt(true);
}

/*
 * Run the body of an SQL-visible function with its caller's statement kept
 * out of the server log should anything in it raise.  That statement may
 * hold a password, a secret, a TOTP code or a session uuid, and PostgreSQL
 * logs the statement of every error by default (log_min_error_statement);
 * the error itself is still logged.
 */
Datum
zt_hiding_statement(FunctionCallInfo fcinfo, PGFunction body)
{
	ErrorContextCallback hide;
	Datum		result;

	hide.callback = HideStatement;
	hide.arg = NULL;
	hide.previous = error_context_stack;
	error_context_stack = &hide;
	result = body(fcinfo);
	error_context_stack = hide.previous;
	return result;
}

/* Raise a failure as the PostgreSQL error of SPEC §2: code first, SQLSTATE. */
void
zt_raise(const ZtFailure *f)
{
	const ZtErrorDef *def = &zt_errors[f->code];
	const char *s = def->sqlstate;

	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4])),
			 errmsg("%s: %s", def->code, def->description),
			 f->details[0] ? errdetail("%s", f->details) : 0));
	pg_unreachable();
}

/* Append s[0..len) as a JSON string literal. */
void
zt_json_string(StringInfo buf, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	enlargeStringInfo(buf, (int) len + 2);
	appendStringInfoCharMacro(buf, '"');
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		switch (c)
		{
			case '"':
				appendBinaryStringInfo(buf, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(buf, "\\\\", 2);
				break;
			case '\n':
				appendBinaryStringInfo(buf, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(buf, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(buf, "\\t", 2);
				break;
			case '\b':
				appendBinaryStringInfo(buf, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(buf, "\\f", 2);
				break;
			case 0xE2:
				/* U+2028 and U+2029 (E2 80 A8/A9), which Gson escapes */
				if (i + 2 < len && (unsigned char) s[i + 1] == 0x80 &&
					((unsigned char) s[i + 2] == 0xA8 || (unsigned char) s[i + 2] == 0xA9))
				{
					appendBinaryStringInfo(buf, (unsigned char) s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
					i += 2;
				}
				else
					appendStringInfoCharMacro(buf, (char) c);
				break;
			default:
				if (c < 0x20)
				{
					const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

					appendBinaryStringInfo(buf, esc, 6);
				}
				else
					appendStringInfoCharMacro(buf, (char) c);
		}
	}
	appendStringInfoCharMacro(buf, '"');
}

void
zt_json_cstring(StringInfo buf, const char *s)
{
	zt_json_string(buf, s, strlen(s));
}

/* Append "key": with the comma that a member after the first needs. */
void
zt_json_key(StringInfo buf, const char *key, bool *first)
{
	if (!*first)
		appendStringInfoCharMacro(buf, ',');
	*first = false;
	zt_json_cstring(buf, key);
	appendStringInfoCharMacro(buf, ':');
}

/* Append a timestamp as a JSON string in the session's TimeZone. */
void
zt_json_date(StringInfo buf, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	ZtDateParts parts;
	char		out[ZT_DATE_BUFSIZE];
	size_t		n = 0;

	if (!TIMESTAMP_NOT_FINITE(ts) &&
		timestamp2tm(ts, &tz, &tm, &fsec, NULL, NULL) == 0)
	{
		parts.year = tm.tm_year;
		parts.month = tm.tm_mon;
		parts.day = tm.tm_mday;
		parts.hour = tm.tm_hour;
		parts.minute = tm.tm_min;
		parts.second = tm.tm_sec;
		parts.utc_offset = -tz;
		n = zt_format_date(out, sizeof(out), (ZtDateStyle) zt_date_style,
						   &parts);
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range for a ZStack date")));
	appendStringInfoCharMacro(buf, '"');
	appendBinaryStringInfo(buf, out, (int) n);
	appendStringInfoCharMacro(buf, '"');
}

/*
 * Append ZStack's error envelope.  Null members (elaboration, opaque,
 * cause, and details when empty) are left out, as ZStack's Gson does.
 */
void
zt_error_envelope(StringInfo buf, const ZtFailure *f)
{
	const ZtErrorDef *def = &zt_errors[f->code];
	bool		first = true;

	appendStringInfoString(buf, "{\"error\":{");
	zt_json_key(buf, "code", &first);
	zt_json_cstring(buf, def->code);
	zt_json_key(buf, "description", &first);
	zt_json_cstring(buf, def->description);
	if (f->details[0])
	{
		zt_json_key(buf, "details", &first);
		zt_json_cstring(buf, f->details);
	}
	appendStringInfoString(buf, "}}");
}

/*
 * Start a buffer for a json result: room for the varlena header first, so
 * that zt_json_result can hand the buffer out as it is (a 1,000-row reply
 * is a quarter megabyte: copying it cost a visible share of a page).
 */
void
zt_json_begin(StringInfo buf, int expected_size)
{
	initStringInfo(buf);
	enlargeStringInfo(buf, VARHDRSZ + expected_size);
	buf->len = VARHDRSZ;
}

/* Turn a buffer from zt_json_begin into the json Datum a function returns. */
Datum
zt_json_result(StringInfo buf)
{
	SET_VARSIZE(buf->data, buf->len);
	return PointerGetDatum(buf->data);
}
