/*
 * test_parse.c
 *		Unit tests of the backend-free parsers and the date writer, without a
 *		server.  Prints TAP ("ok N - ...") for scripts/test.sh to count.
 */
#include <stdio.h>
#include <limits.h>
#include <string.h>

#include "catalog.h"
#include "parse.h"

static int	n_tests = 0;
static int	n_failed = 0;

static void
check(int ok, const char *what)
{
	n_tests++;
	if (!ok)
		n_failed++;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", n_tests, what);
}

static int
span_is(const char *s, size_t len, const char *want)
{
	return want == NULL ? s == NULL : (s != NULL && strlen(want) == len && memcmp(s, want, len) == 0);
}

/* Parse q and compare with the expected name, operator and value. */
static void
cond(const char *q, const char *name, ZtOperator op, const char *value)
{
	ZtCondition c;
	char		what[256];
	int			ok = zt_parse_condition(q, strlen(q), &c) == ZT_COND_OK;

	snprintf(what, sizeof(what), "condition '%s'", q);
	check(ok && span_is(c.name, c.name_len, name) && c.op == op &&
		  span_is(c.value, c.value_len, value), what);
}

static void
no_cond(const char *q)
{
	ZtCondition c;
	char		what[256];

	snprintf(what, sizeof(what), "no operator in '%s'", q);
	check(zt_parse_condition(q, strlen(q), &c) == ZT_COND_NO_OPERATOR, what);
}

/* A condition with an operator but no name or no value (ZStack's 400). */
static void
not_a_pair(const char *q, ZtOperator op)
{
	ZtCondition c;
	char		what[256];

	snprintf(what, sizeof(what), "'%s' is not a pair split by %s", q, zt_operator_names[op]);
	check(zt_parse_condition(q, strlen(q), &c) == ZT_COND_NOT_A_PAIR && c.op == op, what);
}

static void
date(ZtDateStyle style, int y, int mo, int d, int h, int mi, int s, int off,
	 const char *want)
{
	ZtDateParts p = {y, mo, d, h, mi, s, off};
	char		buf[ZT_DATE_BUFSIZE];
	char		what[128];
	size_t		n = zt_format_date(buf, sizeof(buf), style, &p);

	snprintf(what, sizeof(what), "date %s", want);
	check(n == strlen(want) && memcmp(buf, want, n) == 0, what);
}

