/*
 * jsonread.c
 *		Reading the JSON of an HTTP request into a flat list of values.
 *
 * PostgreSQL's own parser (common/jsonapi.h) reports bad JSON by its return
 * value, so nothing a caller sends can raise here: a string holding \u0000
 * (which no text can hold) is simply invalid, and nesting is measured before
 * parsing, since the parser recurses and would otherwise stop at the stack
 * depth limit with an error of its own.
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "compat.h"
#include "jsonread.h"

/* An object with more members than this is refused: a bound on the work. */
#define MAX_MEMBERS 1000

typedef struct ReadState
{
	List	   *items;
	StringInfoData path;
	List	   *saved_len;		/* path lengths to go back to */
	List	   *keys;			/* per open object: the List of its keys */
	bool		refuse_duplicates;
	bool		duplicate;
	bool		too_many;
} ReadState;

/* The deepest nesting of objects and arrays in json, strings skipped. */
static int
NestingDepth(const char *json, size_t len)
{
	int			depth = 0;
	int			deepest = 0;
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		char		c = json[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			depth++;
			deepest = Max(deepest, depth);
		}
		else if (c == '}' || c == ']')
			depth--;
	}
	return deepest;
}

static void
AddItem(ReadState *st, ZtJsonKind kind, char *value)
{
	ZtJsonItem *item = palloc(sizeof(ZtJsonItem));

	item->path = pstrdup(st->path.data);
	item->kind = kind;
	item->value = value;
	st->items = lappend(st->items, item);
}

/* Go into a member or an element: its path is the current one plus part. */
static void
PushPath(ReadState *st, const char *sep, const char *part)
{
	st->saved_len = lappend_int(st->saved_len, st->path.len);
	if (st->path.len > 0 || sep[0] == '[')
		appendStringInfoString(&st->path, sep);
	appendStringInfoString(&st->path, part);
}

static void
PopPath(ReadState *st)
{
	st->path.len = llast_int(st->saved_len);
	st->path.data[st->path.len] = '\0';
	st->saved_len = list_delete_last(st->saved_len);
}

static ZtJsonCallbackResult
ObjectStart(void *state)
{
	ReadState  *st = (ReadState *) state;

	AddItem(st, ZT_JSON_OBJECT, NULL);
	st->keys = lappend(st->keys, NIL);
	ZT_JSON_CALLBACK_DONE;
}

static ZtJsonCallbackResult
ObjectEnd(void *state)
{
	ReadState  *st = (ReadState *) state;

	st->keys = list_delete_last(st->keys);
	ZT_JSON_CALLBACK_DONE;
}

static ZtJsonCallbackResult
ArrayStart(void *state)
{
	AddItem((ReadState *) state, ZT_JSON_ARRAY, NULL);
	ZT_JSON_CALLBACK_DONE;
}

static ZtJsonCallbackResult
FieldStart(void *state, char *fname, bool isnull)
{
	ReadState  *st = (ReadState *) state;
	List	   *keys = (List *) llast(st->keys);

	if (list_length(keys) >= MAX_MEMBERS)
		st->too_many = true;
	else
	{
		if (st->refuse_duplicates)
		{
			const ListCell *lc;

			foreach(lc, keys)
				if (strcmp((char *) lfirst(lc), fname) == 0)
					st->duplicate = true;
		}
		llast(st->keys) = lappend(keys, fname);
	}
	PushPath(st, ".", fname);
	ZT_JSON_CALLBACK_DONE;
}

static ZtJsonCallbackResult
FieldEnd(void *state, char *fname, bool isnull)
{
	PopPath((ReadState *) state);
	ZT_JSON_CALLBACK_DONE;
}

static ZtJsonCallbackResult
ElementStart(void *state, bool isnull)
{
	PushPath((ReadState *) state, "[]", "");
	ZT_JSON_CALLBACK_DONE;
}

static ZtJsonCallbackResult
ElementEnd(void *state, bool isnull)
{
	PopPath((ReadState *) state);
	ZT_JSON_CALLBACK_DONE;
}

static ZtJsonCallbackResult
Scalar(void *state, char *token, JsonTokenType type)
{
	ReadState  *st = (ReadState *) state;

	switch (type)
	{
		case JSON_TOKEN_STRING:
			AddItem(st, ZT_JSON_STRING, token);
			break;
		case JSON_TOKEN_NUMBER:
			AddItem(st, ZT_JSON_NUMBER, token);
			break;
		case JSON_TOKEN_TRUE:
		case JSON_TOKEN_FALSE:
			AddItem(st, ZT_JSON_BOOL, token);
			break;
		default:
			AddItem(st, ZT_JSON_NULL, NULL);
			break;
	}
	ZT_JSON_CALLBACK_DONE;
}

/*
 * Read json[0..len) into *items, a List of ZtJsonItem in document order.
 * Documents nested deeper than max_depth are refused before parsing; with
 * refuse_duplicates, an object that names a member twice is refused (as
 * ZStack's Gson refuses it).
 */
ZtJsonResult
zt_json_read(const char *json, size_t len, int max_depth,
			 bool refuse_duplicates, List **items)
{
	ReadState	st;
	JsonSemAction sem;
	JsonLexContext *lex;
	/* cppcheck-suppress constVariablePointer ; 15's lexer takes a char * */
	char	   *copy;

	*items = NIL;
	if (len > (size_t) MaxAllocSize - 1)
		return ZT_JSON_READ_INVALID;
	if (NestingDepth(json, len) > max_depth)
		return ZT_JSON_READ_TOO_DEEP;
	copy = pnstrdup(json, len);
	memset(&st, 0, sizeof(st));
	initStringInfo(&st.path);
	st.refuse_duplicates = refuse_duplicates;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &st;
	sem.object_start = ObjectStart;
	sem.object_end = ObjectEnd;
	sem.array_start = ArrayStart;
	sem.object_field_start = FieldStart;
	sem.object_field_end = FieldEnd;
	sem.array_element_start = ElementStart;
	sem.array_element_end = ElementEnd;
	sem.scalar = Scalar;
	lex = zt_json_lexer(copy, (int) len, GetDatabaseEncoding());
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS || st.too_many)
		return ZT_JSON_READ_INVALID;
	if (st.duplicate)
		return ZT_JSON_READ_DUPLICATE_KEY;
	*items = st.items;
	return ZT_JSON_READ_OK;
}

/* The first item at path (names compared case-insensitively if asked). */
const ZtJsonItem *
zt_json_find(List *items, const char *path, bool ignore_case)
{
	ListCell   *lc;

	foreach(lc, items)
	{
		ZtJsonItem *item = (ZtJsonItem *) lfirst(lc);

		if (ignore_case ? pg_strcasecmp(item->path, path) == 0
			: strcmp(item->path, path) == 0)
			return item;
	}
	return NULL;
}
