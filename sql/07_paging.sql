-- Sorting and paging: every field sorts both ways, ties are broken by uuid
-- so pages never overlap, start beyond the end, limit 0, a huge limit,
-- large pages (streamed from the executor), and the memory they reuse.
SET timezone = 'UTC';
CREATE ROLE zt_paging_user;
CREATE FUNCTION pg_temp.page(s text, "limit" int DEFAULT 1000, start int DEFAULT 0,
	conditions text[] DEFAULT '{}') RETURNS text
LANGUAGE sql AS $$
	SELECT coalesce(string_agg(right(uuid, 1), ' '), '(none)')
	FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001',
		conditions, "limit", start, s)
$$;

SELECT f AS field, pg_temp.page('+' || f) AS ascending, pg_temp.page('-' || f) AS descending,
	pg_temp.page(f) = pg_temp.page('+' || f) AS plain_is_ascending
FROM unnest(ARRAY['uuid', 'secret', 'userUuid', 'userType', 'createDate', 'lastOpDate', 'status']) f;

-- paging
SELECT pg_temp.page('uuid', 2, 0) AS page1, pg_temp.page('uuid', 2, 2) AS page2,
	pg_temp.page('uuid', 2, 4) AS page3, pg_temp.page('uuid', 2, 6) AS past_end,
	pg_temp.page('uuid', 0, 0) AS limit_0, pg_temp.page('uuid', 2147483647, 5) AS huge_limit,
	pg_temp.page('uuid', 10, 2147483647) AS huge_start;
-- an empty sort is no sort
SELECT pg_temp.page('', 1000, 0, '{uuid=f0000000000000000000000000000004}') AS empty_sort;

-- 2,500 more secrets (an account with many IAM2 users), with many equal dates
INSERT INTO zstack_tfa.account (uuid, name, type)
	VALUES ('a0000000000000000000000000000099', 'bulk', 'Normal');
INSERT INTO zstack_tfa.iam2_virtual_id (uuid, name, account_uuid)
SELECT md5('user' || i), 'bulk-user-' || i, 'a0000000000000000000000000000099' FROM generate_series(1, 2500) i;
INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid, status, create_date, last_op_date)
SELECT md5('secret' || i), 'JBSWY3DPEHPK3PXP', md5('user' || i), 'IAM2VirtualIDVO',
	'a0000000000000000000000000000099', CASE WHEN i % 3 = 0 THEN 'Logined' ELSE 'NewCreated' END::zstack_tfa.secret_status,
	timestamptz '2026-07-01 00:00:00+00' + (i % 10) * interval '1 hour', '2026-07-02 00:00:00+00'
FROM generate_series(1, 2500) i;

-- pages of 7 sorted by a date with 250 ties each: together they are every
-- row exactly once, in order
WITH pages AS (
	SELECT p, i.* FROM generate_series(0, 2506 / 7) p,
	zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001', '{}', 7, p * 7, '-createDate') i
)
SELECT count(*) AS rows, count(DISTINCT uuid) AS distinct_rows FROM pages;
-- the same through the JSON function with a large page
SELECT json_array_length(zstack_tfa.query_two_factor_authentication_json(
	'5e550000000000000000000000000001', '{}', 2400, 100, '+createDate')->'inventories') AS big_page;
-- order holds across a large page of the set-returning function
SELECT bool_and(ok) AS sorted_across_batches FROM (
	SELECT (create_date, uuid) >= lag((create_date, uuid)) OVER (ORDER BY ord) IS NOT FALSE AS ok
	FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001', '{}', 3000, 0, 'createDate')
	WITH ORDINALITY AS t(uuid, secret, user_uuid, user_type, create_date, last_op_date, status, ord)) s;
SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001',
	'{status=Logined,userType=IAM2VirtualIDVO}', count => true);
-- bulk's owner sees its 2,500; alice still sees her 3
SELECT count(*) AS alice_sees FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000002', "limit" => 100000);

-- the SQL of a uuid lookup with more conditions (uuid=X alone is read from
-- the index directly) uses the primary key
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM zstack_tfa.secret s
	WHERE s.account_uuid = 'a0000000000000000000000000000001' AND s.uuid = 'f0000000000000000000000000000001';
RESET enable_seqscan;

-- zstack_tfa.retained_memory: a backend keeps freed memory, so writing a
-- 1,000-row page again reuses pages instead of faulting in new ones.  The
-- backend's own minor page faults (/proc/self/stat) per page, after one
-- page to warm up, with the default and with the C library's thresholds.
CREATE FUNCTION pg_temp.faults_per_page() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	before bigint;
	total bigint := 0;
BEGIN
	FOR i IN 0 .. 5 LOOP
		IF i = 1 THEN
			before := split_part(pg_read_file('/proc/self/stat'), ' ', 10)::bigint;
		END IF;
		total := total + length(zstack_tfa.query_two_factor_authentication_json(
			'5e550000000000000000000000000001', '{}', 1000, 0, '+createDate')::text);
	END LOOP;
	RETURN (split_part(pg_read_file('/proc/self/stat'), ' ', 10)::bigint - before) / 5;
END $$;
-- (The valgrind stage runs this file too: valgrind's own allocator ignores
-- the setting, so there the counts are taken but not judged.)
SELECT pg_read_file('/proc/self/maps') LIKE '%vgpreload%' AS valgrind \gset
SHOW zstack_tfa.retained_memory;
SELECT pg_temp.faults_per_page() AS kept \gset
SET zstack_tfa.retained_memory = 0;
SELECT pg_temp.faults_per_page() AS returned \gset
SELECT :'valgrind'::boolean OR :kept < 10 AS few_faults_when_kept,
	:'valgrind'::boolean OR :returned > 4 * :kept + 40 AS many_when_returned;
RESET zstack_tfa.retained_memory;
SELECT :'valgrind'::boolean OR pg_temp.faults_per_page() < 10 AS few_again;
-- a setting for superusers: it changes how the whole backend allocates
SET ROLE zt_paging_user;
SET zstack_tfa.retained_memory = '64MB';
RESET ROLE;
-- its range; a value outside it is refused (22023, in PostgreSQL's words)
SELECT min_val, max_val, unit FROM pg_settings WHERE name = 'zstack_tfa.retained_memory';
\set VERBOSITY sqlstate
SET zstack_tfa.retained_memory = -1;
\set VERBOSITY default

DELETE FROM zstack_tfa.account WHERE name = 'bulk';
SELECT count(*) AS secrets_left FROM zstack_tfa.secret;
DROP ROLE zt_paging_user;
