/*
 * crypto.c
 *		TOTP secrets encrypted at rest: AES-256-GCM on OpenSSL's libcrypto (the
 *		only file that includes it), under keys read from the file named by
 *		zstack_tfa.encryption_key_file.
 *
 * A stored secret is either plain base32 (no key configured, or written
 * before one was) or "zt1:<key id>:<base64 of nonce, ciphertext, tag>".  The
 * nonce is fresh for every encryption; the associated data binds the key id
 * and the secret's uuid, so a ciphertext copied onto another row, or given
 * another key's id, does not decrypt.  Secrets are decrypted only where a
 * reply or a code check needs them, into buffers the callers wipe.
 *
 * The key file holds one key per line, "<id> <64 hex digits>", the first
 * being the one new secrets are encrypted with; the others still decrypt
 * (for rotation).  Like PostgreSQL's ssl_key_file it must be a regular file
 * owned by the server's user (mode 0600 or less) or by root (0640 or less).
 */
#include "zstack_tfa.h"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "catalog/pg_authid.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "crypto.h"

PG_FUNCTION_INFO_V1(secret_text);
PG_FUNCTION_INFO_V1(seal_secret);
PG_FUNCTION_INFO_V1(reencrypt_secrets);
PG_FUNCTION_INFO_V1(encryption_keys);

#define SEALED_PREFIX "zt1:"
#define KEY_BYTES 32
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define MAX_KEYS 64
#define MAX_KEY_ID 32
#define MAX_KEY_FILE (64 * 1024)
#define SETTING "zstack_tfa.encryption_key_file"

/*
 * A key, and the cipher contexts keyed with it (made on first use): keying
 * a context expands the key and derives GCM's hash key, so each key keeps
 * its own, and an encryption or decryption only sets a new nonce.
 */
typedef struct Key
{
	char		id[MAX_KEY_ID + 1];
	unsigned char bytes[KEY_BYTES];
	EVP_CIPHER_CTX *ctx[2];		/* [0] decrypts, [1] encrypts */
} Key;

/* The keys of this backend, as read from the file for one generation. */
static Key *keys = NULL;
static int	nkeys = 0;
static int	keys_generation = -1;

/*
 * Forget the keys read, wiping them (and the contexts keyed with them).  An
 * error forgets them too (KeyFileError): the next use reads the file again.
 */
static void
ForgetKeys(void)
{
	if (keys != NULL)
	{
		for (int i = 0; i < nkeys; i++)
		{
			EVP_CIPHER_CTX_free(keys[i].ctx[0]);
			EVP_CIPHER_CTX_free(keys[i].ctx[1]);
		}
		explicit_bzero(keys, sizeof(Key) * MAX_KEYS);
		pfree(keys);
	}
	keys = NULL;
	nkeys = 0;
	keys_generation = -1;		/* the next use reads the file again */
}

/* Raise a key file problem: the setting named, never a key. */
pg_noreturn static void KeyFileError(const char *fmt,...) pg_attribute_printf(1, 2);

static void
KeyFileError(const char *fmt,...)
{
	va_list		args;
	char		detail[512];

	va_start(args, fmt);
	vsnprintf(detail, sizeof(detail), fmt, args);
	va_end(args);
	ForgetKeys();
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("zstack_tfa cannot use the key file named by %s", SETTING),
			 errdetail("%s", detail),
			 errhint("Fix the file or the setting, then reload the configuration.")));
	pg_unreachable();
}

