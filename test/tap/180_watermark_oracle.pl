# Watermarks and late data (create_view(..., allowed_lateness)) against the
# oracle: a seeded random workload (FV_SEED=... repeats it) over a stream of
# events whose time advances like a clock over simulated time (2026-01-01
# 22:30 UTC onwards, about an hour a round), most rows stamped within a few
# minutes of the stream clock (some exactly on a minute, a few in the
# future), some hours to a day behind it, some with a NULL time; updates of
# old and recent rows (moving them across windows, from closed windows into
# open ones and back, to a NULL time), range updates and deletes, renamed
# regions of the join's dimension, transactions of 1 to 20 statements,
# rollbacks and rolled-back savepoints; in some rounds two pgbench clients
# insert rows just behind the stream clock meanwhile.
#
# Views: per minute (lateness 2 minutes, the default minmax), per
# date_bin('5 minutes') (lateness 0, minmax 'multiset'), per ts::date
# (lateness 1 hour), per ts itself (a window of length 0, lateness 5
# minutes), per minute and region over a join with a dimension (lateness 30
# seconds), and per minute with a WHERE and a HAVING (lateness 1 minute).
#
# Which rows are late depends on the worker's batch boundaries, so the test
# never predicts it.  After each round, once fresh, each view equals its
# query over the source's rows adjusted by its late rows (those of sign -1
# put back, then those of sign 1 taken out; EXCEPT ALL both ways), and, in
# the windows still open (key + length > W, or a NULL key), its query over
# the source itself; its late rows are of windows closed under the
# watermark they record, carry the columns the view reads, and every late
# arrival is still in the source or was recorded leaving (a late row
# recorded twice fails this or the oracle); W never moves back;
# flowview.stats counts the late rows.  Each round also inserts probe rows
# far behind every view's watermark (an hour before the earliest closed
# window's end): each must be recorded once as late by every view and be in
# no view.  Across a restart and an immediate shutdown in the middle of a
# round (a late row recorded twice or lost: the oracle catches it).  Late
# rows must really have occurred in every view; last, drop_view of one view
# removes its late rows and leaves the others'.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use IPC::Run;
use FlowviewTest;

# every session (psql, pgbench, the views) in UTC
$ENV{PGTZ} = 'UTC';
my $seed = FlowviewTest::seed();

my $node = FlowviewTest::node('watermark_oracle', timezone => "'UTC'", log_min_messages => 'warning');
$node->start;

# the stream starts here (epoch seconds of 2026-01-01 00:00:00 UTC)
my $EPOCH0 = 1767225600;
my $clock = $EPOCH0 + 22.5 * 3600;
my @KEYS = map { "k$_" } 0 .. 6;    # k6 is in no dimension row
my @REGIONS = qw(r0 r1 r2 r3);

$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE dim (k text PRIMARY KEY, region text);
	INSERT INTO dim SELECT 'k' || i, 'r' || (i % 3) FROM generate_series(0, 5) i;
	INSERT INTO dim VALUES ('probe', 'rp');
	CREATE TABLE ev (id bigserial PRIMARY KEY, k text, ts timestamptz, x int);
	CREATE INDEX ON ev (ts);
	CREATE INDEX ON ev (k);
	-- the stream's past: 22.5 hours of 2026-01-01, a few NULL times, keys and values
	INSERT INTO ev (k, ts, x)
	  SELECT CASE WHEN i % 41 = 0 THEN NULL ELSE 'k' || (i % 7) END,
	         CASE WHEN i % 53 = 0 THEN NULL ELSE to_timestamp($EPOCH0) + ((i * 7919) % 81000) * interval '1 second' END,
	         CASE WHEN i % 37 = 0 THEN NULL ELSE (i * 31) % 500 END
	    FROM generate_series(1, 800) i;
});

