/* Fuzz the date writer with arbitrary broken-down times and both styles. */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ZtDateParts p;
	char		buf[ZT_DATE_BUFSIZE];
	size_t		n;

	if (size < sizeof(p) + 1)
		return 0;
	memcpy(&p, data, sizeof(p));
	memset(buf, 'X', sizeof(buf));
	n = zt_format_date(buf, sizeof(buf), (data[sizeof(p)] & 1) ? ZT_DATE_ISO8601 : ZT_DATE_ZSTACK, &p);
	INVARIANT(n < sizeof(buf));
	if (n > 0)
	{
		INVARIANT(strlen(buf) == n);
		INVARIANT(p.month >= 1 && p.month <= 12);
		for (size_t i = 0; i < n; i++)
			INVARIANT(buf[i] >= ' ' && buf[i] <= '~');
	}
	return 0;
}
