# Sliding windows against their queries (the oracle): a seeded random
# workload of inserts, updates and deletes whose event times straddle the
# window's edges (rows about to leave, rows long gone, rows stamped in the
# future that enter later, NULL times, rows moved across an edge both ways,
# rolled-back transactions and savepoints) while the windows move on their
# own (a few seconds wide).  After flowview.wait_for_freshness() each view
# equals its query with now() read as flowview.views.window_clock, in one
# snapshot (the clock and the storage move in one transaction): aggregates
# with min/max re-read or kept as multisets, HAVING, BETWEEN, now() on the
# left, a join, a view of rows, a global view, a window with a retention,
# and hopping windows (flowview.hop) with and without a sliding window.
# Meanwhile two pgbench clients write rows stamped just inside the edges,
# which cross them within a few hundred milliseconds: many commit while a
# window advances, and an advance that read the source with a snapshot
# newer than the batch's end would count them twice or lose them.
# After three rounds the views that re-read min/max ('rescan', which makes
# every batch exact) are dropped: the rest run with exact batches only for
# the clocks' advances.
# Rows must leave and enter with no writes at all, the clock must trail
# now() by less than the documented second, and the views stay exact across
# a restart and an immediate shutdown.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);
use IPC::Run;
use FlowviewTest;

my $seed = FlowviewTest::seed();

my $node = FlowviewTest::event_node('window_oracle', q{
	CREATE INDEX ON ev (ts);
	ALTER TABLE ev ADD COLUMN pad int;      -- read by no view (rewritten below)
	CREATE SEQUENCE edge_id START 10000000;
	INSERT INTO ev SELECT i, i % 6, now() - (i % 12) * interval '1 second' + (i % 3) * interval '2 seconds', i
	  FROM generate_series(1, 200) i;
});

# name => [query, minmax, retain]
my %views = (
	w_agg     => [ q{SELECT k, count(*) AS n, sum(x) AS s, min(x) AS lo, max(x) AS hi FROM ev WHERE ts > now() - interval '6 seconds' GROUP BY k}, 'rescan' ],
	w_multi   => [ q{SELECT k, count(*) AS n, min(x) AS lo, max(x) AS hi FROM ev WHERE x > 10 AND ts >= now() - interval '5 seconds' GROUP BY k HAVING count(*) > 1}, 'multiset' ],
	w_between => [ q{SELECT k, count(*) AS n, sum(x) AS s FROM ev WHERE ts BETWEEN now() - interval '4 seconds' AND now() GROUP BY k}, 'rescan' ],
	w_global  => [ q{SELECT count(*) AS n, sum(x) AS s, max(ts) AS newest FROM ev WHERE now() - interval '3 seconds' < ts}, 'rescan' ],
	w_join    => [ q{SELECT d.region, count(*) AS n, sum(e.x) AS s, min(e.x) AS lo FROM ev e JOIN dim d ON d.k = e.k WHERE e.ts > now() - interval '5 seconds' AND e.ts < now() + interval '1 second' GROUP BY d.region}, 'rescan' ],
	w_rows    => [ q{SELECT id, k FROM ev WHERE ts > now() - interval '4 seconds'}, 'rescan' ],
	w_retain  => [ q{SELECT date_trunc('second', ts) AS sec, count(*) AS n FROM ev WHERE ts > now() - interval '6 seconds' GROUP BY 1}, 'rescan', '8 seconds' ],
	# hopping windows: of the last 6 seconds, and of all time (of the
	# workload's rows: the edge writers' are many)
	w_hop     => [ q{SELECT w.start, count(*) AS n, sum(e.x) AS s FROM ev e, flowview.hop(e.ts, interval '4 seconds', interval '2 seconds') w(start) WHERE e.ts > now() - interval '6 seconds' GROUP BY 1}, 'multiset' ],
	w_hop_all => [ q{SELECT w.start, e.k, count(*) AS n, max(e.x) AS hi FROM ev e, flowview.hop(e.ts, interval '3 seconds', interval '1 second') w(start) WHERE e.id < 10000000 GROUP BY 1, 2}, 'multiset' ],
);
my $nwindows = grep { $_->[0] =~ /now\(\)/ } values %views;
for my $name (sort keys %views)
{
	my ($q, $minmax, $retain) = @{ $views{$name} };
	$node->safe_psql('postgres', "SET timezone = 'UTC'; SELECT flowview.create_view('$name', \$q\$$q\$q\$, minmax => '$minmax'"
		  . ($retain ? ", retain => interval '$retain'" : '') . ")");
}
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views populated');

# the query at the view's clock; with a retention, its groups at or after
# the horizon
sub oracle
{
	my ($name) = @_;
	my ($q, undef, $retain) = @{ $views{$name} };
	(my $o = $q) =~ s/now\(\)/(SELECT window_clock FROM flowview.views WHERE view = '$name'::regclass)/g;
	$o = "SELECT * FROM ($o) o WHERE o.sec >= (SELECT retain_horizon FROM flowview.views WHERE view = '$name'::regclass)"
	  if $retain;
	return $o;
}

