# Session windows (flowview.create_session_view) against their queries (the
# oracle).  Four session views: clicks per user (gap 5 minutes), per user
# and device (90 seconds; min, max, avg, bool_or), one global stream (key
# '{}', 10 minutes; every, an SLA) and per user over a table whose event
# time is a timestamp without time zone (2 minutes; bool_and).
# First a deterministic scenario in a region of time of its own: rows
# bridging two sessions (a merge), deleted from the middle of one (a split),
# moved across the exact gap and back, moved between keys, a rolled-back
# transaction, a rolled-back savepoint and one transaction that splits and
# merges; after each step every view's sessions there equal those of a
# model kept in Perl.
# Then six seeded rounds (FV_SEED=... repeats them) around a stream clock
# that moves on 40 minutes a round: inserts near the clock and out of order
# (far back, exactly between two sessions so that they merge; NULL times,
# users and devices; duplicate times; bursts), deletes of the one row
# holding a session together (splits) and of random rows and ranges,
# updates of ts (by a little, to anywhere, to and from NULL, ranges shifted),
# of usr and dev (rows move between keys), of amount and flag; transactions
# of 1 to 12 statements, rollbacks, rolled-back savepoints, two-phase
# commit.  In three rounds two pgbench clients insert, delete and move rows
# near the clock while the scripted workload runs.  After each round, once
# fresh, every view is live and equals both its defining query (from
# flowview.views.query) and an independently written query (sessions cut at
# distinct times), EXCEPT ALL both ways.  Also after a restart (the worker
# lagging), an immediate shutdown in the middle of a round, refresh_view of
# one view under writes, and drop_view of one (then a TRUNCATE of the
# timestamp table refilled in the same transaction).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use IPC::Run;
use FlowviewTest;

$ENV{PGTZ} = 'UTC';
my $seed = FlowviewTest::seed();
my $t_start = time;

my $node = FlowviewTest::node('session_oracle', timezone => "'UTC'", log_min_messages => 'warning');
$node->start;

my $BASE = q{timestamptz '2026-01-01 00:00:00+00'};
my $LBASE = q{timestamp '2026-01-01 00:00:00'};
my $clock = 3600;    # the stream clock, seconds after $BASE

$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE clicks (id bigserial PRIMARY KEY, usr text, dev text, ts timestamptz, amount int, flag boolean);
	CREATE INDEX ON clicks (usr, ts);
	CREATE TABLE clicks_local (id bigserial PRIMARY KEY, usr text, ts timestamp, amount int, ok boolean);
	CREATE INDEX ON clicks_local (usr, ts);
	-- before the views: their backfill reads these
	INSERT INTO clicks (usr, dev, ts, amount, flag)
	  SELECT CASE WHEN i % 13 = 0 THEN NULL ELSE 'u' || (1 + i % 6) END,
	         CASE WHEN i % 17 = 0 THEN NULL ELSE 'd' || (1 + i % 3) END,
	         CASE WHEN i % 29 = 0 THEN NULL ELSE $BASE + ((i * 7919) % 3600) * interval '1 second' END,
	         (i * 37) % 100, i % 5 <> 0
	    FROM generate_series(1, 400) i;
	INSERT INTO clicks_local (usr, ts, amount, ok)
	  SELECT CASE WHEN i % 11 = 0 THEN NULL ELSE 'u' || (1 + i % 4) END,
	         CASE WHEN i % 23 = 0 THEN NULL ELSE $LBASE + ((i * 7919) % 3600) * interval '1 second' END,
	         (i * 31) % 100, i % 7 <> 0
	    FROM generate_series(1, 200) i;
});

# name => [table, key columns, gap, [aggregate, column, name]..., SLA]
my %views = (
	sess => [ 'clicks', ['usr'], '5 minutes',
		[ [ 'count', '*', 'clicks' ], [ 'sum', 'amount', 'spent' ], [ 'max', 'amount', 'top' ], [ 'min', 'amount', 'low' ] ] ],
	sess_dev => [ 'clicks', [ 'usr', 'dev' ], '90 seconds',
		[ [ 'count', '*', 'n' ], [ 'min', 'amount', 'low' ], [ 'max', 'amount', 'high' ], [ 'avg', 'amount', 'mean' ],
		  [ 'bool_or', 'flag', 'any_flag' ] ] ],
	sess_all => [ 'clicks', [], '10 minutes',
		[ [ 'count', '*', 'n' ], [ 'sum', 'amount', 'total' ], [ 'every', 'flag', 'all_flag' ] ], '30 seconds' ],
	sess_local => [ 'clicks_local', ['usr'], '2 minutes',
		[ [ 'count', '*', 'n' ], [ 'sum', 'amount', 'total' ], [ 'bool_and', 'ok', 'all_ok' ], [ 'max', 'amount', 'top' ] ] ],
);
my @names = sort keys %views;

