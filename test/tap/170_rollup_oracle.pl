# Rollups (live views over live views) against the oracle: a chain of three
# levels over orders, m (per minute and region) -> h (per hour, over m,
# minmax 'multiset') -> d (per day, over h, the default minmax, with
# min(top) and count(*) of its hours), a global view g over h, and a join
# view j (orders JOIN regions, per region name and hour) with jd (per day,
# over j) as its downstream.  A seeded random workload (FV_SEED=... repeats
# it) in several rounds: inserts one by one and in bulk, updates of old rows
# changing amount, region and ts (moving them across minute, hour and day
# buckets, also across the DST change of the time zone the views pin), whole
# ranges moved and re-priced, deletes (also of a region's largest order),
# NULL regions, times and amounts, rows far in the past, renamed, deleted and
# re-inserted regions, transactions of 1 to 30 statements, rollbacks,
# rolled-back savepoints and two-phase commit; meanwhile two pgbench clients
# insert, move, re-price and delete rows.  While they write, a reader runs
# single statements (one snapshot) checking that the levels agree with each
# other: sum(n), sum(revenue), max(top) and min(top) equal at every level,
# the (hour, region) pairs of m are h's rows and g's groups, the (day,
# region) pairs of h are d's rows, d's hours add up to h's rows, and j and
# jd agree the same way; any disagreement fails the test.
# After each round, once fresh, every view equals its own defining query
# (read over its upstream) and the equivalent query composed directly over
# orders (EXCEPT ALL both ways), and every order is counted once at every
# level.  Also across a restart (while the worker lags), an immediate
# shutdown in the middle of a round, and refresh_view(m) in the middle of a
# round (m, h, d and g repopulated, j and jd untouched; the reader keeps
# checking while they are).  Last, drop_view of an upstream is refused with
# 2BP01 and drop_view(m, cascade => true) drops h, d and g too; j and jd go
# on.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use IPC::Run;
use FlowviewTest;

# every session (psql, pgbench, the reader) and so every view pins this
# zone; it changes to daylight saving time on 2026-03-08
$ENV{PGTZ} = 'America/New_York';
my $seed = FlowviewTest::seed();

my $node = FlowviewTest::node('rollup_oracle',
	timezone => "'America/New_York'",
	log_min_messages => 'warning');
$node->start;

my $BASE = q{timestamptz '2026-03-07 00:00:00-05'};    # three days from here
my $HOT = q{timestamptz '2026-03-08 06:00:00+00'};     # two busy hours: 01:00 EST to 04:00 EDT
my @FAR = (q{timestamptz '1850-06-01 12:00:00+00'}, q{timestamptz '1999-12-31 23:30:00+00'},
	q{timestamptz '2007-03-11 06:30:00+00'});

$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE regions (code text PRIMARY KEY, name text NOT NULL);
	INSERT INTO regions VALUES ('n', 'North'), ('s', 'South'), ('e', 'East'), ('w', 'West'), ('c', 'Central');
	CREATE TABLE orders (id bigserial PRIMARY KEY, ts timestamptz, region text, amount numeric);
	CREATE INDEX ON orders (region);
	INSERT INTO orders (ts, region, amount)
	  SELECT CASE WHEN i % 3 = 0 THEN $HOT + ((i * 7919) % 7200) * interval '1 second'
	              ELSE $BASE + ((i * 7919) % 259200) * interval '1 second' END,
	         CASE WHEN i % 23 = 0 THEN NULL ELSE (ARRAY['n', 's', 'e', 'w', 'c', 'x'])[1 + i % 6] END,
	         CASE WHEN i % 97 = 0 THEN NULL ELSE (i * 37) % 1000 + (i % 4) * 0.25 END
	    FROM generate_series(1, 3000) i;
	INSERT INTO orders (ts, region, amount) VALUES
	  ($FAR[0], 'n', 5), ($FAR[1], NULL, 7), ($FAR[2] + interval '59 seconds', 'e', NULL),
	  (NULL, 's', 3), (NULL, NULL, NULL), ($FAR[1] + interval '31 minutes', 'w', 12.5);
});

