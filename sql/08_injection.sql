-- SQL injection attempts through every input: field names, values, in-lists,
-- like patterns, sort, fields and account names.  Names never reach SQL
-- (they are looked up in the field table); values are typed parameters.
CREATE FUNCTION pg_temp.q(VARIADIC conditions text[]) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN (SELECT coalesce(string_agg(right(uuid, 1), ' ' ORDER BY uuid), '(none)')
			FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000002', conditions));
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$;

-- names
SELECT pg_temp.q('uuid IS NOT NULL OR true; --=x') AS name_with_sql;
SELECT pg_temp.q('uuid) OR (1=1=x') AS name_with_parens;
SELECT pg_temp.q('"uuid"=f0000000000000000000000000000001') AS quoted_name;
SELECT pg_temp.q('s.uuid=f0000000000000000000000000000001') AS qualified_name;
SELECT pg_temp.q('account_uuid!=x') AS column_not_a_field;

-- values: quotes, comments, parameters, backslashes, NUL-looking escapes
SELECT pg_temp.q('uuid=x'' OR ''1''=''1') AS quote_or,
	pg_temp.q('uuid=x''; DELETE FROM zstack_tfa.secret; --') AS stacked,
	pg_temp.q('uuid=$1') AS dollar_param,
	pg_temp.q('uuid=$$ OR true $$') AS dollar_quote,
	pg_temp.q('uuid=\x27 OR 1=1') AS backslash,
	pg_temp.q('uuid=\0') AS nul_looking;
SELECT pg_temp.q('uuid?=x'') OR (''1''=''1,f0000000000000000000000000000001') AS in_list,
	pg_temp.q('status?=Logined'') OR true --') AS enum_in_list,
	pg_temp.q('userUuid~=%'' OR ''1''=''1') AS like_pattern,
	pg_temp.q('createDate>2026-01-01'' OR ''1''=''1') AS timestamp_value;

-- sort and fields
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000002',
	sort => 'uuid; DROP TABLE zstack_tfa.secret');
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000002',
	sort => '-createDate, (SELECT 1)');
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000002',
	fields => ARRAY['uuid, (SELECT secret FROM zstack_tfa.secret LIMIT 1)']);

-- account names and passwords are data too
SELECT length(zstack_tfa.create_account('o''brien"; DROP TABLE zstack_tfa.account; --', 'p''w\')) AS uuid_length;
SELECT zstack_tfa.log_in_by_account('o''brien"; DROP TABLE zstack_tfa.account; --', 'p''w\')->'inventory'->>'uuid' IS NOT NULL AS logged_in;
SELECT zstack_tfa.log_in_by_account(''' OR ''1''=''1', ''' OR ''1''=''1');
DELETE FROM zstack_tfa.account WHERE name LIKE 'o''brien%';

-- everything is still there
SELECT count(*) AS secrets, (SELECT count(*) FROM zstack_tfa.account) AS accounts
	FROM zstack_tfa.secret;
