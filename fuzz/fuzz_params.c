/* Fuzz sort=, fields= lists, integers, booleans, uuids and Authorization. */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size ? size : 1);
	int			field;
	bool		desc;
	int			v;
	const char *pos,
			   *item,
			   *session;
	size_t		item_len,
				session_len;
	size_t		items = 0;

	memcpy(s, data, size);
	switch (zt_parse_sort(s, size, &field, &desc))
	{
		case ZT_SORT_OK:
			INVARIANT(field >= 0 && field < ZT_FIELD_COUNT);
			break;
		case ZT_SORT_UNKNOWN_FIELD:
			INVARIANT(field == -1);
			break;
		case ZT_SORT_NONE:
			break;
	}
	pos = s;
	while (zt_next_list_item(&pos, s + size, &item, &item_len))
	{
		INVARIANT(within(item, item_len, s, size));
		INVARIANT(memchr(item, ',', item_len) == NULL);
		zt_trim(&item, &item_len);
		(void) zt_field_lookup(item, item_len);
		INVARIANT(++items <= size + 1);
	}
	if (zt_parse_int(s, size, &v))
	{
		/* what we accept (digits, one sign) strtoll reads as the same number */
		char	   *z = malloc(size + 1);

		memcpy(z, s, size);
		z[size] = '\0';
		INVARIANT(strlen(z) == size && strtoll(z, NULL, 10) == v);
		free(z);
	}
	if (zt_parse_whole_number(s, size, &v))
		INVARIANT(size > 0);
	INVARIANT(!zt_parse_bool(s, size) || size == 4);
	INVARIANT(!zt_is_uuid(s, size) || size == 32);
	if (zt_parse_authorization(s, size, &session, &session_len) == ZT_AUTH_OK)
		INVARIANT(within(session, session_len, s, size));
	free(s);
	return 0;
}
