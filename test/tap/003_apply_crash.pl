# Exactly once across crashes: while a seeded random workload runs, kill -9
# the apply worker (PostgreSQL then crash-restarts every process) and, in
# other rounds, stop the server in immediate mode; after the last restart
# every live view equals its query: no transaction applied twice or lost.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;
use Time::HiRes qw(usleep);

my $seed = $ENV{FV_SEED} // int(rand(1_000_000));
note "seed $seed (rerun with FV_SEED=$seed)";

my $node = FlowviewTest::node('crash');
$node->append_conf('postgresql.conf', "restart_after_crash = on\nlog_min_messages = warning\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id int PRIMARY KEY, g text, v int, amt numeric);
	INSERT INTO t SELECT i, (ARRAY['a','b','c',NULL])[i % 4 + 1], i % 13, i FROM generate_series(1, 500) i;
	CREATE PROCEDURE work(seed float8, n int) LANGUAGE plpgsql AS $$
	DECLARE i int; k int; r float8;
	BEGIN
	  PERFORM setseed(seed);
	  FOR i IN 1 .. n LOOP
	    r := random(); k := 1 + floor(random() * 600)::int;
	    IF r < 0.35 THEN
	      INSERT INTO t VALUES (k, (ARRAY['a','b','c',NULL])[1 + floor(random() * 4)::int], floor(random() * 13)::int, k)
	      ON CONFLICT (id) DO UPDATE SET v = excluded.v, g = excluded.g;
	    ELSIF r < 0.6 THEN
	      UPDATE t SET g = (ARRAY['a','b','c',NULL])[1 + floor(random() * 4)::int], amt = amt + 1 WHERE id = k;
	    ELSIF r < 0.75 THEN
	      DELETE FROM t WHERE id = (SELECT id FROM t ORDER BY v DESC, id LIMIT 1);
	    ELSIF r < 0.9 THEN
	      DELETE FROM t WHERE id = k;
	    ELSIF r < 0.97 THEN
	      UPDATE t SET v = v + 1 WHERE id % 50 = k % 50;
	    ELSE
	      INSERT INTO t SELECT 10000 + g, 'bulk', g % 7, g FROM generate_series(1, 2000) g ON CONFLICT (id) DO NOTHING;
	      DELETE FROM t WHERE id > 10000 AND id % 2 = 0;
	    END IF;
	    COMMIT;
	  END LOOP;
	END $$;
});

my %views = (
	v_groups => q{SELECT g, count(*) AS n, sum(v) AS s, min(v) AS mn, max(amt) AS mx FROM t GROUP BY g},
	v_values => q{SELECT v, count(*) AS n, avg(amt) AS av FROM t WHERE g IS NOT NULL GROUP BY v},
	v_total  => q{SELECT count(*) AS n, sum(amt) AS s, max(v) AS mx FROM t},
);
for my $name (sort keys %views)
{
	$node->safe_psql('postgres', "SELECT flowview.create_view('$name', \$q\$$views{$name}\$q\$)");
}
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views populated');

sub worker_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply' LIMIT 1");
}

sub wait_up
{
	$node->poll_query_until('postgres', 'SELECT 1', '1') or die 'server did not come back';
}

my $round_seed = $seed;
for my $round (1 .. 6)
{
	$round_seed = ($round_seed * 7919 + $round) % 1_000_003;
	my $s = ($round_seed / 1_000_003) * 2 - 1;
	# the workload in the background; it dies with the crash, committed work stays
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(['psql', '-X', '-d', $node->connstr('postgres'), '-c', "CALL work($s, 3000)"],
		'>', \$out, '2>', \$err);
	usleep(300_000 + ($round_seed % 700_000));
	if ($round % 2)
	{
		my $pid = worker_pid();
		ok($pid, "round $round: apply worker running");
		kill 'KILL', $pid if $pid;
		$h->finish;
		wait_up();
	}
	else
	{
		$node->stop('immediate');
		$h->finish;
		$node->start;
	}
	note "round $round done";
}

# one more workload that completes, then compare
$node->safe_psql('postgres', "CALL work(0.5, 1000)");
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '120 s')"), 't',
	'views caught up after the crashes');
for my $name (sort keys %views)
{
	is(FlowviewTest::differences($node, $name, $views{$name}), '', "$name equals its query after kill -9 and immediate shutdowns");
}
is($node->safe_psql('postgres', "SELECT string_agg(state, ',') FROM flowview.views"), 'live,live,live',
	'all views live');

$node->stop;
done_testing();