# the views: name, query (reading ev once, as "FROM ev", unless a join),
# lateness, minmax, its window key column and length, the window's end as
# SQL over an event time (%s)
my @views = (
	{ name => 'per_min', lateness => '2 minutes', key => 'minute', len => '1 minute',
	  q => q{SELECT date_trunc('minute', ts) AS minute, k, count(*) AS n, sum(x) AS s, max(x) AS hi FROM ev GROUP BY 1, 2},
	  kexpr => q{date_trunc('minute', %s)}, wend => q{date_trunc('minute', %s) + interval '1 minute'} },
	{ name => 'per_bin', lateness => '0', minmax => 'multiset', key => 'w', len => '5 minutes',
	  q => q{SELECT date_bin('5 minutes', ts, timestamptz '2026-01-01') AS w, k, count(*) AS n, min(x) AS lo, max(x) AS hi FROM ev GROUP BY 1, 2},
	  kexpr => q{date_bin('5 minutes', %s, timestamptz '2026-01-01')},
	  wend => q{date_bin('5 minutes', %s, timestamptz '2026-01-01') + interval '5 minutes'} },
	{ name => 'per_day', lateness => '1 hour', key => 'day', len => '1 day',
	  q => q{SELECT ts::date AS day, k, count(*) AS n, sum(x) AS s, min(x) AS lo FROM ev GROUP BY 1, 2},
	  kexpr => q{(%s)::date}, wend => q{(%s)::date + interval '1 day'} },
	{ name => 'per_ts', lateness => '5 minutes', key => 'ts', len => '0',
	  q => q{SELECT ts, k, count(*) AS n, sum(x) AS s FROM ev GROUP BY 1, 2},
	  kexpr => q{%s}, wend => q{%s} },
	{ name => 'per_region', lateness => '30 seconds', key => 'minute', len => '1 minute', join => 1,
	  q => q{SELECT date_trunc('minute', e.ts) AS minute, d.region, count(*) AS n, sum(e.x) AS s, max(e.x) AS hi}
		. q{ FROM ev e JOIN dim d ON d.k = e.k GROUP BY 1, 2},
	  kexpr => q{date_trunc('minute', %s)}, wend => q{date_trunc('minute', %s) + interval '1 minute'} },
	{ name => 'big_min', lateness => '1 minute', key => 'minute', len => '1 minute', where => 'x > 10',
	  q => q{SELECT date_trunc('minute', ts) AS minute, k, count(*) AS n, sum(x) AS s FROM ev WHERE x > 10 GROUP BY 1, 2 HAVING count(*) > 1},
	  kexpr => q{date_trunc('minute', %s)}, wend => q{date_trunc('minute', %s) + interval '1 minute'} },
);

for my $v (@views)
{
	$node->safe_psql('postgres', "SELECT flowview.create_view('$v->{name}', \$q\$$v->{q}\$q\$"
		  . ($v->{minmax} ? ", minmax => '$v->{minmax}'" : '') . ", allowed_lateness => interval '$v->{lateness}')");
}
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views populated');
is($node->safe_psql('postgres', 'SELECT coalesce(string_agg(v.view::text || \' \' || coalesce(v.allowed_lateness::text, \'NULL\'), \', \'), \'\')'
	  . ' FROM flowview.views v JOIN (VALUES ' . join(', ', map { "('$_->{name}', interval '$_->{lateness}')" } @views) . ') e(name, lateness)'
	  . ' ON e.name = v.view::text WHERE v.allowed_lateness IS DISTINCT FROM e.lateness'), '',
	'flowview.views shows each allowed_lateness');

# the population sets W from the rows there: their latest event time (of
# the rows the view reads) less the lateness
for my $v (@views)
{
	my $latest = $v->{join} ? 'SELECT max(e.ts) FROM ev e JOIN dim d ON d.k = e.k'
	  : 'SELECT max(ts) FROM ev' . ($v->{where} ? " WHERE $v->{where}" : '');
	is($node->safe_psql('postgres', "SELECT watermark = ($latest) - interval '$v->{lateness}' FROM flowview.views WHERE view = '$v->{name}'::regclass"),
		't', "$v->{name}: the population set the watermark to the latest event time less the lateness");
}

# ---- the oracle ------------------------------------------------------------

