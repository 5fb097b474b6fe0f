/*
 * zstack_tfa.c
 *		Module initialisation and the zstack_tfa.* settings.
 */
#include "zstack_tfa.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "catalog/namespace.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/varlena.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

int			zt_session_timeout = 7200;
int			zt_max_session_renewal = ZT_MAX_RENEW_SECONDS;
int			zt_date_style = ZT_DATE_ZSTACK;
int			zt_max_failed_attempts = 5;
int			zt_lockout_seconds = 300;
int			zt_stuck_wrong_code_seconds = 60;
char	   *zt_encryption_key_file = NULL;
int			zt_key_file_generation = 0;
static int	retained_memory_kb = 16384;

static const struct config_enum_entry date_style_options[] = {
	{"zstack", ZT_DATE_ZSTACK, false},
	{"iso8601", ZT_DATE_ISO8601, false},
	{NULL, 0, false}
};

/*
 * zstack_tfa.retained_memory: how much freed memory a backend keeps for
 * reuse.  glibc hands large blocks back to the kernel as soon as they are
 * freed (mmap'd blocks at once, the heap's top once 128 kB or so is free),
 * so every large reply is written into fresh pages, and each fresh page is
 * a page fault: a 1,000-row page (a 243 kB JSON value, which PostgreSQL
 * then copies twice more to send it) spent most of its time in the kernel.
 * Kept memory is reused instead.  0 leaves glibc's behaviour alone.
 */
#define GLIBC_MAX_MMAP_THRESHOLD (32 * 1024 * 1024)
#define GLIBC_DEFAULT_THRESHOLD (128 * 1024)

static void
AssignRetainedMemory(int newval, void *extra)
{
#ifdef __GLIBC__
	static bool changed = false;
	size_t		bytes = (size_t) newval * 1024;

	if (newval == 0 && !changed)
		return;					/* never set: glibc's adaptive defaults stay */
	if (newval == 0)
		bytes = GLIBC_DEFAULT_THRESHOLD;
	/* blocks below the mmap threshold come from the heap ... */
	mallopt(M_MMAP_THRESHOLD, (int) Min(bytes, GLIBC_MAX_MMAP_THRESHOLD));
	/* ... whose free top is given back only beyond the trim threshold */
	mallopt(M_TRIM_THRESHOLD, (int) bytes);
	changed = true;
#endif
}

/*
 * zstack_tfa.encryption_key_file was set (a reload sets it again, changed or
 * not): the keys are read again at their next use (crypto.c).
 */
static void
AssignKeyFile(const char *newval, void *extra)
{
	zt_key_file_generation++;
}

/*
 * Connect to SPI under ZT_SEARCH_PATH: the caller's path is set aside until
 * zt_spi_finish (or the end of the (sub)transaction, on error).  Returns the
 * GUC nest level to give zt_spi_finish; -1 when the path was pinned already
 * (a SECURITY DEFINER function's SET clause), which costs one comparison.
 */
int
zt_spi_connect(void)
{
	int			level = -1;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (namespace_search_path == NULL || strcmp(namespace_search_path, ZT_SEARCH_PATH) != 0)
	{
		level = NewGUCNestLevel();
		(void) set_config_option("search_path", ZT_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	return level;
}

/* Leave SPI and give the caller's search_path back. */
void
zt_spi_finish(int guc_level)
{
	SPI_finish();
	if (guc_level >= 0)
		AtEOXact_GUC(true, guc_level);
}

/* Does a preload setting's list name this library? */
static bool
ListNamesUs(const char *setting)
{
	const char *value = GetConfigOption(setting, true, false);
	char	   *raw = pstrdup(value ? value : "");
	List	   *names = NIL;
	const ListCell *lc;
	bool		found = false;

	if (!SplitDirectoriesString(raw, ',', &names))
		return false;
	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);
		const char *base = strrchr(name, '/');

		base = base ? base + 1 : name;
		if (strcmp(base, "zstack_tfa") == 0 || strcmp(base, "zstack_tfa.so") == 0)
			found = true;
	}
	return found;
}

/*
 * Is the library loaded by every backend at its start, so that its settings
 * are never placeholders (which any role can SHOW)?
 */
bool
zt_loaded_at_start(void)
{
	return ListNamesUs("shared_preload_libraries") || ListNamesUs("session_preload_libraries");
}

/* Pin ZT_SEARCH_PATH for the rest of a process that is ours (a worker). */
void
zt_pin_search_path(void)
{
	SetConfigOption("search_path", ZT_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
}

/* Define the settings; no shared_preload_libraries needed. */
void
_PG_init(void)
{
	DefineCustomIntVariable("zstack_tfa.session_timeout",
							gettext_noop("Seconds a session stays valid after its last successful call."),
							NULL,
							&zt_session_timeout,
							7200, 1, 365 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("zstack_tfa.max_session_renewal",
							gettext_noop("Longest duration, in seconds, a session may be renewed to (RenewSession)."),
							gettext_noop("The default is the most ZStack accepts; a longer renewal is refused with SYS.1007."),
							&zt_max_session_renewal,
							ZT_MAX_RENEW_SECONDS, 60, ZT_MAX_RENEW_SECONDS,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("zstack_tfa.date_style",
							 gettext_noop("How dates are written in JSON replies: zstack (Java's default format) or iso8601."),
							 NULL,
							 &zt_date_style,
							 ZT_DATE_ZSTACK, date_style_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("zstack_tfa.max_failed_attempts",
							gettext_noop("Wrong TOTP codes in a row after which an account's 2FA logins are locked."),
							NULL,
							&zt_max_failed_attempts,
							5, 1, 1000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("zstack_tfa.lockout_seconds",
							gettext_noop("Seconds an account's 2FA logins stay locked after too many wrong codes."),
							NULL,
							&zt_lockout_seconds,
							300, 1, 7 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("zstack_tfa.stuck_wrong_code_seconds",
							gettext_noop("Seconds a login with a wrong TOTP code waits for a recorder that fails to write its count before the session is ended unanswered."),
							gettext_noop("Only while the recorder's tries fail (a row lock held elsewhere); a recorder that has committed and waits for a synchronous standby is waited for as long as it takes."),
							&zt_stuck_wrong_code_seconds,
							60, 1, 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("zstack_tfa.retained_memory",
							gettext_noop("Freed memory a backend keeps for reuse instead of returning it to the kernel at once."),
							gettext_noop("Large replies then reuse pages instead of faulting in new ones; 0 leaves the C library's defaults."),
							&retained_memory_kb,
							16384, 0, 1024 * 1024,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, AssignRetainedMemory, NULL);
	DefineCustomStringVariable("zstack_tfa.encryption_key_file",
							   gettext_noop("File of the keys that encrypt TOTP secrets at rest; empty stores them in plain text, as ZStack does."),
							   gettext_noop("One key a line, \"<id> <64 hex digits>\", the first encrypting new secrets; owned by the server's user with mode 0600, or by root with 0640."),
							   &zt_encryption_key_file,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, AssignKeyFile, NULL);
	MarkGUCPrefixReserved("zstack_tfa");
}
