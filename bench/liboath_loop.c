/*
 * liboath_loop.c
 *		The floor of totp_verify outside PostgreSQL: decode a base32 secret
 *		and compute the three codes of window 1, in a tight loop.  Prints
 *		nanoseconds per verify.
 */
#include <liboath/oath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
main(int argc, char **argv)
{
	const char *secret = argc > 1 ? argv[1] : "JBSWY3DPEHPK3PXP";
	long		n = argc > 2 ? atol(argv[2]) : 200000;
	struct timespec t0,
				t1;
	char		code[7];
	unsigned	sink = 0;

	oath_init();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
	{
		char	   *key;
		size_t		keylen;
		time_t		now = 1764342245 + i;

		oath_base32_decode(secret, strlen(secret), &key, &keylen);
		for (int w = -1; w <= 1; w++)
		{
			oath_totp_generate2(key, keylen, now + 30 * w, 30, 0, 6, 0, code);
			sink += (unsigned) (memcmp(code, "123456", 6) == 0);
		}
		free(key);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.1f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n + (sink > n ? 1 : 0));
	return 0;
}
