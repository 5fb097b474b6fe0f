# The SQL a query runs, and the plans a backend keeps:
# - the owner rule is a fence: in every plan for a Normal account or an IAM2
#   user, the caller's conditions (parameters $2 and up) are applied above a
#   subquery scan whose rows were already limited to the caller's own by $1,
#   so no condition is evaluated on a row the caller may not see;
# - a backend's memory stays flat while a caller sends 10,000 new query
#   shapes (kept plans are bounded and the least recently used are freed).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('plans');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION zstack_tfa;
	SELECT zstack_tfa.create_account('alice', 'alice-password');
	SELECT zstack_tfa.create_account('bob', 'bob-password');
	SELECT zstack_tfa.create_iam2_virtual_id('alice', 'alice-dev', 'dev-password');
	SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
	SELECT zstack_tfa.get_two_factor_authentication_secret('alice-dev', 'dev-password', 'iam2');
	-- enough rows that the planner would rather use the other indexes
	INSERT INTO zstack_tfa.account (uuid, name)
		SELECT md5('a' || i), 'acct' || i FROM generate_series(1, 2000) i;
	INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid)
		SELECT md5('s' || i), 'JBSWY3DPEHPK3PXP', md5('a' || i), 'AccountVO', md5('a' || i)
		FROM generate_series(1, 2000) i;
	ANALYZE;
});
# 2FA is on: a Normal account and an IAM2 user log in with the current code
my @sessions;
for my $who ([ 'bob', 'bob-password', 'log_in_by_account', 'account' ],
	[ 'alice-dev', 'dev-password', 'log_in_by_iam2_virtual_id', 'iam2' ])
{
	my ($name, $pw, $fn, $type) = @$who;
	my $s = $node->safe_psql('postgres', qq{SELECT zstack_tfa.$fn('$name', '$pw', ARRAY['twofatoken::' ||
		zstack_tfa.totp(zstack_tfa.get_two_factor_authentication_secret('$name', '$pw', '$type')->'inventory'->>'secret')])->'inventory'->>'uuid'});
	like($s, qr/^[0-9a-f]{32}$/, "$name logs in");
	push @sessions, $s;
}

# every plan of a non-admin query, as auto_explain logs it to the client
my @shapes = (
	q{ARRAY['uuid?=' || md5('s1') || ',x']},
	q{ARRAY['secret~=JB%', 'userUuid=' || md5('a7')]},
	q{ARRAY['userUuid=' || md5('a7')], sort => '-createDate'},
	q{ARRAY['createDate>2020-01-01', 'status=NewCreated', 'userType!=IAM2VirtualIDVO']},
	q{ARRAY['uuid!~=%x', 'lastOpDate<=1900000000000'], count => true},
	q{ARRAY['secret?=JBSWY3DPEHPK3PXP'], reply_with_count => true},
);
my $plans = 0;
for my $s (@sessions)
{
	for my $shape (@shapes)
	{
		my ($ret, $out, $err) = $node->psql('postgres', qq{
			LOAD 'auto_explain';
			SET auto_explain.log_min_duration = 0;
			SET auto_explain.log_nested_statements = on;
			SET client_min_messages = log;
			SELECT zstack_tfa.query_two_factor_authentication_json('$s', $shape);
		});
		is($ret, 0, "query runs: $shape");
		# the plans of the SQL our function ran
		for my $plan (split /LOG:  duration: [0-9.]+ ms  plan:\n/, $err)
		{
			next unless $plan =~ /^Query Text: SELECT .* FROM \(SELECT \* FROM zstack_tfa\.secret WHERE (\w+) = \$1 OFFSET 0\) s/;
			$plans++;
			my @lines = split /\n/, $plan;
			my ($fence) = grep { $lines[$_] =~ /Subquery Scan on s/ } 0 .. $#lines;
			ok(defined $fence, "a subquery scan fences the rows ($shape)") or next;
			# below the fence: the plan nodes under the subquery scan, which
			# may use only the owner rule, $1
			my $col = length(($lines[$fence] =~ /^(\s*)/)[0]);
			my ($child) = grep { $lines[$_] =~ /->/ } $fence + 1 .. $#lines;
			my @below = defined $child
			  ? grep { length((/^(\s*)/)[0]) > $col } @lines[ $child .. $#lines ] : ();
			my @params_below = map { /(\$\d+)/g } @below;
			is_deeply([ sort { $a cmp $b } keys %{ { map { $_ => 1 } @params_below } } ], [ '$1' ],
				"below the fence only the owner parameter \$1 is used ($shape)")
			  or diag($plan);
			# the caller's conditions, if any, are filtered above it
			if ($plan =~ /WHERE true AND/)
			{
				like(join("\n", @lines[ 0 .. $fence + 1 ]), qr/Filter: .*\$2/,
					"the caller's conditions filter the fenced rows ($shape)");
			}
		}
	}
}
cmp_ok($plans, '>=', 2 * @shapes, "every query's plan was read ($plans plans)");

# 10,000 new query shapes in one backend: each is a different set of
# conditions; memory after 2,000 (the plan cache long full) and after
# 12,000 must be the same to within 1 MB
my $memory = $node->safe_psql('postgres', q{
	CREATE TEMP TABLE atoms AS SELECT a, i FROM unnest(ARRAY['uuid=x', 'uuid!=x', 'secret=x',
		'secret~=x%', 'userUuid=x', 'userUuid?=x,y', 'userType=AccountVO', 'status=Logined',
		'createDate>1', 'createDate<2', 'lastOpDate>=1', 'lastOpDate<=2', 'status!=NewCreated',
		'uuid!?=a']) WITH ORDINALITY t(a, i);
	CREATE TEMP TABLE memory (after int, bytes bigint, plans bigint);
	CREATE FUNCTION pg_temp.shapes(first int, last int) RETURNS void LANGUAGE plpgsql AS $$
	DECLARE
		s text := (SELECT uuid FROM zstack_tfa.session WHERE user_uuid = (SELECT uuid FROM zstack_tfa.account WHERE name = 'bob') LIMIT 1);
	BEGIN
		FOR n IN first .. last LOOP
			PERFORM zstack_tfa.query_two_factor_authentication_json(s,
				ARRAY(SELECT a FROM atoms WHERE (n >> (i::int - 1)) & 1 = 1 ORDER BY i));
		END LOOP;
		INSERT INTO memory SELECT last,
			(SELECT sum(total_bytes) FROM pg_backend_memory_contexts),
			(SELECT count(*) FROM pg_backend_memory_contexts WHERE name = 'CachedPlanSource');
	END $$;
	SELECT pg_temp.shapes(1, 2000);
	SELECT pg_temp.shapes(2001, 12000);
	SELECT string_agg(after || ':' || bytes || ':' || plans, ' ' ORDER BY after) FROM memory;
});
$memory = (split /\n/, $memory)[-1];
my %m = map { my ($after, $bytes, $plans) = split /:/; ($after => [ $bytes, $plans ]) } split / /, $memory;
note("backend memory after 2,000 shapes: $m{2000}[0] bytes, $m{2000}[1] plans; after 12,000: $m{12000}[0] bytes, $m{12000}[1] plans");
cmp_ok($m{12000}[0] - $m{2000}[0], '<', 1024 * 1024, 'memory is flat after 10,000 more query shapes');
cmp_ok($m{12000}[1], '<=', 100, 'at most 64 query plans kept (plus the fixed statements)');

$node->stop;
done_testing();
