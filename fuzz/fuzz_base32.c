/*
 * Fuzz base32 secrets as zstack_tfa reads them (liboath's decoder): what
 * decodes re-encodes to text that decodes to the same bytes.
 */
#include "fuzz_common.h"

#include <liboath/oath.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	ready = 0;
	char	   *s = malloc(size ? size : 1);
	char	   *bin = NULL;
	size_t		bin_len = 0;

	if (!ready)
		ready = (oath_init() == OATH_OK);
	memcpy(s, data, size);
	if (size <= 1024 && oath_base32_decode(s, size, &bin, &bin_len) == OATH_OK && bin_len > 0)
	{
		char	   *text = NULL;
		size_t		text_len = 0;
		char	   *again = NULL;
		size_t		again_len = 0;

		INVARIANT(oath_base32_encode(bin, bin_len, &text, &text_len) == OATH_OK);
		INVARIANT(oath_base32_decode(text, text_len, &again, &again_len) == OATH_OK);
		INVARIANT(again_len == bin_len && memcmp(again, bin, bin_len) == 0);
		free(text);
		free(again);
	}
	free(bin);
	free(s);
	return 0;
}
