# Catching up by recomputing: with more WAL to decode than
# pg_flowview.recompute_backlog and than the source tables hold, the worker
# recomputes its views from a snapshot and skips, while decoding, the row
# changes that snapshot saw.  Views must equal their queries afterwards: with
# a transaction open across the recompute, a catalog change in the backlog,
# updates, deletes and a TRUNCATE.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('recompute', 'pg_flowview.recompute_backlog' => "'1MB'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id int PRIMARY KEY, g int, x int, note text);
	INSERT INTO t SELECT i, i % 7, i, 'n' FROM generate_series(1, 1000) i;
	SELECT flowview.create_view('by_g', $$SELECT g, count(*), sum(x), min(x), max(x) FROM t GROUP BY g$$);
	SELECT flowview.create_view('total', $$SELECT count(*) AS n, sum(x) AS s FROM t$$);
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '30 s')"), 't', 'views live');

my $oracle = q{
	SELECT (SELECT count(*) FROM ((SELECT * FROM by_g EXCEPT ALL SELECT g, count(*), sum(x), min(x), max(x) FROM t GROUP BY g)
	          UNION ALL (SELECT g, count(*), sum(x), min(x), max(x) FROM t GROUP BY g EXCEPT ALL SELECT * FROM by_g)) a)
	     + (SELECT count(*) FROM ((SELECT * FROM total EXCEPT ALL SELECT count(*), sum(x) FROM t)
	          UNION ALL (SELECT count(*), sum(x) FROM t EXCEPT ALL SELECT * FROM total)) b)};

$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
# a catalog change in the backlog (before the open transaction: it takes an
# ACCESS EXCLUSIVE lock)
$node->safe_psql('postgres', 'ALTER TABLE t ALTER note TYPE varchar(200)');
# a transaction open across the whole catch-up
my $open = $node->background_psql('postgres');
$open->query_safe("BEGIN; INSERT INTO t VALUES (-1, 3, 1000000, 'open')");
$node->safe_psql('postgres', q{
	INSERT INTO t SELECT i, i % 7, i, repeat('w', 100) FROM generate_series(1001, 30000) i;
	UPDATE t SET g = g + 1 WHERE id % 5 = 0;
	DELETE FROM t WHERE id % 11 = 0;
	INSERT INTO t SELECT i, i % 3, -i, 'late' FROM generate_series(30001, 40000) i;
	BEGIN; INSERT INTO t VALUES (-2, 1, 1, 'rolled back'); ROLLBACK;
	CREATE TABLE other1 AS SELECT i, repeat('o', 500) AS pad FROM generate_series(1, 100000) i;
});
$node->safe_psql('postgres', 'SELECT flowview.resume_apply()');
ok($node->wait_for_log(qr/to catch up on, more than 4 times the \d+ MB of the source tables: recomputing 2 live views instead/),
	'the worker recomputed instead of decoding the backlog');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'caught up');
is($node->safe_psql('postgres', $oracle), '0', 'views equal their queries after the recompute');

$open->query_safe('COMMIT');
$open->quit;
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'the open transaction applied');
is($node->safe_psql('postgres', q{SELECT max FROM by_g WHERE g = 3}), '1000000', 'its row is in the view');
is($node->safe_psql('postgres', $oracle), '0', 'views equal their queries');

# again, with a TRUNCATE in the backlog
$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$node->safe_psql('postgres', q{
	INSERT INTO t SELECT i, i % 7, i, repeat('y', 100) FROM generate_series(40001, 60000) i;
	TRUNCATE t;
	INSERT INTO t SELECT i, i % 4, i, repeat('z', 100) FROM generate_series(1, 20000) i;
	CREATE TABLE other2 AS SELECT i, repeat('o', 500) AS pad FROM generate_series(1, 100000) i;
});
$node->safe_psql('postgres', 'SELECT flowview.resume_apply()');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'caught up again');
is($node->safe_psql('postgres', $oracle), '0', 'views equal their queries after TRUNCATE in the backlog');

# the worker rereads its settings on reload (SIGHUP): with
# recompute_backlog = 0 it decodes the whole backlog
$node->safe_psql('postgres', q{ALTER SYSTEM SET pg_flowview.recompute_backlog = 0; SELECT pg_reload_conf()});
$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$node->safe_psql('postgres', q{
	INSERT INTO t SELECT i, i % 5, i, repeat('r', 100) FROM generate_series(20001, 50000) i;
	DELETE FROM t WHERE id % 3 = 0;
	CREATE TABLE other3 AS SELECT i, repeat('o', 500) AS pad FROM generate_series(1, 100000) i;
});
$node->safe_psql('postgres', 'SELECT flowview.resume_apply()');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'caught up by decoding');
is($node->safe_psql('postgres', $oracle), '0', 'views equal their queries');
my $log = slurp_file($node->logfile);
my $n = () = $log =~ /recomputing \d+ live views instead/g;
is($n, 2, 'no recompute after recompute_backlog was set to 0 by a reload');

$node->stop;
done_testing();
