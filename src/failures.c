/*
 * failures.c
 *		Wrong TOTP codes, recorded before the caller hears of them.
 *
 * A wrong code must count toward the lockout whatever the caller does next:
 * roll back, cancel, time out, disconnect.  So a code is compared only once a
 * place to record it is held: a slot in the queue of the database's
 * recorder, a background worker that writes each wrong code in a transaction
 * of its own.  The comparison and the hand-over of a wrong code run with
 * interrupts held, so no cancel, timeout or termination falls between them.
 * Once handed over, a wrong code is the recorder's: it records it whatever
 * becomes of the caller, and when its transaction fails (a row lock held
 * elsewhere past its lock_timeout, say) it tries again, with a growing pause,
 * until it succeeds.  While a user has a wrong code in the queue, no other
 * code of that user is compared (zt_await_user_recorded): the next code is
 * compared against the new count or not at all.  The caller is answered
 * only once the count is committed (durably, on a synchronous standby too):
 * a cancel waits for it, and a termination ends the call unanswered.  When
 * no recorder can be had (every worker slot taken), a code is refused before
 * it is compared, right and wrong alike, so the refusal tells nothing.  A
 * recorder that ends with wrong codes unwritten (only a superuser can end
 * it) leaves them in a file, the owed codes, which the next recorder writes
 * before it takes any code; until then no code of their users is compared.
 */
#include "lifecycle.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "common/file_perm.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

PGDLLEXPORT void zt_recorder_main(Datum main_arg);

PG_FUNCTION_INFO_V1(recorder_state);

#define RECORDER_MAGIC UINT64CONST(0x7a74726563303033)
/* slots beyond one per backend, for codes whose callers have gone */
#define RECORDER_SPARE_SLOTS 64
#define RECORDER_ROLE "zstack_tfa_recorder"
#define RECORDER_DIR "pg_zstack_tfa"
/* how long a login waits for a recorder to start, or for a free slot */
#define START_WAIT_MS 2000
/* a recorder with nothing to do for this long ends, freeing its slot */
#define IDLE_EXIT_MS 60000
/* pauses between the recorder's tries of a code it could not record */
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 5000

/* One wrong code on its way to the recorder. */
typedef struct RecorderSlot
{
	bool		in_use;			/* claimed by owner_procno */
	bool		pending;		/* handed over, not yet processed */
	bool		done;			/* processed; the fields below are set */
	bool		owner_gone;		/* the owner aborted: free it once processed */
	int			owner_procno;
	int			max_failed_attempts;
	int			lockout_seconds;
	char		secret_uuid[33];
	char		account_uuid[33];
	char		user_uuid[33];
	bool		iam2;
	bool		replay;			/* the code was one of an already accepted step */
	bool		recorded;
	int			failures;
	bool		locked;
	int			tries;			/* the recorder's failed tries so far */
	TimestampTz retry_at;		/* not before this, after a failed try */
} RecorderSlot;

/* The recorder's DSM segment. */
typedef struct Recorder
{
	uint64		magic;
	Oid			database;
	Oid			owner;			/* connects as the extension's owner ... */
	Oid			run_as;			/* ... and runs every statement as this role */
	slock_t		mutex;
	bool		accepting;		/* ready, and not ending */
	bool		ended;			/* ended, its unwritten codes owed */
	int			procno;
	/* for recorder_state() and the metrics: since this recorder started */
	int64		recorded_codes; /* wrong codes committed */
	int64		failed_tries;	/* tries that failed and were repeated */
	int			nslots;			/* one per backend, and spares */
	RecorderSlot slots[FLEXIBLE_ARRAY_MEMBER];
} Recorder;

#define RecorderSize(nslots) \
	(offsetof(Recorder, slots) + (Size) (nslots) * sizeof(RecorderSlot))

static dsm_segment *recorder_seg = NULL;
static Recorder *recorder = NULL;
static int	my_slot = -1;
static int	my_slot_level = 0;	/* the (sub)transaction level that claimed it */

/*
 * Count one wrong code for the secret, lock 2FA logins once there are
 * max_failed_attempts in a row (a lock that has run out starts a new
 * count; one still in force is kept as it is, however late the code is
 * written), and write the audit row, in the current transaction.  Returns
 * the count, and whether 2FA logins are now locked.
 */
