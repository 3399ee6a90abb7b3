# Join views against the oracle (issue 13): a seeded random workload of
# 5,000+ transactions over orders, customers, products and payments (fact
# rows moving between dimension rows, dimension attributes changing,
# dimensions deleted and inserted again, NULL and dangling join keys,
# several tables changed in one transaction, rollbacks, subtransactions,
# two-phase commit, TRUNCATE of a dimension), while the worker applies.
# Inner joins of two to four tables, a self-join, a global aggregate, HAVING,
# min/max both ways, join views without aggregates (enriched rows with
# duplicates, DISTINCT), LEFT JOINs (one, a chain, NULL-extended rows
# filtered in WHERE), FULL JOINs, outer joins of parenthesised joins and
# filtered subqueries, RIGHT JOIN after a join, EXISTS over a tree, a function
# in FROM, subqueries in FROM, WITH, EXISTS, NOT IN and ALL together,
# UNION ALL.  After wait_for_freshness every
# view equals its query
# (EXCEPT ALL both ways).  Then the same with the apply worker killed
# (kill -9) and the server shut down immediately in the middle.  Seed printed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IPC::Run;
use FlowviewTest;

my $seed = $ENV{FV_SEED} // int(rand(1_000_000));
note("seed $seed (FV_SEED=$seed to repeat)");
diag("130_join_oracle seed $seed");
srand($seed);

my $node = FlowviewTest::node('join_oracle', restart_after_crash => 'on');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE customers (id int PRIMARY KEY, region text, unit text, name text);
	CREATE TABLE products (id int PRIMARY KEY, category text, price numeric);
	CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int, product_id int, qty int, amount numeric);
	CREATE TABLE payments (id bigserial PRIMARY KEY, order_id bigint, amount numeric);
	CREATE INDEX ON orders (customer_id);
	CREATE INDEX ON orders (product_id);
	CREATE INDEX ON payments (order_id);
	CREATE INDEX ON customers (region);
	INSERT INTO customers SELECT i, (ARRAY['north','south','east','west'])[1 + i % 4], 'u' || (i % 5), 'c' || i
	  FROM generate_series(1, 50) i;
	INSERT INTO products SELECT i, 'cat' || (i % 6), i * 3 FROM generate_series(1, 20) i;
	INSERT INTO orders (customer_id, product_id, qty, amount)
	  SELECT 1 + i % 57, 1 + i % 20, 1 + i % 5, i % 997 FROM generate_series(1, 2000) i;
	INSERT INTO payments (order_id, amount) SELECT i, i % 300 FROM generate_series(1, 2000, 3) i;
});