int
main(void)
{
	int			field;
	bool		desc;
	int			v;

	/* every operator, and ZStack's scan order */
	cond("uuid=abc", "uuid", ZT_OP_EQ, "abc");
	cond("uuid!=abc", "uuid", ZT_OP_NE, "abc");
	cond("createDate>=1", "createDate", ZT_OP_GE, "1");
	cond("createDate<=1", "createDate", ZT_OP_LE, "1");
	cond("createDate>1", "createDate", ZT_OP_GT, "1");
	cond("createDate<1", "createDate", ZT_OP_LT, "1");
	cond("uuid?=a,b", "uuid", ZT_OP_IN, "a,b");
	cond("uuid!?=a,b", "uuid", ZT_OP_NOT_IN, "a,b");
	cond("secret~=AB%", "secret", ZT_OP_LIKE, "AB%");
	cond("secret!~=AB%", "secret", ZT_OP_NOT_LIKE, "AB%");
	cond("uuid is null", "uuid", ZT_OP_IS_NULL, NULL);
	cond("uuid not null", "uuid", ZT_OP_NOT_NULL, NULL);
	cond("uuid=null", "uuid", ZT_OP_IS_NULL, NULL);
	cond("uuid!=null", "uuid", ZT_OP_NOT_NULL, NULL);
	cond("uuid=NULL", "uuid", ZT_OP_EQ, "NULL");
	cond("  status = Logined ", "status", ZT_OP_EQ, " Logined ");
	cond("uuid=", "uuid", ZT_OP_EQ, "");
	/* the first operator in scan order wins, wherever it stands */
	cond("a=b!=c", "a=b", ZT_OP_NE, "c");
	cond("a<b>=c", "a<b", ZT_OP_GE, "c");
	cond("a~=b=c", "a", ZT_OP_LIKE, "b=c");
	cond("a=b=c", "a", ZT_OP_EQ, "b=c");
	cond("a?=b~=c", "a?=b", ZT_OP_LIKE, "c");
	cond("name=is null", "name", ZT_OP_EQ, "is null");
	/* commons-lang's split: a separator where a part would begin is skipped */
	cond("uuid==X", "uuid", ZT_OP_EQ, "X");
	cond("uuid===X", "uuid", ZT_OP_EQ, "X");
	cond("uuid==X=Y", "uuid", ZT_OP_EQ, "X=Y");
	cond("uuid==", "uuid", ZT_OP_EQ, "");
	cond("uuid= ", "uuid", ZT_OP_EQ, " ");
	cond(" =x", "", ZT_OP_EQ, "x");
	not_a_pair("=x", ZT_OP_EQ);
	not_a_pair("==", ZT_OP_EQ);
	not_a_pair("?=a", ZT_OP_IN);
	not_a_pair("!?=a", ZT_OP_NOT_IN);
	not_a_pair("~=a%", ZT_OP_LIKE);
	not_a_pair("!~=a%", ZT_OP_NOT_LIKE);
	not_a_pair(">5", ZT_OP_GT);
	/* the null forms: found anywhere, the rest ignored, the name trimmed */
	cond("uuid is null  ", "uuid", ZT_OP_IS_NULL, NULL);
	cond("uuidis null", "uuid", ZT_OP_IS_NULL, NULL);
	cond("uuid is nullxyz", "uuid", ZT_OP_IS_NULL, NULL);
	cond("is null", "", ZT_OP_IS_NULL, NULL);
	no_cond("uuid");
	no_cond("");
	no_cond("uuid is nul");
	check(strcmp(ZT_VALID_OPERATORS, "[[!=, >=, <=, !?=, !~=, ~=, ?=, =, >, <, is null, not null]]") == 0,
		  "the operator list reads as ZStack prints it");

	/* sort */
	check(zt_parse_sort("+createDate", 11, &field, &desc) == ZT_SORT_OK && field == 4 && !desc, "sort +createDate");
	check(zt_parse_sort("-status", 7, &field, &desc) == ZT_SORT_OK && field == 6 && desc, "sort -status");
	check(zt_parse_sort("uuid", 4, &field, &desc) == ZT_SORT_OK && field == 0 && !desc, "sort uuid");
	check(zt_parse_sort(" lastOpDate", 11, &field, &desc) == ZT_SORT_OK && field == 5 && !desc, "sort with an unencoded +");
	check(zt_parse_sort("", 0, &field, &desc) == ZT_SORT_NONE, "empty sort");
	check(zt_parse_sort("-", 1, &field, &desc) == ZT_SORT_UNKNOWN_FIELD, "sort '-'");
	check(zt_parse_sort("+name", 5, &field, &desc) == ZT_SORT_UNKNOWN_FIELD, "sort unknown field");
	check(zt_parse_sort("-+-uuid", 7, &field, &desc) == ZT_SORT_OK && field == 0 && desc,
		  "sort: the first sign gives the direction, every leading sign goes");
	check(zt_parse_sort("+ uuid", 6, &field, &desc) == ZT_SORT_UNKNOWN_FIELD, "sort: nothing is trimmed after the signs");

	/* list splitting */
	{
		const char *s = "a,,b";
		const char *pos = s,
				   *item;
		size_t		len;
		int			n = 0;
		int			ok = 1;
		const char *want[] = {"a", "", "b"};

		while (zt_next_list_item(&pos, s + 4, &item, &len))
			ok = ok && n < 3 && span_is(item, len, want[n++]);
		check(ok && n == 3, "list a,,b has three items");
		pos = s;
		check(zt_next_list_item(&pos, s, &item, &len) && len == 0 &&
			  !zt_next_list_item(&pos, s, &item, &len), "empty list has one empty item");
	}

	/* booleans, integers, uuids */
	check(zt_parse_bool("true", 4) && zt_parse_bool("TRUE", 4) && zt_parse_bool("tRuE", 4), "true in any case");
	check(!zt_parse_bool("1", 1) && !zt_parse_bool("yes", 3) && !zt_parse_bool("true ", 5), "only true is true");
	check(zt_parse_int("42", 2, &v) && v == 42, "int 42");
	check(zt_parse_int("-7", 2, &v) && v == -7, "int -7");
	check(zt_parse_int("2147483647", 10, &v) && v == 2147483647, "int max");
	check(zt_parse_int("-2147483648", 11, &v) && v == -2147483647 - 1, "int min");
	check(!zt_parse_int("2147483648", 10, &v), "int overflow");
	check(!zt_parse_int("99999999999999999999999", 23, &v), "int huge");
	check(!zt_parse_int("", 0, &v) && !zt_parse_int("-", 1, &v) && !zt_parse_int("1a", 2, &v) && !zt_parse_int(" 1", 2, &v), "not ints");
	/* a Long field as ZStack's TypeVerifier takes it (Double.parseDouble, whole) */
	check(zt_parse_whole_number("600", 3, &v) && v == 600, "whole 600");
	check(zt_parse_whole_number("600.0", 5, &v) && v == 600, "whole 600.0");
	check(zt_parse_whole_number(" 6e2 ", 5, &v) && v == 600, "whole 6e2 with blanks");
	check(zt_parse_whole_number("600.", 4, &v) && v == 600 && zt_parse_whole_number("600d", 4, &v) && v == 600, "whole 600. and 600d");
	check(zt_parse_whole_number("-0.0", 4, &v) && v == 0, "whole -0.0");
	check(zt_parse_whole_number("1e20", 4, &v) && v == INT_MAX, "whole 1e20 clamps");
	check(zt_parse_whole_number("-1e20", 5, &v) && v == INT_MIN, "whole -1e20 clamps");
	check(!zt_parse_whole_number("600.5", 5, &v) && !zt_parse_whole_number("6.005e2", 7, &v), "not whole 600.5");
	check(!zt_parse_whole_number("", 0, &v) && !zt_parse_whole_number(".", 1, &v) && !zt_parse_whole_number("1e", 2, &v) &&
		  !zt_parse_whole_number("abc", 3, &v) && !zt_parse_whole_number("NaN", 3, &v) &&
		  !zt_parse_whole_number("Infinity", 8, &v) && !zt_parse_whole_number("0x10", 4, &v) &&
		  !zt_parse_whole_number("1e400", 5, &v) && !zt_parse_whole_number("true", 4, &v), "not whole numbers");
	check(zt_is_uuid("36c27e8ff05c4780bf6d2fa65700f22e", 32), "admin uuid is a uuid");
	check(!zt_is_uuid("36C27E8FF05C4780BF6D2FA65700F22E", 32), "upper case is not a uuid");
	check(!zt_is_uuid("36c27e8f-f05c-4780-bf6d-2fa65700f22e", 36), "dashed is not a uuid");
	check(!zt_is_uuid("36c27e8ff05c4780bf6d2fa65700f22", 31), "short is not a uuid");

	/* fields */
	check(zt_field_lookup("userUuid", 8) == 2 && zt_field_lookup("useruuid", 8) == -1, "field names are case-sensitive");
	check(strcmp(zt_fields[ZT_FIELD_COUNT - 1].api_name, "status") == 0, "status is the composite's last column");
	{
		const char *query_keys[] = {"uuid", "secret", "userUuid", "userType", "status", "createDate", "lastOpDate"};
		const char *secret_keys[] = {"uuid", "secret", "status", "createDate", "lastOpDate", "userUuid", "userType"};
		int			same = 1;

		for (int i = 0; i < ZT_FIELD_COUNT; i++)
			same = same && strcmp(zt_fields[zt_query_key_order[i]].api_name, query_keys[i]) == 0 &&
				strcmp(zt_fields[zt_secret_key_order[i]].api_name, secret_keys[i]) == 0;
		check(same, "key orders of the SDK's two inventory classes");
	}
	for (int i = 0; i < ZT_FIELD_COUNT; i++)
		check(strcmp(zt_fields[i].column, (const char *[]) {"uuid", "secret", "user_uuid", "user_type",
			"create_date", "last_op_date", "status"}[i]) == 0, zt_fields[i].api_name);
	check(strcmp(zt_fields[ZT_FIELD_SECRET].api_name, "secret") == 0, "ZT_FIELD_SECRET names the secret");

	/* dates: Java's default format and ISO 8601 */
	date(ZT_DATE_ZSTACK, 2022, 8, 3, 16, 31, 36, 0, "Aug 3, 2022 4:31:36 PM");
	date(ZT_DATE_ZSTACK, 2026, 11, 28, 0, 4, 5, 0, "Nov 28, 2026 12:04:05 AM");
	date(ZT_DATE_ZSTACK, 2026, 11, 28, 12, 0, 0, 0, "Nov 28, 2026 12:00:00 PM");
	date(ZT_DATE_ZSTACK, 2026, 1, 9, 11, 59, 59, 0, "Jan 9, 2026 11:59:59 AM");
	date(ZT_DATE_ZSTACK, 999, 12, 31, 23, 0, 0, 0, "Dec 31, 0999 11:00:00 PM");
	date(ZT_DATE_ISO8601, 2026, 11, 28, 15, 4, 5, 3600, "2026-11-28T15:04:05+01:00");
	date(ZT_DATE_ISO8601, 2026, 11, 28, 15, 4, 5, -12600, "2026-11-28T15:04:05-03:30");
	date(ZT_DATE_ISO8601, 2026, 11, 28, 15, 4, 5, 0, "2026-11-28T15:04:05+00:00");
	date(ZT_DATE_ISO8601, 1850, 1, 1, 0, 0, 0, 3208, "1850-01-01T00:00:00+00:53:28");
	{
		ZtDateParts bad = {2026, 13, 1, 0, 0, 0, 0};
		char		buf[ZT_DATE_BUFSIZE];

		check(zt_format_date(buf, sizeof(buf), ZT_DATE_ZSTACK, &bad) == 0, "month 13 is refused");
		check(zt_format_date(buf, sizeof(buf), ZT_DATE_ISO8601, &(ZtDateParts) {2026, 1, 1, 0, 0, 0, -2147483647 - 1}) == 0,
			  "an offset of INT_MIN is refused (fuzz_date's crash)");
		check(zt_format_date(buf, sizeof(buf), ZT_DATE_ZSTACK, &(ZtDateParts) {2026, 1, 0, 0, 0, 0, 0}) == 0, "day 0 is refused");
		check(zt_format_date(buf, sizeof(buf), ZT_DATE_ZSTACK, &(ZtDateParts) {2026, 1, 1, 0, 60, 0, 0}) == 0, "minute 60 is refused");
		check(zt_format_date(buf, 8, ZT_DATE_ZSTACK, &(ZtDateParts) {2026, 1, 1, 0, 0, 0, 0}) == 0, "small buffer is refused");
	}

	/* the hand-written path for years 1..9999 agrees with snprintf */
	{
		static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
		int			compared = 0,
					agreed = 0;

		for (int y = 1; y <= 9999; y += 37)
			for (int h = 0; h < 24; h++)
			{
				ZtDateParts p = {y, 1 + (y + h) % 12, 1 + (y * 7 + h) % 31, h, (y + h * 7) % 60, (y * 3 + h) % 61, 0};
				char		got[ZT_DATE_BUFSIZE];
				char		want[ZT_DATE_BUFSIZE];
				size_t		n = zt_format_date(got, sizeof(got), ZT_DATE_ZSTACK, &p);

				snprintf(want, sizeof(want), "%s %d, %04d %d:%02d:%02d %s", months[p.month - 1], p.day,
						 p.year, p.hour % 12 == 0 ? 12 : p.hour % 12, p.minute, p.second,
						 p.hour < 12 ? "AM" : "PM");
				compared++;
				agreed += (n == strlen(want) && strcmp(got, want) == 0);
			}
		check(compared > 6000 && agreed == compared, "fast date path agrees with snprintf on 6,000+ dates");
	}

	/* every error has a code, a description, a SQLSTATE */
	for (int i = 0; i < ZT_ERR_COUNT; i++)
		check(zt_errors[i].code && zt_errors[i].description && strlen(zt_errors[i].sqlstate) == 5,
			  zt_errors[i].code ? zt_errors[i].code : "missing error");

	/* recovery codes: any case, any dashes; ten base32 characters exactly */
	{
		static const struct
		{
			const char *typed;
			const char *want;	/* NULL: not a recovery code */
		}			cases[] = {
			{"K4NQX-7RB2M", "K4NQX7RB2M"},
			{"k4nqx7rb2m", "K4NQX7RB2M"},
			{"-K4-NQX--7RB2M-", "K4NQX7RB2M"},
			{"K4NQX-7RB2", NULL},		/* nine */
			{"K4NQX-7RB2MA", NULL},	/* eleven */
			{"K4NQX-7RB2O0", NULL},	/* 0 is not base32 */
			{"K4NQX 7RB2M", NULL},	/* a space is not a dash */
			{"123456", NULL},		/* a TOTP code */
			{"", NULL},
			{"----------", NULL},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			char		out[ZT_RECOVERY_CHARS + 1];
			char		what[128];
			bool		got = zt_parse_recovery_code(cases[i].typed, strlen(cases[i].typed), out);

			snprintf(what, sizeof(what), "recovery code '%s'", cases[i].typed);
			check(cases[i].want ? got && strcmp(out, cases[i].want) == 0 : !got && out[0] == '\0', what);
		}
	}

	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