static int
CountWrongCode(const Principal *p, const char *secret_uuid, int max_failed,
			   int lockout_seconds, bool replay, bool *locked)
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
									  " failed_attempts = CASE WHEN locked_until"
									  " OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp()"
									  " THEN 1 ELSE failed_attempts OPERATOR(pg_catalog.+) 1 END,"
									  " locked_until = CASE WHEN locked_until"
									  " OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp() THEN locked_until"
									  " WHEN (CASE WHEN locked_until OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp()"
									  " THEN 1 ELSE failed_attempts OPERATOR(pg_catalog.+) 1 END)"
									  " OPERATOR(pg_catalog.>=) $2"
									  " THEN pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)"
									  " pg_catalog.make_interval(secs => $3) END"
									  " WHERE uuid OPERATOR(pg_catalog.=) $1"
									  " RETURNING failed_attempts, locked_until IS NOT NULL",
									  3, types),
						 values, NULL, false, 1) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "secret update failed");
	if (SPI_processed == 0)
	{
		/* the secret went away (reset, switch, user deleted): nothing to count */
		*locked = false;
		zt_audit_secret("login", replay ? "replay" : "wrong_code", "ID.2002", p, NULL, -1);
		return 0;
	}
	failures = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*locked = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	/* a replay counts as a wrong code; the code that locks is named so */
	zt_audit_secret("login", *locked ? "wrong_code_locked" : replay ? "replay" : "wrong_code",
					"ID.2002", p, secret_uuid, -1);
	return failures;
}

/* The file that names the recorder of this database. */
static char *
HandleFilePath(Oid database)
{
	return psprintf(RECORDER_DIR "/recorder.%u", database);
}

/* ---------------------------------------------------------------------------
 * Owed codes: wrong codes handed over to a recorder that ended before it
 * wrote them.  One file a database, fixed-size records, each write under an
 * exclusive flock and fsynced; the next recorder writes them before it takes
 * any code, and empties the file.
 * ---------------------------------------------------------------------------
 */
#define OWED_MAGIC UINT64CONST(0x7a746f7765643031)

typedef struct OwedCode
{
	uint64		magic;
	char		secret_uuid[33];
	char		account_uuid[33];
	char		user_uuid[33];
	bool		iam2;
	int			max_failed_attempts;
	int			lockout_seconds;
} OwedCode;

static char *
OwedFilePath(Oid database)
{
	return psprintf(RECORDER_DIR "/owed.%u", database);
}

/*
 * Append the wrong codes of n slots to the owed file; false when that could
 * not be done (the codes are then lost, and the server log says so).  No
 * ereport inside: it also runs on the recorder's way out.
 */
static bool
SaveOwed(Oid database, const RecorderSlot *slots, int n)
{
	char	   *path = OwedFilePath(database);
	int			fd;
	bool		ok = true;

	if (n == 0)
		return true;
	(void) MakePGDirectory(RECORDER_DIR);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | PG_BINARY, pg_file_create_mode);
	if (fd < 0 || flock(fd, LOCK_EX) != 0)
		ok = false;
	for (int i = 0; ok && i < n; i++)
	{
		OwedCode	c;

		memset(&c, 0, sizeof(c));
		c.magic = OWED_MAGIC;
		strlcpy(c.secret_uuid, slots[i].secret_uuid, sizeof(c.secret_uuid));
		strlcpy(c.account_uuid, slots[i].account_uuid, sizeof(c.account_uuid));
		strlcpy(c.user_uuid, slots[i].user_uuid, sizeof(c.user_uuid));
		c.iam2 = slots[i].iam2;
		c.max_failed_attempts = slots[i].max_failed_attempts;
		c.lockout_seconds = slots[i].lockout_seconds;
		ok = write(fd, &c, sizeof(c)) == (ssize_t) sizeof(c);
	}
	if (ok)
		ok = pg_fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	if (!ok)
		elog(LOG, "zstack_tfa: %d wrong code(s) of a recorder that ended could not be saved in \"%s\": %m",
			 n, path);
	pfree(path);
	return ok;
}

/*
 * Read the owed codes of this database.  With rec: take them into its free
 * slots (as handed over by callers that have gone) and empty the file;
 * true when any was taken.  Without: true when one of them is user_uuid's.
 */
static bool
ReadOwed(Recorder *rec, const char *user_uuid)
{
	char	   *path = OwedFilePath(rec != NULL ? rec->database : MyDatabaseId);
	int			fd;
	bool		found = false;
	bool		all_taken = true;
	OwedCode	c;

	fd = open(path, (rec != NULL ? O_RDWR : O_RDONLY) | PG_BINARY, 0);
	pfree(path);
	if (fd < 0)
		return false;			/* none ever owed */
	if (flock(fd, rec != NULL ? LOCK_EX : LOCK_SH) != 0)
	{
		close(fd);
		/* cannot tell: as if owed (a user's codes wait, never the reverse) */
		return user_uuid != NULL;
	}
	while (read(fd, &c, sizeof(c)) == (ssize_t) sizeof(c))
	{
		bool		taken = false;

		if (c.magic != OWED_MAGIC)
			continue;
		c.user_uuid[32] = c.secret_uuid[32] = c.account_uuid[32] = '\0';
		if (rec == NULL)
		{
			found |= strcmp(c.user_uuid, user_uuid) == 0;
			continue;
		}
		SpinLockAcquire(&rec->mutex);
		for (int i = 0; i < rec->nslots && !taken; i++)
		{
			RecorderSlot *slot = &rec->slots[i];

			if (slot->in_use)
				continue;
			memset(slot, 0, sizeof(RecorderSlot));
			strlcpy(slot->secret_uuid, c.secret_uuid, sizeof(slot->secret_uuid));
			strlcpy(slot->account_uuid, c.account_uuid, sizeof(slot->account_uuid));
			strlcpy(slot->user_uuid, c.user_uuid, sizeof(slot->user_uuid));
			slot->iam2 = c.iam2;
			slot->max_failed_attempts = c.max_failed_attempts;
			slot->lockout_seconds = c.lockout_seconds;
			slot->owner_gone = true;
			slot->pending = true;
			slot->in_use = true;
			taken = true;
		}
		SpinLockRelease(&rec->mutex);
		found |= taken;
		all_taken &= taken;
	}

	/*
	 * Taken into the queue: should this recorder end too, it owes them again.
	 * When the queue had no room for some, the file stays as it is, and those
	 * taken may count twice (more, never fewer).
	 */
	if (rec != NULL && found && all_taken &&
		(ftruncate(fd, 0) != 0 || pg_fsync(fd) != 0))
		elog(LOG, "zstack_tfa: the owed wrong codes could not be emptied: %m");
	close(fd);
	return found;
}