/* Parse the key file's text into keys[]; raises for anything malformed. */
static void
ParseKeys(char *text, const char *path)
{
	int			lineno = 0;
	char	   *save = NULL;

	keys = MemoryContextAllocZero(TopMemoryContext, sizeof(Key) * MAX_KEYS);
	for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
	{
		char	   *p = line;
		const char *id;
		size_t		idlen;
		Key		   *k;

		lineno++;
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		id = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		idlen = p - id;
		if (idlen == 0 || idlen > MAX_KEY_ID || strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") < idlen)
			KeyFileError("Line %d of \"%s\" does not start with a key id of 1 to %d letters, digits, '.', '_' or '-'.",
						 lineno, path, MAX_KEY_ID);
		while (*p == ' ' || *p == '\t')
			p++;
		if (nkeys == MAX_KEYS)
			KeyFileError("\"%s\" holds more than %d keys.", path, MAX_KEYS);
		k = &keys[nkeys];
		memcpy(k->id, id, idlen);
		k->id[idlen] = '\0';
		for (int i = 0; i < nkeys; i++)
			if (strcmp(keys[i].id, k->id) == 0)
				KeyFileError("The key id \"%s\" appears twice in \"%s\".", k->id, path);
		for (int i = 0; i < KEY_BYTES; i++)
		{
			int			hi = zt_hex_value(p[2 * i]);
			int			lo = hi < 0 ? -1 : zt_hex_value(p[2 * i + 1]);

			if (hi < 0 || lo < 0)
				KeyFileError("The key \"%s\" on line %d of \"%s\" is not 64 hexadecimal digits (256 bits).",
							 k->id, lineno, path);
			k->bytes[i] = (unsigned char) (hi * 16 + lo);
		}
		p += 2 * KEY_BYTES;
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p != '\0')
			KeyFileError("The key \"%s\" on line %d of \"%s\" is not 64 hexadecimal digits (256 bits).",
						 k->id, lineno, path);
		nkeys++;
	}
	if (nkeys == 0)
		KeyFileError("\"%s\" holds no key.", path);
}

/*
 * Read the key file if the setting changed since the keys were read (a
 * reload sets it again).  Checks it as PostgreSQL checks ssl_key_file.
 */
static void
LoadKeys(void)
{
	const char *path = zt_encryption_key_file;
	/* where the file is, only for those who may read the setting */
	const char *shown = has_privs_of_role(GetOuterUserId(), ROLE_PG_READ_ALL_SETTINGS)
		? path : "the file named by " SETTING;
	struct stat st;
	int			fd;
	char	   *contents;
	ssize_t		got;

	if (keys_generation == zt_key_file_generation)
		return;
	ForgetKeys();
	keys_generation = -1;
	if (path == NULL || path[0] == '\0')
	{
		keys_generation = zt_key_file_generation;
		return;
	}
	/*
	 * A setting of a library that is not loaded yet is a placeholder, which
	 * any role can SHOW: the path stays hidden only where every backend
	 * loads the library at its start.
	 */
	if (!zt_loaded_at_start())
		KeyFileError("zstack_tfa must be in shared_preload_libraries or session_preload_libraries when %s is set: in a backend that has not loaded it, any role can read the setting.",
					 SETTING);
	if (stat(path, &st) != 0)
		KeyFileError("Could not read \"%s\": %m.", shown);
	if (!S_ISREG(st.st_mode))
		KeyFileError("\"%s\" is not a regular file.", shown);
	if (st.st_uid != geteuid() && st.st_uid != 0)
		KeyFileError("\"%s\" must be owned by the database server's user or by root.", shown);
	if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
		(st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))
		KeyFileError("\"%s\" has group or world access; it must have permissions u=rw (0600) or less if owned by the server's user, or u=rw,g=r (0640) or less if owned by root.",
					 shown);
	if (st.st_size > MAX_KEY_FILE)
		KeyFileError("\"%s\" is larger than %d bytes.", shown, MAX_KEY_FILE);
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		KeyFileError("Could not open \"%s\": %m.", shown);
	contents = palloc0(MAX_KEY_FILE + 1);
	got = read(fd, contents, MAX_KEY_FILE);
	CloseTransientFile(fd);
	if (got < 0)
	{
		pfree(contents);
		KeyFileError("Could not read \"%s\": %m.", shown);
	}
	PG_TRY();
	{
		ParseKeys(contents, shown);
	}
	PG_FINALLY();
	{
		explicit_bzero(contents, MAX_KEY_FILE + 1);
		pfree(contents);
	}
	PG_END_TRY();
	keys_generation = zt_key_file_generation;
}

