/* Fuzz the raw query-string splitter and the percent decoder. */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size ? size : 1);
	const char *pos,
			   *name,
			   *value;
	size_t		name_len,
				value_len;
	bool		has_value;
	int			params = 0;

	memcpy(s, data, size);
	pos = s;
	while (zt_next_query_param(&pos, s + size, &name, &name_len, &value, &value_len, &has_value))
	{
		char	   *out = malloc(value_len + name_len + 1);
		size_t		out_len;

		INVARIANT(within(name, name_len, s, size));
		INVARIANT(within(value, value_len, s, size));
		INVARIANT(memchr(name, '&', name_len) == NULL && memchr(value, '&', value_len) == NULL);
		INVARIANT(has_value || value_len == 0);
		if (zt_percent_decode(name, name_len, true, out, &out_len))
			INVARIANT(out_len <= name_len);
		if (zt_percent_decode(value, value_len, false, out, &out_len))
			INVARIANT(out_len <= value_len);
		free(out);
		INVARIANT(++params <= (int) size);
	}
	free(s);
	return 0;
}
