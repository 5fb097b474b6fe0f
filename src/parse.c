/*
 * parse.c
 *		Backend-free parsers and the date writer (see parse.h).
 *
 * Every function takes explicit lengths and never reads past them: the input
 * may come from a fuzzer, not from a NUL-terminated PostgreSQL text.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "parse.h"

const char *const zt_operator_tokens[ZT_OP_COUNT] = {
	[ZT_OP_NE] = "!=",
	[ZT_OP_GE] = ">=",
	[ZT_OP_LE] = "<=",
	[ZT_OP_NOT_IN] = "!?=",
	[ZT_OP_NOT_LIKE] = "!~=",
	[ZT_OP_LIKE] = "~=",
	[ZT_OP_IN] = "?=",
	[ZT_OP_EQ] = "=",
	[ZT_OP_GT] = ">",
	[ZT_OP_LT] = "<",
	[ZT_OP_IS_NULL] = "is null",
	[ZT_OP_NOT_NULL] = "not null",
};

const char *const zt_operator_names[ZT_OP_COUNT] = {
	[ZT_OP_NE] = "!=",
	[ZT_OP_GE] = ">=",
	[ZT_OP_LE] = "<=",
	[ZT_OP_NOT_IN] = "not in",
	[ZT_OP_NOT_LIKE] = "not like",
	[ZT_OP_LIKE] = "like",
	[ZT_OP_IN] = "in",
	[ZT_OP_EQ] = "=",
	[ZT_OP_GT] = ">",
	[ZT_OP_LT] = "<",
	[ZT_OP_IS_NULL] = "is null",
	[ZT_OP_NOT_NULL] = "is not null",
};

/* Return the offset of the first needle in hay[0..len), or -1. */
static long
FindToken(const char *hay, size_t len, const char *needle)
{
	size_t		nlen = strlen(needle);

	if (nlen > len)
		return -1;
	for (size_t i = 0; i + nlen <= len; i++)
	{
		if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
			return (long) i;
	}
	return -1;
}

static bool
IsSpace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Strip ASCII white space from both ends of the span *s, *len. */
void
zt_trim(const char **s, size_t *len)
{
	while (*len > 0 && IsSpace((*s)[0]))
	{
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && IsSpace((*s)[*len - 1]))
		(*len)--;
}

static bool
SpanEquals(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

/*
 * Split s at sep into at most two parts, as ZStack does with commons-lang's
 * StringUtils.splitByWholeSeparator(s, sep, 2): a separator met where a part
 * would begin is skipped, so "=x" is one part ("x") and "uuid==X" is the
 * two parts "uuid" and "X"; the second part is all the rest of s.  Returns
 * the number of parts (0 only for an empty s).
 */
static int
SplitOnce(const char *s, size_t len, const char *sep, const char **first,
		  size_t *first_len, const char **rest, size_t *rest_len)
{
	size_t		slen = strlen(sep);
	size_t		beg = 0;
	size_t		end = 0;
	int			parts = 0;

	while (end < len)
	{
		long		at = FindToken(s + beg, len - beg, sep);

		if (at < 0)
		{
			/* no more separators: the rest is the last part */
			if (parts == 0)
			{
				*first = s + beg;
				*first_len = len - beg;
			}
			else
			{
				*rest = s + beg;
				*rest_len = len - beg;
			}
			return parts + 1;
		}
		end = beg + (size_t) at;
		if (end > beg)
		{
			if (++parts == 2)
			{
				*rest = s + beg;
				*rest_len = len - beg;
				return 2;
			}
			*first = s + beg;
			*first_len = end - beg;
		}
		beg = end + slen;
	}
	return parts;
}

/*
 * Split one q= condition into name, operator and value, as ZStack's
 * RestServer does: the operator is the first of its table (SPEC §1.1) that
 * occurs anywhere in the condition, so "a=b!=c" is the field "a=b" with
 * "!="; the name is trimmed and the value is not.  "is null" and "not null"
 * need no value; every other operator needs a name before it and a value
 * after it (ZT_COND_NOT_A_PAIR otherwise, and op says which).
 */
ZtConditionResult
zt_parse_condition(const char *s, size_t len, ZtCondition *out)
{
	for (int op = ZT_OP_NE; op < ZT_OP_COUNT; op++)
	{
		const char *first = s;
		size_t		first_len = 0;
		const char *rest = NULL;
		size_t		rest_len = 0;
		int			parts;

		if (FindToken(s, len, zt_operator_tokens[op]) < 0)
			continue;
		parts = SplitOnce(s, len, zt_operator_tokens[op], &first, &first_len,
						  &rest, &rest_len);
		out->op = (ZtOperator) op;
		out->name = first;
		out->name_len = first_len;
		zt_trim(&out->name, &out->name_len);
		out->value = NULL;
		out->value_len = 0;
		if (op == ZT_OP_IS_NULL || op == ZT_OP_NOT_NULL)
			return ZT_COND_OK;	/* whatever follows the token is ignored */
		if (parts != 2)
			return ZT_COND_NOT_A_PAIR;
		out->value = rest;
		out->value_len = rest_len;
		/* ZStack's documented shorthands: field=null and field!=null */
		if (SpanEquals(out->value, out->value_len, "null") &&
			(op == ZT_OP_EQ || op == ZT_OP_NE))
		{
			out->op = (op == ZT_OP_EQ) ? ZT_OP_IS_NULL : ZT_OP_NOT_NULL;
			out->value = NULL;
			out->value_len = 0;
		}
		return ZT_COND_OK;
	}
	return ZT_COND_NO_OPERATOR;
}

/*
 * Can PostgreSQL's LIKE take this pattern?  With the default escape
 * character a backslash escapes the next character, and a pattern that ends
 * in an unpaired backslash is an error: LIKE raises it only when it gets that
 * far in a row's text, so a query must refuse such a pattern before it reads
 * any row (an error that depends on a row is an oracle on that row).
 * Scanning bytes is exact: in every server encoding a byte below 0x80 is
 * an ASCII character, never part of a multibyte one.
 */
bool
zt_like_pattern_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '\\')
		{
			if (i + 1 == len)
				return false;
			i++;				/* the escaped character, whatever it is */
		}
	}
	return true;
}