# the views, in the order they are created: [name, query, minmax]
my @views = (
	[ m => q{SELECT date_trunc('minute', ts) AS minute, region, count(*) AS n, sum(amount) AS revenue, max(amount) AS top}
		  . q{ FROM orders GROUP BY 1, 2} ],
	[ h => q{SELECT date_trunc('hour', minute) AS hour, region, sum(n) AS n, sum(revenue) AS revenue, max(top) AS top}
		  . q{ FROM m GROUP BY 1, 2}, 'multiset' ],
	[ d => q{SELECT date_trunc('day', hour) AS day, region, sum(n) AS n, sum(revenue) AS revenue, max(top) AS top,}
		  . q{ min(top) AS low_top, count(*) AS hours FROM h GROUP BY 1, 2} ],
	[ g => q{SELECT count(*) AS groups, sum(revenue) AS revenue, min(top) AS lowest_top FROM h} ],
	[ j => q{SELECT r.name, date_trunc('hour', o.ts) AS hour, count(*) AS n, sum(o.amount) AS revenue, max(o.amount) AS top}
		  . q{ FROM orders o JOIN regions r ON r.code = o.region GROUP BY 1, 2}, 'multiset' ],
	[ jd => q{SELECT name, date_trunc('day', hour) AS day, sum(n) AS n, sum(revenue) AS revenue, max(top) AS top}
		  . q{ FROM j GROUP BY 1, 2} ],
);
my %query = map { $_->[0] => $_->[1] } @views;

# each downstream as a query over orders alone (the types as the view has
# them: sum of a bigint count is numeric)
my $HOURS = q{SELECT date_trunc('hour', date_trunc('minute', ts)) AS hour, region, count(*) AS n,}
  . q{ sum(amount) AS revenue, max(amount) AS top FROM orders GROUP BY 1, 2};
my %composed = (
	h => q{SELECT date_trunc('hour', date_trunc('minute', ts)) AS hour, region, count(*)::numeric AS n,}
	  . q{ sum(amount) AS revenue, max(amount) AS top FROM orders GROUP BY 1, 2},
	d => q{SELECT date_trunc('day', hour) AS day, region, sum(n)::numeric AS n, sum(revenue) AS revenue, max(top) AS top,}
	  . qq{ min(top) AS low_top, count(*) AS hours FROM ($HOURS) x GROUP BY 1, 2},
	g => qq{SELECT count(*) AS groups, sum(revenue) AS revenue, min(top) AS lowest_top FROM ($HOURS) x},
	jd => q{SELECT r.name, date_trunc('day', date_trunc('hour', o.ts)) AS day, count(*)::numeric AS n,}
	  . q{ sum(o.amount) AS revenue, max(o.amount) AS top FROM orders o JOIN regions r ON r.code = o.region GROUP BY 1, 2},
);
# d's plain columns once more, flat over orders (no grouped subquery)
my $DAY = q{date_trunc('day', date_trunc('hour', date_trunc('minute', ts)))};
my $d_flat = qq{SELECT $DAY AS day, region, count(*)::numeric AS n, sum(amount) AS revenue, max(amount) AS top,}
  . q{ count(DISTINCT coalesce(date_trunc('hour', date_trunc('minute', ts)), '-infinity')) AS hours FROM orders GROUP BY 1, 2};

for my $v (@views)
{
	my ($name, $q, $minmax) = @$v;
	$node->safe_psql('postgres', "SELECT flowview.create_view('$name', \$q\$$q\$q\$"
		  . ($minmax ? ", minmax => '$minmax'" : '') . ')');
	# the next level reads this one: let it go live first
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('$name', '60 s')"), 't', "$name populated");
}
is($node->safe_psql('postgres', q{SELECT string_agg(view::text || ': ' || minmax, ', ' ORDER BY view::text) FROM flowview.views
	WHERE view::text IN ('h', 'j')}), 'h: multiset, j: multiset', 'h and j keep min/max as multisets');
note($node->safe_psql('postgres', q{SELECT string_agg(view::text || ': ' || coalesce(minmax, 'NULL'), ', ' ORDER BY view::text) FROM flowview.views}));

sub fresh
{
	my ($label) = @_;
	ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM flowview.views WHERE state = 'backfilling'}),
		"$label: nothing backfilling");
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '120 s')"), 't', "$label: fresh");
	is($node->safe_psql('postgres', q{SELECT coalesce(string_agg(view::text || ' ' || state || ': ' || coalesce(error, ''), '; '), '')
		FROM flowview.views WHERE state <> 'live'}), '', "$label: every view live");
	return;
}

