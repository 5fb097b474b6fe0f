-- Rows a caller may not see cannot be probed.  For bob (a Normal account that
-- sees only his own secret) and alice-dev1 (an IAM2 user), every condition
-- shape (each operator on each field, values taken from the hidden rows
-- themselves, their prefixes as LIKE patterns, patterns ending in the escape
-- character, odd and huge values, bad time zones) gets a reply that is
-- byte for byte the same whether the hidden rows are there or not.  Before
-- 1.1 a LIKE pattern ending in "\" raised only when a hidden row's text
-- matched the part before it: an oracle on other users' secrets.
SET timezone = 'UTC';
CREATE TEMP TABLE probe (caller text, conditions text[], count boolean);
CREATE TEMP TABLE reply (phase text, n int, body text);

-- the values to probe with: every column of every secret, as text
CREATE TEMP VIEW hidden_values AS
SELECT f.api_name, v.value
FROM zstack_tfa.secret s
CROSS JOIN LATERAL (VALUES
	('uuid', s.uuid::text), ('secret', zstack_tfa.secret_text(s.uuid, s.secret)), ('userUuid', s.user_uuid::text),
	('userType', s.user_type::text), ('status', s.status::text),
	('createDate', to_char(s.create_date, 'YYYY-MM-DD HH24:MI:SS')),
	('createDate', (extract(epoch FROM s.create_date) * 1000)::bigint::text),
	('createDate', to_char(s.create_date, 'FMMon FMDD, YYYY FMHH12:MI:SS AM')),
	('lastOpDate', to_char(s.last_op_date, 'YYYY-MM-DD HH24:MI:SS')),
	('lastOpDate', (extract(epoch FROM s.last_op_date) * 1000)::bigint::text)) v(field, value)
JOIN (VALUES ('uuid'), ('secret'), ('userUuid'), ('userType'), ('status'),
	('createDate'), ('lastOpDate')) f(api_name) ON f.api_name = v.field;

-- values that are odd on their own
CREATE TEMP TABLE odd_values (value text);
INSERT INTO odd_values VALUES (''), (' '), ('%'), ('_'), (E'\\'), (E'\\\\'), (E'%\\'),
	('null'), ('NULL'), ('''; SELECT 1; --'), ('é'), (repeat('A', 10000)),
	('2026-01-10 09:00:00 Foo/Bar'), ('2026-01-10 09:00:00 Europe/Paris'),
	('infinity'), ('-infinity'), ('99999999999999999999'), ('Logined'), ('NewCreated'),
	('IAM2VirtualIDVO'), ('AccountVO'), ('a,b'), (',');

INSERT INTO probe (caller, conditions, count)
SELECT c.session, conds, cnt
FROM (VALUES ('5e550000000000000000000000000003'), ('5e550000000000000000000000000005')) c(session)
CROSS JOIN (VALUES (false), (true)) k(cnt)
CROSS JOIN LATERAL (
	-- each operator with each hidden value of its field
	SELECT ARRAY[h.api_name || op || h.value] AS conds
	FROM hidden_values h, unnest(ARRAY['=', '!=', '>', '>=', '<', '<=', '?=', '!?=']) op
	UNION ALL
	-- prefixes of hidden values as LIKE patterns, plain and ending in the escape
	SELECT ARRAY[h.api_name || op || left(h.value, n) || tail]
	FROM hidden_values h, unnest(ARRAY['~=', '!~=']) op, generate_series(1, 3) n,
		unnest(ARRAY['%', E'%\\', E'\\']) tail
	WHERE h.api_name IN ('uuid', 'secret', 'userUuid', 'userType', 'status')
	UNION ALL
	-- one hidden user's row singled out, then probed
	SELECT ARRAY['userUuid=' || u.user_uuid, 'secret~=' || left(u.secret, 1) || E'%\\']
	FROM zstack_tfa.secret u
	UNION ALL
	-- odd values with every operator on every field, and the null forms
	SELECT ARRAY[f || op || o.value]
	FROM unnest(ARRAY['uuid', 'secret', 'userUuid', 'userType', 'status', 'createDate', 'lastOpDate']) f,
		unnest(ARRAY['=', '!=', '>', '>=', '<', '<=', '?=', '!?=', '~=', '!~=']) op, odd_values o
	UNION ALL
	SELECT ARRAY[f || t]
	FROM unnest(ARRAY['uuid', 'secret', 'userUuid', 'userType', 'status', 'createDate', 'lastOpDate']) f,
		unnest(ARRAY[' is null', ' not null', '=null', '!=null']) t
) q;

SELECT count(*) AS probes, count(DISTINCT conditions) AS shapes FROM probe;

CREATE FUNCTION pg_temp.run(phase text) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO reply
	SELECT phase, row_number() OVER (), zstack_tfa.query_two_factor_authentication_json(
		p.caller, p.conditions, count => p.count, sort => 'uuid')::text
	FROM probe p;
$$;

SELECT pg_temp.run('hidden rows present');
-- the rows neither caller may see: all but bob's (f...02) and alice-dev1's
-- (f...04); they are put back afterwards
CREATE TEMP TABLE hidden AS SELECT * FROM zstack_tfa.secret
	WHERE uuid NOT IN ('f0000000000000000000000000000002', 'f0000000000000000000000000000004');
DELETE FROM zstack_tfa.secret WHERE uuid IN (SELECT uuid FROM hidden);
SELECT pg_temp.run('hidden rows absent');
INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid, status,
	create_date, last_op_date, last_accepted_step, failed_attempts, locked_until, last_login_date)
SELECT uuid, secret, user_uuid, user_type, account_uuid, status,
	create_date, last_op_date, last_accepted_step, failed_attempts, locked_until, last_login_date FROM hidden;

-- what the probes got: errors, empty and non-empty pages, counts
SELECT CASE WHEN body LIKE '{"error":{"code":"SYS.1007"%' THEN 'SYS.1007'
		WHEN body LIKE '{"error"%' THEN 'other error'
		WHEN body LIKE '{"schema":{},"total":%' THEN 'count'
		WHEN body = '{"schema":{},"inventories":[]}' THEN 'empty page'
		ELSE 'rows' END AS reply, count(*)
FROM reply WHERE phase = 'hidden rows present' GROUP BY 1 ORDER BY 1;
-- and whether any reply told the two worlds apart (none may)
SELECT p.n, pr.conditions, p.body AS present, a.body AS absent
FROM reply p
JOIN reply a ON a.n = p.n AND a.phase = 'hidden rows absent'
JOIN (SELECT row_number() OVER () AS n, conditions FROM probe) pr ON pr.n = p.n
WHERE p.phase = 'hidden rows present' AND p.body IS DISTINCT FROM a.body;
SELECT count(*) AS compared FROM reply WHERE phase = 'hidden rows absent';