static void
SetProcLatch(int procno)
{
	SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

/* ---------------------------------------------------------------------------
 * The recorder (a background worker)
 * ---------------------------------------------------------------------------
 */

/*
 * Record the wrong code of one slot in a transaction of its own, as the
 * recorder role.  Any error is caught: the slot stays pending, to be tried
 * again after a pause that doubles with each failed try, and the recorder
 * goes on serving the others.
 */
static void
RecordOne(Recorder *rec, RecorderSlot *slot)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	RecorderSlot job;
	Principal	p;
	volatile bool locked = false;
	volatile int failures = 0;
	volatile bool recorded = false;

	SpinLockAcquire(&rec->mutex);
	job = *slot;
	SpinLockRelease(&rec->mutex);
	memset(&p, 0, sizeof(p));
	p.found = true;
	p.iam2 = job.iam2;
	strlcpy(p.uuid, job.user_uuid, sizeof(p.uuid));
	strlcpy(p.account_uuid, job.account_uuid, sizeof(p.account_uuid));

	PG_TRY();
	{
		Oid			save_uid;
		int			save_ctx;
		int			spi_level;
		bool		now_locked;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		GetUserIdAndSecContext(&save_uid, &save_ctx);
		SetUserIdAndSecContext(rec->run_as, save_ctx | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		spi_level = zt_spi_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "recording a wrong TOTP code");
		failures = CountWrongCode(&p, job.secret_uuid, job.max_failed_attempts,
								  job.lockout_seconds, job.replay, &now_locked);
		locked = now_locked;
		PopActiveSnapshot();
		zt_spi_finish(spi_level);
		SetUserIdAndSecContext(save_uid, save_ctx);

		/*
		 * No cancel while committing: one would cut the commit's wait for
		 * the synchronous standby short, and the count would be answered
		 * before the standby has it.  (SIGINT is also how lock_timeout
		 * ends a try, so it is ignored for the commit only.)
		 */
		pqsignal(SIGINT, SIG_IGN);
		CommitTransactionCommand();
		pqsignal(SIGINT, StatementCancelHandler);
		/*
		 * A termination cuts the commit's wait for the synchronous standby
		 * short: the count is on this node only.  Not done, then: the slot
		 * stays pending, is owed to the next recorder and counted again
		 * there (one count too many, never one too few).
		 */
		recorded = !ProcDiePending;
	}
	PG_CATCH();
	{
		pqsignal(SIGINT, StatementCancelHandler);
		MemoryContextSwitchTo(oldcxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	pgstat_report_activity(STATE_IDLE, NULL);

	SpinLockAcquire(&rec->mutex);
	if (!recorded)
	{
		int			pause = RETRY_FIRST_MS << Min(slot->tries, 6);

		/* still pending: tried again later, the user's codes refused meanwhile */
		slot->tries++;
		rec->failed_tries++;
		slot->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 Min(pause, RETRY_MAX_MS));
		SpinLockRelease(&rec->mutex);
		return;
	}
	rec->recorded_codes++;
	slot->recorded = true;
	slot->failures = failures;
	slot->locked = locked;
	slot->pending = false;
	slot->done = true;
	if (slot->owner_gone)
		slot->in_use = false;
	else
		SetProcLatch(slot->owner_procno);
	SpinLockRelease(&rec->mutex);
}

/*
 * On the recorder's way out, however it ends: take no more codes, wake
 * whoever waits (they see the recorder gone), forget the handle file and
 * let the segment go.
 */
static void
RecorderExit(int code, Datum arg)
{
	dsm_segment *seg = (dsm_segment *) DatumGetPointer(arg);
	Recorder   *rec = (Recorder *) dsm_segment_address(seg);
	char	   *path = HandleFilePath(rec->database);
	RecorderSlot *owed = MemoryContextAlloc(TopMemoryContext,
											rec->nslots * sizeof(RecorderSlot));
	int			nowed = 0;
	FILE	   *f;
	unsigned int named = 0;

	/*
	 * Codes whose callers have gone are saved here; a caller still waiting
	 * saves its own (zt_await_wrong_code), under its user's lock, and so
	 * does one that goes from now on (LetGoOfSlot sees accepting false).
	 */
	SpinLockAcquire(&rec->mutex);
	rec->accepting = false;
	for (int i = 0; i < rec->nslots; i++)
		if (rec->slots[i].in_use && rec->slots[i].pending && rec->slots[i].owner_gone)
		{
			owed[nowed++] = rec->slots[i];
			rec->slots[i].in_use = false;
		}
	SpinLockRelease(&rec->mutex);
	(void) SaveOwed(rec->database, owed, nowed);
	SpinLockAcquire(&rec->mutex);
	rec->ended = true;
	for (int i = 0; i < rec->nslots; i++)
		if (rec->slots[i].in_use && !rec->slots[i].owner_gone)
			SetProcLatch(rec->slots[i].owner_procno);
	SpinLockRelease(&rec->mutex);
	f = AllocateFile(path, "r");
	if (f != NULL)
	{
		if (fscanf(f, "%u", &named) != 1)
			named = 0;
		FreeFile(f);
		if (named == dsm_segment_handle(seg))
			unlink(path);
	}
	dsm_unpin_segment(dsm_segment_handle(seg));
}

/* Leave the segment's handle where the backends of the database look. */
static void
PublishHandle(dsm_handle handle)
{
	char	   *path = HandleFilePath(MyDatabaseId);
	char	   *tmp = psprintf("%s.tmp", path);
	FILE	   *f;

	if (MakePGDirectory(RECORDER_DIR) < 0 && errno != EEXIST)
		elog(ERROR, "could not create directory \"%s\": %m", RECORDER_DIR);
	f = AllocateFile(tmp, "w");
	if (f == NULL)
		elog(ERROR, "could not write \"%s\": %m", tmp);
	fprintf(f, "%u\n", handle);
	if (FreeFile(f) != 0 || rename(tmp, path) != 0)
		elog(ERROR, "could not write \"%s\": %m", path);
}

/*
 * The recorder's main loop: connect, pin the settings a database owner could
 * otherwise choose for it, then record each handed-over wrong code until a
 * minute passes with nothing to do.
 */
void
zt_recorder_main(Datum main_arg)
{
	dsm_segment *seg;
	Recorder   *rec;
	TimestampTz last_work;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);
	rec = (Recorder *) dsm_segment_address(seg);
	before_shmem_exit(RecorderExit, PointerGetDatum(seg));
	BackgroundWorkerInitializeConnectionByOid(rec->database, rec->owner, 0);

	zt_pin_search_path();
	{
		const char *const timeouts[] = ZT_SESSION_TIMEOUTS;

		for (int i = 0; i < (int) lengthof(timeouts); i++)
			SetConfigOption(timeouts[i], "0", PGC_SUSET, PGC_S_OVERRIDE);
	}
	/* a row lock held elsewhere delays one try, not the whole queue */
	SetConfigOption("lock_timeout", "200ms", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	/* never weaker than "on" (a server that asks remote_apply keeps it) */
	if (strcmp(GetConfigOption("synchronous_commit", false, false), "remote_apply") != 0)
		SetConfigOption("synchronous_commit", "on", PGC_SUSET, PGC_S_OVERRIDE);
	/* an error is caught and tried again, never the end of the recorder */
	SetConfigOption("exit_on_error", "off", PGC_SUSET, PGC_S_OVERRIDE);

	StartTransactionCommand();
	PublishHandle(dsm_segment_handle(seg));
	CommitTransactionCommand();

	/*
	 * What an earlier recorder could not write comes first: no code is taken
	 * (none of anyone's compared) until every owed one is written.
	 */
	SpinLockAcquire(&rec->mutex);
	rec->procno = zt_my_procno();
	SpinLockRelease(&rec->mutex);
	if (ReadOwed(rec, NULL))
		for (;;)
		{
			bool		left = false;
			TimestampTz nowts = GetCurrentTimestamp();

			for (int i = 0; i < rec->nslots; i++)
			{
				RecorderSlot *slot = &rec->slots[i];
				bool		take;

				SpinLockAcquire(&rec->mutex);
				take = slot->in_use && slot->pending &&
					(slot->tries == 0 || slot->retry_at <= nowts);
				left |= slot->in_use && slot->pending;
				SpinLockRelease(&rec->mutex);
				if (take)
					RecordOne(rec, slot);
			}
			if (!left)
				break;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 RETRY_FIRST_MS / 2, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}

	SpinLockAcquire(&rec->mutex);
	rec->accepting = true;
	SpinLockRelease(&rec->mutex);
	last_work = GetCurrentTimestamp();

	for (;;)
	{
		bool		worked = false;
		bool		busy = false;
		bool		retrying = false;
		TimestampTz loop_start = GetCurrentTimestamp();

		/* codes owed by a recorder that ended after this one started */
		worked |= ReadOwed(rec, NULL);
		for (int i = 0; i < rec->nslots; i++)
		{
			RecorderSlot *slot = &rec->slots[i];
			bool		take;

			SpinLockAcquire(&rec->mutex);
			take = slot->in_use && slot->pending;
			if (take && slot->tries > 0 && slot->retry_at > loop_start)
			{
				take = false;
				retrying = true;
			}
			busy |= slot->in_use;
			SpinLockRelease(&rec->mutex);
			if (!take)
				continue;
			RecordOne(rec, slot);
			worked = true;
		}
		if (worked || busy)
			last_work = GetCurrentTimestamp();
		else if (TimestampDifferenceExceeds(last_work, GetCurrentTimestamp(), IDLE_EXIT_MS))
		{
			bool		idle = true;

			/* end only when no slot is claimed, deciding under the mutex */
			SpinLockAcquire(&rec->mutex);
			for (int i = 0; i < rec->nslots; i++)
				idle &= !rec->slots[i].in_use;
			if (idle)
				rec->accepting = false;
			SpinLockRelease(&rec->mutex);
			if (idle)
				proc_exit(0);
		}
		if (worked)
			continue;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 retrying ? RETRY_FIRST_MS / 2 : 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ---------------------------------------------------------------------------
 * The backends' side
 * ---------------------------------------------------------------------------
 */

/* Is the attached recorder still taking codes? */
static bool
RecorderAccepting(void)
{
	bool		accepting;

	SpinLockAcquire(&recorder->mutex);
	accepting = recorder->accepting;
	SpinLockRelease(&recorder->mutex);
	return accepting;
}

static void
DetachRecorder(void)
{
	if (recorder_seg != NULL)
		dsm_detach(recorder_seg);
	recorder_seg = NULL;
	recorder = NULL;
}

/* Attach to the database's recorder, if one is running and taking codes. */
static bool
AttachRecorder(void)
{
	char	   *path;
	FILE	   *f;
	unsigned int handle;
	dsm_segment *seg;

	if (recorder != NULL && RecorderAccepting())
		return true;
	DetachRecorder();
	path = HandleFilePath(MyDatabaseId);
	f = AllocateFile(path, "r");
	pfree(path);
	if (f == NULL)
		return false;
	if (fscanf(f, "%u", &handle) != 1)
		handle = 0;
	FreeFile(f);
	if (handle == 0)
		return false;
	seg = dsm_attach(handle);
	if (seg == NULL)
		return false;
	dsm_pin_mapping(seg);
	recorder_seg = seg;
	recorder = (Recorder *) dsm_segment_address(seg);
	/* a stale file may name a segment that is not (or no longer) a recorder's */
	if (dsm_segment_map_length(seg) < offsetof(Recorder, slots) ||
		recorder->magic != RECORDER_MAGIC || recorder->database != MyDatabaseId ||
		dsm_segment_map_length(seg) < RecorderSize(recorder->nslots) ||
		!RecorderAccepting())
	{
		DetachRecorder();
		return false;
	}
	return true;
}

/* Start the recorder, under the lock StartRecorder holds. */
static bool
StartRecorderLocked(void)
{
	int			nslots;
	Oid			run_as;
	dsm_segment *seg;
	Recorder   *rec;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;
	int			waited = 0;

	if (AttachRecorder())
		return true;			/* another backend started one meanwhile */
	run_as = get_role_oid(RECORDER_ROLE, true);
	if (!OidIsValid(run_as))
		return false;

	/* a slot for each backend's code in flight, so logins alone never fill it */
	nslots = MaxBackends + RECORDER_SPARE_SLOTS;
	seg = dsm_create(RecorderSize(nslots), 0);
	rec = (Recorder *) dsm_segment_address(seg);
	memset(rec, 0, RecorderSize(nslots));
	rec->nslots = nslots;
	rec->magic = RECORDER_MAGIC;
	rec->database = MyDatabaseId;
	/* inside the SECURITY DEFINER login function: the extension's owner */
	rec->owner = GetUserId();
	rec->run_as = run_as;
	SpinLockInit(&rec->mutex);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "zstack_tfa");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "zt_recorder_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "zstack_tfa wrong-code recorder");
	snprintf(worker.bgw_type, BGW_MAXLEN, "zstack_tfa wrong-code recorder");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	/* the recorder lets the segment go when it ends */
	dsm_pin_segment(seg);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		dsm_unpin_segment(dsm_segment_handle(seg));
		dsm_detach(seg);
		return false;
	}
	dsm_pin_mapping(seg);
	recorder_seg = seg;
	recorder = rec;
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
	{
		DetachRecorder();
		return false;
	}
	while (!RecorderAccepting())
	{
		if (waited >= START_WAIT_MS || GetBackgroundWorkerPid(handle, &pid) != BGWH_STARTED)
		{
			/* one that comes up late must not serve beside the next one */
			TerminateBackgroundWorker(handle);
			DetachRecorder();
			return false;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		waited += 10;
	}
	return true;
}

/*
 * Start the database's recorder and wait until it takes codes; one backend at
 * a time starts one.  The lock that says so is a session lock, given back as
 * soon as the recorder runs (or could not be started): a transaction kept
 * open after its login does not keep others from starting the next recorder.
 * It is taken without waiting, polled for at most START_WAIT_MS.  False when
 * no worker slot could be had, the recorder role is missing, or another
 * backend is still starting one.
 */
static bool
StartRecorder(void)
{
	LOCKTAG		tag;
	volatile bool started = false;
	int			waited = 0;

	/* field4 4: a space of its own, apart from pg_advisory_lock's 1 and 2 */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 0x7a74, 4);
	while (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		if (waited >= START_WAIT_MS)
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		waited += 10;
	}
	PG_TRY();
	{
		started = StartRecorderLocked();
	}
	PG_FINALLY();
	{
		LockRelease(&tag, ExclusiveLock, true);
	}
	PG_END_TRY();
	return started;
}

/*
 * Give the claimed slot back, or, when it holds a wrong code not yet
 * recorded, leave that to the recorder, which frees it once recorded.
 */
static void
LetGoOfSlot(void)
{
	RecorderSlot mine;
	bool		save = false;

	SpinLockAcquire(&recorder->mutex);
	mine = recorder->slots[my_slot];
	if (mine.pending && !recorder->accepting)
	{
		/* the recorder is ending and may have looked already: saved here */
		save = true;
		recorder->slots[my_slot].pending = false;
		recorder->slots[my_slot].in_use = false;
	}
	else if (mine.pending)
		recorder->slots[my_slot].owner_gone = true;
	else
		recorder->slots[my_slot].in_use = false;
	SpinLockRelease(&recorder->mutex);
	my_slot = -1;
	if (save)
		(void) SaveOwed(MyDatabaseId, &mine, 1);
}

/* A claimed slot goes back when the transaction that claimed it fails. */
static void
ReleaseOnAbort(XactEvent event, void *arg)
{
	if (my_slot < 0 || recorder == NULL ||
		(event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT))
		return;
	LetGoOfSlot();
}

/* ... and when the subtransaction that claimed it fails (an EXCEPTION block). */
static void
ReleaseOnSubAbort(SubXactEvent event, SubTransactionId mySubid,
				  SubTransactionId parentSubid, void *arg)
{
	if (my_slot < 0 || recorder == NULL || event != SUBXACT_EVENT_ABORT_SUB ||
		my_slot_level < GetCurrentTransactionNestLevel())
		return;
	LetGoOfSlot();
}

/*
 * Set by zt_commit_durably(): this transaction marked a TOTP step as used
 * or spent a recovery code.
 */
static bool durable_commit = false;

/*
 * Such a transaction commits with at least synchronous_commit = on, whatever
 * the caller (or ALTER ROLE ... SET) chose: a step that only the primary had
 * when it answered would be accepted again by a standby promoted after it
 * (test/ha/run.sh).  Set at the commit itself, since a function's SET
 * clauses and GUC levels end before it, and for that transaction only (its
 * end restores the caller's value, as for SET LOCAL).
 */
static void
DurableCommit(XactEvent event, void *arg)
{
	if (!durable_commit)
		return;
	if (event == XACT_EVENT_PRE_COMMIT && synchronous_commit < SYNCHRONOUS_COMMIT_REMOTE_FLUSH)
		(void) set_config_option("synchronous_commit", "on", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE ||
		event == XACT_EVENT_ABORT)
		durable_commit = false;
}

static void
RegisterCallbacks(void)
{
	static bool registered = false;

	if (registered)
		return;
	RegisterXactCallback(ReleaseOnAbort, NULL);
	RegisterXactCallback(DurableCommit, NULL);
	RegisterSubXactCallback(ReleaseOnSubAbort, NULL);
	registered = true;
}

/*
 * This transaction has marked a TOTP step as used or spent a recovery code:
 * it commits only once a synchronous standby has it (DurableCommit).
 */
void
zt_commit_durably(void)
{
	RegisterCallbacks();
	durable_commit = true;
}

/*
 * Wait, interruptibly and for at most START_WAIT_MS of wall time (recorders
 * started meanwhile included: an owed code that cannot be written must not
 * hold every login for minutes), until the recorder holds
 * no wrong code of this user that it has not yet committed: one handed over
 * by a login that was then cancelled or timed out, or one the recorder could
 * not yet write.  Called under the user's second-factor lock, before the
 * user's secret row is read, so that the next code is compared against the
 * count that includes it.  False, with the refusal in f, when it is still
 * there: the code must then not be compared.
 */
bool
zt_await_user_recorded(const char *user_uuid, ZtFailure *f)
{
	TimestampTz began = GetCurrentTimestamp();

	RegisterCallbacks();
	for (;;)
	{
		bool		pending = ReadOwed(NULL, user_uuid);

		if (pending)
			(void) (AttachRecorder() || StartRecorder());	/* which writes them */
		else if (!AttachRecorder())
			return true;		/* no recorder, nothing owed: nothing is pending */
		if (!pending)
		{
			SpinLockAcquire(&recorder->mutex);
			for (int i = 0; i < recorder->nslots && !pending; i++)
				pending = recorder->slots[i].in_use && recorder->slots[i].pending &&
					strcmp(recorder->slots[i].user_uuid, user_uuid) == 0;
			SpinLockRelease(&recorder->mutex);
		}
		if (!pending)
			return true;
		if (TimestampDifferenceExceeds(began, GetCurrentTimestamp(), START_WAIT_MS))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 20, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	zt_fail(f, ZT_ERR_ID_2002,
			"two-factor authentication codes of this user cannot be checked now: an earlier wrong code is still being recorded; try again later");
	return false;
}

/*
 * Can the recorder write in this database?  Its role belongs to the
 * cluster, but the rights it needs come with this database's 1.2 update: a
 * database still at 1.1 (another one updated) has the role and no rights.
 */
static bool
RecorderCanWrite(void)
{
	static bool ready = false;
	Oid			role;
	Oid			nsp;

	if (ready)
		return true;
	role = get_role_oid(RECORDER_ROLE, true);
	nsp = get_namespace_oid("zstack_tfa", true);
	ready = OidIsValid(role) && OidIsValid(nsp) && zt_schema_usage(nsp, role);
	return ready;
}

/*
 * Hold a place in the recorder's queue for the code about to be compared,
 * starting the recorder if need be, for at most START_WAIT_MS of wall time.
 * False, with the refusal in f, when none can be had: the code must then not
 * be compared.
 */
bool
zt_reserve_recorder(ZtFailure *f)
{
	TimestampTz began = GetCurrentTimestamp();

	RegisterCallbacks();
	if (!RecorderCanWrite())
	{
		zt_fail(f, ZT_ERR_ID_2002,
				"two-factor authentication codes cannot be checked in this database until its extension is updated (ALTER EXTENSION zstack_tfa UPDATE)");
		return false;
	}
	if (my_slot >= 0 && recorder != NULL)
		LetGoOfSlot();			/* not given back by a path that failed: never kept */
	my_slot = -1;
	for (;;)
	{
		if (AttachRecorder() || StartRecorder())
		{
			SpinLockAcquire(&recorder->mutex);
			if (recorder->accepting)
				for (int i = 0; i < recorder->nslots && my_slot < 0; i++)
					if (!recorder->slots[i].in_use)
					{
						memset(&recorder->slots[i], 0, sizeof(RecorderSlot));
						recorder->slots[i].in_use = true;
						recorder->slots[i].owner_procno = zt_my_procno();
						my_slot = i;
					}
			SpinLockRelease(&recorder->mutex);
			if (my_slot >= 0)
			{
				my_slot_level = GetCurrentTransactionNestLevel();
				return true;
			}
		}
		if (TimestampDifferenceExceeds(began, GetCurrentTimestamp(), START_WAIT_MS))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	zt_fail(f, ZT_ERR_ID_2002,
			"two-factor authentication codes cannot be checked now: no background worker is free to record a wrong code; try again later");
	return false;
}

/* The code compared was right: give the reserved place back. */
void
zt_release_recorder(void)
{
	if (my_slot < 0)
		return;
	SpinLockAcquire(&recorder->mutex);
	recorder->slots[my_slot].in_use = false;
	SpinLockRelease(&recorder->mutex);
	my_slot = -1;
}

/*
 * The code compared was wrong: hand it to the recorder.  Called with
 * interrupts held, right after the comparison, so that nothing ends the call
 * between the two; from here on the recorder records it whatever becomes of
 * the caller.
 */
void
zt_hand_over_wrong_code(const Principal *p, const char *secret_uuid, bool replay)
{
	RecorderSlot *slot;

	Assert(my_slot >= 0 && InterruptHoldoffCount > 0);
	slot = &recorder->slots[my_slot];
	SpinLockAcquire(&recorder->mutex);
	slot->max_failed_attempts = zt_max_failed_attempts;
	slot->lockout_seconds = zt_lockout_seconds;
	strlcpy(slot->secret_uuid, secret_uuid, sizeof(slot->secret_uuid));
	strlcpy(slot->account_uuid, p->account_uuid, sizeof(slot->account_uuid));
	strlcpy(slot->user_uuid, p->uuid, sizeof(slot->user_uuid));
	slot->iam2 = p->iam2;
	slot->replay = replay;
	slot->pending = true;
	SetProcLatch(recorder->procno);
	SpinLockRelease(&recorder->mutex);
}

/*
 * Wait until the recorder has committed the wrong code handed over, for as
 * long as that takes: a wrong code is answered only once its count is as
 * durable as the server's commits are (on a synchronous standby too, with
 * synchronous replication), just as a right code is answered only once its
 * commit is.  Called with cancels held off (HOLD_CANCEL_INTERRUPTS): a
 * cancel or statement_timeout takes effect once the count is committed, so
 * no caller learns that its code was wrong while the count could still be
 * lost with the primary; pg_terminate_backend ends the wait without an
 * answer, and the code stays the recorder's.  Returns ZT_RECORDED with the
 * count and whether the user is now locked; ZT_RECORD_OWED when the
 * recorder ended with it (only a superuser can end it): it is saved for the
 * next recorder, which writes it before it takes any code.
 */
ZtRecordResult
zt_await_wrong_code(int *failures, bool *locked)
{
	RecorderSlot *slot;
	ZtRecordResult result = ZT_RECORD_OWED;
	TimestampTz began = GetCurrentTimestamp();

	Assert(my_slot >= 0 && QueryCancelHoldoffCount > 0);
	slot = &recorder->slots[my_slot];
	for (;;)
	{
		bool		done;
		bool		ended;
		RecorderSlot mine;

		SpinLockAcquire(&recorder->mutex);
		done = slot->done;
		ended = recorder->ended;
		mine = *slot;
		if (done)
		{
			result = ZT_RECORDED;
			*failures = slot->failures;
			*locked = slot->locked;
			slot->in_use = false;
		}
		else if (ended)
		{
			result = ZT_RECORD_OWED;
			slot->in_use = false;
			slot->pending = false;
		}
		SpinLockRelease(&recorder->mutex);
		if (ended && !done)
		{
			bool		saved;

			/* under the user's lock still: the next code waits for it */
			HOLD_INTERRUPTS();
			saved = SaveOwed(MyDatabaseId, &mine, 1);
			RESUME_INTERRUPTS();
			if (!saved)
				ereport(FATAL,
						(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
						 errmsg("terminating connection: the two-factor authentication check could not be completed")));
		}
		if (done || ended)
			break;

		/*
		 * A recorder whose tries keep failing (a row lock held elsewhere, by
		 * a transaction that may itself wait for this user's lock, where no
		 * deadlock check sees the cycle) does not keep this session for
		 * ever: past zstack_tfa.stuck_wrong_code_seconds it ends,
		 * unanswered, its code left to the recorder.  One that has
		 * committed and waits for a synchronous standby has no failed try,
		 * and is waited for.
		 */
		if (mine.tries > 0 &&
			TimestampDifferenceExceeds(began, GetCurrentTimestamp(),
									   zt_stuck_wrong_code_seconds * 1000))
			ereport(FATAL,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("terminating connection: the two-factor authentication check could not be completed"),
					 errhint("Try again later.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	my_slot = -1;
	return result;
}

/*
 * recorder_state(): this database's wrong-code recorder as the metrics see
 * it: whether one runs and takes codes, its queue, what it committed and how
 * often a try failed since it started, and the codes owed to the next one.
 * Reads the shared state only; no uuid, code or secret leaves it.
 */
Datum
recorder_state(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[8];
	/* cppcheck-suppress constVariable ; 15's heap_form_tuple takes a bool * */
	bool		nulls[8] = {false};
	bool		running = false;
	bool		accepting = false;
	int			in_use = 0;
	int			pending = 0;
	int			nslots = 0;
	int64		recorded_codes = 0;
	int64		failed_tries = 0;
	int64		owed = 0;
	char	   *path;
	struct stat st;
	bool		was_attached = recorder != NULL;
	Recorder   *rec;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	/*
	 * The recorder the handle file names now (one this backend saw earlier
	 * may have ended since, and another started); none when none takes codes.
	 * A slot still held here keeps this backend on its recorder.
	 */
	if (my_slot >= 0)
		rec = recorder;
	else
		rec = AttachRecorder() ? recorder : NULL;
	if (rec != NULL)
	{
		SpinLockAcquire(&rec->mutex);
		running = !rec->ended;
		accepting = rec->accepting;
		nslots = rec->nslots;
		recorded_codes = rec->recorded_codes;
		failed_tries = rec->failed_tries;
		for (int i = 0; i < rec->nslots; i++)
		{
			in_use += rec->slots[i].in_use ? 1 : 0;
			pending += rec->slots[i].pending ? 1 : 0;
		}
		SpinLockRelease(&rec->mutex);
	}
	if (rec != NULL && !was_attached)
		DetachRecorder();		/* a monitoring backend keeps no mapping */
	path = OwedFilePath(MyDatabaseId);
	if (stat(path, &st) == 0)
		owed = (int64) st.st_size / (int64) sizeof(OwedCode);
	pfree(path);

	values[0] = BoolGetDatum(running);
	values[1] = BoolGetDatum(accepting);
	values[2] = Int32GetDatum(nslots);
	values[3] = Int32GetDatum(in_use);
	values[4] = Int32GetDatum(pending);
	values[5] = Int64GetDatum(recorded_codes);
	values[6] = Int64GetDatum(failed_tries);
	values[7] = Int64GetDatum(owed);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
