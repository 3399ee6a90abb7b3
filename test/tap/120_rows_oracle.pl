# Live views without GROUP BY and aggregates against their queries (the
# oracle): a seeded random workload of inserts, updates and deletes in
# transactions (duplicate rows, NULLs, rows moving in and out of WHERE,
# values equal but not identical such as numeric 1.5 and 1.50, rolled-back
# transactions and subtransactions).  After flowview.wait_for_freshness()
# every view equals its query row for row, duplicates counted (EXCEPT ALL
# both ways, and again over the rows as text), at a few points during the
# run and at its end.
#
# Views: a bag projection over text keys (storage indexed by a hash of the
# keys, MERGE), one over short keys (unique index, ON CONFLICT), one with
# expressions, SELECT *, and SELECT DISTINCT.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $seed = FlowviewTest::seed();

my $node = FlowviewTest::node('rows_oracle', 'log_min_messages' => 'warning');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE src (id int, k int, s text, c varchar(8), v numeric, f bool);
	INSERT INTO src SELECT i, i % 5, (ARRAY['a', 'b', 'B', NULL])[i % 4 + 1], (ARRAY['x', 'y', NULL])[i % 3 + 1],
	                       (ARRAY[1.5, 1.50, 12, 12.0, NULL])[i % 5 + 1], i % 2 = 0
	  FROM generate_series(1, 60) i;
	INSERT INTO src SELECT * FROM src WHERE id <= 10;   -- whole duplicate rows
});

my %views = (
	rv_bag      => q{SELECT k, s, f FROM src WHERE v > 10},
	rv_short    => q{SELECT k, c FROM src WHERE k < 4},
	rv_expr     => q{SELECT lower(s) AS ls, k % 3 AS k3, v * 2 AS v2, coalesce(s, '-') || k::text AS sk FROM src WHERE k IS DISTINCT FROM 4},
	rv_star     => q{SELECT * FROM src},
	rv_distinct => q{SELECT DISTINCT k, s, v FROM src WHERE f},
);
for my $name (sort keys %views)
{
	$node->safe_psql('postgres', "SELECT flowview.create_view('$name', \$q\$$views{$name}\$q\$)");
}
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views populated');

sub check
{
	my ($when) = @_;
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', "fresh $when");
	for my $name (sort keys %views)
	{
		is(FlowviewTest::differences($node, $name, $views{$name}), '', "$name equals its query $when");
		# as text too: each row's own values (numeric 1.5 and 1.50 are
		# equal, and EXCEPT ALL would not tell them apart); DISTINCT shows
		# one value per equality class, as the query does, whichever
		next if $name eq 'rv_distinct';
		is(FlowviewTest::differences($node, "(SELECT ROW(w.*)::text AS r FROM $name w) t",
				"SELECT ROW(q.*)::text AS r FROM ($views{$name}) q"),
			'', "$name equals its query as text $when");
	}
}
check('after population');

sub pick { return $_[int(rand(@_))]; }
sub val_k { return rand() < 0.1 ? 'NULL' : int(rand(6)); }
sub val_s { return pick("'a'", "'b'", "'B'", "'c'", 'NULL'); }
sub val_c { return pick("'x'", "'y'", "'zz'", 'NULL'); }
sub val_v { return pick('1.5', '1.50', '12', '12.0', '12.00', '7', '-0.0', '0', 'NULL'); }
sub val_f { return pick('true', 'false', 'NULL'); }

my $next_id = 100;
sub statement
{
	my $r = rand();
	my $id = 1 + int(rand($next_id));
	if ($r < 0.35)
	{
		$next_id++;
		my $row = join(', ', $next_id, val_k(), val_s(), val_c(), val_v(), val_f());
		# sometimes twice: a whole duplicate row
		return rand() < 0.3 ? "INSERT INTO src VALUES ($row), ($row)" : "INSERT INTO src VALUES ($row)";
	}
	return "INSERT INTO src SELECT * FROM src WHERE id = $id" if $r < 0.42;
	return "UPDATE src SET v = " . val_v() . " WHERE id = $id" if $r < 0.55;   # in and out of WHERE v > 10
	return "UPDATE src SET s = " . val_s() . ", f = " . val_f() . " WHERE id = $id" if $r < 0.65;
	return "UPDATE src SET k = " . val_k() . ", c = " . val_c() . " WHERE id % 17 = " . int(rand(17)) if $r < 0.72;
	return "DELETE FROM src WHERE id = $id" if $r < 0.88;
	return "DELETE FROM src WHERE ctid = (SELECT min(ctid) FROM src WHERE id = $id)";   # one of duplicates
}

my ($statements, $transactions) = (0, 0);
for my $round (1 .. 3)
{
	my $sql = '';
	for (1 .. 350)
	{
		$transactions++;
		my $end = rand() < 0.1 ? 'ROLLBACK' : 'COMMIT';
		$sql .= "BEGIN;\n";
		for (1 .. 1 + int(rand(4)))
		{
			$statements++;
			if (rand() < 0.08)
			{
				$sql .= "SAVEPOINT s; " . statement() . "; ROLLBACK TO SAVEPOINT s;\n";
			}
			else
			{
				$sql .= statement() . ";\n";
			}
		}
		$sql .= "$end;\n";
	}
	$node->safe_psql('postgres', $sql);
	check("after round $round");
}
note "$transactions transactions, $statements statements";

# duplicates and NULLs were really there
ok($node->safe_psql('postgres',
	q{SELECT count(*) > count(DISTINCT (k, s, f)) FROM src WHERE v > 10}) eq 't', 'rv_bag has duplicate rows');
ok($node->safe_psql('postgres', q{SELECT count(*) FROM rv_bag WHERE s IS NULL OR k IS NULL}) > 0,
	'rv_bag has NULLs');
ok($node->safe_psql('postgres', q{SELECT count(DISTINCT v::text) > count(DISTINCT v) FROM rv_star}) eq 't',
	'rv_star has equal values written differently');
is($node->safe_psql('postgres', q{SELECT count(*) FROM flowview.views WHERE state <> 'live'}), '0', 'all views live');

$node->stop;
done_testing();