# the late rows of a view with sign $sign, as rows of the columns it reads
sub late_of
{
	my ($v, $sign) = @_;
	return qq{SELECT (l.row_data->>'e.ts')::timestamptz, (l.row_data->>'e.x')::int, l.row_data->>'d.region'}
	  . qq{ FROM flowview.late_rows l WHERE l.view = '$v->{name}'::regclass AND l.sign = $sign}
	  if $v->{join};
	return qq{SELECT r.k, r.ts, r.x FROM flowview.late_rows l, jsonb_populate_record(NULL::ev, l.row_data) r}
	  . qq{ WHERE l.view = '$v->{name}'::regclass AND l.sign = $sign};
}

# the source's rows (of the join, for the join view)
sub base_of
{
	my ($v) = @_;
	return $v->{join} ? 'SELECT e.ts, e.x, d.region FROM ev e JOIN dim d ON d.k = e.k' : 'SELECT k, ts, x FROM ev';
}

# the source's rows adjusted by the late rows: -1 put back, then +1 taken out
sub adjusted_rows
{
	my ($v) = @_;
	return '((' . base_of($v) . ') UNION ALL (' . late_of($v, -1) . ')) EXCEPT ALL (' . late_of($v, 1) . ')';
}

# the view's query over them
sub adjusted
{
	my ($v) = @_;
	if ($v->{join})
	{
		return 'SELECT date_trunc(\'minute\', j.ts) AS minute, j.region, count(*) AS n, sum(j.x) AS s, max(j.x) AS hi FROM ('
		  . adjusted_rows($v) . ') j(ts, x, region) GROUP BY 1, 2';
	}
	my $q = $v->{q};
	my $from = 'FROM (' . adjusted_rows($v) . ') ev';
	$q =~ s/\bFROM ev\b/$from/ or die "no FROM ev in $v->{name}";
	return $q;
}

sub watermark_sql { return "(SELECT watermark FROM flowview.views WHERE view = '$_[0]{name}'::regclass)"; }

# the windows still open: key + length > W (or a NULL key)
sub open_cond
{
	my ($v, $alias) = @_;
	return "($alias.$v->{key} + interval '$v->{len}' > " . watermark_sql($v) . " OR $alias.$v->{key} IS NULL)";
}

my %last_w;
my @probes;    # x of each probe row
my $probe_x = 100000;

sub fresh
{
	my ($label) = @_;
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '120 s')"), 't', "$label: fresh");
	is($node->safe_psql('postgres', q{SELECT coalesce(string_agg(view::text || ' ' || state || ': ' || coalesce(error, ''), '; '), '')
		FROM flowview.views WHERE state <> 'live'}), '', "$label: every view live");
	return;
}

# probe rows: an hour or more before the earliest end of a closed window of
# any view (W, or for the day view the start of W's day) - closed for
# every view, and W never moves back: late for every view, whatever the
# batches
sub insert_probes
{
	my ($label) = @_;
	my @x = ($probe_x + 1, $probe_x + 2);
	$probe_x += 2;
	my $out = $node->safe_psql('postgres', sprintf(q{
		WITH b AS (SELECT least(min(watermark), min(date_trunc('day', watermark)) FILTER (WHERE view = 'per_day'::regclass)) AS t
		             FROM flowview.views)
		INSERT INTO ev (k, ts, x)
		  SELECT 'probe', b.t - interval '1 hour' - v.back * interval '1 second', v.x FROM b,
		         (VALUES (%d, %d), (%d, %d)) v(x, back)
		  WHERE b.t > '-infinity'
		RETURNING ts}, $x[0], int(rand(3 * 3600)), $x[1], int(rand(600))));
	my @ts = split /\n/, $out;
	is(scalar @ts, 2, "$label: two probe rows far behind every watermark (@ts)");
	push @probes, @x;
	return;
}

