# Views with a retention against their queries (the oracle): a seeded random
# workload of inserts, updates and deletes whose event times straddle the
# horizon (rows older than the retention, rows about to expire, rows stamped
# in the future, NULL times, rows moved across the horizon both ways,
# rolled-back transactions and savepoints) while the horizon moves on its
# own (retain => 15 seconds, buckets of a second).  After
# flowview.wait_for_freshness() each view equals its query restricted to the
# groups at or after flowview.views.retain_horizon (NULL keys kept), in one
# snapshot; groups must really have expired, and the views stay exact across
# a restart and through a quiet period with no writes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);
use FlowviewTest;

my $seed = FlowviewTest::seed();

my $node = FlowviewTest::event_node('retention_oracle', q{
	INSERT INTO ev SELECT i, i % 6, now() - (i % 40) * interval '1 second', i FROM generate_series(1, 200) i;
});

# name => [query, time key column, minmax]
my %views = (
	rt_agg   => [ q{SELECT k, date_trunc('second', ts) AS sec, count(*) AS n, sum(x) AS s, min(x) AS lo, max(x) AS hi FROM ev GROUP BY 1, 2}, 'sec', 'rescan' ],
	rt_multi => [ q{SELECT date_trunc('second', ts) AS sec, k, count(*) AS n, min(x) AS lo, max(x) AS hi FROM ev WHERE x > 10 GROUP BY 1, 2}, 'sec', 'multiset' ],
	rt_join  => [ q{SELECT d.region, date_bin('2 seconds', e.ts, timestamptz '2000-01-01') AS w, count(*) AS n, sum(e.x) AS s FROM ev e JOIN dim d ON d.k = e.k GROUP BY 1, 2}, 'w', 'rescan' ],
	rt_rows  => [ q{SELECT id, k, date_trunc('second', ts) AS sec FROM ev}, 'sec', 'rescan' ],
);
for my $name (sort keys %views)
{
	my ($q, $key, $minmax) = @{ $views{$name} };
	$node->safe_psql('postgres', "SET timezone = 'UTC'; SELECT flowview.create_view('$name', \$q\$$q\$q\$, minmax => '$minmax', retain => interval '15 seconds')");
}
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views populated');
my $first_horizon = $node->safe_psql('postgres', "SELECT min(retain_horizon) FROM flowview.views");

sub oracle
{
	my ($name) = @_;
	my ($q, $key) = @{ $views{$name} };
	return "SELECT * FROM ($q) o WHERE o.$key >= (SELECT retain_horizon FROM flowview.views WHERE view = '$name'::regclass) OR o.$key IS NULL";
}

sub check
{
	my ($when) = @_;
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', "fresh $when");
	for my $name (sort keys %views)
	{
		is(FlowviewTest::differences($node, $name, oracle($name), empty_ok => 1), '', "$name equals its query over the kept groups $when");
	}
	return;
}

sub offset
{
	my $r = rand();
	return 'NULL' if $r < 0.05;
	return "now() - interval '1 hour'" if $r < 0.12;                            # long expired
	return sprintf("now() + interval '%d seconds'", 1 + int(rand(5))) if $r < 0.2;   # in the future
	return sprintf("now() - interval '%.1f seconds'", rand(25));                 # across the horizon
}

my %state = (ids => [ 1 .. 200 ], next_id => 1000, offset => \&offset);
sub workload
{
	FlowviewTest::event_workload($node, $_[0], \%state);
	return;
}

for my $round (1 .. 8)
{
	workload(60);
	check("after round $round");
	sleep(1.5);
	if ($round == 4)
	{
		$node->restart;
		check('after a restart');
	}
}

# quiet: no writes for longer than the retention; the groups go by themselves
sleep(17);
check('after 17 s without writes');
is($node->safe_psql('postgres', "SELECT min(retain_horizon) > '$first_horizon'::timestamptz + interval '20 seconds' FROM flowview.views"), 't',
	'every horizon moved on by itself');
for my $name (sort keys %views)
{
	my ($q, $key) = @{ $views{$name} };
	my $expired = $node->safe_psql('postgres', "SELECT count(*) FROM ($q) o WHERE o.$key < (SELECT retain_horizon FROM flowview.views WHERE view = '$name'::regclass)");
	ok($expired > 0, "$name: $expired groups of the query are behind its horizon (the retention was exercised)");
	is($node->safe_psql('postgres', "SELECT count(*) FROM $name WHERE $key < now() - interval '17 seconds'"), '0',
		"$name: no group older than the retention and a tick");
}
is($node->safe_psql('postgres', "SELECT count(*) FROM flowview.views WHERE state <> 'live'"), '0', 'every view live');

done_testing();
