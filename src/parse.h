/*
 * parse.h
 *		Backend-free parsers for everything a caller types: query conditions,
 *		sort and list parameters, booleans, integers, uuids; and the date
 *		writer.  No palloc, no ereport: fuzzers and unit tests link them as is.
 */
#ifndef ZSTACK_TFA_PARSE_H
#define ZSTACK_TFA_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* Condition operators, in ZStack's scan order (SPEC §1.1). */
typedef enum ZtOperator
{
	ZT_OP_NE,					/* != */
	ZT_OP_GE,					/* >= */
	ZT_OP_LE,					/* <= */
	ZT_OP_NOT_IN,				/* !?= */
	ZT_OP_NOT_LIKE,				/* !~= */
	ZT_OP_LIKE,					/* ~= */
	ZT_OP_IN,					/* ?= */
	ZT_OP_EQ,					/* = */
	ZT_OP_GT,					/* > */
	ZT_OP_LT,					/* < */
	ZT_OP_IS_NULL,				/* "is null" suffix, or =null */
	ZT_OP_NOT_NULL,				/* "not null" suffix, or !=null */
	ZT_OP_COUNT
} ZtOperator;

/* The token of each operator as written in a condition. */
extern const char *const zt_operator_tokens[ZT_OP_COUNT];
/* ZStack's name of each operator (its QueryOp), as its messages print it. */
extern const char *const zt_operator_names[ZT_OP_COUNT];

/* ZStack's list of the valid operators, as its 400 reply prints it. */
#define ZT_VALID_OPERATORS \
	"[[!=, >=, <=, !?=, !~=, ~=, ?=, =, >, <, is null, not null]]"

/* A parsed condition: spans into the caller's string. */
typedef struct ZtCondition
{
	const char *name;			/* field name, trimmed */
	size_t		name_len;
	ZtOperator	op;
	const char *value;			/* value, untrimmed; NULL for the null tests */
	size_t		value_len;
} ZtCondition;

/* How a condition parsed: the REST layer answers the last two with a 400. */
typedef enum ZtConditionResult
{
	ZT_COND_OK,
	ZT_COND_NO_OPERATOR,		/* no operator token anywhere */
	ZT_COND_NOT_A_PAIR			/* an operator, but not "name<op>value" */
} ZtConditionResult;

extern ZtConditionResult zt_parse_condition(const char *s, size_t len,
											ZtCondition *out);
extern bool zt_like_pattern_ok(const char *s, size_t len);

/* Result of parsing sort=. */
typedef enum ZtSortResult
{
	ZT_SORT_NONE,				/* empty: no ordering asked for */
	ZT_SORT_OK,
	ZT_SORT_UNKNOWN_FIELD
} ZtSortResult;

extern ZtSortResult zt_parse_sort(const char *s, size_t len,
								  int *field, bool *descending);

extern bool zt_next_list_item(const char **pos, const char *end,
							  const char **item, size_t *item_len);
extern void zt_trim(const char **s, size_t *len);
extern bool zt_parse_bool(const char *s, size_t len);
extern bool zt_parse_int(const char *s, size_t len, int *out);
extern bool zt_parse_whole_number(const char *s, size_t len, int *out);
extern bool zt_is_uuid(const char *s, size_t len);
extern int	zt_hex_value(char c);

/* The REST layer: raw query strings, Authorization, system tags. */
extern bool zt_next_query_param(const char **pos, const char *end,
								const char **name, size_t *name_len,
								const char **value, size_t *value_len,
								bool *has_value);
extern bool zt_percent_decode(const char *in, size_t len, bool plus_is_space,
							  char *out, size_t *out_len);

typedef enum ZtAuthResult
{
	ZT_AUTH_OK,
	ZT_AUTH_NOT_OAUTH			/* "Authorization type must be 'OAuth'" */
} ZtAuthResult;

extern ZtAuthResult zt_parse_authorization(const char *s, size_t len,
										   const char **session,
										   size_t *session_len);

#define ZT_TOKEN_TAG_PREFIX "twofatoken::"

extern bool zt_parse_token_tag(const char *s, size_t len, const char **code,
							   size_t *code_len);

#define ZT_CODE_DIGITS 6

extern bool zt_copy_totp_code(const char *code, size_t len, char *out);

/* base32 characters in a recovery code (recovery.c): 50 bits */
#define ZT_RECOVERY_CHARS 10

extern bool zt_parse_recovery_code(const char *code, size_t len, char *out);

/* Output styles of the date writer (the zstack_tfa.date_style setting). */
typedef enum ZtDateStyle
{
	ZT_DATE_ZSTACK,				/* Java's default: "Nov 28, 2026 3:04:05 PM" */
	ZT_DATE_ISO8601				/* "2026-11-28T15:04:05+01:00" */
} ZtDateStyle;

/* A broken-down local time, as timestamp2tm gives it. */
typedef struct ZtDateParts
{
	int			year;			/* astronomical: 0 is 1 BC */
	int			month;			/* 1..12 */
	int			day;
	int			hour;
	int			minute;
	int			second;
	int			utc_offset;		/* seconds east of UTC */
} ZtDateParts;

#define ZT_DATE_BUFSIZE 48

extern size_t zt_format_date(char *buf, size_t bufsize, ZtDateStyle style,
							 const ZtDateParts *parts);

#endif							/* ZSTACK_TFA_PARSE_H */
