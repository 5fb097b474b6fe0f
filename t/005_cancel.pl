# statement_timeout and a cancel during large queries leave nothing behind:
# the error is PostgreSQL's (never swallowed into a SYS.1000 reply), no
# cursor or half-done write remains, and the session goes on working.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('cancel');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION zstack_tfa;
	INSERT INTO zstack_tfa.account (uuid, name) VALUES ('a0000000000000000000000000000099', 'bulk');
	INSERT INTO zstack_tfa.iam2_virtual_id (uuid, name, account_uuid)
	SELECT md5('u' || i), 'user' || i, 'a0000000000000000000000000000099' FROM generate_series(1, 300000) i;
	INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid)
	SELECT md5('s' || i), 'JBSWY3DPEHPK3PXP', md5('u' || i), 'IAM2VirtualIDVO', 'a0000000000000000000000000000099'
	FROM generate_series(1, 300000) i;
	-- session 1 is used only by calls that get cancelled, session 2 checks
	-- that the backend works on
	INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, expired_date) VALUES
	(zstack_tfa.session_key('5e550000000000000000000000000001'), '36c27e8ff05c4780bf6d2fa65700f22e', '36c27e8ff05c4780bf6d2fa65700f22e',
	 now() + interval '1 hour'),
	(zstack_tfa.session_key('5e550000000000000000000000000002'), '36c27e8ff05c4780bf6d2fa65700f22e', '36c27e8ff05c4780bf6d2fa65700f22e',
	 now() + interval '1 hour');
});
my $expiry = q{SELECT expired_date FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000001')};
my $before = $node->safe_psql('postgres', $expiry);

my @big = (
	[ 'the JSON query', q{SELECT length(zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', '{}', 300000, 0, '-createDate')::text)} ],
	[ 'the set-returning query', q{SELECT count(*) FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001', '{}', 300000, 0, 'secret')} ],
	[ 'http_request', q{SELECT length(body) FROM zstack_tfa.http_request('GET', '/zstack/v1/twofactorauthentication/secrets', 'limit=300000&sort=-uuid', '{"Authorization":"OAuth 5e550000000000000000000000000001"}')} ],
);
for my $case (@big)
{
	my ($name, $sql) = @$case;
	# one session: the timeout fires, then the same session checks what is left
	my ($rc, $out, $err) = $node->psql('postgres', qq{
		SET statement_timeout = '30ms';
		$sql;
		RESET statement_timeout;
		SELECT 'cursors=' || count(*) FROM pg_cursors;
		SELECT 'prepared=' || count(*) FROM pg_prepared_statements;
		SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000002', '{uuid=x}');
	}, on_error_stop => 0);
	like($err, qr/canceling statement due to statement timeout/, "$name: statement_timeout cancels it");
	unlike($out, qr/SYS\.1000/, "$name: the timeout is not turned into a SYS.1000 reply");
	like($out, qr/cursors=0/, "$name: no cursor is left open");
	like($out, qr/prepared=0/, "$name: no prepared statement is left");
	like($out, qr/\{"schema":\{\},"inventories":\[\]\}/, "$name: the session works on");
}
is($node->safe_psql('postgres', $expiry), $before, 'the cancelled calls extended no session (their writes rolled back)');
$node->safe_psql('postgres', q{SELECT zstack_tfa.query_two_factor_authentication_json('5e550000000000000000000000000001', '{uuid=x}')});
isnt($node->safe_psql('postgres', $expiry), $before, '(a call that completes does extend it)');

# a cancel from another session, in the middle of a big page
my ($in, $out, $err) = ('', '', '');
my $h = IPC::Run::start(
	[ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
	  q{SELECT count(*) FROM zstack_tfa.query_two_factor_authentication('5e550000000000000000000000000001', '{}', 300000, 0, 'secret'), pg_sleep(0) s, generate_series(1, 20)} ],
	'<', \$in, '>', \$out, '2>', \$err);
$node->poll_query_until('postgres', q{
	SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	WHERE query LIKE '%generate_series(1, 20)%' AND pid <> pg_backend_pid() AND state = 'active'})
  or die 'no query to cancel';
$h->finish;
like($err, qr/canceling statement due to user request/, 'a cancel request stops a big query');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 20)%' AND pid <> pg_backend_pid()}),
	'0', 'and nothing of it keeps running');

$node->stop;
done_testing();
