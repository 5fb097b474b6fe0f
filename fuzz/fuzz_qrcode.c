/*
 * Fuzz the enrolment QR codes: any bytes either encode to a symbol with its
 * quiet zone that all three drawings draw, or are refused as empty or too
 * long, and which one depends on the length alone.
 */
#include "fuzz_common.h"

#include "qrcode.h"

/* ISO/IEC 18004 table 7: version 40 at level M holds 2331 bytes in 8-bit mode. */
#define LONGEST_AT_M 2331

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so ASan sees any read past the end */
	char	   *s = malloc(size ? size : 1);
	ZtQrCode	qr;
	ZtQrResult	r;

	memcpy(s, data, size);
	r = zt_qr_encode(s, size, &qr);
	INVARIANT(r == (size == 0 ? ZT_QR_EMPTY : size <= LONGEST_AT_M ? ZT_QR_OK : ZT_QR_TOO_LONG));
	if (r == ZT_QR_OK)
	{
		int			w = qr.width;
		int			q = ZT_QR_QUIET_ZONE;
		int			scale = 1 + (size > 0 ? (unsigned char) s[0] % 4 : 0);
		size_t		len;
		char	   *svg;
		unsigned char *png;

		INVARIANT(w >= 21 + 2 * q && w <= ZT_QR_MAX_WIDTH && (w - 2 * q - 17) % 4 == 0);
		for (int y = 0; y < w; y++)
			for (int x = 0; x < w; x++)
			{
				unsigned char m = qr.dark[(size_t) y * w + x];

				INVARIANT(m <= 1);
				if (x < q || y < q || x >= w - q || y >= w - q)
					INVARIANT(m == 0);
			}

		svg = zt_qr_svg(&qr, &len);
		INVARIANT(svg != NULL && strlen(svg) == len && strncmp(svg, "<svg ", 5) == 0 &&
				  len >= 7 && strcmp(svg + len - 7, "</svg>\n") == 0);
		free(svg);

		png = zt_qr_png(&qr, scale, &len);
		INVARIANT(png != NULL && len > 8 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
		free(png);

		for (int invert = 0; invert <= 1; invert++)
		{
			char	   *text = zt_qr_text(&qr, invert, &len);
			int			lines = 0;

			INVARIANT(text != NULL && strlen(text) == len && len > 0 && text[len - 1] == '\n');
			for (size_t i = 0; i < len; i++)
				lines += text[i] == '\n';
			INVARIANT(lines == (w + 1) / 2);
			free(text);
		}
	}
	else
		INVARIANT(qr.dark == NULL && qr.width == 0);
	zt_qr_free(&qr);
	free(s);
	return 0;
}
