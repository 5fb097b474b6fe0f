/*
 * totp.h
 *		TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps) on liboath.
 *		totp.c is the only file that includes liboath.
 */
#ifndef ZSTACK_TFA_TOTP_H
#define ZSTACK_TFA_TOTP_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

#define ZT_TOTP_DIGITS 6
#define ZT_TOTP_PERIOD 30
#define ZT_SECRET_MIN 16
#define ZT_SECRET_MAX 128

/* A decoded secret: palloc'd key bytes, wiped by zt_totp_free_key. */
typedef struct ZtTotpKey
{
	char	   *bytes;
	size_t		len;
} ZtTotpKey;

extern void zt_totp_decode(const char *b32, size_t len, ZtTotpKey *key);
extern void zt_totp_free_key(ZtTotpKey *key);
extern int64 zt_totp_step(TimestampTz at);
extern bool zt_totp_match(const ZtTotpKey *key, const char *code, size_t code_len,
						  int64 step, int window, int64 after_step,
						  int64 *matched_step, bool *used);
extern void zt_generate_secret(char *out, int len);
extern void zt_otpauth_uri(StringInfo out, const char *secret, const char *label,
						   const char *issuer);

#endif							/* ZSTACK_TFA_TOTP_H */
