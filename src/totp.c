/*
 * totp.c
 *		TOTP primitives on liboath, and their SQL functions: generate_secret,
 *		totp, totp_verify, otpauth_uri.
 *
 * Secrets and codes never appear in an error message: a bad secret is
 * "invalid base32 secret", a malformed code is simply not a match.
 */
#include "zstack_tfa.h"

#include <liboath/oath.h>

#include "common/string.h"
#include "utils/builtins.h"

#include "totp.h"

PG_FUNCTION_INFO_V1(generate_secret);
PG_FUNCTION_INFO_V1(totp);
PG_FUNCTION_INFO_V1(totp_verify);
PG_FUNCTION_INFO_V1(otpauth_uri);

#define MAX_SECRET_TEXT 1024	/* longest base32 text accepted */
#define MAX_WINDOW 10

static bool oath_ready = false;

static void
EnsureOath(void)
{
	if (!oath_ready)
	{
		if (oath_init() != OATH_OK)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
					 errmsg("could not initialise liboath")));
		oath_ready = true;
	}
}

/*
 * Decode a base32 secret as liboath reads it (upper or lower case, spaces
 * ignored).  Raises 22023 for anything else, without echoing the text.
 */
void
zt_totp_decode(const char *b32, size_t len, ZtTotpKey *key)
{
	char	   *out = NULL;
	size_t		outlen = 0;
	int			rc;

	EnsureOath();
	rc = (len == 0 || len > MAX_SECRET_TEXT) ? OATH_INVALID_BASE32
		: oath_base32_decode(b32, len, &out, &outlen);
	if (rc != OATH_OK || outlen == 0)
	{
		if (out != NULL)
		{
			explicit_bzero(out, outlen);
			free(out);
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid base32 secret"),
				 errdetail("A TOTP secret is 1 to %d characters of RFC 4648 base32: letters A-Z and digits 2-7.",
						   MAX_SECRET_TEXT)));
	}
	/* move the key out of malloc'd memory and wipe liboath's copy */
	key->bytes = palloc(outlen);
	memcpy(key->bytes, out, outlen);
	key->len = outlen;
	explicit_bzero(out, outlen);
	free(out);
}

void
zt_totp_free_key(ZtTotpKey *key)
{
	if (key->bytes != NULL)
	{
		explicit_bzero(key->bytes, key->len);
		pfree(key->bytes);
		key->bytes = NULL;
	}
}

/* The RFC 6238 time step of a timestamp; raises for times before 1970. */
int64
zt_totp_step(TimestampTz at)
{
	int64		unix_us;

	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("TOTP time must be finite")));
	unix_us = at + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	if (unix_us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("TOTP time must not be before 1970-01-01")));
	return unix_us / USECS_PER_SEC / ZT_TOTP_PERIOD;
}

/* Write the code of one time step into out (7 bytes). */
static void
CodeAt(const ZtTotpKey *key, int64 step, char *out)
{
	int			rc = oath_totp_generate2(key->bytes, key->len,
										 (time_t) (step * ZT_TOTP_PERIOD),
										 ZT_TOTP_PERIOD, 0, ZT_TOTP_DIGITS, 0, out);

	if (rc != OATH_OK)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("liboath could not compute a TOTP code: %s", oath_strerror_name(rc))));
}

/*
 * Does code match a step in [step - window, step + window] that is later
 * than after_step?  Every step of the window is computed and compared in
 * constant time, so timing tells nothing about how close a guess was.  A
 * code that is not exactly six ASCII digits is simply not a match.  *used
 * (when not NULL) tells a code that matches only a step already accepted
 * (a replay, which the audit and the metrics name apart from a wrong code).
 */
bool
zt_totp_match(const ZtTotpKey *key, const char *code, size_t code_len,
			  int64 step, int window, int64 after_step, int64 *matched_step,
			  bool *used)
{
	char		want[ZT_TOTP_DIGITS + 1];
	char		given[ZT_TOTP_DIGITS];
	bool		well_formed = zt_copy_totp_code(code, code_len, given);
	bool		found = false;
	bool		old = false;

	StaticAssertStmt(ZT_TOTP_DIGITS == ZT_CODE_DIGITS, "one code length");
	EnsureOath();
	for (int64 s = step - window; s <= step + window; s++)
	{
		unsigned char diff = 0;

		if (s < 0)
			continue;
		CodeAt(key, s, want);
		for (int i = 0; i < ZT_TOTP_DIGITS; i++)
			diff |= (unsigned char) (want[i] ^ given[i]);
		if (diff == 0 && s > after_step)
		{
			found = true;
			*matched_step = s;
		}
		else if (diff == 0)
			old = true;
	}
	explicit_bzero(want, sizeof(want));
	explicit_bzero(given, sizeof(given));
	if (used != NULL)
		*used = old && !found && well_formed;
	return found && well_formed;
}

/* Fill out[0..len) with base32 letters from the CSPRNG, and terminate it. */
void
zt_generate_secret(char *out, int len)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char bytes[ZT_SECRET_MAX];

	Assert(len <= ZT_SECRET_MAX);
	if (!pg_strong_random(bytes, len))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
	/* 256 is a multiple of 32, so the low five bits are uniform */
	for (int i = 0; i < len; i++)
		out[i] = alphabet[bytes[i] & 31];
	out[len] = '\0';
	explicit_bzero(bytes, sizeof(bytes));
}