# the oracle: each view equals its own query (over its upstream, in one
# snapshot) and the query composed over orders
sub check_all
{
	my ($label) = @_;
	fresh($label);
	for my $v (@views)
	{
		my $name = $v->[0];
		is(FlowviewTest::differences($node, $name, $query{$name}), '', "$label: $name equals its query");
		next unless $composed{$name};
		is(FlowviewTest::differences($node, $name, $composed{$name}), '', "$label: $name equals its query composed over orders");
	}
	is(FlowviewTest::differences($node, '(SELECT day, region, n, revenue, top, hours FROM d) dv', $d_flat), '',
		"$label: d equals the flat query over orders");
	is($node->safe_psql('postgres', q{SELECT (SELECT sum(n) FROM m) = (SELECT count(*) FROM orders)
		  AND (SELECT sum(n) FROM h) = (SELECT count(*) FROM orders)
		  AND (SELECT sum(n) FROM d) = (SELECT count(*) FROM orders)
		  AND (SELECT coalesce(sum(n), 0) FROM jd) = (SELECT count(*) FROM orders o JOIN regions r ON r.code = o.region)}),
		't', "$label: every order counted once at every level");
	return;
}

check_all('initial');

# ---- the workload --------------------------------------------------------

my @codes = qw(n s e w c x);
my @names = qw(North South East West Central Export);

sub r { return int(rand($_[0])); }
sub pick { return $_[ r(scalar @_) ]; }

sub ts_expr
{
	my $x = rand();
	return 'NULL' if $x < 0.03;
	return sprintf("%s + interval '%d seconds'", pick(@FAR), r(7200)) if $x < 0.10;    # far in the past
	return sprintf("%s + interval '%d seconds'", $HOT, r(7200)) if $x < 0.55;
	return sprintf("%s + interval '%d seconds'", $BASE, r(3 * 86400));
}
sub region_expr { return rand() < 0.07 ? 'NULL' : "'" . pick(@codes) . "'"; }
sub amount_expr
{
	my $x = rand();
	return 'NULL' if $x < 0.03;
	return sprintf('%d.%02d', r(1000), r(100)) if $x < 0.3;
	return r(1000);
}
# the id of a row with the largest amount of a region (NULL amounts last)
sub top_of { return "(SELECT id FROM orders WHERE region IS NOT DISTINCT FROM $_[0] ORDER BY amount DESC NULLS LAST, id LIMIT 1)"; }

