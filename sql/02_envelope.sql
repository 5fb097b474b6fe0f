-- The reply body, byte for byte: key order (uuid, secret, userUuid,
-- userType, createDate, lastOpDate, status), ZStack's Java date format in
-- the session's TimeZone, the iso8601 style, count, replyWithCount, fields.
SET timezone = 'UTC';

-- one inventory, the exact bytes a ZStack client receives
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003');

-- the admin sees all six, in the order asked for
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001',
	sort => '+createDate');

-- 12-hour clock edge cases: 00:00:01 is 12:00:01 AM, 23:59:59 is 11:59:59 PM
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001',
	ARRAY['uuid?=f0000000000000000000000000000003,f0000000000000000000000000000005'],
	sort => 'uuid', fields => '{uuid,createDate,lastOpDate}');

-- dates follow the session's TimeZone (no zone is written in ZStack style)
SET timezone = 'Asia/Shanghai';
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	fields => '{createDate,lastOpDate}');
SET timezone = 'America/New_York';
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	fields => '{createDate,lastOpDate}');

-- zstack_tfa.date_style = iso8601 writes the offset
SET zstack_tfa.date_style = iso8601;
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	fields => '{createDate,lastOpDate}');
SET timezone = 'Asia/Kolkata';
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	fields => '{createDate}');
RESET zstack_tfa.date_style;
SET timezone = 'UTC';
SHOW zstack_tfa.date_style;
SET zstack_tfa.date_style = 'rfc822';

-- count=true replies with the total only; limit and start do not change it
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001',
	'{status=Logined}', "limit" => 1, start => 1, count => true);
-- replyWithCount: the page, then the total of all matches
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001',
	'{status=Logined}', "limit" => 1, sort => '-createDate', fields => '{uuid}',
	reply_with_count => true);
-- count wins over replyWithCount, as in ZStack
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001',
	count => true, reply_with_count => true);

-- fields: only the members asked for, still in the canonical key order;
-- blanks around names are ignored, an empty list means every field
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	fields => '{status, uuid ,"",userType}');
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	fields => '{}')::text = zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003')::text
	AS empty_fields_mean_all;

-- no match is an empty list, not an error
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000003',
	'{status=NewCreated}');

-- the reply is valid JSON that PostgreSQL itself can read back
SELECT json_array_length(zstack_tfa.query_two_factor_authentication_json(
	'5e550000000000000000000000000001')->'inventories') AS inventories;

-- the set-returning form gives the same rows as typed columns
SELECT * FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001',
	sort => '-lastOpDate');
SELECT pg_typeof(i) FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000003') i;
