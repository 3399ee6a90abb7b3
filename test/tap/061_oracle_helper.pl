# The oracle helper itself (FlowviewTest::differences): it reports rows on
# either side only, and refuses to call an empty view equal to an empty
# query unless the caller says empty is expected (a view that never got a
# row, over a workload that failed to write any, would otherwise pass).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('oracle');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (g int, x int);
	SELECT flowview.create_view('v', $$SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g$$);
});
my $q = 'SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g';
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v', '30 s')"), 't', 'view live');

like(FlowviewTest::differences($node, 'v', $q), qr/^both empty: /, 'empty view and empty query: reported');
is(FlowviewTest::differences($node, 'v', $q, empty_ok => 1), '', 'empty view and empty query: equal when expected');

$node->safe_psql('postgres', 'INSERT INTO t VALUES (1, 10), (1, 5), (2, 7)');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v', '30 s')"), 't', 'view fresh');
is(FlowviewTest::differences($node, 'v', $q), '', 'equal non-empty sides: no difference');

# the query sees a row the view does not have, and the other way round
is(FlowviewTest::differences($node, 'v', "$q UNION ALL SELECT 3, 1, 1"), 'query only: (3,1,1)',
	'a row only in the query is reported');
is(FlowviewTest::differences($node, 'v', "SELECT * FROM ($q) x WHERE g <> 2"), 'view only: (2,1,7)',
	'a row only in the view is reported');
is(FlowviewTest::differences($node, 'v', "$q UNION ALL SELECT 1, 2, 15"), 'query only: (1,2,15)',
	'a duplicate row (EXCEPT ALL) is reported');
$node->stop;
done_testing();