sub check
{
	my ($when) = @_;
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', "fresh $when");
	for my $name (sort keys %views)
	{
		is(FlowviewTest::differences($node, $name, oracle($name), empty_ok => 1), '', "$name equals its query at its clock $when");
	}
	is($node->safe_psql('postgres', "SELECT count(*) FROM flowview.freshness WHERE window_lag IS NOT NULL AND window_lag < interval '1 second'"),
		$nwindows, "every clock within a second of now() $when");
	return;
}

sub offset
{
	my $r = rand();
	return 'NULL' if $r < 0.05;
	return "now() - interval '1 hour'" if $r < 0.1;                                  # long gone
	return sprintf("now() + interval '%.1f seconds'", rand(4)) if $r < 0.25;          # enters later
	return sprintf("now() - interval '%.1f seconds'", rand(8));                       # across the edges
}

my %state = (ids => [ 1 .. 200 ], next_id => 1000, offset => \&offset, pause => 0.02);
sub workload
{
	FlowviewTest::event_workload($node, $_[0], \%state);
	return;
}

# rows stamped just inside an edge (-1 s: w_join's upper one; 0: the upper
# one of w_between; 3 to 6 s: the lower ones)
my $edge_script = "${PostgreSQL::Test::Utils::tmp_check}/edge.sql";
PostgreSQL::Test::Utils::append_to_file($edge_script, q{
\set e random(-1, 6)
\set k random(0, 6)
\set x random(0, 49)
INSERT INTO ev VALUES (nextval('edge_id'), :k, now() - :e * interval '1 second' + random() * interval '300 milliseconds', :x);
});
my ($storm_out, $storm_err);
sub edge_storm
{
	($storm_out, $storm_err) = ('', '');
	return IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-T', '2', '-f', $edge_script, '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$storm_out, '2>', \$storm_err);
}

for my $round (1 .. 6)
{
	my $storm = edge_storm();
	workload(60);
	ok($storm->finish, "edge writers of round $round ran") or diag($storm_err);
	note($storm_out =~ /(number of transactions actually processed: \d+)/ ? $1 : $storm_out);
	check("after round $round");
	sleep(0.7);
	check("after round $round and 0.7 s without writes");
	if ($round == 3)
	{
		$node->restart;
		check('after a restart');

		# from here on no view re-reads min/max from the source: batches
		# between the clocks' advances are no longer exact (window.c)
		for my $name (grep { $views{$_}->[1] eq 'rescan' } sort keys %views)
		{
			$node->safe_psql('postgres', "SELECT flowview.drop_view('$name')");
			delete $views{$name};
		}
		$nwindows = grep { $_->[0] =~ /now\(\)/ } values %views;
		ok($nwindows >= 2, "$nwindows windows left, all multiset");
	}
	if ($round == 5)
	{
		$node->stop('immediate');
		$node->start;
		check('after an immediate shutdown');
	}
}

# quiet: no writes; every row stamped so far leaves the narrow windows
my $last_write = $node->safe_psql('postgres', "SELECT now()");
sleep(7);
check('after 7 s without writes');
is($node->safe_psql('postgres', "SELECT bool_and(window_clock > '$last_write'::timestamptz + interval '6 seconds') FROM flowview.views"), 't',
	'every clock moved on by itself');
is($node->safe_psql('postgres', "SELECT coalesce(sum(n), 0) FROM w_hop"), '0', 'w_hop emptied by time alone');
is($node->safe_psql('postgres', "SELECT count(*) FROM w_multi"), '0', 'w_multi emptied by time alone');
# A table rewrite (ALTER COLUMN TYPE, which gives every row the rewriting
# transaction as xmin) committing while an exact batch waits for the table's
# lock: the batch's snapshot, taken before, would see the table empty, and
# the rows crossing an edge meanwhile would never leave.  The worker must
# notice and repopulate.  Rows cross the edges during the wait.
$node->safe_psql('postgres', q{
	INSERT INTO ev SELECT 20000000 + i, i % 6, now() - interval '6 seconds' + i * interval '10 ms', i FROM generate_series(1, 350) i;
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'fresh before the rewrite');
my $ddl = $node->background_psql('postgres');
$ddl->query_safe('BEGIN');
$ddl->query_safe('ALTER TABLE ev ALTER COLUMN pad TYPE bigint');
sleep(1.5);    # the worker's next batch took its snapshot and waits for the lock
$ddl->query_safe('COMMIT');
$ddl->quit;
check('after a table rewrite committed while a batch waited to read the table');
is($node->safe_psql('postgres', "SELECT count(*) FROM flowview.views WHERE state <> 'live'"), '0', 'every view live');

done_testing();
