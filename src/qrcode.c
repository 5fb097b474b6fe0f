/*
 * qrcode.c
 *		Enrolment QR codes: libqrencode encodes, this file draws (see qrcode.h).
 *
 * Every buffer that holds the symbol or a drawing of it is wiped before it is
 * freed, including the old copies left behind when an output buffer grows:
 * the symbol is the TOTP secret in another shape.  The scratch memory inside
 * libqrencode and libpng is theirs and is freed unwiped.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <qrencode.h>

#include "qrcode.h"

/*
 * No symbol holds more than the 3706 codewords of version 40, so longer
 * input is too long at any level; saying so here spares libqrencode a copy
 * of megabytes and keeps the length inside its int.
 */
#define QR_MAX_CODEWORDS 3706

/* The half blocks of the text drawing, in UTF-8. */
#define UPPER_HALF "\xe2\x96\x80"	/* U+2580 */
#define LOWER_HALF "\xe2\x96\x84"	/* U+2584 */
#define FULL_BLOCK "\xe2\x96\x88"	/* U+2588 */

/* A growing output buffer; a failed allocation makes it stay failed. */
typedef struct OutBuf
{
	unsigned char *data;
	size_t		len;
	size_t		cap;
	bool		failed;
} OutBuf;

/* Wipe and free the buffer, leaving it empty and failed. */
static void
OutBufDiscard(OutBuf *b)
{
	if (b->data != NULL)
	{
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = true;
}

/*
 * Make room for more bytes plus a terminating NUL.  Grows by copying rather
 * than realloc, so that the old block can be wiped before it is freed.
 */
static bool
OutBufReserve(OutBuf *b, size_t more)
{
	size_t		need;
	size_t		cap;
	unsigned char *data;

	if (b->failed)
		return false;
	if (more > SIZE_MAX - 1 - b->len)
	{
		OutBufDiscard(b);
		return false;
	}
	need = b->len + more + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap > 0 ? b->cap : 256;
	while (cap < need)
		cap = cap <= SIZE_MAX / 2 ? cap * 2 : need;
	data = malloc(cap);
	if (data == NULL)
	{
		OutBufDiscard(b);
		return false;
	}
	if (b->data != NULL)
	{
		memcpy(data, b->data, b->len);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = data;
	b->cap = cap;
	return true;
}

/* Append n bytes; returns false once the buffer has failed. */
static bool
OutBufAppend(OutBuf *b, const void *bytes, size_t n)
{
	if (!OutBufReserve(b, n))
		return false;
	memcpy(b->data + b->len, bytes, n);
	b->len += n;
	return true;
}

/* Append a NUL-terminated string. */
static bool
OutBufAppendStr(OutBuf *b, const char *s)
{
	return OutBufAppend(b, s, strlen(s));
}

/* Hand the NUL-terminated contents to the caller, or NULL if it failed. */
static unsigned char *
OutBufFinish(OutBuf *b, size_t *len)
{
	if (!OutBufReserve(b, 0))
		return NULL;
	b->data[b->len] = '\0';
	*len = b->len;
	return b->data;
}

/* Is qr a symbol the drawing functions can draw? */
static bool
DrawableCode(const ZtQrCode *qr, size_t *len)
{
	if (len != NULL)
		*len = 0;
	return qr != NULL && len != NULL && qr->dark != NULL &&
		qr->width > 0 && qr->width <= ZT_QR_MAX_WIDTH;
}

/*
 * Encode len bytes of text (any bytes, NULs included) in 8-bit mode into the
 * smallest symbol that holds them, and add the quiet zone.
 *
 * Error correction M restores about 15% of the codewords: room for a smudge,
 * glare on a screen or a crease in paper when a phone scans at arm's length.
 * Q or H would take a typical 99-byte URI from version 6 to 8 or 10, and the
 * smaller modules of a denser code are what fails at that distance.
 */
ZtQrResult
zt_qr_encode(const char *text, size_t len, ZtQrCode *out)
{
	QRcode	   *code;
	unsigned char *symbol;
	int			size;
	unsigned char *dark;
	int			width;

	out->width = 0;
	out->dark = NULL;
	if (len == 0)
		return ZT_QR_EMPTY;
	if (len > QR_MAX_CODEWORDS)
		return ZT_QR_TOO_LONG;

	errno = 0;
	code = QRcode_encodeData((int) len, (const unsigned char *) text, 0,
							 QR_ECLEVEL_M);
	if (code == NULL)
	{
		if (errno == ERANGE)
			return ZT_QR_TOO_LONG;
		if (errno == ENOMEM)
			return ZT_QR_NO_MEMORY;
		return ZT_QR_FAILED;
	}

	/* locals, so that the writes to dark cannot make the compiler reload code */
	symbol = code->data;
	size = code->width;
	if (symbol == NULL || size < 21 || size > ZT_QR_MAX_WIDTH - 2 * ZT_QR_QUIET_ZONE)
	{
		/* not a symbol: QR symbols are 21 to 177 modules a side */
		QRcode_free(code);
		return ZT_QR_FAILED;
	}
	width = size + 2 * ZT_QR_QUIET_ZONE;
	dark = calloc((size_t) width * (size_t) width, 1);
	if (dark != NULL)
	{
		for (int y = 0; y < size; y++)
		{
			const unsigned char *from = symbol + (size_t) y * size;
			unsigned char *to = dark + (size_t) (y + ZT_QR_QUIET_ZONE) * width
				+ ZT_QR_QUIET_ZONE;

			/* bit 0 is the colour; the others say what the module is for */
			for (int x = 0; x < size; x++)
				to[x] = from[x] & 1;
		}
	}
	explicit_bzero(symbol, (size_t) size * (size_t) size);
	QRcode_free(code);
	if (dark == NULL)
		return ZT_QR_NO_MEMORY;

	out->width = width;
	out->dark = dark;
	return ZT_QR_OK;
}

/* Wipe and free the modules of qr; safe on a failed or already freed code. */
void
zt_qr_free(ZtQrCode *qr)
{
	if (qr == NULL)
		return;
	if (qr->dark != NULL && qr->width > 0)
	{
		explicit_bzero(qr->dark, (size_t) qr->width * (size_t) qr->width);
		free(qr->dark);
	}
	qr->dark = NULL;
	qr->width = 0;
}

/*
 * Draw qr as a standalone SVG document, one module per user unit, shown at
 * ZT_QR_SCALE px per module unless the page sizes it.
 *
 * The dark modules are one path of merged horizontal runs: about 6 kB for a
 * typical URI, 115 kB at version 40.  There is no XML declaration (UTF-8 is
 * XML's default), so the same text can also be pasted inline into HTML.
 */
char *
zt_qr_svg(const ZtQrCode *qr, size_t *len)
{
	OutBuf		b = {0};
	char		piece[128];
	int			w;

	if (!DrawableCode(qr, len))
		return NULL;
	w = qr->width;

	snprintf(piece, sizeof(piece),
			 "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\""
			 " width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\"",
			 w * ZT_QR_SCALE, w * ZT_QR_SCALE, w, w);
	OutBufAppendStr(&b, piece);
	OutBufAppendStr(&b, " shape-rendering=\"crispEdges\">\n");
	snprintf(piece, sizeof(piece),
			 "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", w, w);
	OutBufAppendStr(&b, piece);
	OutBufAppendStr(&b, "<path fill=\"#000\" d=\"");
	for (int y = 0; y < w; y++)
	{
		const unsigned char *row = qr->dark + (size_t) y * w;
		int			x = 0;

		while (x < w)
		{
			int			start;

			if (!row[x])
			{
				x++;
				continue;
			}
			start = x;
			while (x < w && row[x])
				x++;
			snprintf(piece, sizeof(piece), "M%d %dh%dv1h-%dz",
					 start, y, x - start, x - start);
			OutBufAppendStr(&b, piece);
		}
	}
	OutBufAppendStr(&b, "\"/>\n</svg>\n");
	explicit_bzero(piece, sizeof(piece));
	return (char *) OutBufFinish(&b, len);
}

/* libpng error handler: no message on stderr, straight back to our setjmp. */
static void
PngError(png_structp png, png_const_charp message)
{
	(void) message;
	png_longjmp(png, 1);
}

/* libpng warning handler: a warning changes nothing we return, so drop it. */
static void
PngWarning(png_structp png, png_const_charp message)
{
	(void) png;
	(void) message;
}

/* libpng write callback: append to the OutBuf, or fail the whole image. */
static void
PngWrite(png_structp png, png_bytep data, size_t n)
{
	if (!OutBufAppend((OutBuf *) png_get_io_ptr(png), data, n))
		png_error(png, "out of memory");
}

/* libpng flush callback: the output is in memory, nothing to flush. */
static void
PngFlush(png_structp png)
{
	(void) png;
}

/*
 * Write the whole image through png; false if libpng raised an error.
 *
 * The setjmp lives here, apart from zt_qr_png, so that nothing zt_qr_png
 * still needs after an error (the output buffer above all, which the write
 * callback changes) is a local of the function that called setjmp.
 */
static bool
WritePng(png_structp png, png_infop info, const ZtQrCode *qr, int scale,
		 unsigned char *row)
{
	png_uint_32 side = (png_uint_32) qr->width * (png_uint_32) scale;
	size_t		row_bytes = (side + 7) / 8;

	if (setjmp(png_jmpbuf(png)))
		return false;

	/* one bit a pixel (0 = black): all a scanner needs, and a smaller file */
	png_set_IHDR(png, info, side, side, 1, PNG_COLOR_TYPE_GRAY,
				 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
				 PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < qr->width; y++)
	{
		const unsigned char *modules = qr->dark + (size_t) y * qr->width;

		memset(row, 0xff, row_bytes);
		for (png_uint_32 px = 0; px < side; px++)
		{
			if (modules[px / (png_uint_32) scale])
				row[px / 8] &= (unsigned char) ~(0x80u >> (px % 8));
		}
		for (int i = 0; i < scale; i++)
			png_write_row(png, row);
	}
	png_write_end(png, NULL);
	return true;
}

/*
 * Draw qr as a black-and-white PNG, scale pixels per module (1 to
 * ZT_QR_MAX_SCALE; ZT_QR_SCALE suits a phone).  NULL on a bad scale, on
 * running out of memory or on any libpng error: libpng's longjmp ends in
 * WritePng, never beyond this function.
 */
unsigned char *
zt_qr_png(const ZtQrCode *qr, int scale, size_t *len)
{
	OutBuf		b = {0};
	png_structp png;
	png_infop	info;
	unsigned char *row;
	size_t		row_bytes;
	bool		ok;

	if (!DrawableCode(qr, len) || scale < 1 || scale > ZT_QR_MAX_SCALE)
		return NULL;
	row_bytes = ((size_t) qr->width * (size_t) scale + 7) / 8;
	row = malloc(row_bytes);
	if (row == NULL)
		return NULL;
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, PngError,
								  PngWarning);
	info = png != NULL ? png_create_info_struct(png) : NULL;
	if (info == NULL)
	{
		png_destroy_write_struct(&png, NULL);
		free(row);
		return NULL;
	}
	png_set_write_fn(png, &b, PngWrite, PngFlush);

	ok = WritePng(png, info, qr, scale, row);

	png_destroy_write_struct(&png, &info);
	explicit_bzero(row, row_bytes);
	free(row);
	if (!ok)
	{
		OutBufDiscard(&b);
		return NULL;
	}
	return OutBufFinish(&b, len);
}

/*
 * Draw qr as lines of half blocks, two module rows a line (the top one in the
 * upper half), quiet zone included, each line ended by '\n'.  See qrcode.h
 * for what invert means.
 *
 * Symbols have an odd number of rows, so the last line's lower half is one
 * row past the symbol, drawn as a light module: the quiet zone grows by half
 * a module, and invert simply swaps every character for its complement.
 */
char *
zt_qr_text(const ZtQrCode *qr, bool invert, size_t *len)
{
	/* indexed by 1 for ink in the upper half, plus 2 for ink in the lower */
	static const char *const cells[4] = {
		" ", UPPER_HALF, LOWER_HALF, FULL_BLOCK
	};
	OutBuf		b = {0};
	int			w;

	if (!DrawableCode(qr, len))
		return NULL;
	w = qr->width;

	/* the longest a line can be: every cell a 3-byte block */
	if (!OutBufReserve(&b, (size_t) ((w + 1) / 2) * ((size_t) w * 3 + 1)))
		return NULL;
	for (int y = 0; y < w; y += 2)
	{
		const unsigned char *upper = qr->dark + (size_t) y * w;
		const unsigned char *lower = y + 1 < w ? upper + w : NULL;

		for (int x = 0; x < w; x++)
		{
			bool		upper_ink = (upper[x] != 0) != invert;
			bool		lower_ink = (lower != NULL && lower[x] != 0) != invert;

			OutBufAppendStr(&b, cells[(upper_ink ? 1 : 0) | (lower_ink ? 2 : 0)]);
		}
		OutBufAppend(&b, "\n", 1);
	}
	return (char *) OutBufFinish(&b, len);
}