/* The key with this id, or NULL. */
static Key *
FindKey(const char *id, size_t len)
{
	for (int i = 0; i < nkeys; i++)
		if (strlen(keys[i].id) == len && memcmp(keys[i].id, id, len) == 0)
			return &keys[i];
	return NULL;
}

/* Is a key configured (zstack_tfa.encryption_key_file set)? */
bool
zt_encryption_configured(void)
{
	return zt_encryption_key_file != NULL && zt_encryption_key_file[0] != '\0';
}

/* Is a stored value an encrypted secret? */
bool
zt_is_sealed(const char *stored, size_t len)
{
	return len > strlen(SEALED_PREFIX) && memcmp(stored, SEALED_PREFIX, strlen(SEALED_PREFIX)) == 0;
}

/*
 * The associated data: the format, the key id and the secret's uuid
 * ("zt1:<id>:<uuid>"; a uuid longer than any real one is cut, and so does
 * not decrypt).  aad has room for MAX_AAD bytes.
 */
#define MAX_AAD_UUID 64
#define MAX_AAD (sizeof(SEALED_PREFIX) + MAX_KEY_ID + 1 + MAX_AAD_UUID)

static int
MakeAad(char *aad, const char *key_id, const char *uuid, size_t uuid_len)
{
	size_t		id_len = strlen(key_id);
	char	   *p = aad;

	memcpy(p, SEALED_PREFIX, sizeof(SEALED_PREFIX));	/* the NUL too, overwritten */
	p += strlen(SEALED_PREFIX);
	memcpy(p, key_id, id_len + 1);	/* its NUL is overwritten next */
	p += id_len;
	*p++ = ':';
	uuid_len = Min(uuid_len, MAX_AAD_UUID);
	memcpy(p, uuid, uuid_len);
	p += uuid_len;
	return (int) (p - aad);
}

/*
 * Decode len bytes of base64 (RFC 4648, padded) into out (room for size
 * bytes); -1 when they are not base64 or do not fit.  A table per byte:
 * PostgreSQL's pg_b64_decode took a third of a decryption.
 */
static int
Base64Decode(const char *in, size_t len, unsigned char *out, size_t size)
{
	static int	value[256];
	static bool ready = false;
	size_t		n = 0;
	size_t		pad = 0;

	if (!ready)
	{
		const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

		memset(value, -1, sizeof(value));
		for (int i = 0; i < 64; i++)
			value[(unsigned char) alphabet[i]] = i;
		ready = true;
	}
	if (len == 0 || len % 4 != 0)
		return -1;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	if ((len / 4) * 3 - pad > size)
		return -1;
	for (size_t i = 0; i < len; i += 4)
	{
		int			a = value[(unsigned char) in[i]];
		int			b = value[(unsigned char) in[i + 1]];
		int			c = value[(unsigned char) in[i + 2]];
		int			d = value[(unsigned char) in[i + 3]];
		bool		last = i + 4 == len;

		if (last && pad >= 1)
			d = 0;
		if (last && pad == 2)
			c = 0;
		if ((a | b | c | d) < 0)
			return -1;
		out[n++] = (unsigned char) (a << 2 | b >> 4);
		if (!last || pad < 2)
			out[n++] = (unsigned char) (b << 4 | c >> 2);
		if (!last || pad < 1)
			out[n++] = (unsigned char) (c << 6 | d);
	}
	return (int) n;
}

pg_noreturn static void CryptoFailed(const char *what);

static void
CryptoFailed(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
			 errmsg("OpenSSL could not %s a TOTP secret", what)));
	pg_unreachable();
}

/*
 * AES-256-GCM, fetched from OpenSSL's providers once: an EVP_aes_256_gcm()
 * passed to each EVP_*Init_ex is fetched again on every call (OpenSSL 3).
 */
