# pg_flowview removed from shared_preload_libraries (the extension still
# installed): no function crashes.  Those that need the apply worker refuse
# with 55000 and a hint to preload the library; those that read its shared
# state answer as if no worker ever ran; drop_view still works (it used to
# crash in _forget_stats).  Every function of schema flowview is also
# called with NULL and malformed arguments (FlowviewCalls), with a sentinel
# session connected throughout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;
use FlowviewCalls;

my $node = FlowviewTest::node('not_preloaded');
$node->append_conf('postgresql.conf', "restart_after_crash = off\n");
$node->start;
FlowviewCalls::fixture($node, q{
	SELECT flowview.create_view('v2', 'SELECT g, count(*) AS n FROM src GROUP BY g');
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views live');

$node->stop;
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->start;
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), '', 'restarted without preloading pg_flowview');

my $sentinel = $node->background_psql('postgres');
$sentinel->query_safe('SELECT 1');

my %refused = (
	create_view => q{flowview.create_view('v3', 'SELECT g, count(*) AS n FROM src GROUP BY g')},
	pause_apply => q{flowview.pause_apply()},
	resume_apply => q{flowview.resume_apply()},
	wait_for_freshness => q{flowview.wait_for_freshness('v1', '1 s')},
);
for my $f (sort keys %refused)
{
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT $refused{$f}");
	like($err, qr/ERROR:  55000: .*requires pg_flowview to be loaded through shared_preload_libraries.*\nHINT:  Add pg_flowview to shared_preload_libraries/s,
		"$f refused with 55000 and the hint");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM flowview.freshness()'), '2', 'flowview.freshness answers');
is($node->safe_psql('postgres', 'SELECT count(*) FROM flowview.stats'), '2', 'flowview.stats answers');
is($node->safe_psql('postgres', 'SELECT flowview._applied_lsn() IS NULL'), 't', 'no applied position');
$node->safe_psql('postgres', "SELECT flowview.drop_view('v2')");
is($node->safe_psql('postgres', "SELECT count(*) FROM flowview.views"), '1', 'drop_view works');

my $ncalls = 0;
FlowviewCalls::call_all($node, sub {
	my ($what, $sql, $state, $ret, $err) = @_;
	$ncalls++;
	ok($ret != 2 && $state ne 'lost' && $err !~ /FATAL|PANIC/, "$what: $sql keeps its connection") or diag($err);
	isnt($state, 'XX000', "$what: $sql gives no internal error") or diag($err);
});
note "$ncalls calls";

is($sentinel->query_safe('SELECT 42'), '42', 'sentinel session still connected');
$sentinel->quit;
unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated/, 'no process terminated by a signal');

# preloaded again: the remaining view is kept live
$node->stop;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_flowview'\n");
$node->start;
$node->safe_psql('postgres', "INSERT INTO src VALUES (100, 'g9', 'u1', 5)");
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v1', '60 s')"), 't', 'v1 fresh once preloaded again');
is(FlowviewTest::differences($node, 'v1', 'SELECT g, org, count(*) AS n, sum(v) AS s FROM src GROUP BY g, org'), '',
	'v1 equals its query');
$node->stop;
done_testing();
