/* Fuzz the twofatoken:: system tag and the TOTP code check. */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size ? size : 1);
	const char *code;
	size_t		code_len;
	char		digits[ZT_CODE_DIGITS];

	memcpy(s, data, size);
	if (zt_parse_token_tag(s, size, &code, &code_len))
	{
		INVARIANT(within(code, code_len, s, size));
		INVARIANT(size - code_len == strlen(ZT_TOKEN_TAG_PREFIX));
	}
	if (zt_copy_totp_code(s, size, digits))
	{
		INVARIANT(size == ZT_CODE_DIGITS);
		for (int i = 0; i < ZT_CODE_DIGITS; i++)
			INVARIANT(digits[i] >= '0' && digits[i] <= '9' && digits[i] == s[i]);
	}
	free(s);
	return 0;
}
