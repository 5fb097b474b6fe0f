/*
 * principal.c
 *		Accounts and IAM2 users as principals: looking them up, checking their
 *		passwords, and the audit log of authentication events.
 */
#include "lifecycle.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/*
 * From libpq/scram.h, whose includes need the GSSAPI headers (libkrb5-dev)
 * that a PGXS build otherwise does without; these two are stable in PG 15.
 */
extern char *pg_be_scram_build_secret(const char *password);
extern bool scram_verify_plain_password(const char *username,
										const char *password,
										const char *secret);

/* A salted, slow verifier: PostgreSQL's own SCRAM-SHA-256 secret. */
char *
zt_password_verifier(const char *password)
{
	return pg_be_scram_build_secret(password);
}

/*
 * The verifier an unknown name is checked against: a SCRAM-SHA-256 secret of
 * a random password nobody kept, with the 4,096 rounds every stored verifier
 * has in PostgreSQL 15.  It is compiled in rather than built on the first
 * unknown name a backend sees, since building one costs a second PBKDF2 and
 * made that first call slower than a known name's (issue 18, item 5;
 * t/014_unknown_name_timing.pl).  Its result is never used.
 */
static const char unknown_name_verifier[] =
"SCRAM-SHA-256$4096:o/P5N4BJs1n3X4k34j6Upg==$"
"iXtsK7EmwWf5aaSrqeDQmKidv21k8JTeWciHIfGsZMA=:"
"r3sLAPGMLhKQsuIKakGzr5I3r3fe4WoYo9AjspJDrmY=";

/*
 * Check a password in time that does not tell whether the principal exists:
 * an unknown name is checked against a verifier of the same cost.
 */
static bool
VerifyPassword(const Principal *p, const char *password)
{
	if (strlen(password) > ZT_MAX_PASSWORD_LEN)
		return false;			/* never stored, so never right: skip the work */
	if (p->found && p->password_hash != NULL)
		return scram_verify_plain_password("zstack_tfa", password, p->password_hash);
	(void) scram_verify_plain_password("zstack_tfa", password, unknown_name_verifier);
	return false;
}