static const EVP_CIPHER *
Gcm(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	static EVP_CIPHER *gcm = NULL;

	if (gcm == NULL)
		gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (gcm == NULL)
		CryptoFailed("find AES-256-GCM for");
	return gcm;
#else
	return EVP_aes_256_gcm();
#endif
}

/* key's context for encrypting (or decrypting), keyed, ready for a nonce. */
static EVP_CIPHER_CTX *
KeyedContext(Key *key, bool encrypt)
{
	EVP_CIPHER_CTX *ctx = key->ctx[encrypt ? 1 : 0];

	if (ctx != NULL)
		return ctx;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("OpenSSL could not allocate a cipher context")));
	if (EVP_CipherInit_ex(ctx, Gcm(), NULL, NULL, NULL, encrypt ? 1 : 0) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) != 1 ||
		EVP_CipherInit_ex(ctx, NULL, NULL, key->bytes, NULL, encrypt ? 1 : 0) != 1)
	{
		EVP_CIPHER_CTX_free(ctx);
		CryptoFailed(encrypt ? "encrypt" : "decrypt");
	}
	key->ctx[encrypt ? 1 : 0] = ctx;
	return ctx;
}

/*
 * Encrypt a secret for the row with this uuid under the current key:
 * returns "zt1:<id>:<base64>" (palloc'd).  Raises if no key can be used.
 */
char *
zt_seal_secret(const char *uuid, size_t uuid_len, const char *plain, size_t len)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char buf[NONCE_BYTES + ZT_MAX_SECRET_TEXT + TAG_BYTES];
	char		aad[MAX_AAD];
	int			aad_len;
	int			n;
	int			b64_len;
	char	   *out;
	Key		   *key;

	LoadKeys();
	if (nkeys == 0)
		KeyFileError("No key is configured.");
	if (len > ZT_MAX_SECRET_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a TOTP secret must be at most %d characters", ZT_MAX_SECRET_TEXT)));
	key = &keys[0];
	aad_len = MakeAad(aad, key->id, uuid, uuid_len);
	if (!pg_strong_random(buf, NONCE_BYTES))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
	ctx = KeyedContext(key, true);
	if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, buf) != 1 ||
		EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *) aad, aad_len) != 1 ||
		EVP_EncryptUpdate(ctx, buf + NONCE_BYTES, &n, (const unsigned char *) plain, (int) len) != 1 ||
		EVP_EncryptFinal_ex(ctx, buf + NONCE_BYTES + n, &n) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, buf + NONCE_BYTES + len) != 1)
		CryptoFailed("encrypt");
	n = NONCE_BYTES + (int) len + TAG_BYTES;
	b64_len = pg_b64_enc_len(n);
	out = palloc(strlen(SEALED_PREFIX) + strlen(key->id) + 1 + b64_len + 1);
	b64_len = zt_b64_encode(buf, n,
							out + sprintf(out, SEALED_PREFIX "%s:", key->id), b64_len);
	out[strlen(SEALED_PREFIX) + strlen(key->id) + 1 + b64_len] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return out;
}

/*
 * The secret of a stored value, into out (room for ZT_MAX_SECRET_TEXT + 1):
 * decrypted if it is encrypted, copied if it is plain.  Returns its length.
 * A value that does not decrypt (a key missing from the file, a wrong key,
 * a ciphertext from another row) raises an error naming the setting: never
 * a wrong secret, so never a wrong code.  Callers wipe out after use.
 */
