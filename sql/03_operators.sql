-- Every condition operator of SPEC §1.1 on each kind of field (text, enum,
-- timestamp), ZStack's scan order, the null forms, in-lists and like
-- patterns.  Run as the admin, who sees all six sample secrets.
SET timezone = 'UTC';
CREATE FUNCTION pg_temp.q(VARIADIC conditions text[]) RETURNS text
LANGUAGE sql AS $$
	SELECT coalesce(string_agg(right(uuid, 1), ' ' ORDER BY uuid), '(none)')
	FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001', conditions)
$$;

-- text fields
SELECT pg_temp.q('uuid=f0000000000000000000000000000002') AS eq,
	pg_temp.q('uuid!=f0000000000000000000000000000002') AS ne,
	pg_temp.q('uuid>f0000000000000000000000000000004') AS gt,
	pg_temp.q('uuid>=f0000000000000000000000000000004') AS ge,
	pg_temp.q('uuid<f0000000000000000000000000000003') AS lt,
	pg_temp.q('uuid<=f0000000000000000000000000000003') AS le;
SELECT pg_temp.q('uuid?=f0000000000000000000000000000001,f0000000000000000000000000000006') AS "in",
	pg_temp.q('uuid!?=f0000000000000000000000000000001,f0000000000000000000000000000006') AS not_in,
	pg_temp.q('userUuid~=e%') AS "like",
	pg_temp.q('userUuid!~=e%') AS not_like,
	pg_temp.q('secret~=%PXP') AS like_suffix,
	pg_temp.q('secret~=G_ZDGNBVGY3TQOJQ') AS like_underscore;
-- a malformed uuid value simply matches nothing; case matters
SELECT pg_temp.q('uuid=not-a-uuid') AS malformed,
	pg_temp.q('uuid=F0000000000000000000000000000002') AS upper_case,
	pg_temp.q('uuid?=') AS empty_in,
	pg_temp.q('uuid?=,f0000000000000000000000000000003,') AS in_with_empties;
-- the value is not trimmed, the name is
SELECT pg_temp.q('  uuid  =f0000000000000000000000000000002') AS name_trimmed,
	pg_temp.q('uuid= f0000000000000000000000000000002') AS value_not_trimmed;

-- enum fields: labels are checked; an order compares them as the text
-- ZStack stores them as (Logined < NewCreated), not in the enum's order
SELECT pg_temp.q('status=Logined') AS logined,
	pg_temp.q('status!=Logined') AS not_logined,
	pg_temp.q('status>NewCreated') AS after_newcreated,
	pg_temp.q('status<=NewCreated') AS up_to_newcreated,
	pg_temp.q('status>Logined') AS after_logined,
	pg_temp.q('status<NewCreated') AS before_newcreated,
	pg_temp.q('status?=NewCreated,Logined') AS both,
	pg_temp.q('status!?=NewCreated') AS not_in;
SELECT pg_temp.q('userType=IAM2VirtualIDVO') AS iam2,
	pg_temp.q('userType~=IAM%') AS like_on_enum,
	pg_temp.q('userType!~=%VO') AS not_like_on_enum;

-- timestamp fields: ISO, ZStack's own format, epoch milliseconds
SELECT pg_temp.q('createDate>2026-03-12 00:00:00+00') AS gt_iso,
	pg_temp.q('createDate>=2026-03-12 00:00:00+00') AS ge_iso,
	pg_temp.q('createDate=Mar 12, 2026 12:00:00 AM') AS eq_zstack_format,
	pg_temp.q('createDate<1770816600000') AS lt_millis,
	pg_temp.q('createDate<=1770816600000') AS le_millis,
	pg_temp.q('createDate?=1770816600000,2026-06-15T06:07:08Z') AS in_mixed;
-- a timestamp without a zone is read in the session's TimeZone
SET timezone = 'Asia/Shanghai';
SELECT pg_temp.q('createDate=2026-03-12 08:00:00') AS shanghai_local;
SET timezone = 'UTC';
SELECT pg_temp.q('lastOpDate>createDate') AS compares_value_not_column;

-- null forms: every column is NOT NULL, so "is null" matches nothing
SELECT pg_temp.q('uuid is null') AS is_null,
	pg_temp.q('uuid not null') AS not_null,
	pg_temp.q('status=null') AS eq_null,
	pg_temp.q('status!=null') AS ne_null,
	pg_temp.q('createDate is null') AS ts_is_null;

-- conditions are ANDed
SELECT pg_temp.q('status=Logined', 'userType=AccountVO', 'createDate<2026-06-01') AS anded;

-- ZStack's scan order: "!=" is looked for before "=", so this is the
-- unknown field "uuid=f0" with operator "!=" (an error), not uuid = 'f0!x'
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001',
	'{uuid=f0!=x}');
-- and "~=" before "=": the value keeps its "="
SELECT pg_temp.q('secret~=%=%') AS like_with_equals;
