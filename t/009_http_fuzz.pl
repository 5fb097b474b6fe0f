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
use IO::Socket::INET;

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
	'/zstack/v1/twofactorauthentication/recovery-codes',
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
	'{"renewSession":{"duration":600.0}}', '{"renewSession":{"duration":600.5}}', '{"renewSession":{"duration":-1e308}}',
	'{"resetTwoFactorAuthenticationSecret":{"name":"alice","password":"alice-password","type":"account"},"systemTags":[],"userTags":[]}',
	'{"resetTwoFactorAuthenticationSecret":{"name":"alice-dev","password":"dev-password","type":"iam2","captchaUuid":null}}',
	'{"resetTwoFactorAuthenticationSecret":{"name":"alice","password":"x","type":"root"}}', '{"resetTwoFactorAuthenticationSecret":null}',
	'{"logInByAccount":{"accountName":"alice","password":"alice-password","accountType":"iam2"}}',
	'{"params":{"password":"alice-password"},"systemTags":[],"userTags":[]}', '{"params":{"password":"x"}}',
	'{"params":{"password":{"a":1}}}', '{"params":null}',
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
			('PUT', '/zstack/v1/accounts/sessions/5e550000000000000000000000000002/renew'),
			('PUT', '/zstack/v1/twofactorauthentication/secrets'),
			('POST', '/zstack/v1/twofactorauthentication/recovery-codes')) r(rm, rp)
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