# one statement; $st->{maxid}: the ids handed out so far (the sequence)
sub one_stmt
{
	my ($st) = @_;
	my $id = 1 + r($st->{maxid});
	my $k = r(100);
	if ($k < 20)
	{
		my $rows = 1 + (rand() < 0.3 ? r(8) : 0);
		$st->{maxid} += $rows;
		return 'INSERT INTO orders (ts, region, amount) VALUES '
		  . join(', ', map { sprintf('(%s, %s, %s)', ts_expr(), region_expr(), amount_expr()) } 1 .. $rows);
	}
	if ($k < 23)
	{
		my $rows = 20 + r(130);
		$st->{maxid} += $rows;
		my ($p, $q, $s) = (1 + r(9973), 1 + r(13), 1 + r(997));
		return sprintf(q{INSERT INTO orders (ts, region, amount) SELECT
			CASE WHEN i %% 29 = 0 THEN NULL WHEN i %% 3 = 0 THEN %s + ((i * %d) %% 7200) * interval '1 second'
			     ELSE %s + ((i * %d) %% 259200) * interval '1 second' END,
			CASE WHEN i %% 17 = 0 THEN NULL ELSE (ARRAY['n', 's', 'e', 'w', 'c', 'x'])[1 + (i * %d) %% 6] END,
			(i * %d) %% 1000 FROM generate_series(1, %d) i}, $HOT, $p, $BASE, $p, $q, $s, $rows);
	}
	return sprintf('UPDATE orders SET amount = %s WHERE id = %d', amount_expr(), $id) if $k < 31;
	return sprintf('UPDATE orders SET region = %s WHERE id = %d', region_expr(), $id) if $k < 38;
	# across minutes, hours, days
	return sprintf(q{UPDATE orders SET ts = ts + interval '%d seconds' WHERE id = %d}, r(241) - 120, $id) if $k < 45;
	return sprintf(q{UPDATE orders SET ts = ts + interval '%d hours' WHERE id = %d}, r(11) - 5, $id) if $k < 51;
	return sprintf(q{UPDATE orders SET ts = ts + interval '%d days' WHERE id = %d}, pick(-2, -1, 1, 2), $id) if $k < 56;
	return sprintf('UPDATE orders SET ts = %s WHERE id = %d', ts_expr(), $id) if $k < 60;
	return sprintf('UPDATE orders SET ts = %s, region = %s, amount = %s WHERE id = %d', ts_expr(), region_expr(), amount_expr(), $id)
	  if $k < 66;
	return sprintf('UPDATE orders SET amount = amount + %d WHERE id %% %d = %d', r(21) - 10, 40 + r(160), r(40)) if $k < 69;
	if ($k < 72)
	{
		return sprintf(q{UPDATE orders SET ts = ts + interval '%d minutes', region = %s WHERE id BETWEEN %d AND %d},
			r(1501) - 750, region_expr(), $id, $id + r(40));
	}
	return sprintf('DELETE FROM orders WHERE id = %d', $id) if $k < 80;
	return sprintf('DELETE FROM orders WHERE id BETWEEN %d AND %d', $id, $id + r(25)) if $k < 83;
	# a region's largest order deleted or made smaller: maxima go down
	return 'DELETE FROM orders WHERE id = ' . top_of(region_expr()) if $k < 87;
	return sprintf('UPDATE orders SET amount = amount - %d WHERE id = %s', 1 + r(600), top_of(region_expr())) if $k < 91;
	# the join's dimension
	return sprintf(q{UPDATE regions SET name = '%s' WHERE code = '%s'}, pick(@names), pick(@codes)) if $k < 96;
	# (never 'n': the join must not run dry, or its oracle compares nothing)
	return sprintf(q{DELETE FROM regions WHERE code = '%s'}, pick(grep { $_ ne 'n' } @codes)) if $k < 98;
	return sprintf(q{INSERT INTO regions VALUES ('%s', '%s') ON CONFLICT (code) DO UPDATE SET name = excluded.name},
		pick(@codes), pick(@names));
}

# $n transactions of 1 to 30 statements as SQL text; one in twelve rolled
# back, one in twelve with a savepoint rolled back, one in twenty-five
# prepared and committed; with $pause, a short sleep after some
sub workload_sql
{
	my ($st, $n, $tag, $pause) = @_;
	my $sql = '';
	for my $t (1 .. $n)
	{
		my $x = rand();
		my $len = $x < 0.55 ? 1 + r(3) : $x < 0.9 ? 4 + r(9) : 13 + r(18);
		my @s = map { one_stmt($st) } 1 .. $len;
		$sql .= FlowviewTest::transaction_sql(\@s, sub { one_stmt($st) }, "fv170_${tag}_$t");
		$sql .= "SELECT pg_sleep(0.01);\n" if $pause && rand() < 0.25;
	}
	return $sql;
}

sub maxid { return $node->safe_psql('postgres', 'SELECT last_value FROM orders_id_seq'); }