/*
 * Parse sort=: "+field", "-field" or "field", as ZStack reads it: the first
 * character gives the direction, then every leading '+' and '-' goes.  The
 * value is trimmed first, so a '+' that a client forgot to percent-encode
 * (it arrives as a space) is the ascending default the client meant.
 */
ZtSortResult
zt_parse_sort(const char *s, size_t len, int *field, bool *descending)
{
	zt_trim(&s, &len);
	if (len == 0)
		return ZT_SORT_NONE;
	*descending = (s[0] == '-');
	while (len > 0 && (s[0] == '+' || s[0] == '-'))
	{
		s++;
		len--;
	}
	*field = zt_field_lookup(s, len);
	return (*field < 0) ? ZT_SORT_UNKNOWN_FIELD : ZT_SORT_OK;
}

/*
 * Step through a comma-separated list: set *item to the next element and
 * advance *pos.  Returns false when the list is exhausted.  "a,,b" has an
 * empty middle element; "" has one empty element, like Java's split with a
 * limit, which is what ZStack's ?= uses.
 */
bool
zt_next_list_item(const char **pos, const char *end, const char **item,
				  size_t *item_len)
{
	const char *p = *pos;
	const char *comma;

	if (p == NULL)
		return false;
	comma = memchr(p, ',', (size_t) (end - p));
	*item = p;
	if (comma == NULL)
	{
		*item_len = (size_t) (end - p);
		*pos = NULL;
	}
	else
	{
		*item_len = (size_t) (comma - p);
		*pos = comma + 1;
	}
	return true;
}

/* ZStack's boolean parameters: only "true", in any case, is true. */
bool
zt_parse_bool(const char *s, size_t len)
{
	static const char t[] = "true";

	if (len != 4)
		return false;
	for (size_t i = 0; i < 4; i++)
	{
		char		c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char) (c - 'A' + 'a');
		if (c != t[i])
			return false;
	}
	return true;
}

/* Parse a decimal int32 with an optional sign, nothing else around it. */
bool
zt_parse_int(const char *s, size_t len, int *out)
{
	long long	v = 0;
	bool		neg = false;
	size_t		i = 0;

	if (len > 0 && (s[0] == '-' || s[0] == '+'))
	{
		neg = (s[0] == '-');
		i = 1;
	}
	if (i == len)
		return false;
	for (; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
		if (v > (long long) INT_MAX + 1)
			return false;
	}
	if (neg)
		v = -v;
	if (v > INT_MAX || v < INT_MIN)
		return false;
	*out = (int) v;
	return true;
}

/*
 * Parse a whole number the way ZStack's REST layer takes a Long field: its
 * TypeVerifier accepts whatever Java's Double.parseDouble reads (blanks
 * around it, a sign, digits with a point, an exponent, a d/f suffix) when
 * the value is whole, so "600.0" and "6e2" are 600 and "600.5" is refused.
 * Hexadecimal, NaN and Infinity are refused too (none is a Long).  A value
 * beyond int32 is clamped to INT_MIN or INT_MAX, which the range checks of
 * the API then refuse with ZStack's own words.
 */