# The same server over real HTTP, nginx and PostgREST in front (README's
# site, scripts/http.sh): bytes that are not UTF-8 in every part of a
# request ZStack reads get ZStack's plain-text 400 for that part, never
# PostgREST's 500 nor PostgreSQL's 22021 in PostgREST's JSON (issue 18 item
# 8); valid UTF-8 in the same places passes through.
my $root = $ENV{ZT_ROOT} or die 'ZT_ROOT (the repository) must be set; scripts/lib.sh zt_run_tap sets it';
$node->safe_psql('postgres', slurp_file("$root/postgrest/api.sql"));
my $stack = `cd '$root' && PGHOST='@{[ $node->host ]}' PGPORT=@{[ $node->port ]} bash -c '. scripts/lib.sh; . scripts/http.sh; ZT_POSTGREST=\$ZT_ROOT/.tools/postgrest-\$ZT_POSTGREST_VERSION/package/postgrest; zt_start_http_stack postgres >&2 && echo \$ZT_HTTP \$ZT_HTTP_DIR'`;
my ($base, $http_dir) = split ' ', $stack;
my ($http_port) = ($base // '') =~ m{^http://127\.0\.0\.1:(\d+)$} or BAIL_OUT('the HTTP stack did not start');

# one request as raw bytes (HTTP/1.0: the reply is not chunked); returns
# status, Content-Type and body
sub raw_http
{
	my ($method, $target, $headers, $body) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $http_port, Proto => 'tcp')
	  or die "connect: $!";
	binmode $sock;
	my $req = "$method $target HTTP/1.0\r\nHost: 127.0.0.1\r\n";
	$req .= "$_->[0]: $_->[1]\r\n" for @$headers;
	$req .= 'Content-Length: ' . length($body // '') . "\r\n\r\n" . ($body // '');
	print $sock $req;
	local $/;
	my $reply = <$sock>;
	close $sock;
	my ($head, $content) = split /\r\n\r\n/, $reply, 2;
	my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
	my ($ctype) = $head =~ m{^Content-Type: ([^\r\n]*)}mi;
	return ($status, $ctype // '', $content // '');
}

my $api = '/zstack/v1/twofactorauthentication';
my $admin = [ 'Authorization', 'OAuth 5e550000000000000000000000000001' ];
my %text = (
	path => 'Invalid path: it is not valid percent-encoded UTF-8',
	query => 'Invalid query string: a parameter is not valid percent-encoded UTF-8',
	authorization => 'Invalid header[Authorization], it is not valid UTF-8',
	json_schema => 'Invalid header[X-JSON-Schema], it is not valid UTF-8',
	job_uuid => "Invalid header[X-Job-UUID], it must be a UUID with '-' stripped",
	body => 'Invalid request body: it is not valid JSON');
# each place a byte string X can go: [ part, method, target, headers, body ]
sub places
{
	my ($x) = @_;
	my $login = qq({"logInByAccount":{"accountName":"$x","password":"alice-password"}});
	return (
		[ 'path', 'GET', "$api/secrets/f0$x", [$admin] ],
		[ 'path', 'GET', "/zstack/v1/accounts/sessions/$x/valid", [] ],
		[ 'path', 'PUT', "/zstack/v1/accounts/lo${x}gin", [], $login ],
		[ 'query', 'GET', "$api/secrets?q=uuid=$x", [$admin] ],
		[ 'query', 'GET', "$api/secrets?limit=1&$x=1", [$admin] ],
		[ 'query', 'GET', "$api/secret?name=alice$x&password=alice-password&type=account", [] ],
		[ 'authorization', 'GET', "$api/secrets", [ [ 'Authorization', "OAuth $x" ] ] ],
		[ 'authorization', 'GET', "$api/secrets", [ [ 'Authorization', $x ] ] ],
		[ 'authorization', 'PUT', '/zstack/v1/accounts/sessions/5e550000000000000000000000000002/renew',
			[ [ 'Authorization', "OAuth 5e550000000000000000000000000002$x" ] ], '{"renewSession":{"duration":600}}' ],
		[ 'json_schema', 'GET', "$api/state", [ [ 'X-JSON-Schema', $x ] ] ],
		[ 'json_schema', 'PUT', '/zstack/v1/login', [ [ 'X-JSON-Schema', "true$x" ] ], '{}' ],
		[ 'job_uuid', 'PUT', '/zstack/v1/accounts/login', [ [ 'X-Job-UUID', "0123456789abcdef0123456789abcde$x" ] ], $login ],
		[ 'body', 'PUT', '/zstack/v1/accounts/login', [], $login ],
		[ 'body', 'PUT', '/zstack/v1/iam2/virtual-ids/login', [], qq({"loginIAM2VirtualID":{"name":"alice-dev","password":"$x"}}) ],
		[ 'body', 'PUT', '/zstack/v1/login', [], "$x" ],
		[ 'body', 'PUT', '/zstack/v1/accounts/sessions/5e550000000000000000000000000002/renew', [$admin],
			qq({"renewSession":{"duration":600}}$x) ]);
}
# Latin-1, a lone continuation, 0xff, truncated sequences, an overlong
# slash, a surrogate, a code point past U+10FFFF, 0xfe, and a NUL in the body
my @bad = ("\xe9", "\x80", "\xff", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xc0\xaf", "\xed\xa0\x80",
	"\xf4\x90\x80\x80", "\xfe", "caf\xe9-au-lait");
my ($sent, @wrong) = (0);
for my $x (@bad)
{
	for my $p (places($x))
	{
		my ($part, $method, $target, $headers, $body) = @$p;
		my ($status, $ctype, $content) = raw_http($method, $target, $headers, $body);
		$sent++;
		push @wrong, sprintf('%s %s (%s, %s): %s %s %s', $method, unpack('H*', $x), $part, $target =~ s/[^ -~]/?/gr,
			$status // '-', $ctype, substr($content, 0, 120))
		  unless ($status // 0) == 400 && $ctype eq 'text/plain; charset=utf-8' && $content eq $text{$part};
	}
}
is(scalar(@wrong), 0, "$sent requests with bytes that are not UTF-8 in the path, the query string, each header ZStack reads and the body: each gets ZStack's 400 for that part")
  or diag(join "\n", @wrong[0 .. ($#wrong < 20 ? $#wrong : 19)]);
is(join('|', raw_http('PUT', '/zstack/v1/accounts/login', [], "{\"a\":\"\x00\"}")),
	"400|text/plain; charset=utf-8|$text{body}", 'a body with a NUL byte (which no PostgreSQL text holds) gets the same 400');
# valid UTF-8 (2-, 3- and 4-byte sequences) in the same places is no such 400
@wrong = ();
for my $x ("\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80")
{
	for my $p (places($x))
	{
		my ($part, $method, $target, $headers, $body) = @$p;
		my ($status, $ctype, $content) = raw_http($method, $target, $headers, $body);
		push @wrong, sprintf('%s (%s): %s %s', $target =~ s/[^ -~]/?/gr, $part, $status // '-', substr($content, 0, 120))
		  if !defined $status || $status == 500 || $content =~ /not valid UTF-8|22021|Something went wrong/;
	}
}
is(scalar(@wrong), 0, 'valid UTF-8 in every one of those places gets past the check') or diag(join "\n", @wrong);
system("bash -c '. \"$root/scripts/lib.sh\"; . \"$root/scripts/http.sh\"; ZT_HTTP_DIR=$http_dir zt_stop_http_stack'");

my $log = substr(slurp_file($node->logfile), $log_start);
my @noise = grep { /ERROR|FATAL|PANIC|WARNING|request failed|TRAP/ } split /\n/, $log;
is(scalar(@noise), 0, 'the server log stayed quiet') or diag(join("\n", @noise[0 .. ($#noise < 20 ? $#noise : 19)]));

$node->stop;
done_testing();
