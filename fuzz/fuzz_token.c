/* Fuzz the twofatoken:: system tag, the TOTP code check and the recovery code's form. */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size ? size : 1);
	const char *code;
	size_t		code_len;
	char		digits[ZT_CODE_DIGITS];
	char		recovery[ZT_RECOVERY_CHARS + 1];

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
	if (zt_parse_recovery_code(s, size, recovery))
	{
		size_t		kept = 0;

		/* the code's letters, digits in order, upper case, dashes gone */
		for (size_t i = 0; i < size; i++)
			if (s[i] != '-')
			{
				char		c = (s[i] >= 'a' && s[i] <= 'z') ? (char) (s[i] - 'a' + 'A') : s[i];

				INVARIANT(kept < ZT_RECOVERY_CHARS && recovery[kept] == c);
				kept++;
			}
		INVARIANT(kept == ZT_RECOVERY_CHARS && recovery[ZT_RECOVERY_CHARS] == '\0');
		for (int i = 0; i < ZT_RECOVERY_CHARS; i++)
			INVARIANT((recovery[i] >= 'A' && recovery[i] <= 'Z') || (recovery[i] >= '2' && recovery[i] <= '7'));
		/* never also a TOTP code */
		INVARIANT(!zt_copy_totp_code(s, size, digits));
	}
	free(s);
	return 0;
}
