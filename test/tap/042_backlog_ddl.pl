# A backlog with DDL on the source in its middle, decoded over many small
# batches (issue 11, found by reading the code): decoding must read the
# rows written before the DDL with the source's old shape (historic
# snapshot) and the apply must use its current shape, in every batch, not
# only the first one after the DDL's invalidation arrived.  The unused
# columns changed here come before the used ones, so reading a row with the
# wrong descriptor misplaces g and x.  After each backlog every view equals
# its query.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('backlog_ddl',
	'pg_flowview.batch_max_changes' => 20,
	'pg_flowview.recompute_backlog' => 0);
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE src (id serial PRIMARY KEY, pad int, spare text, g int, x int);
	INSERT INTO src (g, x, pad, spare) SELECT i % 4, i, i, 's' || i FROM generate_series(1, 400) i;
	SELECT flowview.create_view('b_rescan', 'SELECT g, count(*) AS n, min(x) AS lo, max(x) AS hi, sum(x) AS s FROM src GROUP BY g');
	SELECT flowview.create_view('b_multi', 'SELECT g, min(x) AS lo, max(x) AS hi FROM src GROUP BY g', minmax => 'multiset');
	SELECT flowview.create_view('b_glob', 'SELECT min(x) AS lo, max(x) AS hi, count(*) AS n FROM src');
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views populated');

my %views = (
	b_rescan => 'SELECT g, count(*) AS n, min(x) AS lo, max(x) AS hi, sum(x) AS s FROM src GROUP BY g',
	b_multi  => 'SELECT g, min(x) AS lo, max(x) AS hi FROM src GROUP BY g',
	b_glob   => 'SELECT min(x) AS lo, max(x) AS hi, count(*) AS n FROM src',
);

# one transaction per statement: the worker's batches end every 20 changes
sub churn
{
	my ($n) = @_;
	my $sql = '';
	for my $i (1 .. $n)
	{
		my $g = $i % 4;
		# remove the group's extremes (min/max re-reads) and add rows
		$sql .= "DELETE FROM src WHERE id = (SELECT id FROM src WHERE g = $g ORDER BY x LIMIT 1);\n";
		$sql .= "DELETE FROM src WHERE id = (SELECT id FROM src WHERE g = $g ORDER BY x DESC LIMIT 1);\n";
		$sql .= "INSERT INTO src (g, x, pad) VALUES ($g, 100 + $i, $i);\n";
	}
	return $sql;
}

my @ddl = (
	'ALTER TABLE src ALTER COLUMN pad TYPE bigint',       # rewrite: new layout, new relfilenode
	'ALTER TABLE src ALTER COLUMN spare TYPE int USING length(spare)',
	'VACUUM FULL src',                                    # rewrite, no catalog column change
	'ALTER TABLE src ADD COLUMN added int DEFAULT 1',
	'ALTER TABLE src DROP COLUMN spare',
	'ALTER TABLE src RENAME TO src2; ALTER TABLE src2 RENAME TO src',
	'CLUSTER src USING src_pkey',
);
for my $ddl (@ddl)
{
	$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
	$node->safe_psql('postgres', churn(30) . "$ddl;\n" . churn(30));
	$node->safe_psql('postgres', 'SELECT flowview.resume_apply()');
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', "$ddl: fresh");
	is($node->safe_psql('postgres', "SELECT string_agg(view || ': ' || coalesce(error, state), ', ') FROM flowview.views WHERE state <> 'live'"),
		'', "$ddl: views live");
	for my $v (sort keys %views)
	{
		is(FlowviewTest::differences($node, $v, $views{$v}), '', "$ddl: $v equals its query");
	}
}
$node->stop;
done_testing();