# the problems of a view's late rows ('' if none)
sub late_row_problems
{
	my ($v) = @_;
	my $name = $v->{name};
	my $tcol = $v->{join} ? 'e.ts' : 'ts';
	my $cols = $v->{join} ? q{array['e.ts', 'e.x', 'd.region']} : q{array['k', 'ts', 'x']};
	my $wend = sprintf($v->{wend}, 'l.event_time');
	my $w = watermark_sql($v);
	my $L = "flowview.late_rows l WHERE l.view = '$name'::regclass";
	return $node->safe_psql('postgres', qq{SELECT concat_ws('; ',
		(SELECT 'no event time: ' || count(*) FROM $L AND l.event_time IS NULL HAVING count(*) > 0),
		(SELECT 'sign not 1 or -1: ' || count(*) FROM $L AND l.sign NOT IN (1, -1) HAVING count(*) > 0),
		(SELECT 'of a window open under the recorded watermark: ' || count(*) || ', e.g. ' || min(l.row_data::text || ' W ' || l.watermark)
		   FROM $L AND NOT ($wend <= l.watermark) HAVING count(*) > 0),
		(SELECT 'recorded watermark after the view''s: ' || count(*) FROM $L AND l.watermark > $w HAVING count(*) > 0),
		(SELECT 'columns missing: ' || count(*) || ', e.g. ' || min(l.row_data::text) FROM $L AND NOT (l.row_data ?& $cols) HAVING count(*) > 0),
		(SELECT 'event time not the row''s: ' || count(*) FROM $L AND (l.row_data->>'$tcol')::timestamptz IS DISTINCT FROM l.event_time
		   HAVING count(*) > 0),
		(SELECT 'late arrivals neither in the source nor recorded leaving: ' || count(*) || ', e.g. ' || min(a::text)
		   FROM ((} . late_of($v, 1) . ') EXCEPT ALL ((' . base_of($v) . ') UNION ALL (' . late_of($v, -1) . q{))) a HAVING count(*) > 0))});
}

