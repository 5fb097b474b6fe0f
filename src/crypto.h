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

/*
 * Recovery codes (recovery.c) are kept as HMAC-SHA-256 under a key derived
 * from a key of the same file; ZT_KEY_ID_LEN bounds a key id.
 */
#define ZT_RECOVERY_MAC_LEN 32
#define ZT_KEY_ID_LEN 32
extern void zt_recovery_mac(const char *key_id, const char *msg, size_t len,
							unsigned char *mac, char *key_id_out);

#endif							/* ZSTACK_TFA_CRYPTO_H */