for my $name (@names)
{
	my ($table, $keys, $gap, $aggs, $sla) = @{ $views{$name} };
	my $agg = join(', ', map { "$_->[0]($_->[1]) AS $_->[2]" } @$aggs);
	my $key = '{' . join(',', @$keys) . '}';
	$node->safe_psql('postgres', "SELECT flowview.create_session_view('$name', '$table', '$key', 'ts', interval '$gap', '$agg'"
		  . ($sla ? ", interval '$sla'" : '') . ')');
}
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'session views populated');

# the columns: the key, session_start, session_end, the aggregates
for my $name (@names)
{
	my ($table, $keys, $gap, $aggs) = @{ $views{$name} };
	my $ttype = $table eq 'clicks' ? 'timestamp with time zone' : 'timestamp without time zone';
	is($node->safe_psql('postgres', qq{SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
		FROM pg_attribute WHERE attrelid = '$name'::regclass AND attnum > 0 AND NOT attisdropped}),
		join(', ', (map { "$_ text" } @$keys), "session_start $ttype", "session_end $ttype",
			map { "$_->[2] " . ({ count => 'bigint', sum => 'bigint', min => 'integer', max => 'integer', avg => 'numeric',
				bool_or => 'boolean', bool_and => 'boolean', every => 'boolean' }->{ $_->[0] }) } @$aggs),
		"$name: its columns");
}
is($node->safe_psql('postgres', q{SELECT freshness_sla FROM flowview.views WHERE view = 'sess_all'::regclass}), '00:00:30',
	'sess_all: the SLA given as the seventh argument');

# the defining query, as flowview.views has it
sub stored_query
{
	my ($name) = @_;
	return $node->safe_psql('postgres', "SELECT query FROM flowview.views WHERE view = '$name'::regclass");
}

# the same sessions written another way: session starts are the distinct
# times of a key with no earlier time of the key less than gap before;
# each row belongs to the last start at or before it
sub independent_query
{
	my ($name) = @_;
	my ($table, $keys, $gap, $aggs) = @{ $views{$name} };
	my $part = @$keys ? 'PARTITION BY ' . join(', ', @$keys) : '';
	my $k = join('', map { "$_, " } @$keys);
	my $sk = join('', map { "s.$_, " } @$keys);
	my $match = join('', map { " AND coalesce(c.$_, '~null~') = coalesce(s.$_, '~null~')" } @$keys);
	my $agg = join('', map { ", $_->[0](" . ($_->[1] eq '*' ? '*' : "c.$_->[1]") . ") AS $_->[2]" } @$aggs);
	return qq{WITH d AS (SELECT DISTINCT ${k}ts FROM $table WHERE ts IS NOT NULL),
		b AS (SELECT ${k}ts, lag(ts) OVER ($part ORDER BY ts) AS prev FROM d),
		st AS (SELECT ${k}ts AS s0, lead(ts) OVER ($part ORDER BY ts) AS s1 FROM b WHERE prev IS NULL OR ts - prev >= interval '$gap')
		SELECT ${sk}min(c.ts) AS session_start, max(c.ts) AS session_end$agg
		  FROM st s JOIN $table c ON c.ts >= s.s0 AND (s.s1 IS NULL OR c.ts < s.s1)$match
		 GROUP BY ${sk}s.s0};
}

sub fresh
{
	my ($label) = @_;
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', "$label: fresh");
	is($node->safe_psql('postgres', q{SELECT coalesce(string_agg(view::text || ' ' || state || ': ' || coalesce(error, ''), '; '), '')
		FROM flowview.views WHERE state <> 'live'}), '', "$label: every view live");
	return;
}

sub check
{
	my ($label) = @_;
	fresh($label);
	for my $name (@names)
	{
		is(FlowviewTest::differences($node, $name, stored_query($name)), '', "$label: $name equals its query");
		is(FlowviewTest::differences($node, $name, independent_query($name)), '', "$label: $name equals the sessions cut at distinct times");
	}
	return;
}