# for a failed oracle: the source's rows and the late rows of the groups
# that differ
sub explain_diff
{
	my ($v) = @_;
	my $name = $v->{name};
	my $adj = adjusted($v);
	my $gcol = $v->{join} ? 'region' : 'k';
	my $g = "SELECT $v->{key}, $gcol FROM (SELECT * FROM $name EXCEPT ALL ($adj)) d"
	  . " UNION SELECT $v->{key}, $gcol FROM (($adj) EXCEPT ALL SELECT * FROM $name) d";
	my $src = $node->safe_psql('postgres', sprintf(q{SELECT string_agg(format('  id %%s xmin %%s: k %%s ts %%s x %%s%%s', e.id, e.xmin, e.k, e.ts, e.x, %s), E'\n' ORDER BY e.id)
		FROM ev e %s WHERE (%s, %s) IN (%s)},
		$v->{join} ? q{' region ' || d.region} : q{''}, $v->{join} ? 'JOIN dim d ON d.k = e.k' : '',
		sprintf($v->{kexpr}, 'e.ts'), $v->{join} ? 'd.region' : 'e.k', $g));
	my $late = $node->safe_psql('postgres', sprintf(q{SELECT string_agg(format('  late id %%s sign %%s xid %%s lsn %%s W %%s: %%s', l.id, l.sign, l.xid, l.lsn, l.watermark, l.row_data), E'\n' ORDER BY l.id)
		FROM flowview.late_rows l WHERE l.view = '%s'::regclass AND (%s, l.row_data->>'%s') IN (%s)},
		$name, sprintf($v->{kexpr}, 'l.event_time'), $v->{join} ? 'd.region' : 'k', $g));
	return "$name: the groups that differ: source rows\n" . ($src // '') . "\nlate rows\n" . ($late // '');
}

sub check_all
{
	my ($label) = @_;
	insert_probes($label);
	fresh($label);
	my $stats = $node->safe_psql('postgres', q{SELECT coalesce(string_agg(s.view::text || ': ' || s.late_rows || ' <> ' || l.n, ', '), '')
		FROM flowview.stats s LEFT JOIN (SELECT view, count(*) AS n FROM flowview.late_rows GROUP BY 1) l ON l.view = s.view
		WHERE s.late_rows <> coalesce(l.n, 0)});
	is($stats, '', "$label: flowview.stats.late_rows counts each view's late rows");
	for my $v (@views)
	{
		my $name = $v->{name};
		next if $v->{dropped};
		is(FlowviewTest::differences($node, $name, adjusted($v)), '',
			"$label: $name equals its query over the source adjusted by its late rows") or diag(explain_diff($v));
		is(FlowviewTest::differences($node, "(SELECT * FROM $name v WHERE " . open_cond($v, 'v') . ') vo',
				"SELECT * FROM ($v->{q}) q WHERE " . open_cond($v, 'q'), empty_ok => 1), '',
			"$label: $name equals its query over the source in the windows after its watermark");
		my $w = $node->safe_psql('postgres', "SELECT watermark FROM flowview.views WHERE view = '$name'::regclass");
		if (defined $last_w{$name})
		{
			is($node->safe_psql('postgres', "SELECT '$w'::timestamptz >= '$last_w{$name}'::timestamptz"), 't',
				"$label: $name: the watermark did not move back ($last_w{$name} -> $w)");
		}
		$last_w{$name} = $w;
		is(late_row_problems($v), '', "$label: $name: its late rows are sound");
		# the probes: each late once (sign 1, never -1), none in the view
		my $xcol = $v->{join} ? 'e.x' : 'x';
		my $probe_list = join(', ', @probes);
		is($node->safe_psql('postgres', qq{SELECT coalesce(string_agg(p.x || ': ' || coalesce(l.n, 0) || ' late, ' || coalesce(l.gone, 0) || ' leaving', ', '), '')
			FROM unnest('{$probe_list}'::int[]) p(x)
			LEFT JOIN (SELECT (row_data->>'$xcol')::int AS x, count(*) FILTER (WHERE sign = 1) AS n, count(*) FILTER (WHERE sign = -1) AS gone
			             FROM flowview.late_rows WHERE view = '$name'::regclass AND (row_data->>'$xcol')::int >= 100000 GROUP BY 1) l ON l.x = p.x
			WHERE l.n IS DISTINCT FROM 1 OR l.gone IS DISTINCT FROM 0}), '',
			"$label: $name: each probe row (far behind W) recorded late once");
		my $probe_group = $v->{join} ? q{region = 'rp'} : q{k = 'probe'};
		is($node->safe_psql('postgres', "SELECT count(*) FROM $name WHERE $probe_group"), '0', "$label: $name: no probe row in the view");
	}
	note("$label: " . $node->safe_psql('postgres', q{SELECT string_agg(format('%s W %s late %s (%s -1)', v.view, v.watermark,
		(SELECT count(*) FROM flowview.late_rows l WHERE l.view = v.view), (SELECT count(*) FROM flowview.late_rows l WHERE l.view = v.view AND sign = -1)),
		'; ' ORDER BY v.view::text) FROM flowview.views v}));
	return;
}

check_all('after population');

# ---- the workload ----------------------------------------------------------

sub r { return int(rand($_[0])); }
sub pick { return $_[ r(scalar @_) ]; }

sub at { return sprintf('to_timestamp(%s)', $_[0]); }

# an event time relative to the stream clock
sub ts_expr
{
	my $x = rand();
	return 'NULL' if $x < 0.03;
	return at($clock - 3600 - r(29 * 3600)) if $x < 0.10;               # far behind
	return at(int($clock / 60) * 60 - 60 * r(5)) if $x < 0.16;          # on a minute, just behind
	return at($clock + r(30)) if $x < 0.21;                             # a little in the future
	return at(sprintf('%.1f', $clock - rand(240))) if $x < 0.4;          # a fraction of a second
	return at($clock - r(240));                                         # within four minutes
}
sub k_expr { return rand() < 0.04 ? 'NULL' : "'" . pick(@KEYS) . "'"; }
sub x_expr { return rand() < 0.04 ? 'NULL' : r(500); }

my $maxid = 0;
# a row of the workload, old or recent (never a probe: see NOPROBE)
sub id_expr { return rand() < 0.5 ? (1 + r($maxid)) : ($maxid > 80 ? $maxid - r(80) : 1 + r($maxid)); }
my $NOPROBE = q{k IS DISTINCT FROM 'probe'};

sub one_stmt
{
	my $k = r(100);
	if ($k < 45)
	{
		my $rows = 1 + (rand() < 0.3 ? r(3) : 0);
		my @v;
		for (1 .. $rows)
		{
			$clock += r(16);
			push @v, sprintf('(%s, %s, %s)', k_expr(), ts_expr(), x_expr());
		}
		$maxid += $rows;
		return 'INSERT INTO ev (k, ts, x) VALUES ' . join(', ', @v);
	}
	if ($k < 48)
	{
		my $rows = 10 + r(30);
		$clock += r(60);
		$maxid += $rows;
		return sprintf(q{INSERT INTO ev (k, ts, x) SELECT 'k' || ((i * %d) %% 7), %s - ((i * 7) %% 200) * interval '1 second', (i * %d) %% 500
			FROM generate_series(1, %d) i}, 1 + r(6), at($clock), 1 + r(97), $rows);
	}
	return sprintf("UPDATE ev SET ts = %s WHERE id = %d AND $NOPROBE", ts_expr(), id_expr()) if $k < 58;
	return sprintf("UPDATE ev SET ts = ts + interval '%d seconds' WHERE id = %d AND $NOPROBE", r(601) - 300, id_expr()) if $k < 64;
	return sprintf("UPDATE ev SET x = %s, k = %s WHERE id = %d AND $NOPROBE", x_expr(), k_expr(), id_expr()) if $k < 70;
	return sprintf("UPDATE ev SET x = x + %d WHERE id = %d AND $NOPROBE", r(30) - 10, id_expr()) if $k < 73;
	if ($k < 76)
	{
		my $id = id_expr();
		return sprintf("UPDATE ev SET x = x + 1 WHERE id BETWEEN %d AND %d AND $NOPROBE", $id, $id + r(30));
	}
	if ($k < 78)
	{
		my $id = id_expr();
		return sprintf("UPDATE ev SET ts = ts + interval '%d seconds', k = %s WHERE id BETWEEN %d AND %d AND $NOPROBE",
			r(301) - 150, k_expr(), $id, $id + r(15));
	}
	return sprintf("DELETE FROM ev WHERE id = %d AND $NOPROBE", id_expr()) if $k < 90;
	if ($k < 93)
	{
		my $id = id_expr();
		return sprintf("DELETE FROM ev WHERE id BETWEEN %d AND %d AND $NOPROBE", $id, $id + r(6));
	}
	# a region renamed: the join's rows of its keys move, closed windows too
	return sprintf(q{UPDATE dim SET region = '%s' WHERE k = 'k%d'}, pick(@REGIONS), r(6)) if $k < 94 && rand() < 0.3;
	# the stream pauses
	$clock += 60 + r(600) if $k >= 97;
	return sprintf('SELECT %d', $k);
}

# $n transactions of 1 to 20 statements; one in twelve rolled back, one in
# twelve with a rolled-back savepoint; with $pause, short sleeps
sub workload_sql
{
	my ($n, $pause) = @_;
	my $sql = '';
	for (1 .. $n)
	{
		my $x = rand();
		my $len = $x < 0.5 ? 1 + r(3) : $x < 0.85 ? 4 + r(7) : 11 + r(10);
		my @s = map { one_stmt() } 1 .. $len;
		$sql .= FlowviewTest::transaction_sql(\@s, \&one_stmt);
		$sql .= "SELECT pg_sleep(0.02);\n" if $pause && rand() < 0.3;
	}
	return $sql;
}

sub read_maxid { $maxid = $node->safe_psql('postgres', 'SELECT last_value FROM ev_id_seq'); return; }

sub workload_now
{
	my ($n) = @_;
	read_maxid();
	$node->safe_psql('postgres', workload_sql($n, 0));
	return;
}

# pgbench: rows just behind the stream's latest event time
my $dir = PostgreSQL::Test::Utils::tempdir();
append_to_file("$dir/bench_insert.sql", q{
\set k random(0, 6)
\set back random(0, 200)
\set x random(0, 499)
INSERT INTO ev (k, ts, x) SELECT 'k' || :k, max(ts) - :back * interval '1 second', :x FROM ev;
});

sub start_writers
{
	my ($tag, $txns, $seconds) = @_;
	read_maxid();
	append_to_file("$dir/work_$tag.sql", workload_sql($txns, 1));
	return FlowviewTest::start_writers($node, $dir, $tag, [ '-v', 'ON_ERROR_STOP=0' ],
		'-n', '-c', '2', '-j', '2', '-T', $seconds, '-R', '150', "--random-seed=$seed",
		'-f', "$dir/bench_insert.sql");
}

sub finish_writers
{
	my ($w, $crashed) = @_;
	FlowviewTest::finish_writers($w, $crashed, undef);
	return;
}

# ---- the rounds --------------------------------------------------------------

for my $round (1 .. 6)
{
	if ($round == 2 || $round == 5)
	{
		my $w = start_writers("round$round", 150, 3);
		finish_writers($w);
		check_all("round $round (with pgbench)");
	}
	elsif ($round == 3)
	{
		workload_now(150);
		# restarted right away: the worker may still be behind
		$node->restart;
		check_all("round $round and a restart");
	}
	elsif ($round == 4)
	{
		# an immediate shutdown in the middle of the round
		my $w = start_writers("round$round", 200, 4);
		sleep(1.2);
		$node->stop('immediate');
		finish_writers($w, 1);
		$node->start;
		workload_now(40);
		check_all("round $round, after an immediate shutdown");
	}
	else
	{
		workload_now(150);
		check_all("round $round");
	}
}

note($node->safe_psql('postgres', q{SELECT format('ev: %s rows (%s with a NULL time), %s to %s', count(*), count(*) FILTER (WHERE ts IS NULL), min(ts), max(ts)) FROM ev}));

# late rows must really have occurred (not only the probes), in every view
for my $v (@views)
{
	my $xcol = $v->{join} ? 'e.x' : 'x';
	my $n = $node->safe_psql('postgres', qq{SELECT count(*) FROM flowview.late_rows
		WHERE view = '$v->{name}'::regclass AND coalesce((row_data->>'$xcol')::int, 0) < 100000});
	my $gone = $node->safe_psql('postgres', qq{SELECT count(*) FROM flowview.late_rows
		WHERE view = '$v->{name}'::regclass AND sign = -1});
	ok($n > 0, "$v->{name} (lateness $v->{lateness}): $n late rows of the workload ($gone of sign -1)");
}

# ---- drop_view removes the view's late rows --------------------------------

my ($drop) = grep { $_->{name} eq 'per_ts' } @views;
my $drop_id = $node->safe_psql('postgres', q{SELECT id FROM flowview.view_catalog WHERE view_oid = 'per_ts'::regclass});
my $others = $node->safe_psql('postgres', "SELECT count(*) FROM flowview.late_row_log WHERE view_id <> $drop_id");
ok($node->safe_psql('postgres', "SELECT count(*) FROM flowview.late_row_log WHERE view_id = $drop_id") > 0, 'per_ts has late rows');
$node->safe_psql('postgres', q{SELECT flowview.drop_view('per_ts')});
$drop->{dropped} = 1;
is($node->safe_psql('postgres', "SELECT count(*) FROM flowview.late_row_log WHERE view_id = $drop_id"), '0',
	"drop_view('per_ts') removed its late rows");
is($node->safe_psql('postgres', "SELECT count(*) FROM flowview.late_row_log WHERE view_id <> $drop_id"), $others,
	"the other views' late rows stay");
is($node->safe_psql('postgres', q{SELECT count(*) FROM flowview.late_row_log l WHERE NOT EXISTS (SELECT FROM flowview.view_catalog c WHERE c.id = l.view_id)}),
	'0', 'no late row of a view that is gone');

# the others go on
workload_now(60);
check_all('after drop_view');

$node->stop;
done_testing();
