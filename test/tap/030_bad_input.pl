# No input crashes the server: every function of schema flowview, found in
# pg_proc (so functions added later are covered without editing this file),
# is called with NULL in each argument position and with malformed values
# (empty and garbage text, unknown OIDs, negative and huge numbers and
# intervals) while the other arguments are plausible.  Each call must
# succeed or fail with an ERROR: never lose its connection.  A sentinel
# session stays connected throughout (a backend crash ends every session)
# and the server log must have no "terminated by signal".  No call may
# give SQLSTATE XX000 (an elog without errcode, or an internal error):
# every failure names a real condition.  The SQLSTATE of every call
# is printed (note) for the record.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;
use FlowviewCalls;

my $node = FlowviewTest::node('bad_input');
$node->append_conf('postgresql.conf', "restart_after_crash = off\n");
$node->start;
FlowviewCalls::fixture($node);
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v1', '60 s')"), 't', 'v1 live');

my $sentinel = $node->background_psql('postgres');
# the timeout per query, not for the session: the calls below take minutes
# on a loaded machine
$sentinel->set_query_timer_restart();
$sentinel->query_safe('SELECT 1');

my $nfuncs = $node->safe_psql('postgres', "SELECT count(*) FROM pg_proc WHERE pronamespace = 'flowview'::regnamespace");
cmp_ok($nfuncs, '>=', 40, "$nfuncs functions of schema flowview found in pg_proc");
my $ncalls = 0;
my $states = FlowviewCalls::call_all($node, sub {
	my ($what, $sql, $state, $ret, $err) = @_;
	$ncalls++;
	ok($ret != 2 && $state ne 'lost' && $err !~ /FATAL|PANIC/, "$what: $sql keeps its connection") or diag($err);
	isnt($state, 'XX000', "$what: $sql gives no internal error") or diag($err);
});
my %states = %$states;

# again as a flowview_admin member, and as a role without any privilege
# (internal functions may refuse them: still no crash, no internal error)
$node->safe_psql('postgres', q{
	CREATE ROLE fv_admin_user LOGIN IN ROLE flowview_admin;
	CREATE ROLE fv_nobody LOGIN;
	GRANT SELECT ON src TO fv_admin_user;
	GRANT ALL ON SCHEMA public TO fv_admin_user;
});
for my $role ('fv_admin_user', 'fv_nobody')
{
	my $st = FlowviewCalls::call_all($node, sub {
		my ($what, $sql, $state, $ret, $err) = @_;
		$ncalls++;
		ok($ret != 2 && $state ne 'lost' && $err !~ /FATAL|PANIC/, "as $role, $what: $sql keeps its connection") or diag($err);
		isnt($state, 'XX000', "as $role, $what: $sql gives no internal error") or diag($err);
	}, $role);
	for my $f (keys %$st)
	{
		$states{"$f as $role"} = $st->{$f};
	}
}

for my $f (sort keys %states)
{
	note sprintf('%-44s %s', $f, join(' ', map { "$_:$states{$f}{$_}" } sort keys %{ $states{$f} }));
}
note "$ncalls calls";

# the sentinel survived: no backend crashed meanwhile
is($sentinel->query_safe('SELECT 42'), '42', 'sentinel session still connected');
$sentinel->quit;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|server process .* was terminated/, 'no process terminated by a signal');
is(FlowviewTest::differences($node, 'v1', 'SELECT g, org, count(*) AS n, sum(v) AS s FROM src GROUP BY g, org'), '',
	'v1 still equals its query');
$node->stop;
done_testing();
