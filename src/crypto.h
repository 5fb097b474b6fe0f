/*
 * crypto.h
 *		TOTP secrets encrypted at rest (AES-256-GCM on libcrypto; crypto.c is
 *		the only file that includes OpenSSL).
 */
#ifndef ZSTACK_TFA_CRYPTO_H
#define ZSTACK_TFA_CRYPTO_H

#include "postgres.h"

/* The longest stored secret: zstack_tfa.secret takes 16 to 128 base32 characters. */
#define ZT_MAX_SECRET_TEXT 128

extern bool zt_encryption_configured(void);
extern bool zt_is_sealed(const char *stored, size_t len);
extern char *zt_seal_secret(const char *uuid, size_t uuid_len, const char *plain,
							size_t len);
extern size_t zt_open_secret(const char *uuid, size_t uuid_len, const char *stored,
							 size_t len, char *out);

#endif							/* ZSTACK_TFA_CRYPTO_H */
