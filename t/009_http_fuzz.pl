# No caller input makes the REST layer or a JSON function raise or answer
# SYS.1000: thousands of generated requests (methods, paths, query strings,
# headers, bodies; valid ones, mutated ones, hostile ones) go through
# http_request on a live server, and thousands of calls through the JSON
# functions.  Every reply must be a status of SPEC §1.2 with the body that
# status promises, and the server log must stay quiet: no error, no
# "request failed" line.  The generator is seeded, so a failure repeats.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $requests = $ENV{ZT_FUZZ_REQUESTS} // 4000;
my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init;
$node->append_conf('postgresql.conf', qq{log_statement = none
log_min_error_statement = error
log_min_messages = warning
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION zstack_tfa;
	SELECT zstack_tfa.set_account_password('admin', 'admin-password');
	SELECT zstack_tfa.create_account('alice', 'alice-password');
	SELECT zstack_tfa.create_iam2_virtual_id('alice', 'alice-dev', 'dev-password');
	SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
	SELECT zstack_tfa.get_two_factor_authentication_secret('alice-dev', 'dev-password', 'iam2');
	INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, expired_date) VALUES
		(zstack_tfa.session_key('5e550000000000000000000000000001'), '36c27e8ff05c4780bf6d2fa65700f22e', '36c27e8ff05c4780bf6d2fa65700f22e', now() + interval '1 day'),
		(zstack_tfa.session_key('5e550000000000000000000000000002'), (SELECT uuid FROM zstack_tfa.account WHERE name = 'alice'),
		 (SELECT uuid FROM zstack_tfa.account WHERE name = 'alice'), now() + interval '1 day'),
		(zstack_tfa.session_key('5e550000000000000000000000000003'), '36c27e8ff05c4780bf6d2fa65700f22e', '36c27e8ff05c4780bf6d2fa65700f22e', now() - interval '1 second');
});
my $log_start = -s $node->logfile;

# the generator: pieces that are each valid somewhere, and ways to break them
my $sql = <<'SQL';
SELECT setseed(0.4242);
CREATE TEMP TABLE piece (kind text, value text);
INSERT INTO piece SELECT 'method', unnest(ARRAY['GET', 'PUT', 'DELETE', 'POST', 'HEAD', 'get', '', 'PATCH', repeat('G', 300)]);
INSERT INTO piece SELECT 'path', unnest(ARRAY[
	'/zstack/v1/twofactorauthentication/secrets', '/zstack/v1/twofactorauthentication/secrets/f000',
	'/zstack/v1/twofactorauthentication/state', '/zstack/v1/twofactorauthentication/secret',
	'/zstack/v1/accounts/login', '/zstack/v1/iam2/virtual-ids/login', '/zstack/v1/login',
	'/zstack/v1/accounts/sessions/5e550000000000000000000000000002',
	'/zstack/v1/accounts/sessions/5e550000000000000000000000000001/valid',
	'/zstack/v1/accounts/sessions/5e550000000000000000000000000002/renew',
	'/zstack/v1/twofactorauthentication/secrets/%zz', '/zstack/v1/%C3%A9', '/zstack/v1/accounts/sessions//valid',
	'/', '', '/zstack', '/zstack/v1/twofactorauthentication/secrets/a%00b', '/zstack/v1/%E2%80%A8']);
INSERT INTO piece SELECT 'param', unnest(ARRAY[
	'q=uuid%3Dx', 'q=status=Logined', 'q=createDate>2020-01-01 10:00 Foo/Bar', 'q=secret~=A%25%5C',
	'q=userType?=AccountVO,IAM2VirtualIDVO', 'q=uuid==x', 'q=%3Dx', 'q=', 'q', 'q=is%20null', 'q=lastOpDate<=1700000000000',
	'q=createDate>' || repeat('9', 40), 'q=status>Logined', 'q=%E2%80%A8=1', 'q=uuid!~=%25',
	'limit=5', 'limit=-1', 'limit=x', 'limit=99999999999', 'start=2', 'start=%20', 'count=true', 'count=TRUE',
	'replyWithCount=true', 'sort=-createDate', 'sort=%2Bstatus', 'sort=nope', 'sort=--', 'fields=uuid,status',
	'fields=,,', 'fields=nope', 'filterName=x', 'filterName=a:b', 'groupBy=status', 'name=alice',
	'password=alice-password', 'type=account', 'type=iam2', 'type=root', 'name=alice-dev', 'password=%',
	'%zz=1', '&&&', '=', '%20=uuid=x', 'q=' || repeat('%C3%A9', 200)]);
INSERT INTO piece SELECT 'auth', unnest(ARRAY['OAuth 5e550000000000000000000000000001', 'OAuth 5e550000000000000000000000000002',
	'OAuth 5e550000000000000000000000000003', 'OAuth x', 'Bearer y', 'OAuth', '', 'oauth 5e550000000000000000000000000001']);
