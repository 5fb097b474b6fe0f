/*
 * failures.c
 *		Wrong TOTP codes that count even when the caller rolls back.
 *
 * A wrong code must count toward the lockout, and be audited, whatever the
 * caller's transaction does afterwards: otherwise a caller who can roll back
 * (a DO block that raises, a savepoint, a statement that fails after the
 * login call) guesses codes for free.  So a wrong code is recorded by a
 * background worker in a transaction of its own, and the login waits until
 * that transaction has committed before it answers.  It costs a worker start
 * per wrong code, and nothing on the path of a right one.
 *
 * Dynamic background workers need no shared_preload_libraries entry; each
 * takes one of max_worker_processes while it runs (milliseconds).
 */
#include "lifecycle.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

PGDLLEXPORT void zt_failure_worker_main(Datum main_arg);

/* How long to keep asking for a free worker slot before giving up. */
#define SLOT_WAIT_MS 5000

/* What the worker records, and what it found; lives in a DSM segment. */
typedef struct FailureJob
{
	Oid			database;
	Oid			role;			/* the extension's owner: it owns the tables */
	int			max_failed_attempts;
	int			lockout_seconds;
	char		secret_uuid[33];
	char		account_uuid[33];
	char		user_uuid[33];
	bool		iam2;
	/* written by the worker */
	bool		recorded;
	int			failures;
	bool		locked;
} FailureJob;

/*
 * Count one wrong code for the secret, lock 2FA logins once there are
 * max_failed_attempts in a row (a lock that has run out starts a new
 * count), and write the audit row, in the current transaction.  Returns
 * the count, and whether 2FA logins are now locked.
 */
static int
CountWrongCode(const Principal *p, const char *secret_uuid, int max_failed,
			   int lockout_seconds, bool *locked)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {TEXTOID, INT4OID, INT4OID};
	Datum		values[3];
	bool		isnull;
	int			failures;

	values[0] = CStringGetTextDatum(secret_uuid);
	values[1] = Int32GetDatum(max_failed);
	values[2] = Int32GetDatum(lockout_seconds);
	if (SPI_execute_plan(zt_keep_plan(&plan,
									  "UPDATE zstack_tfa.secret SET"
									  " failed_attempts = CASE WHEN locked_until IS NULL"
									  " THEN failed_attempts + 1 ELSE 1 END,"
									  " locked_until = CASE WHEN (CASE WHEN locked_until IS NULL"
									  " THEN failed_attempts + 1 ELSE 1 END) >= $2"
									  " THEN pg_catalog.clock_timestamp() + $3 * interval '1 second' END"
									  " WHERE uuid = $1 RETURNING failed_attempts, locked_until IS NOT NULL",
									  3, types),
						 values, NULL, false, 1) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "secret update failed");
	if (SPI_processed == 0)
	{
		/* the secret went away (reset, switch, user deleted): nothing to count */
		*locked = false;
		zt_audit_secret("login", "wrong_code", "ID.2002", p, NULL, -1);
		return 0;
	}
	failures = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*locked = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	zt_audit_secret("login", *locked ? "wrong_code_locked" : "wrong_code", "ID.2002",
					p, secret_uuid, -1);
	return failures;
}

/*
 * The worker: connect as the extension's owner, record the wrong code in a
 * transaction of its own, report what it found.  Any error ends the worker
 * (with "recorded" still false), and the login records the code itself.
 */
void
zt_failure_worker_main(Datum main_arg)
{
	int			spi_level;
	dsm_segment *seg;
	FailureJob *job;
	Principal	p;
	bool		locked;
	int			failures;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(1);
	job = (FailureJob *) dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(job->database, job->role, 0);
	/* the secret's row is free unless someone holds it for long: then give up */
	SetConfigOption("lock_timeout", "10s", PGC_USERSET, PGC_S_SESSION);

	memset(&p, 0, sizeof(p));
	p.found = true;
	p.iam2 = job->iam2;
	strlcpy(p.uuid, job->user_uuid, sizeof(p.uuid));
	strlcpy(p.account_uuid, job->account_uuid, sizeof(p.account_uuid));

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	spi_level = zt_spi_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "recording a wrong TOTP code");
	failures = CountWrongCode(&p, job->secret_uuid, job->max_failed_attempts,
							  job->lockout_seconds, &locked);
	zt_spi_finish(spi_level);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	job->failures = failures;
	job->locked = locked;
	job->recorded = true;
	dsm_detach(seg);
	proc_exit(0);
}

/*
 * Start the worker for job and wait until it has ended; false when no worker
 * could be started within SLOT_WAIT_MS (every slot busy) or it did not
 * record the code.
 */
static bool
RunWorker(dsm_segment *seg, FailureJob *job)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	int			waited = 0;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "zstack_tfa");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "zt_failure_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "zstack_tfa wrong-code recorder");
	snprintf(worker.bgw_type, BGW_MAXLEN, "zstack_tfa wrong-code recorder");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	while (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		if (waited >= SLOT_WAIT_MS)
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		waited += 10;
	}
	if (WaitForBackgroundWorkerShutdown(handle) != BGWH_STOPPED)
		return false;
	return job->recorded;
}

/*
 * Record a wrong code for p's secret so that it counts even if the caller's
 * transaction rolls back: through a worker, unless this transaction already
 * holds the secret's row (it changed it earlier), when the worker would wait
 * for us while we wait for it; then, and if no worker can be had, the code
 * is counted here, in the caller's transaction.  Returns the count of wrong
 * codes in a row, and whether 2FA logins of p are now locked.
 */
int
zt_record_wrong_code(const Principal *p, const char *secret_uuid, bool row_is_ours,
					 bool *locked)
{
	if (!row_is_ours)
	{
		dsm_segment *seg = dsm_create(sizeof(FailureJob), 0);
		FailureJob *job = (FailureJob *) dsm_segment_address(seg);

		memset(job, 0, sizeof(FailureJob));
		job->database = MyDatabaseId;
		job->role = GetUserId();
		job->max_failed_attempts = zt_max_failed_attempts;
		job->lockout_seconds = zt_lockout_seconds;
		strlcpy(job->secret_uuid, secret_uuid, sizeof(job->secret_uuid));
		strlcpy(job->account_uuid, p->account_uuid, sizeof(job->account_uuid));
		strlcpy(job->user_uuid, p->uuid, sizeof(job->user_uuid));
		job->iam2 = p->iam2;
		if (RunWorker(seg, job))
		{
			int			failures = job->failures;

			*locked = job->locked;
			dsm_detach(seg);
			return failures;
		}
		dsm_detach(seg);
		ereport(WARNING,
				(errmsg("zstack_tfa could not record a wrong TOTP code in a transaction of its own"),
				 errdetail("It is counted in the caller's transaction, which may roll it back."),
				 errhint("Check max_worker_processes, and that the extension's owner may log in.")));
	}
	return CountWrongCode(p, secret_uuid, zt_max_failed_attempts, zt_lockout_seconds, locked);
}