size_t
zt_open_secret(const char *uuid, size_t uuid_len, const char *stored, size_t len,
			   char *out)
{
	EVP_CIPHER_CTX *ctx;
	const char *id;
	const char *colon;
	Key		   *key;
	char		aad[MAX_AAD];
	int			aad_len;
	unsigned char buf[NONCE_BYTES + ZT_MAX_SECRET_TEXT + TAG_BYTES + 3];
	int			n;
	int			plain_len;

	if (!zt_is_sealed(stored, len))
	{
		if (len > ZT_MAX_SECRET_TEXT)
			len = ZT_MAX_SECRET_TEXT;
		memcpy(out, stored, len);
		out[len] = '\0';
		return len;
	}
	LoadKeys();
	id = stored + strlen(SEALED_PREFIX);
	colon = memchr(id, ':', len - strlen(SEALED_PREFIX));
	if (colon == NULL || colon - id > MAX_KEY_ID)
		KeyFileError("A stored TOTP secret is damaged (no key id).");
	key = FindKey(id, colon - id);
	if (key == NULL)
		KeyFileError("A TOTP secret is encrypted under the key \"%.*s\", which is not in the key file.",
					 (int) (colon - id), id);
	if ((size_t) (stored + len - colon - 1) / 4 * 3 > sizeof(buf))
		KeyFileError("A stored TOTP secret is damaged (too long).");
	n = Base64Decode(colon + 1, stored + len - colon - 1, buf, sizeof(buf));
	if (n < 0)
		KeyFileError("A stored TOTP secret is damaged (not base64).");
	if (n < NONCE_BYTES + TAG_BYTES + 1)
		KeyFileError("A stored TOTP secret is damaged (too short).");
	plain_len = n - NONCE_BYTES - TAG_BYTES;
	aad_len = MakeAad(aad, key->id, uuid, uuid_len);
	ctx = KeyedContext(key, false);
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, buf) != 1 ||
		EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *) aad, aad_len) != 1 ||
		EVP_DecryptUpdate(ctx, (unsigned char *) out, &n, buf + NONCE_BYTES, plain_len) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, buf + NONCE_BYTES + plain_len) != 1 ||
		EVP_DecryptFinal_ex(ctx, (unsigned char *) out + n, &n) != 1)
	{
		explicit_bzero(out, ZT_MAX_SECRET_TEXT + 1);
		explicit_bzero(buf, sizeof(buf));
		KeyFileError("A TOTP secret does not decrypt with the key \"%s\": the key is not the one it was encrypted with, or the value was altered or copied from another row.",
					 key->id);
	}
	explicit_bzero(buf, sizeof(buf));
	out[plain_len] = '\0';
	return (size_t) plain_len;
}

/*
 * The MAC of a recovery code (recovery.c): HMAC-SHA-256 of msg under a key
 * derived from the key file's key key_id (NULL: the current key, whose id
 * goes to key_id_out, room for ZT_KEY_ID_LEN + 1), so the codes' key is
 * never the one that encrypts secrets.  Raises, naming the setting, when
 * no key is configured or key_id is not in the file: a code then cannot be
 * checked, and is not compared (never a wrong answer).
 */
void
zt_recovery_mac(const char *key_id, const char *msg, size_t len, unsigned char *mac,
				char *key_id_out)
{
	static const char label[] = "zstack_tfa recovery codes v1";
	unsigned char derived[KEY_BYTES];
	unsigned int n = 0;
	Key		   *key;

	StaticAssertStmt(ZT_KEY_ID_LEN == MAX_KEY_ID, "key id lengths differ");
	LoadKeys();
	if (nkeys == 0)
		KeyFileError("No key is configured: recovery codes need one.");
	key = key_id == NULL ? &keys[0] : FindKey(key_id, strlen(key_id));
	if (key == NULL)
		KeyFileError("Recovery codes are hashed under the key \"%s\", which is not in the key file.",
					 key_id);
	if (HMAC(EVP_sha256(), key->bytes, KEY_BYTES, (const unsigned char *) label,
			 sizeof(label) - 1, derived, &n) == NULL || n != KEY_BYTES ||
		HMAC(EVP_sha256(), derived, KEY_BYTES, (const unsigned char *) msg, len,
			 mac, &n) == NULL || n != ZT_RECOVERY_MAC_LEN)
	{
		explicit_bzero(derived, sizeof(derived));
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("OpenSSL could not hash a recovery code")));
	}
	explicit_bzero(derived, sizeof(derived));
	if (key_id_out != NULL)
		strlcpy(key_id_out, key->id, ZT_KEY_ID_LEN + 1);
}