check('after the backfill');

# ---- the deterministic scenario -------------------------------------------
#
# in 2030 (no other row is there): probe rows, identified by amount, kept
# in a model; after each step each view's sessions there equal the model's

my $P = q{timestamptz '2030-01-01 00:00:00+00'};
my $LP = q{timestamp '2030-01-01 00:00:00'};
my %model;          # amount => {table, usr, dev, t (seconds after $P)}
my %gap_of = (sess => 300, sess_dev => 90, sess_all => 600, sess_local => 120);

sub mmss { my ($s) = @_; return sprintf('%02d:%02d', int($s / 60), $s % 60); }

# "key start-end count, ..." of the model's sessions for a view
sub model_sessions
{
	my ($name) = @_;
	my ($table, $keys) = @{ $views{$name} };
	my %by;
	for my $r (grep { $model{$_}->{table} eq $table } sort { $a <=> $b } keys %model)
	{
		my $m = $model{$r};
		push @{ $by{ join('/', map { $m->{$_} } @$keys) } }, $m->{t};
	}
	my @out;
	for my $key (sort keys %by)
	{
		my @t = sort { $a <=> $b } @{ $by{$key} };
		my @s = ([ $t[0], $t[0], 1 ]);
		for my $x (@t[ 1 .. $#t ])
		{
			if ($x - $s[-1]->[1] < $gap_of{$name}) { $s[-1]->[1] = $x; $s[-1]->[2]++; }
			else { push @s, [ $x, $x, 1 ]; }
		}
		push @out, map { ($key eq '' ? '' : "$key ") . mmss($_->[0]) . '-' . mmss($_->[1]) . " $_->[2]" } @s;
	}
	return join(', ', @out);
}

sub view_sessions
{
	my ($name) = @_;
	my ($table, $keys, $gap, $aggs) = @{ $views{$name} };
	my $key = @$keys ? join(" || '/' || ", @$keys) . " || ' ' || " : '';
	my $start = $table eq 'clicks' ? $P : $LP;
	my $order = join('', map { "$_, " } @$keys);
	return $node->safe_psql('postgres', qq{SELECT coalesce(string_agg($key to_char(session_start, 'MI:SS') || '-'
		|| to_char(session_end, 'MI:SS') || ' ' || $aggs->[0]->[2], ', ' ORDER BY ${order}session_start), '')
		FROM $name WHERE session_start >= $start});
}

sub count_sessions
{
	my ($name) = @_;
	my $start = $views{$name}->[0] eq 'clicks' ? $P : $LP;
	return $node->safe_psql('postgres', "SELECT count(*) FROM $name WHERE session_start >= $start");
}

# SQL for the probe rows; each returns the statement and applies nothing
sub p_insert
{
	my ($amount, $table, $usr, $dev, $t) = @_;
	return $table eq 'clicks'
	  ? "INSERT INTO clicks (usr, dev, ts, amount, flag) VALUES ('$usr', '$dev', $P + interval '$t seconds', $amount, true)"
	  : "INSERT INTO clicks_local (usr, ts, amount, ok) VALUES ('$usr', $LP + interval '$t seconds', $amount, true)";
}
sub p_where { my ($amount) = @_; return "amount = $amount AND ts >= " . ($model{$amount}->{table} eq 'clicks' ? $P : $LP); }

sub m_insert
{
	my ($amount, $table, $usr, $dev, $t) = @_;
	$model{$amount} = { table => $table, usr => $usr, dev => $dev // '', t => $t };
	return p_insert(@_);
}
sub m_delete
{
	my ($amount) = @_;
	my $sql = "DELETE FROM $model{$amount}->{table} WHERE " . p_where($amount);
	delete $model{$amount};
	return $sql;
}
sub m_update
{
	my ($amount, %set) = @_;
	my $sql = "UPDATE $model{$amount}->{table} SET "
	  . join(', ', map { $_ eq 't' ? "ts = ts + interval '" . ($set{t} - $model{$amount}->{t}) . " seconds'" : "$_ = '$set{$_}'" } sort keys %set)
	  . ' WHERE ' . p_where($amount);
	$model{$amount}->{$_} = $set{$_} for keys %set;
	return $sql;
}

sub step
{
	my ($label, $sql) = @_;
	$node->safe_psql('postgres', $sql);
	fresh("scenario: $label");
	for my $name (@names)
	{
		is(view_sessions($name), model_sessions($name), "scenario: $label: $name has the model's sessions");
	}
	return;
}

step('initial rows', join(";\n",
	m_insert(1001, 'clicks', 'probe', 'p1', 0), m_insert(1002, 'clicks', 'probe', 'p1', 180),
	m_insert(1003, 'clicks', 'probe', 'p1', 600), m_insert(1004, 'clicks', 'probe', 'p1', 720),
	m_insert(1005, 'clicks', 'probe', 'p1', 1800), m_insert(1006, 'clicks', 'probe', 'p1', 2040),
	m_insert(1007, 'clicks', 'probe', 'p1', 2280),
	m_insert(1008, 'clicks', 'probe', 'p2', 3000), m_insert(1009, 'clicks', 'probe', 'p2', 3060),
	m_insert(1010, 'clicks', 'probe', 'p2', 3120),
	m_insert(2001, 'clicks_local', 'probe', undef, 0), m_insert(2002, 'clicks_local', 'probe', undef, 60),
	m_insert(2003, 'clicks_local', 'probe', undef, 240)));
is(count_sessions('sess'), '4', 'scenario: sess has 4 probe sessions');

# a late row bridging two sessions of probe (3:00 .. 6:30 .. 10:00)
my $before = count_sessions('sess');
step('a late row merges two sessions', m_insert(1011, 'clicks', 'probe', 'p1', 390));
is(count_sessions('sess'), $before - 1, 'scenario: sess: the bridging row merged two sessions into one');
$before = count_sessions('sess_local');
step('a late row merges two sessions (timestamp)', m_insert(2004, 'clicks_local', 'probe', undef, 150));
is(count_sessions('sess_local'), $before - 1, 'scenario: sess_local: the bridging row merged two sessions');

# the row holding 30:00 .. 38:00 together deleted
$before = count_sessions('sess');
my $before_all = count_sessions('sess_all');
step('a delete splits a session', m_delete(1006));
is(count_sessions('sess'), $before + 1, 'scenario: sess: the delete split a session in two');
is(count_sessions('sess_all'), $before_all, 'scenario: sess_all: still one session there (gap 10 minutes)');
$before = count_sessions('sess_local');
step('a delete splits a session (timestamp)', m_delete(2004) . ";\n" . m_insert(2005, 'clicks_local', 'probe', undef, 400));
is(count_sessions('sess_local'), $before + 2, 'scenario: sess_local: the delete split it, the new row is a session of its own');
$before = count_sessions('sess_dev');
step('a delete splits a device session', m_delete(1009));
is(count_sessions('sess_dev'), $before + 1, 'scenario: sess_dev: the delete split a session (2 minutes > 90 s)');
step('a row of another device bridges nothing there', m_insert(1012, 'clicks', 'probe', 'p3', 3060));
$before = count_sessions('sess_dev');
step('a device session merged again', m_insert(1013, 'clicks', 'probe', 'p2', 3075));
is(count_sessions('sess_dev'), $before - 1, 'scenario: sess_dev: merged again');

# moved to exactly the gap after 12:00 (a session of its own), then a
# second closer (merged)
step('a row moved exactly one gap away', m_update(1007, t => 1020));
step('the row moved a second closer', m_update(1007, t => 1019));
step('a row moved to another key', m_update(1005, usr => 'probe2'));
step('a rolled-back bridge', "BEGIN;\n" . p_insert(1099, 'clicks', 'probe2', 'p1', 1500) . ";\n"
	  . p_insert(1098, 'clicks', 'probe', 'p1', 1300) . ";\nROLLBACK");
my $sql = "BEGIN;\n" . m_insert(1014, 'clicks', 'probe', 'p1', 1200)
  . ";\nSAVEPOINT s;\n" . m_delete(1011) . ";\n" . p_insert(1097, 'clicks', 'probe', 'p1', 1500)
  . ";\nROLLBACK TO SAVEPOINT s;\nCOMMIT";
$model{1011} = { table => 'clicks', usr => 'probe', dev => 'p1', t => 390 };    # its delete is rolled back
step('a rolled-back savepoint', $sql);
$before = count_sessions('sess');
step('one transaction splits and merges', "BEGIN;\n" . m_delete(1011) . ";\n"
	  . m_update(1005, usr => 'probe', t => 1440) . ";\nCOMMIT");
is(count_sessions('sess'), $before, 'scenario: sess: a split and a merge (and one key fewer) leave as many sessions');
$_->{t} += 200 for grep { $_->{table} eq 'clicks' && ($_->{dev} eq 'p2' || $_->{dev} eq 'p3') } values %model;
step('sessions of several keys in one statement',
	"UPDATE clicks SET ts = ts + interval '200 seconds' WHERE ts >= $P AND usr = 'probe' AND dev IN ('p2', 'p3')");
check('after the scenario');
note("probe sessions: " . view_sessions('sess'));

# ---- the seeded workload --------------------------------------------------

my @users = map { "u$_" } 1 .. 6;
my %st = (maxid => 0, lmaxid => 0);

sub r { return int(rand($_[0])); }
sub pick { return $_[ r(scalar @_) ]; }
sub salt { return sprintf('%08x', r(0xffffffff)); }
sub usr_expr { return rand() < 0.07 ? 'NULL' : "'" . pick(@users) . "'"; }
sub lusr_expr { return rand() < 0.08 ? 'NULL' : "'" . pick(@users[ 0 .. 3 ]) . "'"; }
sub dev_expr { return rand() < 0.05 ? 'NULL' : "'d" . (1 + r(3)) . "'"; }
sub amount_expr { return rand() < 0.04 ? 'NULL' : r(100); }
sub bool_expr { my $x = rand(); return $x < 0.05 ? 'NULL' : $x < 0.8 ? 'true' : 'false'; }

# an event time: NULL, far back (anywhere in the stream so far), or near
# the clock (out of order: mostly behind it, a little ahead)
sub ts_expr
{
	my ($base) = @_;
	my $x = rand();
	return 'NULL' if $x < 0.04;
	my $s = $x < 0.18 ? r($clock) : $clock - r(1500) + r(300);
	return rand() < 0.2
	  ? sprintf("%s + interval '%.3f seconds'", $base, $s + rand())
	  : sprintf("%s + interval '%d seconds'", $base, $s);
}

# the filter of a key's rows
sub key_filter
{
	my (%k) = @_;
	return join(' AND ', 'ts IS NOT NULL', map { "$_ IS NOT DISTINCT FROM $k{$_}" } sort keys %k);
}

# a row inserted halfway between two neighbouring rows of a key between
# one and two gaps apart: two sessions merge
sub merge_insert
{
	my ($table, $gap, %k) = @_;
	my $f = key_filter(%k);
	my $cols = $table eq 'clicks' ? 'usr, dev, ts, amount, flag' : 'usr, ts, amount, ok';
	my $vals = $table eq 'clicks'
	  ? sprintf('%s, %s, ts + (nxt - ts) / 2, %s, %s', $k{usr} // usr_expr(), $k{dev} // dev_expr(), amount_expr(), bool_expr())
	  : sprintf('%s, ts + (nxt - ts) / 2, %s, %s', $k{usr} // lusr_expr(), amount_expr(), bool_expr());
	$st{ $table eq 'clicks' ? 'maxid' : 'lmaxid' }++;
	return sprintf(q{INSERT INTO %s (%s) SELECT %s FROM (SELECT ts, lead(ts) OVER (ORDER BY ts) AS nxt FROM %s WHERE %s) x
		WHERE nxt - ts >= interval '%s' AND nxt - ts < 2 * interval '%s' ORDER BY md5(ts::text || '%s') LIMIT 1},
		$table, $cols, $vals, $table, $f, $gap, $gap, salt());
}

# the one row of a session whose neighbours are less than a gap from it but
# a gap or more from each other, deleted: the session splits
sub split_delete
{
	my ($table, $gap, %k) = @_;
	my $f = key_filter(%k);
	return sprintf(q{DELETE FROM %s WHERE id = (SELECT id FROM (SELECT id, ts, lag(ts) OVER w AS prv, lead(ts) OVER w AS nxt
		FROM %s WHERE %s WINDOW w AS (ORDER BY ts, id)) x
		WHERE nxt - prv >= interval '%s' AND ts - prv < interval '%s' AND nxt - ts < interval '%s'
		ORDER BY md5(id::text || '%s') LIMIT 1)}, $table, $table, $f, $gap, $gap, $gap, salt());
}

sub one_stmt
{
	my $k = r(100);
	my $id = 1 + r($st{maxid});
	if ($k < 18)
	{
		$st{maxid}++;
		return sprintf('INSERT INTO clicks (usr, dev, ts, amount, flag) VALUES (%s, %s, %s, %s, %s)',
			usr_expr(), dev_expr(), ts_expr($BASE), amount_expr(), bool_expr());
	}
	if ($k < 21)
	{
		# a burst of one user, a few seconds to minutes apart (duplicate times too)
		my $n = 2 + r(8);
		$st{maxid} += $n;
		return sprintf(q{INSERT INTO clicks (usr, dev, ts, amount, flag) SELECT %s, %s, %s + (%d + (i * %d) / 2) * interval '1 second', (i * %d) %% 100, i %% 3 <> 0
			FROM generate_series(1, %d) i}, usr_expr(), dev_expr(), $BASE, $clock - r(1500), 1 + r(120), 1 + r(50), $n);
	}
	return merge_insert('clicks', '5 minutes', usr => usr_expr()) if $k < 27;
	return merge_insert('clicks', '90 seconds', usr => usr_expr(), dev => dev_expr()) if $k < 30;
	return merge_insert('clicks', '10 minutes') if $k < 32;
	return split_delete('clicks', '5 minutes', usr => usr_expr()) if $k < 39;
	return split_delete('clicks', '90 seconds', usr => usr_expr(), dev => dev_expr()) if $k < 42;
	return split_delete('clicks', '10 minutes') if $k < 44;
	return "DELETE FROM clicks WHERE id = $id" if $k < 49;
	if ($k < 51)
	{
		my $s = $clock - r(1800);
		return sprintf(q{DELETE FROM clicks WHERE usr IS NOT DISTINCT FROM %s AND ts BETWEEN %s + interval '%d seconds' AND %s + interval '%d seconds'},
			usr_expr(), $BASE, $s, $BASE, $s + r(240));
	}
	return sprintf(q{UPDATE clicks SET ts = ts + interval '%d seconds' WHERE id = %d}, r(1801) - 900, $id) if $k < 57;
	return sprintf(q{UPDATE clicks SET ts = %s WHERE id = %d}, ts_expr($BASE), $id) if $k < 61;
	return sprintf(q{UPDATE clicks SET usr = %s WHERE id = %d}, usr_expr(), $id) if $k < 66;
	return sprintf(q{UPDATE clicks SET dev = %s WHERE id = %d}, dev_expr(), $id) if $k < 69;
	return sprintf(q{UPDATE clicks SET amount = %s, flag = %s WHERE id = %d}, amount_expr(), bool_expr(), $id) if $k < 74;
	if ($k < 76)
	{
		return rand() < 0.5
		  ? "UPDATE clicks SET ts = NULL WHERE id = $id"
		  : sprintf(q{UPDATE clicks SET ts = %s WHERE id = (SELECT id FROM clicks WHERE ts IS NULL ORDER BY md5(id::text || '%s') LIMIT 1)},
			ts_expr($BASE), salt());
	}
	if ($k < 78)
	{
		my $s = $clock - r(1800);
		return sprintf(q{UPDATE clicks SET ts = ts + interval '%d seconds' WHERE usr IS NOT DISTINCT FROM %s AND ts BETWEEN %s + interval '%d seconds' AND %s + interval '%d seconds'},
			r(801) - 400, usr_expr(), $BASE, $s, $BASE, $s + r(600));
	}
	return sprintf(q{UPDATE clicks SET usr = %s, dev = %s, ts = ts + interval '%d seconds' WHERE id = %d}, usr_expr(), dev_expr(), r(601) - 300, $id)
	  if $k < 82;
	# the table with timestamp without time zone
	my $lid = 1 + r($st{lmaxid});
	my $j = r(100);
	if ($j < 40)
	{
		$st{lmaxid}++;
		return sprintf('INSERT INTO clicks_local (usr, ts, amount, ok) VALUES (%s, %s, %s, %s)', lusr_expr(), ts_expr($LBASE), amount_expr(), bool_expr());
	}
	return merge_insert('clicks_local', '2 minutes', usr => lusr_expr()) if $j < 55;
	return split_delete('clicks_local', '2 minutes', usr => lusr_expr()) if $j < 70;
	return "DELETE FROM clicks_local WHERE id = $lid" if $j < 78;
	return sprintf(q{UPDATE clicks_local SET ts = ts + interval '%d seconds' WHERE id = %d}, r(481) - 240, $lid) if $j < 88;
	return sprintf(q{UPDATE clicks_local SET usr = %s, ok = %s WHERE id = %d}, lusr_expr(), bool_expr(), $lid) if $j < 95;
	return sprintf(q{UPDATE clicks_local SET amount = %s WHERE id = %d}, amount_expr(), $lid);
}

# $n transactions as SQL text: one in ten rolled back, one in ten with a
# rolled-back savepoint, one in thirty prepared and committed
sub workload_sql
{
	my ($n, $tag, $pause) = @_;
	my $sql = '';
	for my $t (1 .. $n)
	{
		my $x = rand();
		my @s = map { one_stmt() } 1 .. ($x < 0.5 ? 1 : $x < 0.9 ? 2 + r(4) : 6 + r(7));
		$sql .= FlowviewTest::transaction_sql(\@s, \&one_stmt, "fv190_${tag}_$t");
		$sql .= "SELECT pg_sleep(0.03);\n" if $pause && rand() < 0.4;
	}
	return $sql;
}

sub read_maxids
{
	$st{maxid} = $node->safe_psql('postgres', 'SELECT last_value FROM clicks_id_seq');
	$st{lmaxid} = $node->safe_psql('postgres', 'SELECT last_value FROM clicks_local_id_seq');
	return;
}

sub workload_now
{
	my ($tag, $n) = @_;
	read_maxids();
	$node->safe_psql('postgres', workload_sql($n, $tag, 0));
	return;
}

# pgbench: rows inserted near the clock (both tables), a user's first row
# after a point near the clock deleted or moved
my $dir = PostgreSQL::Test::Utils::tempdir();
my %bench = (
	insert => [ 4, qq{
\\set u random(0, 6)
\\set d random(1, 3)
\\set o random(-1500, 300)
\\set a random(0, 99)
INSERT INTO clicks (usr, dev, ts, amount, flag) VALUES (CASE WHEN :u = 0 THEN NULL ELSE 'u' || :u END, 'd' || :d, $BASE + (:clock + :o) * interval '1 second', :a, :a % 4 <> 0);
} ],
	delete => [ 2, qq{
\\set u random(1, 6)
\\set o random(-1500, 300)
DELETE FROM clicks WHERE id = (SELECT id FROM clicks WHERE usr = 'u' || :u AND ts >= $BASE + (:clock + :o) * interval '1 second' ORDER BY ts LIMIT 1);
} ],
	move => [ 1, qq{
\\set u random(1, 6)
\\set o random(-1500, 300)
\\set m random(-300, 300)
UPDATE clicks SET ts = ts + :m * interval '1 second' WHERE id = (SELECT id FROM clicks WHERE usr = 'u' || :u AND ts >= $BASE + (:clock + :o) * interval '1 second' ORDER BY ts LIMIT 1);
} ],
	local => [ 2, qq{
\\set u random(1, 4)
\\set o random(-1500, 300)
\\set a random(0, 99)
INSERT INTO clicks_local (usr, ts, amount, ok) VALUES ('u' || :u, $LBASE + (:clock + :o) * interval '1 second', :a, :a % 9 <> 0);
} ],
	local_delete => [ 1, qq{
\\set u random(1, 4)
\\set o random(-1500, 300)
DELETE FROM clicks_local WHERE id = (SELECT id FROM clicks_local WHERE usr = 'u' || :u AND ts >= $LBASE + (:clock + :o) * interval '1 second' ORDER BY ts LIMIT 1);
} ],
);
my @bench_files;
for my $b (sort keys %bench)
{
	append_to_file("$dir/bench_$b.sql", $bench{$b}->[1]);
	push @bench_files, '-f', "$dir/bench_$b.sql\@$bench{$b}->[0]";
}

# psql running the seeded workload and two pgbench clients for 3 seconds,
# in the background
sub start_writers
{
	my ($tag, $n) = @_;
	read_maxids();
	append_to_file("$dir/work_$tag.sql", workload_sql($n, $tag, 1));
	return FlowviewTest::start_writers($node, $dir, $tag, [],
		'-n', '-c', '2', '-j', '2', '-T', '3', '-R', '300', '--random-seed=' . ($seed + $clock),
		'-D', "clock=$clock", @bench_files);
}

sub finish_writers
{
	my ($w, $crashed) = @_;
	FlowviewTest::finish_writers($w, $crashed,
		qr/deadlock detected|current transaction is aborted|prepared transaction with identifier "fv190_/);
	return;
}

for my $round (1 .. 6)
{
	$clock += 2400;
	my $tag = "round$round";
	if ($round == 2)
	{
		my $w = start_writers($tag, 80);
		finish_writers($w);
		check("round $round (with pgbench)");
	}
	elsif ($round == 3)
	{
		workload_now($tag, 120);
		# restarted right away: the worker may still be behind
		$node->restart;
		check("round $round and a restart");
	}
	elsif ($round == 4)
	{
		# an immediate shutdown in the middle of the round
		my $w = start_writers($tag, 80);
		sleep(1.5);
		$node->stop('immediate');
		finish_writers($w, 1);
		$node->start;
		my $gids = $node->safe_psql('postgres', q{SELECT string_agg(format('COMMIT PREPARED %L;', gid), E'\n') FROM pg_prepared_xacts});
		$node->safe_psql('postgres', $gids) if $gids ne '';
		workload_now("${tag}_after_crash", 40);
		check("round $round and an immediate shutdown");
	}
	elsif ($round == 5)
	{
		# refresh_view of one view while the writers write
		my $w = start_writers($tag, 80);
		sleep(1);
		is($node->safe_psql('postgres', q{SELECT 'refreshed' FROM flowview.refresh_view('sess_dev')}), 'refreshed',
			'refresh_view(sess_dev) under writes');
		finish_writers($w);
		check("round $round and refresh_view(sess_dev)");
	}
	else
	{
		workload_now($tag, 120);
		check("round $round");
	}
}

note($node->safe_psql('postgres', q{SELECT format('clicks: %s rows, clicks_local: %s; sessions: sess %s, sess_dev %s, sess_all %s, sess_local %s',
	(SELECT count(*) FROM clicks), (SELECT count(*) FROM clicks_local), (SELECT count(*) FROM sess), (SELECT count(*) FROM sess_dev),
	(SELECT count(*) FROM sess_all), (SELECT count(*) FROM sess_local))}));
# the views really have many sessions per key
cmp_ok($node->safe_psql('postgres', 'SELECT min(c) FROM (SELECT count(*) AS c FROM sess WHERE usr LIKE $$u_$$ GROUP BY usr) x'), '>=', 5,
	'sess: every user has several sessions');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM sess_all'), '>=', 3, 'sess_all: several global sessions');

# ---- drop_view of one ---------------------------------------------------------

my $storage = $node->safe_psql('postgres', q{SELECT string_agg(s::text, ',') FROM flowview.view_catalog c, unnest(c.storage_tables) s
	WHERE c.view_oid = 'sess_all'::regclass});
$node->safe_psql('postgres', q{SELECT flowview.drop_view('sess_all')});
@names = grep { $_ ne 'sess_all' } @names;
is($node->safe_psql('postgres', q{SELECT string_agg(view::text, ',' ORDER BY view::text) FROM flowview.views}),
	join(',', @names), 'drop_view(sess_all) dropped it alone');
is($node->safe_psql('postgres', q{SELECT to_regclass('sess_all') IS NULL}), 't', 'sess_all is gone');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM unnest(string_to_array('$storage', ',')) s WHERE to_regclass(s) IS NOT NULL}),
	'0', "its storage ($storage) is gone");
# and the timestamp table emptied and refilled in one transaction
$clock += 600;
$node->safe_psql('postgres', qq{BEGIN;
	TRUNCATE clicks_local;
	INSERT INTO clicks_local (usr, ts, amount, ok)
	  SELECT CASE WHEN i % 9 = 0 THEN NULL ELSE 'u' || (1 + i % 4) END,
	         CASE WHEN i % 19 = 0 THEN NULL ELSE $LBASE + ($clock - (i * 7919) % 7200) * interval '1 second' END,
	         i % 100, i % 6 <> 0
	    FROM generate_series(1, 150) i;
	COMMIT;});
workload_now('after_drop', 40);
check('after drop_view(sess_all) and a TRUNCATE');

$node->stop;
diag(sprintf('seed %d, %.1f s', $seed, time - $t_start));
done_testing();
