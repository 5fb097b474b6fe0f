/*
 * lifecycle.h
 *		What the life-cycle files share: principals (accounts and IAM2 users)
 *		and their credentials, the audit log, the 2FA switch and secrets.
 *
 * Floors: principal.c, failures.c and recovery.c, then twofactor.c, then
 * accounts.c and logins.c.
 */
#ifndef ZSTACK_TFA_LIFECYCLE_H
#define ZSTACK_TFA_LIFECYCLE_H

#include "zstack_tfa.h"

#include "utils/array.h"

#include "crypto.h"

#define ZT_MAX_NAME_LEN 255
/*
 * Longer passwords are refused: hashing a 1 MB one takes seconds, a lever
 * for denial of service.  ZStack's clients send 128 hex digits (SHA-512).
 */
#define ZT_MAX_PASSWORD_LEN 1024

/*
 * ZStack's texts for a missing or invalid API parameter (its
 * ApiMessageParamValidator, which names itself where it means the message:
 * a ZStack slip, kept so that clients see the same bytes).
 */
#define ZT_MANDATORY_FORMAT \
	"field[%s] of message[org.zstack.header.message.ApiMessageParamValidator] is mandatory, can not be null"
#define ZT_BAD_VALUE_FORMAT \
	"valid value for field[%s] of message[org.zstack.header.message.ApiMessageParamValidator] are %s, but %s found"

/* SYS.1006's details where a call must write and may not (hot standby). */
#define ZT_READ_ONLY_DETAILS \
	"this call writes, and the transaction is read-only or the server is a standby"

/* Who is logging in: an account or an IAM2 user inside one. */
typedef struct Principal
{
	bool		found;
	bool		iam2;
	char		uuid[33];
	char		account_uuid[33];
	char	   *password_hash;	/* NULL: no password login */
} Principal;

/* principal.c */
extern char *zt_password_verifier(const char *password);
extern void zt_load_principal(const char *name, bool iam2, Principal *p);
extern bool zt_check_credentials(const char *name, const char *password, bool iam2,
								 const char *kind, Principal *p, ZtFailure *f);
extern bool zt_check_credentials_for(const char *name, const char *password,
									 bool iam2, const char *kind,
									 const ZtCaller *actor, Principal *p,
									 ZtFailure *f);
extern void zt_audit_by(const char *kind, const char *outcome,
						const char *zstack_code, const Principal *p,
						const char *secret_uuid, const ZtCaller *actor);
extern void zt_audit(const char *kind, const char *outcome, const char *zstack_code,
					 const Principal *p);
extern void zt_audit_secret(const char *kind, const char *outcome,
							const char *zstack_code, const Principal *p,
							const char *secret_uuid, int64 step);

/* failures.c */
typedef enum ZtRecordResult
{
	ZT_RECORDED,				/* committed */
	ZT_RECORD_OWED				/* the recorder ended with it: owed to the next one */
} ZtRecordResult;

extern bool zt_await_user_recorded(const char *user_uuid, ZtFailure *f);
extern bool zt_reserve_recorder(ZtFailure *f);
extern void zt_release_recorder(void);
extern void zt_commit_durably(void);
extern void zt_hand_over_wrong_code(const Principal *p, const char *secret_uuid,
									bool replay);
extern ZtRecordResult zt_await_wrong_code(int *failures, bool *locked);

/* recovery.c */
#define ZT_RECOVERY_BATCH 10	/* codes in a batch */

/* A recovery code at a login: the secret's unused codes and the code's MACs. */
typedef struct ZtRecoveryCheck
{
	int			ncodes;
	unsigned char hash[ZT_RECOVERY_BATCH][ZT_RECOVERY_MAC_LEN];
	unsigned char mac[ZT_RECOVERY_BATCH][ZT_RECOVERY_MAC_LEN];
	int			matched;		/* the code that matched, or -1 */
} ZtRecoveryCheck;

extern bool zt_recovery_code_form(const char *code, size_t len);
extern bool zt_recovery_prepare(const char *secret_uuid, const char *code,
								size_t code_len, ZtRecoveryCheck *rc);
extern bool zt_recovery_match(ZtRecoveryCheck *rc);
extern bool zt_recovery_log_in(const Principal *p, const char *secret_uuid,
							   ZtRecoveryCheck *rc, TimestampTz at, ZtFailure *f);

/* twofactor.c */
extern bool zt_two_factor_enabled(void);
extern void zt_ensure_secret(const Principal *p);
extern bool zt_check_second_factor(const Principal *p, const char *name,
								   ArrayType *system_tags, ZtFailure *f);

#endif							/* ZSTACK_TFA_LIFECYCLE_H */