bool
zt_parse_whole_number(const char *s, size_t len, int *out)
{
	char		buf[128];
	size_t		n = 0;
	size_t		i = 0;
	size_t		digits = 0;
	double		v;

	/* Java's String.trim(), as parseDouble does */
	while (len > 0 && (unsigned char) s[len - 1] <= ' ')
		len--;
	while (i < len && (unsigned char) s[i] <= ' ')
		i++;
	if (len - i >= sizeof(buf))
		return false;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		buf[n++] = s[i++];
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
		buf[n++] = s[i];
	if (i < len && s[i] == '.')
		for (buf[n++] = s[i++]; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
			buf[n++] = s[i];
	if (digits == 0)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		size_t		exp_digits = 0;

		buf[n++] = s[i++];
		if (i < len && (s[i] == '+' || s[i] == '-'))
			buf[n++] = s[i++];
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, exp_digits++)
			buf[n++] = s[i];
		if (exp_digits == 0)
			return false;
	}
	if (i < len && strchr("dDfF", s[i]) != NULL)
		i++;
	if (i != len)
		return false;
	buf[n] = '\0';
	v = strtod(buf, NULL);
	/* a double of 2^52 or more is whole; below, the cast tells (no libm) */
	if (!isfinite(v) || (fabs(v) < 4503599627370496.0 && (double) (long long) v != v))
		return false;
	*out = v >= (double) INT_MAX ? INT_MAX : v <= (double) INT_MIN ? INT_MIN : (int) v;
	return true;
}

