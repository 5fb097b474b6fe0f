/* Fuzz the q= condition parser: spans stay inside the input, names are trimmed. */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so ASan sees any read past the end */
	char	   *s = malloc(size ? size : 1);
	ZtCondition c;

	memcpy(s, data, size);
	if (zt_parse_condition(s, size, &c) == ZT_COND_OK)
	{
		INVARIANT(c.op >= 0 && c.op < ZT_OP_COUNT);
		INVARIANT(within(c.name, c.name_len, s, size));
		INVARIANT(c.name_len == 0 || (!is_space(c.name[0]) && !is_space(c.name[c.name_len - 1])));
		if (c.op == ZT_OP_IS_NULL || c.op == ZT_OP_NOT_NULL)
			INVARIANT(c.value == NULL);
		else
			INVARIANT(within(c.value, c.value_len, s, size));
		(void) zt_field_lookup(c.name, c.name_len);
	}
	free(s);
	return 0;
}
