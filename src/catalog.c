/*
 * catalog.c
 *		The inventory field table and the ZStack error catalogue.
 */
#include <string.h>

#include "catalog.h"

static const char *const secret_status_labels[] = {"NewCreated", "Logined", NULL};
static const char *const user_type_labels[] = {"AccountVO", "IAM2VirtualIDVO", NULL};

/*
 * The column order of zstack_tfa.secret_inventory.  userType is a String in
 * ZStack's classes; status is its enum TwoFactorAuthenticationSecretStatus.
 */
const ZtField zt_fields[ZT_FIELD_COUNT] = {
	{"uuid", "uuid", ZT_KIND_TEXT, NULL, NULL, NULL},
	{"secret", "secret", ZT_KIND_TEXT, NULL, NULL, NULL},
	{"userUuid", "user_uuid", ZT_KIND_TEXT, NULL, NULL, NULL},
	{"userType", "user_type", ZT_KIND_ENUM, "user_type", user_type_labels, NULL},
	{"createDate", "create_date", ZT_KIND_TIMESTAMP, NULL, NULL, NULL},
	{"lastOpDate", "last_op_date", ZT_KIND_TIMESTAMP, NULL, NULL, NULL},
	{"status", "status", ZT_KIND_ENUM, "secret_status", secret_status_labels,
	ZT_CLASS_SECRET_STATUS},
};

/*
 * Key order of a query inventory: the fields of the SDK's
 * TwoFactorAuthenticationInventory, which Gson writes in declaration order.
 */
const int zt_query_key_order[ZT_FIELD_COUNT] = {
	ZT_FIELD_UUID, ZT_FIELD_SECRET, ZT_FIELD_USER_UUID, ZT_FIELD_USER_TYPE,
	ZT_FIELD_STATUS, ZT_FIELD_CREATE_DATE, ZT_FIELD_LAST_OP_DATE
};

/*
 * Key order of GetTwoFactorAuthenticationSecret's inventory: the SDK's
 * TwoFactorAuthenticationSecretInventory (its resourceUuid and resourceType
 * are always null, so never written).
 */
const int zt_secret_key_order[ZT_FIELD_COUNT] = {
	ZT_FIELD_UUID, ZT_FIELD_SECRET, ZT_FIELD_STATUS, ZT_FIELD_CREATE_DATE,
	ZT_FIELD_LAST_OP_DATE, ZT_FIELD_USER_UUID, ZT_FIELD_USER_TYPE
};

/* Return the index of the field named name[0..len), or -1. */
int
zt_field_lookup(const char *name, size_t len)
{
	for (int i = 0; i < ZT_FIELD_COUNT; i++)
	{
		if (strlen(zt_fields[i].api_name) == len &&
			memcmp(zt_fields[i].api_name, name, len) == 0)
			return i;
	}
	return -1;
}

/*
 * Each ZStack code has its own SQLSTATE inside the class SPEC §2 names, so
 * a caller can switch on it (JDBC's getSQLState()) while code that checks
 * the class alone keeps working: "Z" and the code's last two digits, after
 * PostgreSQL's own habit of a letter for non-standard codes (28P01).
 */
const ZtErrorDef zt_errors[ZT_ERR_COUNT] = {
	[ZT_ERR_ID_1000] = {"ID.1000", "Unable to authenticate a user", "28Z00", 503},
	[ZT_ERR_ID_1001] = {"ID.1001", "The session is invalid, either wrong session id or the session has been expired", "28Z01", 503},
	[ZT_ERR_ID_1002] = {"ID.1002", "The user doesn't have permission to perform the operation", "42Z02", 503},
	[ZT_ERR_ID_2000] = {"ID.2000", "Addition authentication error", "28Z20", 503},
	[ZT_ERR_ID_2001] = {"ID.2001", "The user has to login by addition authentication", "28Z21", 503},
	[ZT_ERR_ID_2002] = {"ID.2002", "Fail to authenticate a user due to addition authentication", "28Z22", 503},
	[ZT_ERR_SYS_1000] = {"SYS.1000", "An internal error happened in system", "XX000", 503},
	/* a resource an API argument names does not exist (ZStack's PortApiValidator) */
	[ZT_ERR_SYS_1003] = {"SYS.1003", "A resource can not be found", "22Z03", 503},
	[ZT_ERR_SYS_1006] = {"SYS.1006", "An operation failed", "55Z06", 503},
	[ZT_ERR_SYS_1007] = {"SYS.1007", "One or more API argument is invalid", "22Z07", 503},
};