INSERT INTO piece SELECT 'body', unnest(ARRAY[
	'{"logInByAccount":{"accountName":"alice","password":"alice-password"}}',
	'{"logInByAccount":{"accountName":"alice","password":"alice-password","systemTags":["twofatoken::123456"]}}',
	'{"logInByAccount":{"accountName":"alice","password":"alice-password"},"systemTags":["twofatoken::12"]}',
	'{"loginIAM2VirtualID":{"name":"alice-dev","password":"dev-password","systemTags":["twofatoken::000000"]}}',
	'{"logIn":{"username":"alice","password":"alice-password","loginType":"account"}}',
	'{"logIn":{"username":"alice","password":"alice-password","loginType":"iam2"}}',
	'{"renewSession":{"duration":600}}', '{"renewSession":{"duration":"x"}}', '{"renewSession":{"duration":1e99}}',
	'{}', '[]', '"x"', 'null', 'true', '1', '', ' ', 'not json', '{"a":', '{"a":1,}',
	'{"logInByAccount":{"accountName":"a\u0000","password":"x"}}', '{"logInByAccount":{"accountName":"\ud800"}}',
	'{"logInByAccount":{"accountName":"a","accountName":"b","password":"c"}}',
	'{"logInByAccount":{"accountName":{"x":1},"password":[]}}', '{"logInByAccount":[1,2]}',
	'{"logInByAccount":{"accountName":"alice","password":"x"},"systemTags":"twofatoken::1"}',
	'{"logInByAccount":{"accountName":"alice","password":"x"},"systemTags":[null,1,{"a":1}]}',
	repeat('[', 2000) || repeat(']', 2000), repeat('{"a":', 50) || '1' || repeat('}', 50),
	'{"logInByAccount":{"accountName":"' || repeat('x', 100000) || '","password":"y"}}']);

CREATE TEMP TABLE seen (status int);
CREATE TEMP TABLE bad (what text, method text, path text, query text, headers text, body text, status int, reply text);
CREATE FUNCTION pg_temp.pick(k text) RETURNS text LANGUAGE sql AS $$
	SELECT value FROM piece WHERE kind = k ORDER BY random() LIMIT 1 $$;
