/*
 * enrolment.c
 *		Enrolment QR codes: the otpauth:// URI of a secret (totp.c) drawn by
 *		qrcode.c as SVG, PNG or text for a terminal, for SQL callers
 *		(otpauth_qr_svg, otpauth_qr_png, otpauth_qr_text) and the REST layer.
 *
 * qrcode.c works in malloc'd memory; every drawing is copied into a palloc'd
 * value and wiped before it is freed, errors included: a QR code of a URI is
 * the TOTP secret in another shape.
 */
#include "zstack_tfa.h"

#include "utils/builtins.h"

#include "enrolment.h"
#include "qrcode.h"
#include "totp.h"

PG_FUNCTION_INFO_V1(otpauth_qr_svg);
PG_FUNCTION_INFO_V1(otpauth_qr_png);
PG_FUNCTION_INFO_V1(otpauth_qr_text);

/* Raise the error of a failed encoding, without the URI. */
static void
EncodeFailed(ZtQrResult result, size_t uri_len)
{
	switch (result)
	{
		case ZT_QR_TOO_LONG:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the otpauth URI is too long for a QR code"),
					 errdetail("The URI is %zu bytes; a QR code at error correction level M holds at most 2331.",
							   uri_len),
					 errhint("Use a shorter label or issuer (non-ASCII characters take three bytes each once percent-encoded).")));
			break;
		case ZT_QR_NO_MEMORY:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory while drawing a QR code")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
					 errmsg("libqrencode could not encode the otpauth URI")));
	}
}

/*
 * The QR code of otpauth_uri(secret, label, issuer) in the given format, as
 * a palloc'd varlena (a text for SVG and text, a bytea for PNG).  scale is
 * the PNG's pixels per module; invert draws a text for dark terminals.
 * Raises 22023 for a bad secret, an empty label, a URI too long for a QR
 * code or a scale outside 1..ZT_QR_MAX_SCALE.
 */
struct varlena *
zt_otpauth_qr(const char *secret, const char *label, const char *issuer,
			  ZtQrFormat format, int scale, bool invert)
{
	StringInfoData uri;
	ZtQrCode	qr;
	ZtQrResult	result;
	void	   *volatile drawing = NULL;
	size_t		len = 0;		/* set before the PG_TRY, so not clobbered */
	struct varlena *volatile out = NULL;

	if (format == ZT_QR_FORMAT_PNG && (scale < 1 || scale > ZT_QR_MAX_SCALE))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scale must be between 1 and %d pixels per module", ZT_QR_MAX_SCALE)));
	initStringInfo(&uri);
	zt_otpauth_uri(&uri, secret, label, issuer);
	result = zt_qr_encode(uri.data, uri.len, &qr);
	explicit_bzero(uri.data, uri.maxlen);
	if (result != ZT_QR_OK)
		EncodeFailed(result, (size_t) uri.len);

	switch (format)
	{
		case ZT_QR_FORMAT_SVG:
			drawing = zt_qr_svg(&qr, &len);
			break;
		case ZT_QR_FORMAT_PNG:
			drawing = zt_qr_png(&qr, scale, &len);
			break;
		case ZT_QR_FORMAT_TEXT:
			drawing = zt_qr_text(&qr, invert, &len);
			break;
	}
	zt_qr_free(&qr);
	if (drawing == NULL)
		EncodeFailed(ZT_QR_NO_MEMORY, 0);

	PG_TRY();
	{
		out = (struct varlena *) palloc(VARHDRSZ + len);
		SET_VARSIZE(out, VARHDRSZ + len);
		memcpy(VARDATA(out), drawing, len);
	}
	PG_FINALLY();
	{
		explicit_bzero(drawing, len);
		free(drawing);
	}
	PG_END_TRY();
	return out;
}

/* Read the arguments every otpauth_qr_* function shares and draw. */
static Datum
DrawFromArgs(FunctionCallInfo fcinfo, ZtQrFormat format)
{
	const char *issuer = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	const char *secret = zt_text_arg(fcinfo, 0, "secret");
	const char *label = zt_text_arg(fcinfo, 1, "label");
	int			scale = ZT_QR_SCALE;
	bool		invert = false;

	if (format == ZT_QR_FORMAT_PNG)
	{
		zt_require_arg(fcinfo, 3, "scale");
		scale = PG_GETARG_INT32(3);
	}
	else if (format == ZT_QR_FORMAT_TEXT)
	{
		zt_require_arg(fcinfo, 3, "invert");
		invert = PG_GETARG_BOOL(3);
	}
	PG_RETURN_POINTER(zt_otpauth_qr(secret, label, issuer, format, scale, invert));
}

/* otpauth_qr_svg(secret, label, issuer DEFAULT 'ZStack'): an SVG document. */
static Datum
QrSvg(PG_FUNCTION_ARGS)
{
	return DrawFromArgs(fcinfo, ZT_QR_FORMAT_SVG);
}

/* otpauth_qr_png(secret, label, issuer DEFAULT 'ZStack', scale DEFAULT 8): a PNG. */
static Datum
QrPng(PG_FUNCTION_ARGS)
{
	return DrawFromArgs(fcinfo, ZT_QR_FORMAT_PNG);
}

/* otpauth_qr_text(secret, label, issuer DEFAULT 'ZStack', invert DEFAULT false): half blocks. */
static Datum
QrText(PG_FUNCTION_ARGS)
{
	return DrawFromArgs(fcinfo, ZT_QR_FORMAT_TEXT);
}

/* SQL entry point of QrSvg, its caller's statement kept out of the log. */
Datum
otpauth_qr_svg(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, QrSvg);
}

/* SQL entry point of QrPng, its caller's statement kept out of the log. */
Datum
otpauth_qr_png(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, QrPng);
}

/* SQL entry point of QrText, its caller's statement kept out of the log. */
Datum
otpauth_qr_text(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, QrText);
}