/* generate_secret(length DEFAULT 16): a new random base32 secret. */
Datum
generate_secret(PG_FUNCTION_ARGS)
{
	int32		len = PG_GETARG_INT32(0);
	char		out[ZT_SECRET_MAX + 1];

	if (len < ZT_SECRET_MIN || len > ZT_SECRET_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("secret length must be between %d and %d", ZT_SECRET_MIN, ZT_SECRET_MAX)));
	zt_generate_secret(out, len);
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

/* totp(secret, at DEFAULT now()): the six-digit code at a time. */
static Datum
TotpCode(PG_FUNCTION_ARGS)
{
	text	   *secret = PG_GETARG_TEXT_PP(0);
	int64		step = zt_totp_step(PG_GETARG_TIMESTAMPTZ(1));
	ZtTotpKey	key;
	char		code[ZT_TOTP_DIGITS + 1];
	const text *result;

	zt_totp_decode(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), &key);
	CodeAt(&key, step, code);
	zt_totp_free_key(&key);
	result = cstring_to_text(code);
	explicit_bzero(code, sizeof(code));
	PG_RETURN_TEXT_P(result);
}

/* SQL entry point of TotpCode, its caller's statement kept out of the log. */
Datum
totp(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, TotpCode);
}

/* totp_verify(secret, code, at DEFAULT now(), window DEFAULT 1): a match? */
static Datum
TotpVerify(PG_FUNCTION_ARGS)
{
	text	   *secret = PG_GETARG_TEXT_PP(0);
	text	   *code = PG_GETARG_TEXT_PP(1);
	int64		step = zt_totp_step(PG_GETARG_TIMESTAMPTZ(2));
	int32		window = PG_GETARG_INT32(3);
	ZtTotpKey	key;
	int64		matched;
	bool		ok;

	if (window < 0 || window > MAX_WINDOW)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window must be between 0 and %d time steps", MAX_WINDOW)));
	zt_totp_decode(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), &key);
	ok = zt_totp_match(&key, VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code),
					   step, window, -1, &matched, NULL);
	zt_totp_free_key(&key);
	PG_RETURN_BOOL(ok);
}

/* SQL entry point of TotpVerify, its caller's statement kept out of the log. */
Datum
totp_verify(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, TotpVerify);
}

/* Append s percent-encoded: RFC 3986 unreserved characters stay as they are. */
static void
AppendPercentEncoded(StringInfo buf, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			appendStringInfoChar(buf, (char) *p);
		else
			appendStringInfo(buf, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
}

/*
 * Build the Key URI that authenticator apps read from a QR code into out:
 * the secret (canonical base32), the label (the account in the app) and
 * the issuer (NULL or empty for none), percent-encoded.  Raises 22023 for
 * an empty label or a secret an authenticator cannot use, without echoing
 * either.
 */
void
zt_otpauth_uri(StringInfo out, const char *secret, const char *label,
			   const char *issuer)
{
	ZtTotpKey	key;

	if (issuer != NULL && issuer[0] == '\0')
		issuer = NULL;			/* an empty issuer is no issuer */
	if (label[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label must not be empty"),
				 errdetail("The label names the account in the authenticator app.")));
	/* only a secret an authenticator can use goes into the URI */
	zt_totp_decode(secret, strlen(secret), &key);
	zt_totp_free_key(&key);
	for (const char *p = secret; *p; p++)
		if (*p < 'A' || *p > 'Z')
			if (*p < '2' || *p > '7')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid base32 secret"),
						 errdetail("An otpauth URI needs the canonical form: upper-case letters A-Z and digits 2-7, no spaces.")));

	appendStringInfoString(out, "otpauth://totp/");
	if (issuer != NULL)
	{
		AppendPercentEncoded(out, issuer);
		appendStringInfoChar(out, ':');
	}
	AppendPercentEncoded(out, label);
	appendStringInfo(out, "?secret=%s", secret);
	if (issuer != NULL)
	{
		appendStringInfoString(out, "&issuer=");
		AppendPercentEncoded(out, issuer);
	}
	appendStringInfo(out, "&algorithm=SHA1&digits=%d&period=%d",
					 ZT_TOTP_DIGITS, ZT_TOTP_PERIOD);
}

/*
 * otpauth_uri(secret, label, issuer DEFAULT 'ZStack'): the Key URI that
 * authenticator apps read from a QR code.  A NULL or empty issuer is left out.
 */
static Datum
OtpauthUri(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	const char *issuer = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	const char *secret = zt_text_arg(fcinfo, 0, "secret");
	const char *label = zt_text_arg(fcinfo, 1, "label");

	initStringInfo(&buf);
	zt_otpauth_uri(&buf, secret, label, issuer);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/* SQL entry point of OtpauthUri, its caller's statement kept out of the log. */
Datum
otpauth_uri(PG_FUNCTION_ARGS)
{
	return zt_hiding_statement(fcinfo, OtpauthUri);
}
