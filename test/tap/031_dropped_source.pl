# A view and its source dropped between the apply worker's catalog read and
# its use of them: the worker skips them, it never crashes.
#
# Deterministic part: two views over two sources; a session holds a lock on
# the first view's storage, so the worker, applying a batch with rows of
# both sources, waits in the first view's apply with its view list already
# read.  Meanwhile the second view is dropped (drop_view) and then its
# source (DROP TABLE).  The lock goes; the worker must skip the vanished
# source (it used to build SQL from its now NULL name: signal 11).
# Then the racy sequence of the issue (write, drop_view, DROP TABLE) in a
# loop.  Throughout, the worker keeps its PID, the log has no "terminated
# by signal", and the surviving view equals its query.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;
use Time::HiRes qw(usleep);

my $node = FlowviewTest::node('dropped_source');
$node->append_conf('postgresql.conf', "restart_after_crash = off\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE keep_src (id serial PRIMARY KEY, g int, v int);
	CREATE TABLE drop_src (id serial PRIMARY KEY, g int, v int);
	INSERT INTO keep_src (g, v) SELECT i % 5, i FROM generate_series(1, 100) i;
	INSERT INTO drop_src (g, v) SELECT i % 5, i FROM generate_series(1, 100) i;
	SELECT flowview.create_view('keep_v', 'SELECT g, count(*) AS n, sum(v) AS s FROM keep_src GROUP BY g');
	SELECT flowview.create_view('drop_v', 'SELECT g, count(*) AS n, sum(v) AS s FROM drop_src GROUP BY g');
});
my $keep_q = 'SELECT g, count(*) AS n, sum(v) AS s FROM keep_src GROUP BY g';
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views live');
my $worker = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply'");
ok($worker =~ /^\d+$/, "apply worker runs ($worker)");
my $store = $node->safe_psql('postgres', "SELECT flowview.storage_table('keep_v')");

# the worker stops inside the batch at keep_v's storage
my $locker = $node->background_psql('postgres');
$locker->query_safe("BEGIN; LOCK TABLE $store IN ACCESS EXCLUSIVE MODE");
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO keep_src (g, v) VALUES (1, 1000);
	INSERT INTO drop_src (g, v) VALUES (1, 1000);
	COMMIT;
});
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) > 0 FROM pg_locks WHERE pid = $worker AND NOT granted AND relation = '$store'::regclass}),
	'the worker waits in the batch, its view list read');
$node->safe_psql('postgres', "SELECT flowview.drop_view('drop_v')");
$node->safe_psql('postgres', 'DROP TABLE drop_src');
$locker->query_safe('COMMIT');
$locker->quit;
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('keep_v', '60 s')"), 't',
	'keep_v fresh after the batch');
is(FlowviewTest::differences($node, 'keep_v', $keep_q), '', 'keep_v equals its query');
is($node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply'"), $worker,
	'the same apply worker still runs');

# the issue's sequence, repeatedly: write, drop_view, DROP TABLE, at once
for my $i (1 .. 25)
{
	$node->safe_psql('postgres', qq{
		CREATE TABLE r$i (id int, g int);
		SELECT flowview.create_view('rv$i', 'SELECT g, count(*) AS n FROM r$i GROUP BY g');
	});
	$node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('rv$i', '60 s')") if $i % 5 == 0;
	$node->safe_psql('postgres', qq{
		INSERT INTO keep_src (g, v) VALUES ($i % 5, $i);
		INSERT INTO r$i SELECT k, k % 3 FROM generate_series(1, 50) k;
		SELECT flowview.drop_view('rv$i');
		DROP TABLE r$i;
	});
	usleep(($i % 7) * 20_000);
}
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('keep_v', '60 s')"), 't',
	'keep_v fresh after the loop');
is(FlowviewTest::differences($node, 'keep_v', $keep_q), '', 'keep_v equals its query after the loop');
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|was terminated/, 'no process terminated by a signal');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply'"), '1',
	'an apply worker runs');
$node->stop;
done_testing();
