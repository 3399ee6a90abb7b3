# DROP EXTENSION pg_flowview CASCADE right after create_view, while the
# apply worker starts filling the new view: the DROP waits or wins, it never
# loses a deadlock (40P01) to the worker.  Repeated with different delays
# between the two, and with writers on the source.  (The worker takes
# flowview.view_catalog's lock first, in the DROP's order.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;
use Time::HiRes qw(usleep);

my $node = FlowviewTest::node('drop_extension', 'pg_flowview.naptime' => '1');
$node->append_conf('postgresql.conf', "deadlock_timeout = 100ms\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, g int, v int);
	INSERT INTO t SELECT i, i % 10, i FROM generate_series(1, 20000) i;
});
my $rounds = 30;
my $failed = 0;
for my $i (1 .. $rounds)
{
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_flowview');
	$node->safe_psql('postgres', q{
		SELECT flowview.create_view('v_a', 'SELECT g, count(*) AS n, sum(v) AS s FROM t GROUP BY g');
		SELECT flowview.create_view('v_b', 'SELECT g, min(v) AS mn, max(v) AS mx FROM t GROUP BY g');
	});
	$node->safe_psql('postgres', "UPDATE t SET v = v + 1 WHERE id % 97 = $i");
	usleep(($i % 6) * 15_000);
	my ($ret, $out, $err) = $node->psql('postgres', 'DROP EXTENSION pg_flowview CASCADE');
	if ($ret != 0)
	{
		$failed++;
		diag("round $i: $err");
		$node->psql('postgres', 'DROP EXTENSION IF EXISTS pg_flowview CASCADE');
	}
}
is($failed, 0, "DROP EXTENSION CASCADE right after create_view succeeded in all $rounds rounds");
my $log = slurp_file($node->logfile);
unlike($log, qr/deadlock detected/, 'no deadlock in the log');
# an idle worker flushing WAL up to a page boundary used to fail and exit
unlike($log, qr/is not satisfied --- flushed only to/, 'the worker never asks to flush past the inserted WAL');
$node->stop;
done_testing();
