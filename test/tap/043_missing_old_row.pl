# A source change without the old row (REPLICA IDENTITY not FULL, which
# pg_flowview refuses to set; here forced in the catalog, as a partition
# attached while its event triggers were off could have it): the worker
# does not stop or restart; the source's views go to state error with a
# hint that recovers (REPLICA IDENTITY FULL, then refresh_view), views of
# other sources stay live and fresh.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('missing_old');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE a (id int PRIMARY KEY, g int, x int);
	CREATE TABLE b (g int, x int);
	INSERT INTO a SELECT i, i % 3, i FROM generate_series(1, 100) i;
	INSERT INTO b SELECT i % 3, i FROM generate_series(1, 100) i;
	SELECT flowview.create_view('va', 'SELECT g, count(*) AS n, sum(x) AS s FROM a GROUP BY g');
	SELECT flowview.create_view('vb', 'SELECT g, count(*) AS n, sum(x) AS s FROM b GROUP BY g');
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views populated');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type LIKE 'pg_flowview apply%'});
ok($pid =~ /^\d+$/, 'apply worker running');

$node->safe_psql('postgres', q{
	UPDATE pg_class SET relreplident = 'd' WHERE oid = 'a'::regclass;
	UPDATE a SET x = x + 1000 WHERE id <= 10;
	INSERT INTO b VALUES (1, 1);
});
$node->poll_query_until('postgres', q{SELECT state = 'error' FROM flowview.views WHERE view = 'va'::regclass})
  or die 'va did not go to error';
like($node->safe_psql('postgres', q{SELECT error FROM flowview.views WHERE view = 'va'::regclass}),
	qr/an UPDATE or DELETE of table public\.a lacks the old row/, 'the error names the table');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('va', '1 s')"), 'f', 'va is not fresh');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('vb', '30 s')"), 't', 'vb stays fresh');
is(FlowviewTest::differences($node, 'vb', 'SELECT g, count(*) AS n, sum(x) AS s FROM b GROUP BY g'), '', 'vb equals its query');
$node->safe_psql('postgres', 'INSERT INTO b VALUES (2, 2); UPDATE a SET x = x + 1 WHERE id = 50');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('vb', '30 s')"), 't', 'vb still fresh');
is($node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type LIKE 'pg_flowview apply%'}),
	$pid, 'the worker neither stopped nor restarted');
like(slurp_file($node->logfile),
	qr/HINT:  The view is now in state error: run ALTER TABLE public\.a REPLICA IDENTITY FULL, then SELECT flowview\.refresh_view\('va'\)/,
	'the log gives the fix');

# the hint recovers
$node->safe_psql('postgres', q{ALTER TABLE a REPLICA IDENTITY FULL; SELECT flowview.refresh_view('va')});
$node->safe_psql('postgres', 'UPDATE a SET x = x + 1 WHERE id <= 20; DELETE FROM a WHERE id > 90');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'fresh after the fix');
is($node->safe_psql('postgres', "SELECT string_agg(view || ' ' || state, ', ' ORDER BY view) FROM flowview.views"),
	'va live, vb live', 'both views live');
is(FlowviewTest::differences($node, 'va', 'SELECT g, count(*) AS n, sum(x) AS s FROM a GROUP BY g'), '', 'va equals its query');
unlike(slurp_file($node->logfile), qr/terminated by signal|exited with exit code 1/, 'no worker crash');
$node->stop;
done_testing();
