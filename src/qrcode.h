/*
 * qrcode.h
 *		QR codes for TOTP enrolment: an otpauth:// URI encoded by libqrencode
 *		and drawn as SVG, as PNG (libpng) or as text for a terminal.  qrcode.c
 *		is the only file that includes libqrencode and libpng.  No palloc, no
 *		ereport: unit tests and fuzzers link it as is.
 *
 * Ownership: every pointer returned here is malloc'd and belongs to the
 * caller; a NULL return means out of memory or invalid arguments, never a
 * partial result.  Everything returned shows the URI, and so the TOTP
 * secret: free a ZtQrCode with zt_qr_free (which wipes it), and wipe the
 * SVG, PNG and text buffers with explicit_bzero before free().
 */
#ifndef ZSTACK_TFA_QRCODE_H
#define ZSTACK_TFA_QRCODE_H

#include <stdbool.h>
#include <stddef.h>

/* Light modules on every side of the symbol, as ISO/IEC 18004 asks. */
#define ZT_QR_QUIET_ZONE 4

/* Modules per side of the largest symbol (version 40), quiet zone included. */
#define ZT_QR_MAX_WIDTH (177 + 2 * ZT_QR_QUIET_ZONE)

/* Pixels per module: the SVG's default size and the usual PNG scale. */
#define ZT_QR_SCALE 8

/* Largest PNG scale accepted: 32 px a module is already 5920 px a side. */
#define ZT_QR_MAX_SCALE 32

typedef enum ZtQrResult
{
	ZT_QR_OK,
	ZT_QR_EMPTY,				/* no input bytes */
	ZT_QR_TOO_LONG,				/* fits no version at error correction M */
	ZT_QR_NO_MEMORY,
	ZT_QR_FAILED				/* libqrencode failed for another reason */
} ZtQrResult;

/* An encoded symbol, ready to draw. */
typedef struct ZtQrCode
{
	int			width;			/* modules per side, quiet zone included */
	unsigned char *dark;		/* width * width bytes, row by row from the top
								 * left; 1 = dark module, 0 = light */
} ZtQrCode;

extern ZtQrResult zt_qr_encode(const char *text, size_t len, ZtQrCode *out);
extern void zt_qr_free(ZtQrCode *qr);

/*
 * The drawings.  *len receives the length in bytes; the SVG and the text are
 * also NUL-terminated (not counted in *len).
 *
 * zt_qr_text draws two module rows per line with the half blocks U+2580,
 * U+2584 and U+2588.  invert = false draws the dark modules as blocks, for
 * dark text on a light terminal; invert = true draws the light modules as
 * blocks, for light text on a dark terminal (what `qrencode -t UTF8` does).
 */
extern char *zt_qr_svg(const ZtQrCode *qr, size_t *len);
extern unsigned char *zt_qr_png(const ZtQrCode *qr, int scale, size_t *len);
extern char *zt_qr_text(const ZtQrCode *qr, bool invert, size_t *len);

#endif							/* ZSTACK_TFA_QRCODE_H */
