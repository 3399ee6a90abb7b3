# min/max under concurrent writers: four pgbench clients insert, delete the
# current extremes of a group and move rows between groups while the worker
# applies; views keep min/max both ways (minmax 'rescan', which reads a group
# again from the source when its extreme goes, and 'multiset').  With
# several writers, transactions become visible in an order other than their
# commit records', and re-reads see transactions the worker has not applied
# yet.  After wait_for_freshness every view equals its query.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $seed = $ENV{FV_SEED} // int(rand(1_000_000));
note "seed $seed (rerun with FV_SEED=$seed)";

my $node = FlowviewTest::node('minmax');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE m (id bigserial PRIMARY KEY, g int, v int, w numeric);
	INSERT INTO m (g, v, w) SELECT i % 5, (i * 37) % 1000, i FROM generate_series(1, 2000) i;
});

my %views = (
	mm_rescan   => q{SELECT g, count(*) AS n, min(v) AS lo, max(v) AS hi, max(w) AS wmax FROM m GROUP BY g},
	mm_multiset => q{SELECT g, count(*) AS n, min(v) AS lo, max(v) AS hi, max(w) AS wmax FROM m GROUP BY g},
	mm_global   => q{SELECT count(*) AS n, min(v) AS lo, max(v) FILTER (WHERE g < 3) AS hi FROM m},
);
for my $name (sort keys %views)
{
	my $mode = $name eq 'mm_multiset' ? 'multiset' : 'rescan';
	$node->safe_psql('postgres',
		"SELECT flowview.create_view('$name', \$q\$$views{$name}\$q\$, minmax => '$mode')");
}
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views populated');

$node->pgbench(
	"--no-vacuum --client=4 --jobs=2 --time=12 --random-seed=$seed",
	0,
	[qr{processed: [1-9]}],
	[qr{^(?:pgbench: setting random seed to \d+\s*)?$}],
	'concurrent writers',
	{
		'010_insert@4' => q{
			\set g random(0, 6)
			\set v random(0, 1200)
			INSERT INTO m (g, v, w) VALUES (:g, :v, :v * 1.5);
		},
		'010_delete_max@2' => q{
			\set g random(0, 6)
			DELETE FROM m WHERE id = (SELECT id FROM m WHERE g = :g ORDER BY v DESC, id LIMIT 1);
		},
		'010_delete_min@2' => q{
			\set g random(0, 6)
			DELETE FROM m WHERE id = (SELECT id FROM m WHERE g = :g ORDER BY v, id LIMIT 1);
		},
		'010_move@2' => q{
			\set g random(0, 6)
			\set h random(0, 6)
			UPDATE m SET g = :h, w = w + 1 WHERE id = (SELECT id FROM m WHERE g = :g ORDER BY w DESC, id LIMIT 1);
		},
		'010_same_value@1' => q{
			\set g random(0, 6)
			BEGIN;
			DELETE FROM m WHERE id = (SELECT id FROM m WHERE g = :g ORDER BY v DESC, id LIMIT 1);
			INSERT INTO m (g, v, w) SELECT :g, max(v), 0 FROM m WHERE g = :g;
			COMMIT;
		},
	});

is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '120 s')"), 't',
	'views caught up');
for my $name (sort keys %views)
{
	is(FlowviewTest::differences($node, $name, $views{$name}), '', "$name equals its query after concurrent writers (seed $seed)");
}
is($node->safe_psql('postgres', "SELECT string_agg(state, ',') FROM flowview.views"), 'live,live,live',
	'all views live');

$node->stop;
done_testing();
