/*
 * catalog.h
 *		The facts zstack_tfa keeps in exactly one place: the inventory field
 *		table and the ZStack error catalogue.
 *
 * Nothing here needs a PostgreSQL backend, so the parsers built on it can be
 * linked into fuzzers and unit tests as they are.
 */
#ifndef ZSTACK_TFA_CATALOG_H
#define ZSTACK_TFA_CATALOG_H

#include <stddef.h>

/* How a field's values are typed in conditions and written in JSON. */
typedef enum ZtFieldKind
{
	ZT_KIND_TEXT,				/* uuids and the secret: compared as text */
	ZT_KIND_ENUM,				/* one of the labels in ZtField.labels */
	ZT_KIND_TIMESTAMP			/* timestamptz, written in the ZStack date style */
} ZtFieldKind;

/*
 * One member of the secret inventory (SPEC §1), in the column order of the
 * composite zstack_tfa.secret_inventory; the JSON replies have key orders
 * of their own (zt_query_key_order, zt_secret_key_order).
 */
typedef struct ZtField
{
	const char *api_name;		/* camelCase name in q=, sort=, fields= and JSON */
	const char *column;			/* column of zstack_tfa.secret */
	ZtFieldKind kind;
	const char *enum_type;		/* SQL type name for ZT_KIND_ENUM, else NULL */
	const char *const *labels;	/* NULL-terminated labels for ZT_KIND_ENUM */
	const char *java_class;		/* ZStack's class of the member when it is one
								 * of its own types (a "schema" entry), else
								 * NULL */
} ZtField;

#define ZT_FIELD_COUNT 7
/* indexes in zt_fields */
#define ZT_FIELD_UUID 0
#define ZT_FIELD_SECRET 1
#define ZT_FIELD_USER_UUID 2
#define ZT_FIELD_USER_TYPE 3
#define ZT_FIELD_CREATE_DATE 4
#define ZT_FIELD_LAST_OP_DATE 5
#define ZT_FIELD_STATUS 6

extern const ZtField zt_fields[ZT_FIELD_COUNT];
extern const int zt_query_key_order[ZT_FIELD_COUNT];
extern const int zt_secret_key_order[ZT_FIELD_COUNT];

/* ZStack's server classes, as the "schema" member of a reply names them. */
#define ZT_CLASS_INVENTORY "org.zstack.twoFactorAuthentication.TwoFactorAuthenticationInventory"
#define ZT_CLASS_SECRET_INVENTORY "org.zstack.twoFactorAuthentication.TwoFactorAuthenticationSecretInventory"
#define ZT_CLASS_SECRET_STATUS "org.zstack.twoFactorAuthentication.TwoFactorAuthenticationSecretStatus"
#define ZT_CLASS_SESSION_INVENTORY "org.zstack.header.identity.SessionInventory"

/* Index of the field named name[0..len), or -1 when there is none. */
extern int	zt_field_lookup(const char *name, size_t len);

/* Every ZStack error code the extension can answer with. */
typedef enum ZtErrorCode
{
	ZT_ERR_ID_1000,
	ZT_ERR_ID_1001,
	ZT_ERR_ID_1002,
	ZT_ERR_ID_2000,
	ZT_ERR_ID_2001,
	ZT_ERR_ID_2002,
	ZT_ERR_SYS_1000,
	ZT_ERR_SYS_1003,
	ZT_ERR_SYS_1006,
	ZT_ERR_SYS_1007,
	ZT_ERR_COUNT
} ZtErrorCode;

/* A catalogue row: the code, its fixed description, SQLSTATE and HTTP status. */
typedef struct ZtErrorDef
{
	const char *code;
	const char *description;
	const char *sqlstate;		/* five characters, see SPEC §2 */
	int			http_status;
} ZtErrorDef;

extern const ZtErrorDef zt_errors[ZT_ERR_COUNT];

#endif							/* ZSTACK_TFA_CATALOG_H */
