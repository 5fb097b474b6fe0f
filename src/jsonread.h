/*
 * jsonread.h
 *		Reading the JSON of an HTTP request (its headers object and its body)
 *		into a flat list of values, with PostgreSQL's own JSON parser and
 *		without ever raising for what a caller sent.
 */
#ifndef ZSTACK_TFA_JSONREAD_H
#define ZSTACK_TFA_JSONREAD_H

#include "postgres.h"

#include "nodes/pg_list.h"

typedef enum ZtJsonKind
{
	ZT_JSON_STRING,
	ZT_JSON_NUMBER,
	ZT_JSON_BOOL,
	ZT_JSON_NULL,
	ZT_JSON_OBJECT,
	ZT_JSON_ARRAY
} ZtJsonKind;

/* One value of a document, found by its path. */
typedef struct ZtJsonItem
{
	char	   *path;			/* keys joined by '.', "[]" for an array
								 * element: "logInByAccount.systemTags[]";
								 * "" for the document itself */
	ZtJsonKind	kind;
	char	   *value;			/* a scalar's text (strings de-escaped);
								 * NULL for null, objects and arrays */
} ZtJsonItem;

typedef enum ZtJsonResult
{
	ZT_JSON_READ_OK,
	ZT_JSON_READ_INVALID,		/* not JSON, or a string PostgreSQL cannot
								 * hold (\u0000) */
	ZT_JSON_READ_TOO_DEEP,
	ZT_JSON_READ_DUPLICATE_KEY
} ZtJsonResult;

extern ZtJsonResult zt_json_read(const char *json, size_t len, int max_depth,
								 bool refuse_duplicates, List **items);
extern const ZtJsonItem *zt_json_find(List *items, const char *path,
									  bool ignore_case);

#endif							/* ZSTACK_TFA_JSONREAD_H */