/* True for ZStack's uuid form: exactly 32 lower-case hex digits. */
bool
zt_is_uuid(const char *s, size_t len)
{
	if (len != 32)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

/*
 * Step through a raw query string "a=1&b&c=": set the next parameter's raw
 * (still percent-encoded) name and value and advance *pos.  Empty pieces
 * ("a=1&&b") are skipped; a piece without "=" has no value.
 */
bool
zt_next_query_param(const char **pos, const char *end, const char **name,
					size_t *name_len, const char **value, size_t *value_len,
					bool *has_value)
{
	const char *p = *pos;

	while (p != NULL && p < end && *p == '&')
		p++;
	if (p == NULL || p >= end)
	{
		*pos = NULL;
		return false;
	}
	{
		const char *amp = memchr(p, '&', (size_t) (end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t) (stop - p));

		*name = p;
		*name_len = (size_t) ((eq ? eq : stop) - p);
		*has_value = (eq != NULL);
		*value = eq ? eq + 1 : stop;
		*value_len = (size_t) (stop - *value);
		*pos = amp ? amp + 1 : NULL;
	}
	return true;
}

/* The value of a hexadecimal digit (either case), or -1. */
int
zt_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode in[0..len) into out (which has room for len bytes); in a
 * query string '+' is a space.  Returns false for a broken escape ("%", "%4",
 * "%zz").  The result may hold any byte: callers check encoding and NULs.
 */
bool
zt_percent_decode(const char *in, size_t len, bool plus_is_space, char *out,
				  size_t *out_len)
{
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
	{
		if (in[i] == '%')
		{
			int			hi;
			int			lo;

			if (i + 2 >= len)
				return false;
			hi = zt_hex_value(in[i + 1]);
			lo = zt_hex_value(in[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			out[n++] = (char) (hi * 16 + lo);
			i += 2;
		}
		else if (in[i] == '+' && plus_is_space)
			out[n++] = ' ';
		else
			out[n++] = in[i];
	}
	*out_len = n;
	return true;
}

/*
 * ZStack's Authorization check: the header, trimmed, must start with
 * "OAuth"; the session is what follows, trimmed.  (ZStack tests with
 * startsWith, so "OAuthX" is the session "X", which then fails as ID.1001.)
 */
ZtAuthResult
zt_parse_authorization(const char *s, size_t len, const char **session,
					   size_t *session_len)
{
	zt_trim(&s, &len);
	if (len < 5 || memcmp(s, "OAuth", 5) != 0)
		return ZT_AUTH_NOT_OAUTH;
	*session = s + 5;
	*session_len = len - 5;
	zt_trim(session, session_len);
	return ZT_AUTH_OK;
}

/* If s is a "twofatoken::<code>" system tag, point *code at the code. */
bool
zt_parse_token_tag(const char *s, size_t len, const char **code,
				   size_t *code_len)
{
	size_t		plen = strlen(ZT_TOKEN_TAG_PREFIX);

	if (len < plen || memcmp(s, ZT_TOKEN_TAG_PREFIX, plen) != 0)
		return false;
	*code = s + plen;
	*code_len = len - plen;
	return true;
}

/*
 * Copy a TOTP code into out[ZT_CODE_DIGITS] and say whether it is exactly six
 * ASCII digits.  No branch depends on the digits themselves, so the time
 * taken tells nothing about the code.
 */
bool
zt_copy_totp_code(const char *code, size_t len, char *out)
{
	bool		well_formed = (len == ZT_CODE_DIGITS);

	for (size_t i = 0; i < ZT_CODE_DIGITS; i++)
	{
		char		c = (i < len) ? code[i] : 'x';

		well_formed &= (c >= '0' && c <= '9');
		out[i] = c;
	}
	return well_formed;
}

/* Write two digits. */
static char *
Put2(char *o, int v)
{
	o[0] = (char) ('0' + v / 10);
	o[1] = (char) ('0' + v % 10);
	return o + 2;
}

/* Write one digit, or two when v >= 10. */
static char *
PutUpTo2(char *o, int v)
{
	if (v >= 10)
		*o++ = (char) ('0' + v / 10);
	*o++ = (char) ('0' + v % 10);
	return o;
}

/*
 * Write a local time in the given style; returns the length written, or 0
 * when the parts are out of range (the caller's timestamp was not finite).
 */
size_t
zt_format_date(char *buf, size_t bufsize, ZtDateStyle style,
			   const ZtDateParts *p)
{
	static const char *const months[12] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	int			n;

	/* out-of-range parts are refused, never printed (found by fuzz_date) */
	if (p->month < 1 || p->month > 12 || p->day < 1 || p->day > 31 ||
		p->hour < 0 || p->hour > 23 || p->minute < 0 || p->minute > 59 ||
		p->second < 0 || p->second > 60 ||
		p->year < -9999999 || p->year > 9999999 ||
		p->utc_offset < -86400 || p->utc_offset > 86400)
		return 0;

	if (style == ZT_DATE_ZSTACK && p->year >= 1 && p->year <= 9999 && bufsize >= 32)
	{
		/*
		 * Java's "MMM d, yyyy h:mm:ss a": 12-hour clock, no padding of day
		 * and hour.  Written by hand: this runs twice per inventory, and
		 * snprintf was the larger part of a 1,000-row page.
		 */
		int			hour12 = p->hour % 12 == 0 ? 12 : p->hour % 12;
		char	   *o = buf;

		memcpy(o, months[p->month - 1], 3);
		o += 3;
		*o++ = ' ';
		o = PutUpTo2(o, p->day);
		*o++ = ',';
		*o++ = ' ';
		o = Put2(Put2(o, p->year / 100), p->year % 100);
		*o++ = ' ';
		o = PutUpTo2(o, hour12);
		*o++ = ':';
		o = Put2(o, p->minute);
		*o++ = ':';
		o = Put2(o, p->second);
		memcpy(o, p->hour < 12 ? " AM" : " PM", 3);
		o += 3;
		*o = '\0';
		n = (int) (o - buf);
	}
	else if (style == ZT_DATE_ZSTACK)
	{
		/* years beyond 1..9999: Java's year of era, at least four digits */
		int			hour12 = p->hour % 12 == 0 ? 12 : p->hour % 12;
		int			year = p->year > 0 ? p->year : 1 - p->year;

		n = snprintf(buf, bufsize, "%s %d, %04d %d:%02d:%02d %s",
					 months[p->month - 1], p->day, year, hour12,
					 p->minute, p->second, p->hour < 12 ? "AM" : "PM");
	}
	else
	{
		int			off = p->utc_offset < 0 ? -p->utc_offset : p->utc_offset;
		char		sign = p->utc_offset < 0 ? '-' : '+';

		n = snprintf(buf, bufsize, "%s%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
					 p->year < 0 ? "-" : "", p->year < 0 ? -p->year : p->year,
					 p->month, p->day, p->hour, p->minute, p->second,
					 sign, off / 3600, (off / 60) % 60);
		if (n > 0 && off % 60 != 0 && (size_t) n < bufsize)
			n += snprintf(buf + n, bufsize - (size_t) n, ":%02d", off % 60);
	}
	if (n < 0 || (size_t) n >= bufsize)
		return 0;
	return (size_t) n;
}

/*
 * Put a recovery code as typed into its stored form in
 * out[ZT_RECOVERY_CHARS + 1]: upper case, dashes dropped.  False (and out
 * wiped) when it is not a recovery code's form: ZT_RECOVERY_CHARS base32
 * characters once dashes are dropped.  A TOTP code never has that form.
 */
bool
zt_parse_recovery_code(const char *code, size_t len, char *out)
{
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
	{
		char		c = code[i];

		if (c == '-')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char) (c - 'a' + 'A');
		if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')) || n == ZT_RECOVERY_CHARS)
		{
			n = 0;
			break;
		}
		out[n++] = c;
	}
	if (n != ZT_RECOVERY_CHARS)
	{
		memset(out, 0, ZT_RECOVERY_CHARS + 1);
		return false;
	}
	out[n] = '\0';
	return true;
}