my %views = (
	j_region => 'SELECT c.region, count(*) AS n, sum(o.amount) AS revenue, min(o.amount) AS lo, max(o.amount) AS hi'
	  . ' FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region',
	j_cat_region => 'SELECT p.category, c.region, sum(o.qty) AS units, count(*) AS n, avg(o.amount) AS avg_amount'
	  . ' FROM orders o JOIN products p ON p.id = o.product_id JOIN customers c ON c.id = o.customer_id'
	  . ' WHERE o.qty > 1 GROUP BY p.category, c.region',
	j_paid => 'SELECT o.customer_id, count(*) AS n, sum(pm.amount) AS paid, max(pm.amount) AS biggest'
	  . ' FROM orders o, payments pm WHERE pm.order_id = o.id GROUP BY o.customer_id',
	j_self => 'SELECT a.region, count(*) AS pairs, min(b.id) AS first_b'
	  . ' FROM customers a JOIN customers b ON a.region = b.region AND a.id < b.id GROUP BY a.region',
	j_global => q{SELECT count(*) AS n, sum(o.amount) FILTER (WHERE c.region = 'north') AS north}
	  . ' FROM orders o, customers c WHERE c.id = o.customer_id',
	j_having => 'SELECT c.unit, count(*) AS n, max(o.amount) AS hi FROM orders o JOIN customers c ON c.id = o.customer_id'
	  . ' GROUP BY c.unit HAVING count(*) > 150',
	# without aggregates: enriched rows (bag semantics) and DISTINCT
	j_rows => 'SELECT o.id, o.amount, c.region, p.category FROM orders o JOIN customers c ON c.id = o.customer_id'
	  . ' JOIN products p ON p.id = o.product_id WHERE o.qty > 2',
	j_bag => 'SELECT c.region, o.qty FROM orders o, customers c WHERE c.id = o.customer_id',
	j_distinct => 'SELECT DISTINCT c.unit, p.category FROM orders o JOIN customers c ON c.id = o.customer_id'
	  . ' JOIN products p ON p.id = o.product_id',
	# LEFT JOIN: orders without (or with a deleted) customer or payment count
	# as NULL-extended rows
	j_left => 'SELECT c.region, count(*) AS n, count(c.id) AS matched, sum(o.amount) AS revenue, max(o.amount) AS hi'
	  . ' FROM orders o LEFT JOIN customers c ON c.id = o.customer_id GROUP BY c.region',
	j_left_rows => 'SELECT o.id, o.qty, c.region, pm.amount AS paid FROM orders o LEFT JOIN customers c ON c.id = o.customer_id'
	  . ' LEFT JOIN payments pm ON pm.order_id = o.id WHERE o.amount > 500',
	j_left_chain => 'SELECT p.category, c.unit, count(*) AS n, count(pm.id) AS payments, sum(pm.amount) AS paid'
	  . ' FROM orders o JOIN products p ON p.id = o.product_id LEFT JOIN customers c ON c.id = o.customer_id'
	  . q{ AND c.region <> 'east' LEFT JOIN payments pm ON pm.order_id = o.id GROUP BY p.category, c.unit},
	j_unpaid => 'SELECT o.customer_id, count(*) AS n FROM orders o LEFT JOIN payments pm ON pm.order_id = o.id'
	  . ' WHERE pm.id IS NULL GROUP BY o.customer_id',
	# a subquery in FROM and a WITH query, pulled into the join
	j_sub => 'SELECT c.region, count(*) AS n, sum(o.amount) AS s FROM (SELECT customer_id, amount FROM orders WHERE qty > 1) o'
	  . ' JOIN customers c ON c.id = o.customer_id GROUP BY c.region',
	j_cte => 'WITH paid AS (SELECT order_id, amount FROM payments WHERE amount > 10)'
	  . ' SELECT o.customer_id, count(*) AS n, sum(p.amount) AS paid FROM orders o JOIN paid p ON p.order_id = o.id GROUP BY 1',
	# FULL JOIN: orders without a customer and customers without orders
	j_full => 'SELECT c.region, count(*) AS n, count(o.id) AS orders, count(c.id) AS customers, sum(o.amount) AS revenue'
	  . ' FROM orders o FULL JOIN customers c ON c.id = o.customer_id GROUP BY c.region',
	j_full_rows => 'SELECT o.id AS oid, c.id AS cid, pm.amount FROM orders o FULL JOIN customers c ON c.id = o.customer_id'
	  . ' FULL JOIN payments pm ON pm.order_id = o.id WHERE o.amount > 800 OR o.id IS NULL',
	# IN (SELECT ...), EXISTS and NOT EXISTS
	j_in => 'SELECT c.unit, count(*) AS n FROM customers c WHERE c.id IN (SELECT o.customer_id FROM orders o WHERE o.amount > 900)'
	  . ' GROUP BY c.unit',
	j_exists => 'SELECT o.customer_id, count(*) AS n, sum(o.amount) AS s FROM orders o'
	  . ' WHERE EXISTS (SELECT 1 FROM payments pm WHERE pm.order_id = o.id AND pm.amount > 100) GROUP BY 1',
	j_not_exists => 'SELECT c.region, count(*) AS n FROM orders o JOIN customers c ON c.id = o.customer_id'
	  . ' WHERE NOT EXISTS (SELECT FROM payments pm WHERE pm.order_id = o.id) GROUP BY 1',
	# outer joins of any shape: RIGHT JOIN after a join, FULL JOIN of a
	# parenthesised join, LEFT JOIN of a filtered subquery, EXISTS over a
	# comma join with a LEFT JOIN, a function in FROM
	j_right_late => 'SELECT c.region, count(*) AS n, count(o.id) AS orders, sum(o.amount) AS revenue'
	  . ' FROM orders o JOIN products p ON p.id = o.product_id AND p.price > 20 RIGHT JOIN customers c ON c.id = o.customer_id GROUP BY c.region',
	j_full_paren => 'SELECT c.region, p.category, count(*) AS n, count(o.id) AS orders, sum(pm.amount) AS paid'
	  . ' FROM (orders o JOIN payments pm ON pm.order_id = o.id) FULL JOIN (customers c JOIN products p ON p.id = c.id) ON c.id = o.customer_id'
	  . ' GROUP BY c.region, p.category',
	j_not_in_two => 'SELECT c.region, count(*) AS n FROM customers c WHERE c.id NOT IN (SELECT o.customer_id FROM orders o WHERE o.amount > 985 AND o.customer_id IS NOT NULL)'
	  . ' AND EXISTS (SELECT FROM orders o2 WHERE o2.customer_id = c.id AND o2.qty = 5) AND c.id > ALL (SELECT pm.amount FROM payments pm WHERE pm.order_id = c.id) GROUP BY 1',
	# UNION ALL: rows of two joins, and an aggregate over a UNION ALL of a
	# join and an outer join
	j_union_rows => 'SELECT o.id AS oid, c.region FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.amount > 900'
	  . ' UNION ALL SELECT pm.order_id, NULL FROM payments pm WHERE pm.amount > 280',
	j_union_agg => 'SELECT region, count(*) AS n, sum(amount) AS total FROM (SELECT c.region, o.amount FROM orders o'
	  . ' JOIN customers c ON c.id = o.customer_id UNION ALL SELECT c.region, pm.amount FROM payments pm'
	  . ' JOIN orders o ON o.id = pm.order_id LEFT JOIN customers c ON c.id = o.customer_id WHERE pm.amount > 100) u GROUP BY region',
	j_left_filter => 'SELECT o.customer_id, count(*) AS n, count(pm.id) AS big_payments, sum(pm.amount) AS paid'
	  . ' FROM orders o LEFT JOIN (SELECT * FROM payments WHERE amount > 150) pm ON pm.order_id = o.id GROUP BY o.customer_id',
	j_exists_tree => 'SELECT c.unit, count(*) AS n FROM customers c LEFT JOIN products p ON p.id = c.id, payments pm'
	  . ' WHERE pm.order_id = c.id AND EXISTS (SELECT FROM orders o WHERE o.customer_id = c.id AND o.qty > 3) GROUP BY c.unit',
	j_func => 'SELECT g, c.region, count(*) AS n FROM generate_series(1, 3) g, orders o JOIN customers c ON c.id = o.customer_id'
	  . ' WHERE o.qty > g GROUP BY g, c.region',
	j_four => 'SELECT c.region, p.category, count(*) AS n, sum(pm.amount) AS paid'
	  . ' FROM orders o JOIN customers c ON c.id = o.customer_id JOIN products p ON p.id = o.product_id'
	  . ' JOIN payments pm ON pm.order_id = o.id GROUP BY c.region, p.category',
);
for my $v (sort keys %views)
{
	my $minmax = $v eq 'j_paid' ? q{, minmax => 'multiset'} : '';
	$node->safe_psql('postgres', "SELECT flowview.create_view('$v', \$q\$$views{$v}\$q\$$minmax)");
}