-- a mutation: cut, repeat, splice in odd bytes, percent-encode, or keep
CREATE FUNCTION pg_temp.mutate(s text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r float8 := random();
	at int := 1 + floor(random() * (length(s) + 1))::int;
BEGIN
	IF r < 0.4 THEN RETURN s;
	ELSIF r < 0.5 THEN RETURN left(s, at);
	ELSIF r < 0.6 THEN RETURN s || s;
	ELSIF r < 0.75 THEN RETURN left(s, at) || (ARRAY['%', '%2', '"', '\', '{', ']', 'é', chr(8232), '&', '=', '+', ' ', ',', '''', chr(1)])[1 + floor(random() * 15)::int] || substr(s, at + 1);
	ELSIF r < 0.85 THEN RETURN replace(s, '=', '%3D');
	ELSE RETURN upper(s);
	END IF;
END $$;
DO $$
DECLARE
	m text; p text; q text; h text; b text;
	r record;
	hj json;
BEGIN
	FOR i IN 1 .. current_setting('zt.requests')::int LOOP
		-- mostly a route's own method and path, so that most requests get
		-- past routing; sometimes any method, any path, mutated
		SELECT rm, rp INTO m, p FROM (VALUES ('GET', '/zstack/v1/twofactorauthentication/secrets'),
			('GET', '/zstack/v1/twofactorauthentication/secrets/f000'), ('GET', '/zstack/v1/twofactorauthentication/state'),
			('GET', '/zstack/v1/twofactorauthentication/secret'), ('PUT', '/zstack/v1/accounts/login'),
			('PUT', '/zstack/v1/iam2/virtual-ids/login'), ('PUT', '/zstack/v1/login'),
			('DELETE', '/zstack/v1/accounts/sessions/5e550000000000000000000000000002'),
			('GET', '/zstack/v1/accounts/sessions/5e550000000000000000000000000001/valid'),
			('PUT', '/zstack/v1/accounts/sessions/5e550000000000000000000000000002/renew')) r(rm, rp)
			ORDER BY random() LIMIT 1;
		IF random() < 0.2 THEN m := pg_temp.mutate(pg_temp.pick('method')); END IF;
		IF random() < 0.2 THEN p := pg_temp.mutate(pg_temp.pick('path')); END IF;
		q := (SELECT string_agg(pg_temp.mutate(pg_temp.pick('param')), '&') FROM generate_series(1, floor(random() * 6)::int));
		h := CASE floor(random() * 6)::int
			WHEN 0 THEN NULL WHEN 1 THEN '[1,2]' WHEN 2 THEN '"OAuth x"'
			ELSE json_build_object('Authorization', pg_temp.mutate(pg_temp.pick('auth')),
				'X-JSON-Schema', CASE WHEN random() < 0.5 THEN 'true' END,
				'X-Job-UUID', CASE WHEN random() < 0.3 THEN pg_temp.mutate('0123456789abcdef0123456789abcdef') END)::text END;
		b := CASE WHEN random() < 0.2 THEN NULL ELSE pg_temp.mutate(pg_temp.pick('body')) END;
		hj := h::json;
		BEGIN
			SELECT * INTO r FROM zstack_tfa.http_request(m, p, q, hj, b);
			INSERT INTO seen VALUES (r.status);
			IF r.status NOT IN (200, 400, 404, 405, 503)
				OR (r.status IN (200, 503)) <> (r.content_type = 'application/json; charset=utf-8')
				OR (r.status = 503 AND (r.body NOT LIKE '{"error":{"code":"%' OR r.body LIKE '%SYS.1000%'))
				OR (r.status = 200 AND r.body LIKE '{"error"%') THEN
				INSERT INTO bad VALUES ('reply', m, p, q, h, left(b, 200), r.status, left(r.body, 300));
			ELSIF r.content_type LIKE 'application/json%' THEN
				PERFORM r.body::json;	-- every JSON reply parses
			END IF;
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO bad VALUES ('raised: ' || SQLSTATE || ' ' || SQLERRM, m, p, q, h, left(b, 200), NULL, NULL);
		END;
	END LOOP;
END $$;
-- the JSON functions: conditions, sort, fields, limits; logins with odd
-- names and tags; secret fetches with odd types; sessions to validate and renew
DO $$
DECLARE
	conds text[];
	reply text;
BEGIN
	FOR i IN 1 .. current_setting('zt.requests')::int / 2 LOOP
		conds := ARRAY(SELECT pg_temp.mutate(substr(pg_temp.pick('param'), 3)) FROM generate_series(1, floor(random() * 4)::int));
		BEGIN
			reply := zstack_tfa.query_two_factor_authentication_json(
				(ARRAY['5e550000000000000000000000000001', '5e550000000000000000000000000002', 'x'])[1 + floor(random() * 3)::int],
				conds, (ARRAY[0, 1, 5, -1, 1000])[1 + floor(random() * 5)::int], (ARRAY[0, 1, -3])[1 + floor(random() * 3)::int],
				pg_temp.mutate((ARRAY['uuid', '-createDate', '+status', 'nope', ''])[1 + floor(random() * 5)::int]),
				ARRAY[pg_temp.mutate('uuid')], random() < 0.2, random() < 0.2)::text;
			IF reply LIKE '%SYS.1000%' THEN
				INSERT INTO bad VALUES ('query reply', NULL, NULL, array_to_string(conds, ' | '), NULL, NULL, NULL, left(reply, 300));
			END IF;
			reply := zstack_tfa.log_in_by_account(pg_temp.mutate('alice'), pg_temp.mutate('alice-password'),
				ARRAY[pg_temp.mutate('twofatoken::123456')])::text;
			reply := reply || zstack_tfa.log_in_by_iam2_virtual_id(pg_temp.mutate('alice-dev'), 'dev-password',
				ARRAY[pg_temp.mutate('twofatoken::123456')])::text;
			reply := reply || zstack_tfa.get_two_factor_authentication_secret(pg_temp.mutate('alice'), 'alice-password',
				pg_temp.mutate('account'))::text;
			reply := reply || zstack_tfa.validate_session(pg_temp.mutate('5e550000000000000000000000000002'))::text;
			reply := reply || zstack_tfa.renew_session('5e550000000000000000000000000001',
				pg_temp.mutate('5e550000000000000000000000000002'), (ARRAY[NULL, 60, 59, 7200])[1 + floor(random() * 4)::int])::text;
			IF reply LIKE '%SYS.1000%' THEN
				INSERT INTO bad VALUES ('life-cycle reply', NULL, NULL, NULL, NULL, NULL, NULL, left(reply, 300));
			END IF;
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO bad VALUES ('raised: ' || SQLSTATE || ' ' || SQLERRM, NULL, NULL, array_to_string(conds, ' | '), NULL, NULL, NULL, NULL);
		END;
	END LOOP;
END $$;
SELECT 'RESULT:' || (SELECT string_agg(status || '=' || n, ' ' ORDER BY status)
	FROM (SELECT status, count(*) AS n FROM seen GROUP BY 1) x) || E'\n' || count(*) || E'\n' || coalesce(string_agg(concat_ws(' | ', what, method, left(path, 80), left(query, 120),
	left(headers, 80), left(body, 80), status, reply), E'\n'), '') FROM (SELECT * FROM bad LIMIT 20) b;
SQL
my $result = $node->safe_psql('postgres', "SET zt.requests = $requests;\n" . $sql);
my ($statuses, $count, @examples) = split /\n/, ($result =~ s/^.*RESULT://sr);
note("replies by status: $statuses");
like($statuses, qr/^200=\d+ 400=\d+ 404=\d+ 405=\d+ 503=\d+$/, 'the requests reached every status (and no other)');
is($count, '0', "every one of $requests generated requests and " . ($requests / 2) . ' rounds of JSON calls got its documented answer')
  or diag(join("\n", @examples));

my $log = substr(slurp_file($node->logfile), $log_start);
my @noise = grep { /ERROR|FATAL|PANIC|WARNING|request failed|TRAP/ } split /\n/, $log;
is(scalar(@noise), 0, 'the server log stayed quiet') or diag(join("\n", @noise[0 .. ($#noise < 20 ? $#noise : 19)]));

$node->stop;
done_testing();