# pgbench's scripts: rows inserted, moved (minutes, region), re-priced,
# deleted, a transaction that moves a row by days, inserts one and deletes
# another, a region's largest amount lowered
my $dir = PostgreSQL::Test::Utils::tempdir();
my $REG7 = q{(ARRAY['n', 's', 'e', 'w', 'c', 'x', NULL])};
my %bench = (
	insert => [ 5, qq{
\\set s random(0, 259199)
\\set h random(0, 7199)
\\set hot random(0, 1)
\\set r random(1, 7)
\\set a random(0, 999)
INSERT INTO orders (ts, region, amount) VALUES (CASE WHEN :hot = 1 THEN $HOT + :h * interval '1 second' ELSE $BASE + :s * interval '1 second' END, $REG7\[:r], :a);
} ],
	move => [ 4, qq{
\\set id random(1, :maxid)
\\set m random(-90, 90)
\\set r random(1, 7)
UPDATE orders SET ts = ts + :m * interval '1 minute', region = $REG7\[:r], amount = amount + 1 WHERE id = :id;
} ],
	price => [ 2, q{
\set id random(1, :maxid)
\set a random(0, 999)
UPDATE orders SET amount = :a WHERE id = :id;
} ],
	delete => [ 2, q{
\set id random(1, :maxid)
DELETE FROM orders WHERE id = :id;
} ],
	txn => [ 2, qq{
\\set id random(1, :maxid)
\\set s random(0, 259199)
\\set d random(-2, 2)
BEGIN;
UPDATE orders SET ts = ts + :d * interval '1 day' WHERE id = :id;
INSERT INTO orders (ts, region, amount) VALUES ($BASE + :s * interval '1 second', 'e', :s % 1000);
DELETE FROM orders WHERE id = :id + 1;
COMMIT;
} ],
	top => [ 1, q{
\set r random(1, 6)
UPDATE orders SET amount = amount - 300 WHERE id = (SELECT id FROM orders WHERE region = (ARRAY['n', 's', 'e', 'w', 'c', 'x'])[:r] ORDER BY amount DESC NULLS LAST, id LIMIT 1);
} ],
);
my @bench_files;
for my $b (sort keys %bench)
{
	append_to_file("$dir/bench_$b.sql", $bench{$b}->[1]);
	push @bench_files, '-f', "$dir/bench_$b.sql\@$bench{$b}->[0]";
}

my %st = (maxid => 0);

# the writers of a round, in the background (output to files: a harness
# that is not pumped collects nothing): psql running the seeded workload
# and two pgbench clients for $seconds
sub start_writers
{
	my ($tag, $n, $txns, $seconds) = @_;
	$st{maxid} = maxid();
	my $bench_maxid = $st{maxid};
	append_to_file("$dir/work_$tag.sql", workload_sql(\%st, $txns, $tag, 1));
	return FlowviewTest::start_writers($node, $dir, $tag, [],
		'-n', '-c', '2', '-j', '2', '-T', $seconds, '-R', '200', '--max-tries=20',
		'--random-seed=' . ($seed + $n), '-D', "maxid=$bench_maxid", @bench_files);
}

sub writing
{
	my ($w) = @_;
	return scalar grep { $_->pumpable } ($w->{psql}, $w->{bench});
}