/* Look up the principal named name; p->found says whether it exists. */
void
zt_load_principal(const char *name, bool iam2, Principal *p)
{
	static SPIPlanPtr account_plan = NULL;
	static SPIPlanPtr iam2_plan = NULL;
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(name);
	SPIPlanPtr	plan;
	HeapTuple	tup;
	TupleDesc	desc;

	if (iam2)
		plan = zt_keep_plan(&iam2_plan,
							"SELECT uuid, account_uuid, password_hash"
							" FROM zstack_tfa.iam2_virtual_id WHERE name = $1",
							1, &type);
	else
		plan = zt_keep_plan(&account_plan,
							"SELECT uuid, uuid, password_hash"
							" FROM zstack_tfa.account WHERE name = $1",
							1, &type);
	if (SPI_execute_plan(plan, &value, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "principal lookup failed");
	memset(p, 0, sizeof(*p));
	p->iam2 = iam2;
	if (SPI_processed == 0)
		return;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	p->found = true;
	strlcpy(p->uuid, SPI_getvalue(tup, desc, 1), sizeof(p->uuid));
	strlcpy(p->account_uuid, SPI_getvalue(tup, desc, 2), sizeof(p->account_uuid));
	p->password_hash = SPI_getvalue(tup, desc, 3);
}

/*
 * Load the principal named name and check its password.  Every bad
 * credential gets the same ID.1000 answer, audited under kind (and, when a
 * session acts on another user's behalf, under that session's user).
 */
bool
zt_check_credentials_for(const char *name, const char *password, bool iam2,
						 const char *kind, const ZtCaller *actor, Principal *p,
						 ZtFailure *f)
{
	zt_load_principal(name, iam2, p);
	if (VerifyPassword(p, password))
		return true;
	/* one answer for unknown name and wrong password: no user probing */
	zt_fail(f, ZT_ERR_ID_1000, "wrong %s name or password", iam2 ? "IAM2 virtual ID" : "account");
	zt_audit_by(kind, "bad_credentials", "ID.1000", p, NULL, actor);
	return false;
}

/* zt_check_credentials_for() of a principal acting for itself. */
bool
zt_check_credentials(const char *name, const char *password, bool iam2,
				 const char *kind, Principal *p, ZtFailure *f)
{
	return zt_check_credentials_for(name, password, iam2, kind, NULL, p, f);
}

/*
 * True when the audit log has the columns of 1.2 that name who acted.  The
 * library is replaced before ALTER EXTENSION ... UPDATE runs; until then
 * events are written without them.  A syscache probe, which DDL invalidates.
 */
static bool
AuditHasActor(void)
{
	Oid			relid = get_relname_relid("auth_event", zt_schema_oid());

	return OidIsValid(relid) &&
		SearchSysCacheExistsAttName(relid, "actor_user_uuid");
}

/*
 * Record an authentication event.  Only fixed words, uuids and a time step
 * number go in: never a secret, a code, a password or a name someone typed.
 * actor, when not NULL, is the session that acted on p (a reset), stored
 * as its account and user.
 */
static void
AuditEvent(const char *kind, const char *outcome, const char *zstack_code,
		   const Principal *p, const char *secret_uuid, int64 step,
		   const ZtCaller *actor)
{
	static SPIPlanPtr plan = NULL;
	static SPIPlanPtr actor_plan = NULL;
	Oid			types[10] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID,
	TEXTOID, TEXTOID};
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		known = (p != NULL && p->found);
	bool		with_actor = (actor != NULL && AuditHasActor());

	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(outcome);
	values[2] = zstack_code ? CStringGetTextDatum(zstack_code) : (Datum) 0;
	values[3] = known ? CStringGetTextDatum(p->account_uuid) : (Datum) 0;
	values[4] = known ? CStringGetTextDatum(p->uuid) : (Datum) 0;
	values[5] = known ? CStringGetTextDatum(p->iam2 ? "IAM2VirtualIDVO" : "AccountVO") : (Datum) 0;
	values[6] = secret_uuid ? CStringGetTextDatum(secret_uuid) : (Datum) 0;
	values[7] = Int64GetDatum(step);
	values[8] = with_actor ? CStringGetTextDatum(actor->account_uuid) : (Datum) 0;
	values[9] = with_actor ? CStringGetTextDatum(actor->user_uuid) : (Datum) 0;
	if (!zstack_code)
		nulls[2] = 'n';

	/*
	 * The transaction has its id before the row has its own: the metrics'
	 * horizon (roll_up_logins, 1.4) relies on every audit row's transaction
	 * being older than any id taken after the row's.  Where no id can be
	 * had (a standby, a read-only transaction) the insert fails as before.
	 */
	if (!RecoveryInProgress() && !XactReadOnly)
		(void) GetCurrentTransactionId();
	if (!known)
		nulls[3] = nulls[4] = nulls[5] = 'n';
	if (!secret_uuid)
		nulls[6] = 'n';
	if (step < 0)
		nulls[7] = 'n';
	if (with_actor)
	{
		if (SPI_execute_plan(zt_keep_plan(&actor_plan,
										  "INSERT INTO zstack_tfa.auth_event (kind, outcome, error_code,"
										  " account_uuid, user_uuid, user_type, secret_uuid, totp_step,"
										  " actor_account_uuid, actor_user_uuid)"
										  " VALUES ($1::zstack_tfa.auth_event_kind, $2, $3, $4, $5,"
										  " $6::zstack_tfa.user_type, $7, $8, $9, $10)",
										  10, types),
							 values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "audit insert failed");
		return;
	}
	if (SPI_execute_plan(zt_keep_plan(&plan,
									  "INSERT INTO zstack_tfa.auth_event (kind, outcome, error_code,"
									  " account_uuid, user_uuid, user_type, secret_uuid, totp_step)"
									  " VALUES ($1::zstack_tfa.auth_event_kind, $2, $3, $4, $5,"
									  " $6::zstack_tfa.user_type, $7, $8)",
									  8, types),
						 values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "audit insert failed");
}

/* Record an authentication event of p, about one of its secrets. */
void
zt_audit_secret(const char *kind, const char *outcome, const char *zstack_code,
			const Principal *p, const char *secret_uuid, int64 step)
{
	AuditEvent(kind, outcome, zstack_code, p, secret_uuid, step, NULL);
}

/* An audit event that concerns no particular secret. */
void
zt_audit(const char *kind, const char *outcome, const char *zstack_code,
	  const Principal *p)
{
	AuditEvent(kind, outcome, zstack_code, p, NULL, -1, NULL);
}

/* An event a session caused for the principal p (a reset of p's secret). */
void
zt_audit_by(const char *kind, const char *outcome, const char *zstack_code,
			const Principal *p, const char *secret_uuid, const ZtCaller *actor)
{
	AuditEvent(kind, outcome, zstack_code, p, secret_uuid, -1, actor);
}