sub check_all
{
	my ($label) = @_;
	for my $v (sort keys %views)
	{
		is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('$v', '120 s')"), 't',
			"$label: $v fresh");
		is(FlowviewTest::differences($node, $v, $views{$v}), '', "$label: $v equals its query");
	}
	is($node->safe_psql('postgres', "SELECT count(*) FROM flowview.views WHERE state <> 'live'"), '0',
		"$label: every view live");
}
check_all('initial');

my @regions = qw(north south east west);
my $prepared = 0;

sub r { return int(rand($_[0])); }

sub one_txn
{
	my $k = r(100);
	my $cust = r(20) == 0 ? 'NULL' : 1 + r(60);	# 51..60 often missing
	my $order = 1 + r(2600);
	if ($k < 25)
	{
		return sprintf('INSERT INTO orders (customer_id, product_id, qty, amount) VALUES (%s, %d, %d, %d);',
			$cust, 1 + r(22), 1 + r(5), r(1000));
	}
	return "UPDATE orders SET amount = amount + " . (r(50) - 25) . " WHERE id = $order;" if $k < 35;
	return "UPDATE orders SET customer_id = $cust WHERE id = $order;" if $k < 43;
	return "UPDATE orders SET product_id = " . (1 + r(22)) . ", qty = " . (1 + r(5)) . " WHERE id = $order;" if $k < 48;
	return "DELETE FROM orders WHERE id = $order;" if $k < 54;
	return "UPDATE customers SET region = '$regions[r(4)]' WHERE id = " . (1 + r(60)) . ';' if $k < 62;
	return "UPDATE customers SET unit = 'u" . r(5) . "', id = id WHERE id = " . (1 + r(60)) . ';' if $k < 65;
	return "DELETE FROM customers WHERE id = " . (1 + r(60)) . ';' if $k < 69;
	if ($k < 74)
	{
		my $id = 1 + r(60);
		return "INSERT INTO customers VALUES ($id, '$regions[r(4)]', 'u" . r(5) . "', 'c$id') ON CONFLICT (id) DO UPDATE SET region = excluded.region;";
	}
	return "INSERT INTO payments (order_id, amount) VALUES ($order, " . r(300) . ');' if $k < 80;
	return "DELETE FROM payments WHERE id = (SELECT min(id) FROM payments WHERE order_id >= $order);" if $k < 83;
	return "UPDATE products SET category = 'cat" . r(6) . "' WHERE id = " . (1 + r(22)) . ';' if $k < 86;
	if ($k < 90)
	{
		# several sides at once: a customer moves and gets orders and payments
		my $id = 1 + r(60);
		return "BEGIN; UPDATE customers SET region = '$regions[r(4)]' WHERE id = $id;"
		  . " INSERT INTO orders (customer_id, product_id, qty, amount) VALUES ($id, " . (1 + r(20)) . ", 2, " . r(900) . ");"
		  . " INSERT INTO payments (order_id, amount) SELECT currval('orders_id_seq'), 7;"
		  . " UPDATE orders SET amount = amount + 1 WHERE customer_id = $id; COMMIT;";
	}
	if ($k < 93)
	{
		return "BEGIN; UPDATE customers SET region = 'void' WHERE id = " . (1 + r(60))
		  . "; INSERT INTO orders (customer_id, product_id, qty, amount) VALUES ($cust, 1, 3, 5); ROLLBACK;";
	}
	if ($k < 96)
	{
		my $id = 1 + r(60);
		return "BEGIN; INSERT INTO orders (customer_id, product_id, qty, amount) VALUES ($id, 2, 2, 11);"
		  . " SAVEPOINT s; UPDATE customers SET region = 'gone' WHERE id = $id; DELETE FROM orders WHERE id = $order;"
		  . " ROLLBACK TO SAVEPOINT s; SAVEPOINT t; UPDATE customers SET region = '$regions[r(4)]' WHERE id = $id;"
		  . " RELEASE SAVEPOINT t; COMMIT;";
	}
	if ($k < 99)
	{
		$prepared++;
		return "BEGIN; UPDATE customers SET region = '$regions[r(4)]' WHERE id = " . (1 + r(60))
		  . "; UPDATE orders SET customer_id = $cust WHERE id = $order; PREPARE TRANSACTION 'p$prepared';"
		  . " COMMIT PREPARED 'p$prepared';";
	}
	# TRUNCATE of a dimension, then its rows again
	return "BEGIN; CREATE TEMP TABLE IF NOT EXISTS keep AS SELECT * FROM products WITH NO DATA; DELETE FROM keep;"
	  . " INSERT INTO keep SELECT * FROM products; TRUNCATE products; INSERT INTO products SELECT * FROM keep; COMMIT;";
}