/*
 * secret_text(uuid, stored): the secret of a stored value.  Not granted to
 * anyone: the query functions use it (as the tables' owner) for conditions
 * and sorts on "secret", and a DBA may.
 */
static Datum
SecretText(PG_FUNCTION_ARGS)
{
	text	   *uuid = PG_GETARG_TEXT_PP(0);
	text	   *stored = PG_GETARG_TEXT_PP(1);
	char		plain[ZT_MAX_SECRET_TEXT + 1];
	size_t		len = zt_open_secret(VARDATA_ANY(uuid), VARSIZE_ANY_EXHDR(uuid),
									 VARDATA_ANY(stored), VARSIZE_ANY_EXHDR(stored), plain);
	const text *result = cstring_to_text_with_len(plain, (int) len);

	explicit_bzero(plain, sizeof(plain));
	PG_RETURN_TEXT_P(result);
}

/* SQL entry point of SecretText, its caller's statement kept out of the log. */
Datum
secret_text(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, SecretText);
}

/*
 * The trigger of zstack_tfa.secret (BEFORE INSERT OR UPDATE OF secret, uuid):
 * with a key configured, no secret is written in plain text.  A plain one is
 * encrypted under the current key; an encrypted one whose row changes its
 * uuid is encrypted again for the new uuid; any other encrypted value is
 * left as it is (a restore, a rotation's own work).
 */
static Datum
SealSecret(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tup;
	int			secret_col;
	int			uuid_col;
	bool		isnull;
	Datum		d;
	text	   *stored;
	text	   *uuid;
	const char *sealed = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "seal_secret() must be a BEFORE ROW trigger");
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	if (!zt_encryption_configured())
		return PointerGetDatum(tup);
	secret_col = SPI_fnumber(desc, "secret");
	uuid_col = SPI_fnumber(desc, "uuid");
	d = heap_getattr(tup, secret_col, desc, &isnull);
	if (isnull)
		return PointerGetDatum(tup);
	stored = DatumGetTextPP(d);
	uuid = DatumGetTextPP(heap_getattr(tup, uuid_col, desc, &isnull));
	if (isnull)
		return PointerGetDatum(tup);
	if (!zt_is_sealed(VARDATA_ANY(stored), VARSIZE_ANY_EXHDR(stored)))
	{
		/* the table's CHECK sees the ciphertext: check the secret here */
		const char *p = VARDATA_ANY(stored);
		size_t		len = VARSIZE_ANY_EXHDR(stored);

		bool		base32 = len >= 16 && len <= ZT_MAX_SECRET_TEXT;

		/* (a text is not NUL-terminated: no str* function on it) */
		for (size_t i = 0; base32 && i < len; i++)
			base32 = (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '2' && p[i] <= '7');
		if (!base32)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("a TOTP secret must be 16 to %d characters of base32 (A-Z, 2-7)",
							ZT_MAX_SECRET_TEXT)));
		sealed = zt_seal_secret(VARDATA_ANY(uuid), VARSIZE_ANY_EXHDR(uuid),
								VARDATA_ANY(stored), VARSIZE_ANY_EXHDR(stored));
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		HeapTuple	old = td->tg_trigtuple;
		text	   *old_uuid = DatumGetTextPP(heap_getattr(old, uuid_col, desc, &isnull));
		text	   *old_stored = DatumGetTextPP(heap_getattr(old, secret_col, desc, &isnull));

		if (!isnull && VARSIZE_ANY_EXHDR(old_stored) == VARSIZE_ANY_EXHDR(stored) &&
			memcmp(VARDATA_ANY(old_stored), VARDATA_ANY(stored), VARSIZE_ANY_EXHDR(stored)) == 0 &&
			(VARSIZE_ANY_EXHDR(old_uuid) != VARSIZE_ANY_EXHDR(uuid) ||
			 memcmp(VARDATA_ANY(old_uuid), VARDATA_ANY(uuid), VARSIZE_ANY_EXHDR(uuid)) != 0))
		{
			char		plain[ZT_MAX_SECRET_TEXT + 1];
			size_t		len = zt_open_secret(VARDATA_ANY(old_uuid), VARSIZE_ANY_EXHDR(old_uuid),
											 VARDATA_ANY(stored), VARSIZE_ANY_EXHDR(stored), plain);

			sealed = zt_seal_secret(VARDATA_ANY(uuid), VARSIZE_ANY_EXHDR(uuid), plain, len);
			explicit_bzero(plain, sizeof(plain));
		}
	}
	if (sealed != NULL)
	{
		Datum		value = CStringGetTextDatum(sealed);
		bool		nulls = false;

		tup = heap_modify_tuple_by_cols(tup, desc, 1, &secret_col, &value, &nulls);
		/* the plain text the caller passed stays in its own memory only */
	}
	return PointerGetDatum(tup);
}

