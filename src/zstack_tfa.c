/*
 * zstack_tfa.c
 *		Module initialisation and the zstack_tfa.* settings.
 */
#include "zstack_tfa.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

int			zt_session_timeout = 7200;
int			zt_date_style = ZT_DATE_ZSTACK;
int			zt_max_failed_attempts = 5;
int			zt_lockout_seconds = 300;

static const struct config_enum_entry date_style_options[] = {
	{"zstack", ZT_DATE_ZSTACK, false},
	{"iso8601", ZT_DATE_ISO8601, false},
	{NULL, 0, false}
};

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
	MarkGUCPrefixReserved("zstack_tfa");
}
