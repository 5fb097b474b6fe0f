# Many concurrent logins present one valid TOTP code: exactly one per secret
# succeeds (replay protection under concurrency), and no secret or code ever
# reaches the server log.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $clients_per_account = 12;
my @accounts = ('alice', 'bob', 'carol');

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init;
# the log keeps what the server and the extension say (messages, details,
# context) but not the statements, which hold what this test typed
$node->append_conf('postgresql.conf', qq{max_connections = 100
log_statement = none
log_min_error_statement = panic
log_min_messages = info
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION zstack_tfa');
$node->safe_psql('postgres', "SELECT zstack_tfa.create_account('$_', '$_-password')")
  for @accounts;
$node->safe_psql('postgres', 'SELECT zstack_tfa.set_two_factor_authentication_enabled(true)');

# the codes of this moment; logins accept t-1..t+1, so a step boundary during
# the test does not matter
my %secret;
my %code;
for my $acct (@accounts)
{
	$secret{$acct} = $node->safe_psql('postgres',
		"SELECT zstack_tfa.get_two_factor_authentication_secret('$acct', '$acct-password')->'inventory'->>'secret'");
	like($secret{$acct}, qr/^[A-Z2-7]{16}$/, "$acct has a secret");
	$code{$acct} = $node->safe_psql('postgres', "SELECT zstack_tfa.totp('$secret{$acct}')");
}

# a gate: every client blocks on an advisory lock the test holds
my ($gate_in, $gate_out) = ('', '');
my $gate = IPC::Run::start(
	[ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') ],
	'<', \$gate_in, '>', \$gate_out, '2>', \$gate_out);
$gate_in .= "SELECT 'locked', pg_advisory_lock(4242);\n";
$gate->pump until $gate_out =~ /locked/;

my @clients;
for my $acct (@accounts)
{
	for my $i (1 .. $clients_per_account)
	{
		my $out = '';
		my $sql = "SELECT pg_advisory_lock_shared(4242); "
		  . "SELECT zstack_tfa.log_in_by_account('$acct', '$acct-password', ARRAY['twofatoken::$code{$acct}']);";
		my $h = IPC::Run::start(
			[ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c', $sql ],
			'>', \$out, '2>', \$out);
		push @clients, { account => $acct, handle => $h, out => \$out };
	}
}
my $total = scalar @clients;
$node->poll_query_until('postgres',
	"SELECT count(*) = $total FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
  or die "clients did not reach the gate";
$gate_in .= "SELECT pg_advisory_unlock(4242);\n\\q\n";
$gate->finish;

my %sessions;
my %refused;
for my $c (@clients)
{
	$c->{handle}->finish;
	my $out = ${ $c->{out} };
	if ($out =~ /"inventory":\{"uuid":"[0-9a-f]{32}"/)
	{
		$sessions{ $c->{account} }++;
	}
	elsif ($out =~ /"code":"ID\.2002"/)
	{
		$refused{ $c->{account} }++;
	}
	else
	{
		diag("unexpected reply: $out");
	}
}
for my $acct (@accounts)
{
	is($sessions{$acct} // 0, 1, "$acct: exactly one of $clients_per_account concurrent logins with one code succeeds");
	is($refused{$acct} // 0, $clients_per_account - 1, "$acct: the others get ID.2002");
}
is($node->safe_psql('postgres',
	"SELECT count(*) FROM zstack_tfa.auth_event WHERE kind = 'login' AND outcome = 'success'"),
	scalar @accounts, 'the audit log holds one success per account');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM zstack_tfa.session"),
	scalar @accounts, 'one session per account was created');

# the same code, once more, later: still refused
like($node->safe_psql('postgres',
	"SELECT zstack_tfa.log_in_by_account('alice', 'alice-password', ARRAY['twofatoken::$code{alice}'])"),
	qr/ID\.2002/, 'the used code stays used');

# error paths with secrets and codes in play: raised errors and refusals
$node->psql('postgres', "SELECT zstack_tfa.totp('$secret{alice}!')");
$node->psql('postgres', "SELECT zstack_tfa.otpauth_uri(lower('$secret{bob}'), 'bob')");
$node->psql('postgres', "SELECT zstack_tfa.log_in_by_account('bob', '$secret{bob}', ARRAY['twofatoken::$code{bob}'])");
$node->psql('postgres', "SELECT zstack_tfa.query_two_factor_authentication('x', ARRAY['secret=$secret{carol}', 'status=$code{carol}'])");
$node->psql('postgres', "SELECT zstack_tfa.totp_verify('$secret{carol}', '$code{carol}', 'infinity')");

# nothing of a secret or a code in the server log
my $log = slurp_file($node->logfile);
for my $acct (@accounts)
{
	unlike($log, qr/$secret{$acct}/, "${acct}'s secret is not in the server log");
	unlike($log, qr/twofatoken::$code{$acct}/, "${acct}'s code is not in the server log");
}

$node->stop;
done_testing();