/* SQL entry point of SealSecret, its caller's statement kept out of the log. */
Datum
seal_secret(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, SealSecret);
}

/*
 * reencrypt_secrets(batch_size DEFAULT 1000): encrypt up to batch_size
 * secrets that are plain or under another key than the current one, and
 * return how many; 0 means every secret is under the current key.  Rows
 * busy with a login are skipped (SKIP LOCKED) and taken by a later call, so
 * a rotation runs alongside logins and queries; call it until it returns 0
 * (README shows a loop that commits each batch).
 */
static Datum
ReencryptSecrets(PG_FUNCTION_ARGS)
{
	int			spi_level;
	int32		batch = PG_GETARG_INT32(0);
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	int64		done = 0;
	SPITupleTable *tt;
	uint64		found;

	if (batch < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1")));
	LoadKeys();
	if (nkeys == 0)
		KeyFileError("No key is configured: set %s to a key file first.", SETTING);
	values[0] = CStringGetTextDatum(psprintf(SEALED_PREFIX "%s:%%", keys[0].id));
	values[1] = Int32GetDatum(batch);
	spi_level = zt_spi_connect();
	if (SPI_execute_with_args("SELECT uuid, secret FROM zstack_tfa.secret WHERE secret NOT LIKE $1"
							  " LIMIT $2 FOR UPDATE SKIP LOCKED",
							  2, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "secret lookup failed");
	tt = SPI_tuptable;
	found = SPI_processed;
	for (uint64 i = 0; i < found; i++)
	{
		const char *uuid = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		const char *stored = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		char		plain[ZT_MAX_SECRET_TEXT + 1];
		size_t		len = zt_open_secret(uuid, strlen(uuid), stored, strlen(stored), plain);
		Oid			utypes[2] = {TEXTOID, TEXTOID};
		Datum		uvalues[2];

		uvalues[0] = CStringGetTextDatum(uuid);
		uvalues[1] = CStringGetTextDatum(zt_seal_secret(uuid, strlen(uuid), plain, len));
		explicit_bzero(plain, sizeof(plain));
		if (SPI_execute_with_args("UPDATE zstack_tfa.secret SET secret = $2 WHERE uuid = $1",
								  2, utypes, uvalues, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "secret update failed");
		done++;
	}
	zt_spi_finish(spi_level);
	PG_RETURN_INT64(done);
}

/* SQL entry point of ReencryptSecrets, its caller's statement kept out of the log. */
Datum
reencrypt_secrets(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, ReencryptSecrets);
}

/*
 * encryption_keys(): the ids of the keys in the key file, the current one
 * (which new secrets are encrypted with) first.  Never a key.
 */
Datum
encryption_keys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	LoadKeys();
	for (int i = 0; i < nkeys; i++)
	{
		Datum		values[2];
		/* cppcheck-suppress constVariable ; 15's tuplestore_putvalues takes a bool * */
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(keys[i].id);
		values[1] = BoolGetDatum(i == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