sub workload
{
	my ($n) = @_;
	my $done = 0;
	while ($done < $n)
	{
		my $chunk = join("\n", map { one_txn() } 1 .. 250);
		$node->safe_psql('postgres', $chunk);
		$done += 250;
	}
	return $done;
}

my $total = workload(5000);
note("$total transactions");
check_all('after the workload');

# the worker killed, then the server shut down immediately, each while a
# workload runs (it dies with the crash; what committed stays)
sub in_background
{
	my $file = PostgreSQL::Test::Utils::tempdir() . '/work.sql';
	PostgreSQL::Test::Utils::append_to_file($file, join("\n", map { one_txn() } 1 .. 400));
	my ($out, $err) = ('', '');
	return IPC::Run::start(['psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $file],
		'>', \$out, '2>', \$err);
}
my $h = in_background();
usleep(700_000);
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply' LIMIT 1});
ok($pid ne '', 'apply worker found');
kill 'KILL', $pid if $pid ne '';
eval { $h->finish; };
# the crash restarts every process: wait until the server accepts connections again
my $up = 0;
for (1 .. 300)
{
	$up = eval { $node->safe_psql('postgres', 'SELECT 1') eq '1' };
	last if $up;
	usleep(200_000);
}
ok($up, 'server back after the worker was killed');
workload(250);
$h = in_background();
usleep(700_000);
$node->stop('immediate');
eval { $h->finish; };
$node->start;
workload(500);
check_all('after kill -9 and an immediate shutdown');

$node->stop;
done_testing();