# a transaction of the workload may lose a deadlock against pgbench's (and
# then its COMMIT PREPARED finds nothing); nothing else may fail
sub finish_writers
{
	my ($w, $crashed) = @_;
	FlowviewTest::finish_writers($w, $crashed,
		qr/deadlock detected|current transaction is aborted|prepared transaction with identifier "fv170_/);
	return;
}

# a round's workload run in the foreground
sub workload_now
{
	my ($tag, $txns) = @_;
	$st{maxid} = maxid();
	$node->safe_psql('postgres', workload_sql(\%st, $txns, $tag, 0));
	return;
}

# ---- the reader: the levels agree in every single statement --------------

my $AGREE = q{
WITH mm AS (SELECT coalesce(sum(n), 0) AS n, sum(revenue) AS rev, max(top) AS top,
                   (SELECT count(*) FROM (SELECT DISTINCT date_trunc('hour', minute), region FROM m) x) AS hour_groups
              FROM m),
     hh AS (SELECT coalesce(sum(n), 0) AS n, sum(revenue) AS rev, max(top) AS top, min(top) AS low, count(*) AS groups,
                   (SELECT count(*) FROM (SELECT DISTINCT date_trunc('day', hour), region FROM h) x) AS day_groups
              FROM h),
     dd AS (SELECT coalesce(sum(n), 0) AS n, sum(revenue) AS rev, max(top) AS top, min(low_top) AS low, count(*) AS groups,
                   coalesce(sum(hours), 0) AS hours
              FROM d),
     gg AS (SELECT count(*) AS nrows, max(groups) AS groups, max(revenue) AS rev, max(lowest_top) AS low FROM g),
     jj AS (SELECT coalesce(sum(n), 0) AS n, sum(revenue) AS rev, max(top) AS top,
                   (SELECT count(*) FROM (SELECT DISTINCT name, date_trunc('day', hour) FROM j) x) AS day_groups
              FROM j),
     jjd AS (SELECT coalesce(sum(n), 0) AS n, sum(revenue) AS rev, max(top) AS top, count(*) AS groups FROM jd)
SELECT CASE WHEN count(*) = 0 THEN 'ok'
            ELSE 'disagree: ' || string_agg(c.name, '; ') || ' :: '
                 || min(concat_ws(' | ', 'm' || mm::text, 'h' || hh::text, 'd' || dd::text, 'g' || gg::text, 'j' || jj::text, 'jd' || jjd::text))
       END
  FROM mm, hh, dd, gg, jj, jjd,
       LATERAL (VALUES
         ('sum(n) m = h', mm.n = hh.n),
         ('sum(n) h = d', hh.n = dd.n),
         ('sum(revenue) m = h', mm.rev IS NOT DISTINCT FROM hh.rev),
         ('sum(revenue) h = d', hh.rev IS NOT DISTINCT FROM dd.rev),
         ('sum(revenue) h = g.revenue', hh.rev IS NOT DISTINCT FROM gg.rev),
         ('max(top) m = h', mm.top IS NOT DISTINCT FROM hh.top),
         ('max(top) h = d', hh.top IS NOT DISTINCT FROM dd.top),
         ('min(top) h = min(low_top) d', hh.low IS NOT DISTINCT FROM dd.low),
         ('min(top) h = g.lowest_top', hh.low IS NOT DISTINCT FROM gg.low),
         ('g has one row', gg.nrows = 1),
         ('(hour, region) pairs of m = count(*) h', mm.hour_groups = hh.groups),
         ('count(*) h = g.groups', hh.groups = gg.groups),
         ('(day, region) pairs of h = count(*) d', hh.day_groups = dd.groups),
         ('sum(hours) d = count(*) h', dd.hours = hh.groups),
         ('sum(n) j = jd', jj.n = jjd.n),
         ('sum(revenue) j = jd', jj.rev IS NOT DISTINCT FROM jjd.rev),
         ('max(top) j = jd', jj.top IS NOT DISTINCT FROM jjd.top),
         ('(name, day) pairs of j = count(*) jd', jj.day_groups = jjd.groups)
       ) c(name, ok)
 WHERE c.ok IS NOT TRUE};

is($node->safe_psql('postgres', $AGREE), 'ok', 'the levels agree (no writers)');

my $total_checks = 0;

# the check, over and over in one session, until $done->(checks so far,
# seconds so far); every result must be 'ok'
sub read_until
{
	my ($label, $done) = @_;
	my ($n, $bad) = (0, 0);
	my $t0 = time;
	my $reader;
	while (!$done->($n, time - $t0) && time - $t0 < 40)
	{
		if (!$reader)
		{
			$reader = $node->background_psql('postgres', on_error_stop => 0);
			$reader->query_safe("PREPARE agree AS $AGREE");
		}
		my ($r, $failed) = $reader->query('EXECUTE agree');
		$n++;
		if ($failed)
		{
			$bad++;
			diag("$label: check $n failed: $reader->{stderr}");
			$reader->quit;
			undef $reader;
			next;
		}
		next if $r eq 'ok';
		$bad++;
		diag("$label: check $n: $r") if $bad <= 5;
	}
	$reader->quit if $reader;
	is($bad, 0, "$label: the levels agreed in each of $n single-statement checks");
	$total_checks += $n;
	return $n;
}

# ---- the rounds ----------------------------------------------------------

my $during_refresh = 0;
for my $round (1 .. 5)
{
	my $w = start_writers("round$round", $round, 120, 3);
	if ($round == 3)
	{
		# refresh_view(m) while the writers write: m and its downstreams
		# (and only they) are repopulated, and still agree meanwhile
		read_until('round 3, before refresh_view(m)', sub { $_[1] > 1 || (!writing($w) && $_[0] >= 20) });
		my $out = $node->safe_psql('postgres', q{
			BEGIN;
			SELECT 'refreshed' FROM flowview.refresh_view('m');
			SELECT string_agg(view::text, ',' ORDER BY view::text) FROM flowview.views WHERE state = 'backfilling';
			COMMIT;});
		is($out, "refreshed\nd,g,h,m", 'refresh_view(m) repopulates m, h, d and g, not j and jd');
		$during_refresh = read_until('round 3, while m, h, d and g are repopulated', sub { !writing($w) && $_[0] >= 50 });
		finish_writers($w);
		check_all('after refresh_view(m) under writes');
	}
	elsif ($round == 4)
	{
		# an immediate shutdown in the middle of the round
		read_until('round 4, before the immediate shutdown', sub { $_[1] > 1.2 && $_[0] >= 20 });
		$node->stop('immediate');
		finish_writers($w, 1);
		$node->start;
		# a prepared transaction of the workload cut off before its COMMIT PREPARED
		my $gids = $node->safe_psql('postgres', q{SELECT string_agg(format('COMMIT PREPARED %L;', gid), E'\n') FROM pg_prepared_xacts});
		$node->safe_psql('postgres', $gids) if $gids ne '';
		workload_now('after_crash', 40);
		check_all('after an immediate shutdown');
	}
	else
	{
		read_until("round $round", sub { !writing($w) && $_[0] >= 50 });
		finish_writers($w);
		if ($round == 2)
		{
			# restarted right away: the worker may still be behind
			$node->restart;
			check_all('after round 2 and a restart');
		}
		else
		{
			check_all("after round $round");
		}
	}
}
note($node->safe_psql('postgres', q{SELECT format('orders: %s rows; groups: m %s, h %s, d %s, j %s, jd %s', (SELECT count(*) FROM orders),
	(SELECT count(*) FROM m), (SELECT count(*) FROM h), (SELECT count(*) FROM d), (SELECT count(*) FROM j), (SELECT count(*) FROM jd))}));
cmp_ok($total_checks, '>=', 200, "the reader ran $total_checks cross-level checks ($during_refresh while m was refreshed)");
diag("$total_checks cross-level checks ran, $during_refresh of them while m, h, d and g were repopulated");

# ---- drop_view of an upstream --------------------------------------------

my $list = q{SELECT string_agg(view::text, ',' ORDER BY view::text) FROM flowview.views};
for my $up (qw(m h))
{
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT flowview.drop_view('$up')",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	isnt($ret, 0, "drop_view('$up') refused: live views read it");
	like($err, qr/ERROR:\s+2BP01/, "drop_view('$up'): SQLSTATE 2BP01");
}
is($node->safe_psql('postgres', $list), 'd,g,h,j,jd,m', 'the refused drop_view dropped nothing');
fresh('after the refused drop_view');

my $oids = $node->safe_psql('postgres', q{SELECT string_agg(view::oid::text, ',') FROM flowview.views WHERE view::text IN ('m', 'h', 'd', 'g')});
my $storage = $node->safe_psql('postgres', qq{SELECT string_agg(s::text, ',') FROM flowview.view_catalog c, unnest(c.storage_tables) s
	WHERE c.view_oid IN ($oids)});
ok($storage ne '', "their storage: $storage");
$node->safe_psql('postgres', q{SELECT flowview.drop_view('m', cascade => true)});
is($node->safe_psql('postgres', $list), 'j,jd', "drop_view('m', cascade => true) dropped m, h, d and g");
is($node->safe_psql('postgres', qq{SELECT count(*) FROM pg_class WHERE oid IN ($oids)}), '0', 'their relations are gone');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname IN ('m', 'h', 'd', 'g') AND relnamespace = 'public'::regnamespace}),
	'0', 'no relation m, h, d or g left');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM unnest(string_to_array('$storage', ',')) s WHERE to_regclass(s) IS NOT NULL}),
	'0', 'their storage is gone');

# the join rollup goes on
workload_now('after_drop', 40);
fresh('after the cascade');
for my $name (qw(j jd))
{
	is(FlowviewTest::differences($node, $name, $query{$name}), '', "after the cascade: $name equals its query");
	is(FlowviewTest::differences($node, $name, $composed{$name}), '', "after the cascade: $name equals its query composed over orders")
	  if $composed{$name};
}
my ($ret, $out, $err) = $node->psql('postgres', "SELECT flowview.drop_view('j')", extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:\s+2BP01/, "drop_view('j') refused with 2BP01: jd reads it");
$node->safe_psql('postgres', q{SELECT flowview.drop_view('jd')});
$node->safe_psql('postgres', q{SELECT flowview.drop_view('j')});
is($node->safe_psql('postgres', 'SELECT count(*) FROM flowview.views'), '0', 'jd, then j, dropped without cascade');

$node->stop;
done_testing();
