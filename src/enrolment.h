/*
 * enrolment.h
 *		Enrolment QR codes of otpauth:// URIs, for SQL and the REST layer.
 */
#ifndef ZSTACK_TFA_ENROLMENT_H
#define ZSTACK_TFA_ENROLMENT_H

#include "postgres.h"

typedef enum ZtQrFormat
{
	ZT_QR_FORMAT_SVG,
	ZT_QR_FORMAT_PNG,
	ZT_QR_FORMAT_TEXT
} ZtQrFormat;

extern struct varlena *zt_otpauth_qr(const char *secret, const char *label,
									 const char *issuer, ZtQrFormat format,
									 int scale, bool invert);

#endif							/* ZSTACK_TFA_ENROLMENT_H */
