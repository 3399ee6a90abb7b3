# Changefeeds against an oracle (issue 15): replaying a feed's snapshot and
# changes from random cursors during a random workload reconstructs exactly
# the view at the final cursor; per analyst under organisation security,
# exactly the part of the view the analyst may see.
#
# orders (id, region, customer, amount; REPLICA IDENTITY FULL) feeds two
# live views with changefeeds: by_region (GROUP BY region: count, sum, min,
# max; a NULL region group) and by_rc (GROUP BY region, customer).  Org
# units world > emea > (de, fr), world > amer > us, world > apac > jp;
# region 'br' is no unit; analyst_emea is assigned emea, analyst_us us.
# by_region has organisation security on region from the start, by_rc gets
# it after round 1 (its cursors must then resync).
#
# A seeded workload (FV_SEED=... repeats it) in five rounds, written by a
# background psql while eight readers (superuser and both analysts, on both
# views) replay their feeds: each keeps a map key -> row, starting from a
# snapshot taken at a random moment (some re-snapshot at random too),
# applies inserts, updates and deletes, and re-snapshots on 'resync'.  Each
# change is checked against the reader's state (an insert's key is new, an
# update's and a delete's key is held and their old_ values are exactly the
# values held, an update changes something, a delete's new values are
# NULL), cursors only grow, and no row of a region the reader may not see
# reaches it.  After each round, once fresh and after one more read, every
# reconstruction equals SELECT * FROM the view as that reader.  Statements:
# inserts, updates of amount, region (rows moved between groups), customer,
# all three and none (same value), deletes, a region's rows deleted (its
# groups go) or moved to another region, rolled-back transactions and
# savepoints, two-phase commit, and a TRUNCATE in the middle of round 3.
# Also: quiet, a TRUNCATE makes every reader's next read 'resync';
# enable_org_security(by_rc) and refresh_view(by_rc) make by_rc's readers
# (only) resync; assign_role(analyst_us, jp) in the middle of round 4
# makes analyst_us's next reads 'resync' (not analyst_emea's) and its new
# snapshots hold jp's groups; refresh_view(by_region) right after a write
# (in its transaction or the one before: the worker applies that write
# again before it sees the refresh), three times, every reader of by_region
# being checked until it is told to resync; refresh_view(by_region) in the
# middle of round 5.  An invalid cursor is refused with 22023.  Values are
# compared as text: a numeric's new scale alone (45 -> 45.00) is a change
# the feed sends, so old_ values and reconstructions match to the digit.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use IPC::Run;
use JSON::PP;
use FlowviewTest;

my $seed = FlowviewTest::seed();
my $t_start = time;

my $node = FlowviewTest::node('feed_oracle', log_min_messages => 'warning');
$node->start;

my @REGIONS = ('de', 'fr', 'emea', 'us', 'jp', 'br');
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE orders (id int PRIMARY KEY, region text, customer int, amount numeric);
	ALTER TABLE orders REPLICA IDENTITY FULL;
	-- sentinels: groups of jp, de and us always exist (the workload never
	-- touches ids <= 0), so each analyst always sees rows
	INSERT INTO orders VALUES (0, 'jp', 0, 1), (-1, 'de', 0, 2), (-2, 'us', 0, 3);
	INSERT INTO orders SELECT i, (ARRAY['de', 'fr', 'emea', 'us', 'jp', 'br', NULL])[1 + i % 7], 1 + i % 5,
	       CASE WHEN i % 11 = 0 THEN NULL ELSE (i * 37) % 100 + (i % 4) * 0.25 END
	  FROM generate_series(1, 40) i;
	CREATE ROLE analyst_emea;
	CREATE ROLE analyst_us;
	GRANT flowview_reader TO analyst_emea, analyst_us;
	SELECT flowview.add_org_unit('world');
	SELECT flowview.add_org_unit('emea', 'world');
	SELECT flowview.add_org_unit('de', 'emea');
	SELECT flowview.add_org_unit('fr', 'emea');
	SELECT flowview.add_org_unit('amer', 'world');
	SELECT flowview.add_org_unit('us', 'amer');
	SELECT flowview.add_org_unit('apac', 'world');
	SELECT flowview.add_org_unit('jp', 'apac');
	SELECT flowview.assign_role('analyst_emea', 'emea');
	SELECT flowview.assign_role('analyst_us', 'us');
	SELECT flowview.create_view('by_region', 'SELECT region, count(*) AS n, sum(amount) AS total, min(amount) AS lo, max(amount) AS hi FROM orders GROUP BY region');
	SELECT flowview.create_view('by_rc', 'SELECT region, customer, count(*) AS n, sum(amount) AS total FROM orders GROUP BY region, customer');
	GRANT SELECT ON by_region, by_rc TO analyst_emea, analyst_us;
	SELECT flowview.enable_org_security('by_region', 'region');
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views populated');
is($node->safe_psql('postgres', "SELECT flowview.enable_changefeed('by_region')"), 'by_region_changes(text)',
	'enable_changefeed(by_region) gives by_region_changes(text)');
is($node->safe_psql('postgres', "SELECT flowview.enable_changefeed('by_rc', interval '2 hours')"), 'by_rc_changes(text)',
	'enable_changefeed(by_rc) gives by_rc_changes(text)');
is($node->safe_psql('postgres', q{SELECT string_agg(view::text || ' ' || key_columns::text, ', ' ORDER BY view::text COLLATE "C")
	FROM flowview.changefeeds}), 'by_rc {region,customer}, by_region {region}', 'the feeds and their key columns');
ok($node->poll_query_until('postgres', 'SELECT bool_and(reset_position > 0) AND count(*) = 2 FROM flowview.feed_catalog'),
	'the worker picked up both feeds');

{
	my ($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM by_region_changes('12x')},
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/ERROR:\s+22023/, 'an invalid cursor is refused with SQLSTATE 22023');
}

# each view's columns (in order), its key and non-key columns
my %VIEWS;
for my $v (qw(by_region by_rc))
{
	my @cols = split /,/, $node->safe_psql('postgres',
		"SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '$v'::regclass AND attnum > 0 AND NOT attisdropped");
	my @keys = $v eq 'by_region' ? ('region') : ('region', 'customer');
	my %is_key = map { $_ => 1 } @keys;
	$VIEWS{$v} = { cols => \@cols, keys => \@keys, nonkeys => [ grep { !$is_key{$_} } @cols ] };
}
is(join(' ', @{ $VIEWS{by_region}{cols} }), 'region n total lo hi', "by_region's columns");

# ---- sessions: a psql kept open, one statement at a time -----------------

my $json = JSON::PP->new;
my @sessions;

sub session_open
{
	my ($role) = @_;
	my $s = { in => '', out => '', err => '', n => 0 };
	$s->{h} = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=0', '-d', $node->connstr('postgres'), '-f', '-' ],
		'<', \$s->{in}, '>', \$s->{out}, '2>', \$s->{err}, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	push @sessions, $s;
	session_query($s, "SET ROLE $role") if defined $role;
	return $s;
}

# (stdout without its last newline, stderr)
sub session_query
{
	my ($s, $sql) = @_;
	my $b = 'fv200 done ' . ++$s->{n};
	$s->{out} = $s->{err} = '';
	$s->{in} .= "$sql\n;\n\\echo '$b'\n\\warn '$b'\n";
	$s->{h}->pump until $s->{out} =~ /\Q$b\E\n/ && $s->{err} =~ /\Q$b\E\n/;
	my ($o, $e) = ($s->{out}, $s->{err});
	$o =~ s/\n?\Q$b\E\n//;
	$e =~ s/\Q$b\E\n//;
	return ($o, $e);
}

# each row as {column => text or undef}
my $AS_TEXT = q{(SELECT jsonb_object_agg(e.k, e.v #>> '{}') FROM jsonb_each(to_jsonb(x)) e(k, v))};

sub rows_of
{
	my ($s, $sql) = @_;
	my ($o, $e) = session_query($s, $sql);
	return (undef, $e) if $e ne '';
	return ([ map { $json->decode($_) } grep { $_ ne '' } split /\n/, $o ], '');
}

# ---- the readers -----------------------------------------------------------

my %VISIBLE = (
	analyst_emea => { map { $_ => 1 } qw(emea de fr) },
	analyst_us => { us => 1 },
);

# name, view, role (undef: the superuser), round it starts in, re-snapshots at random
my @readers = map {
	{ name => $_->[0], view => $_->[1], role => $_->[2], start => $_->[3], resnap => $_->[4],
	  errors => [], map => undef, cursor => undef, active => 0,
	  reads => 0, snapshots => 0, resyncs => 0, applied => { insert => 0, update => 0, delete => 0 } }
  } (
	[ 'r1', 'by_region', undef, 1, 0 ],
	[ 'r2', 'by_region', undef, 2, 1 ],
	[ 'r3', 'by_rc', undef, 1, 0 ],
	[ 'r4', 'by_rc', undef, 3, 1 ],
	[ 'r5', 'by_region', 'analyst_emea', 1, 1 ],
	[ 'r6', 'by_region', 'analyst_us', 2, 0 ],
	[ 'r7', 'by_rc', 'analyst_emea', 2, 0 ],
	[ 'r8', 'by_rc', 'analyst_us', 3, 1 ],
  );
sub who { my ($r) = @_; return "$r->{name} ($r->{view} as " . ($r->{role} // 'superuser') . ')'; }

sub problem
{
	my ($r, $msg) = @_;
	push @{ $r->{errors} }, $msg;
	return;
}

sub nn { return defined $_[0] ? $_[0] : '\N'; }
# a value as compared: its text (45.00 is not 45; see %scale_only)
sub nv
{
	my ($v) = @_;
	return '\N' unless defined $v;
	return $v;
}
sub key_of { my ($r, $row) = @_; return join("\x1f", map { nn($row->{$_}) } @{ $VIEWS{ $r->{view} }{keys} }); }
sub ser { my ($r, $row) = @_; return join("\x1f", map { nn($row->{$_}) } @{ $VIEWS{ $r->{view} }{cols} }); }
sub ser_nv { my ($r, $row) = @_; return join("\x1f", map { nv($row->{$_}) } @{ $VIEWS{ $r->{view} }{cols} }); }
sub nonkeys_nv { my ($r, $row, $prefix) = @_; return join("\x1f", map { nv($row->{"$prefix$_"}) } @{ $VIEWS{ $r->{view} }{nonkeys} }); }
# old_ values and reconstructions equal to the view's only as numbers
# (same value, other scale): counted, not failed
my %scale_only = (old => 0, rows => 0);

# may the reader see this row (by its region)?
sub visible_check
{
	my ($r, $row, $what) = @_;
	return unless defined $r->{role};
	my $region = $row->{region};
	problem($r, "$what: a row of region " . nn($region) . ' it may not see: ' . ser($r, $row))
	  unless defined $region && $VISIBLE{ $r->{role} }{$region};
	return;
}

sub feed_rows
{
	my ($r, $after) = @_;
	my $arg = defined $after ? "'$after'" : 'NULL';
	my ($rows, $e) = rows_of($r->{s}, "SELECT $AS_TEXT FROM $r->{view}_changes($arg) WITH ORDINALITY x ORDER BY x.ordinality");
	problem($r, "reading after " . ($after // 'NULL') . ": $e") unless $rows;
	$r->{reads}++;
	return $rows;
}

sub cursor_pos { my ($c) = @_; return defined $c && $c =~ /^(\d+)(\.[0-9a-f]{8})?$/ ? ($1, $2 // '') : (-1, '?'); }

sub snapshot
{
	my ($r) = @_;
	$r->{map} = undef;
	$r->{cursor} = undef;
	my $rows = feed_rows($r, undef) or return 'error';
	my $vc = $VIEWS{ $r->{view} };
	my $first = shift @$rows;
	if (!$first || $first->{op} ne 'snapshot')
	{
		problem($r, 'a snapshot without its first row op = snapshot: ' . ($first ? $first->{op} : 'no rows'));
		return 'error';
	}
	problem($r, 'the snapshot row has a value: ' . ser($r, $first)) if grep { defined $first->{$_} } @{ $vc->{cols} };
	my $c = $first->{cursor};
	my ($pos) = cursor_pos($c);
	problem($r, "a snapshot cursor that is no cursor: " . nn($c)) if $pos < 0;
	my %map;
	for my $row (@$rows)
	{
		problem($r, "snapshot row with op $row->{op}") if $row->{op} ne 'insert';
		problem($r, "snapshot row with cursor " . nn($row->{cursor}) . ", not " . nn($c)) if nn($row->{cursor}) ne nn($c);
		problem($r, 'snapshot row with an old_ value: ' . ser($r, $row)) if grep { defined $row->{"old_$_"} } @{ $vc->{nonkeys} };
		visible_check($r, $row, 'snapshot');
		my $k = key_of($r, $row);
		problem($r, "snapshot with key $k twice") if exists $map{$k};
		$map{$k} = { map { $_ => $row->{$_} } @{ $vc->{cols} } };
	}
	$r->{map} = \%map;
	$r->{cursor} = $c;
	$r->{snapshots}++;
	return 'snapshot';
}

# one read: 'snapshot' (it had no cursor), 'resync' (then re-snapshotted),
# 'changes', 'none' or 'error'
sub read_feed
{
	my ($r) = @_;
	return snapshot($r) unless defined $r->{cursor};
	my $vc = $VIEWS{ $r->{view} };
	my $after = $r->{cursor};
	my $rows = feed_rows($r, $after) or return 'error';
	return 'none' unless @$rows;
	if (grep { $_->{op} eq 'resync' } @$rows)
	{
		problem($r, 'resync with other rows: ' . join(',', map { $_->{op} } @$rows)) if @$rows != 1;
		problem($r, 'the resync row has a value: ' . ser($r, $rows->[0])) if grep { defined $rows->[0]{$_} } @{ $vc->{cols} };
		$r->{resyncs}++;
		$r->{must_resync} = 0;
		snapshot($r);
		return 'resync';
	}
	my ($apos, $asuf) = cursor_pos($after);
	my $last = $apos;
	for my $row (@$rows)
	{
		my ($pos, $suf) = cursor_pos($row->{cursor});
		my $op = $row->{op};
		problem($r, "change cursor " . nn($row->{cursor}) . " after $after (or before an earlier row's)")
		  if $pos <= $apos || $pos < $last || $suf ne $asuf;
		$last = $pos;
		visible_check($r, $row, $op);
		my $k = key_of($r, $row);
		my $held = $r->{map}{$k};
		my $new = { map { $_ => $row->{$_} } @{ $vc->{cols} } };
		my $old_text = nonkeys_nv($r, $row, 'old_');
		if ($op eq 'insert')
		{
			problem($r, "insert of key $k, which it holds: " . ser($r, $held)) if $held;
			problem($r, "insert with old_ values: $old_text") if grep { defined $row->{"old_$_"} } @{ $vc->{nonkeys} };
			$r->{map}{$k} = $new;
		}
		elsif ($op eq 'update' || $op eq 'delete')
		{
			if (!$held)
			{
				problem($r, "$op of key $k, which it does not hold, at " . nn($row->{cursor}));
			}
			else
			{
				my $held_text = nonkeys_nv($r, $held, '');
				problem($r, "$op of key $k at " . nn($row->{cursor}) . ": old_ values $old_text, it held $held_text")
				  if $old_text ne $held_text;
				$scale_only{old}++
				  if $old_text eq $held_text
				  && join("\x1f", map { nn($row->{"old_$_"}) } @{ $vc->{nonkeys} }) ne join("\x1f", map { nn($held->{$_}) } @{ $vc->{nonkeys} });
			}
			if ($op eq 'update')
			{
				my $new_text = nonkeys_nv($r, $row, '');
				problem($r, "update of key $k changes nothing: $new_text") if $new_text eq $old_text;
				$r->{map}{$k} = $new;
			}
			else
			{
				problem($r, "delete of key $k with new values: " . ser($r, $row)) if grep { defined $row->{$_} } @{ $vc->{nonkeys} };
				delete $r->{map}{$k};
			}
		}
		else
		{
			problem($r, "a change row with op $op");
			next;
		}
		$r->{applied}{$op}++;
	}
	$r->{cursor} = $rows->[-1]{cursor};
	return 'changes';
}

sub activate
{
	my ($r) = @_;
	$r->{s} = session_open($r->{role});
	$r->{active} = 1;
	snapshot($r);
	return;
}

sub active { return grep { $_->{active} } @readers; }

# the reconstruction against SELECT * FROM the view as the reader, with
# what the reader found wrong meanwhile
sub compare
{
	my ($r, $label) = @_;
	my ($rows, $e) = rows_of($r->{s}, "SELECT $AS_TEXT FROM $r->{view} x");
	my $diff = '';
	if (!$rows)
	{
		$diff = "reading the view: $e";
	}
	elsif (!$r->{map})
	{
		$diff = 'no reconstruction (its last snapshot failed)';
	}
	else
	{
		my (%count, %exact);
		$count{ ser_nv($r, $_) }++ for @$rows;
		$count{ ser_nv($r, $_) }-- for values %{ $r->{map} };
		$exact{ ser($r, $_) }++ for @$rows;
		$exact{ ser($r, $_) }-- for values %{ $r->{map} };
		$scale_only{rows} += grep { $_ > 0 } values %exact;
		my @d = map { ($count{$_} > 0 ? 'view only: ' : 'replay only: ') . $_ } grep { $count{$_} != 0 } sort keys %count;
		$diff = join("\n", @d[ 0 .. ($#d < 19 ? $#d : 19) ]) . (@d > 20 ? "\n... " . (@d - 20) . ' more' : '');
		$diff = 'the view is empty for ' . who($r) if $diff eq '' && !@$rows;
	}
	$diff =~ s/\x1f/|/g;
	is($diff, '', "$label: " . who($r) . ' reconstructs the view exactly (' . ($rows ? scalar(@$rows) : '?') . ' rows)');
	my @errs = @{ $r->{errors} };
	my $shown = join("\n", @errs[ 0 .. ($#errs < 14 ? $#errs : 14) ]) . (@errs > 15 ? "\n... " . (@errs - 15) . ' more' : '');
	$shown =~ s/\x1f/|/g;
	is($shown, '', "$label: " . who($r) . "'s rows were consistent with its state ($r->{reads} reads, $r->{snapshots} snapshots, "
		  . "$r->{resyncs} resyncs, applied $r->{applied}{insert}/$r->{applied}{update}/$r->{applied}{delete} i/u/d)");
	$r->{errors} = [];
	return;
}

sub fresh
{
	my ($label) = @_;
	ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM flowview.views WHERE state <> 'live'}),
		"$label: every view live");
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', "$label: fresh");
	return;
}

# once fresh: one more read each, then the oracle
sub check_all
{
	my ($label) = @_;
	fresh($label);
	for my $r (active())
	{
		read_feed($r);
		compare($r, $label);
	}
	return;
}

# quiet: the next read of each of @$resync is 'resync', of each of @$none
# returns nothing
sub next_reads
{
	my ($label, $resync, $none) = @_;
	for my $r (@$resync)
	{
		is(read_feed($r), 'resync', "$label: the next read of " . who($r) . " is 'resync'");
	}
	for my $r (@$none)
	{
		is(read_feed($r), 'none', "$label: the next read of " . who($r) . ' returns nothing (no resync)');
	}
	return;
}

# ---- the workload ----------------------------------------------------------

sub rr { return int(rand($_[0])); }
sub pick { return $_[ rr(scalar @_) ]; }

my %st = (ids => [ 1 .. 40 ], next_id => 41);

sub region_expr { return rand() < 0.1 ? 'NULL' : "'" . pick(@REGIONS) . "'"; }
sub amount_expr
{
	my $x = rand();
	return 'NULL' if $x < 0.06;
	return sprintf('%d.%02d', rr(100), rr(100)) if $x < 0.4;
	return rr(100);
}
sub customer_expr { return 1 + rr(5); }
sub region_cond { my $e = region_expr(); return $e eq 'NULL' ? 'region IS NULL' : "region = $e"; }

sub one_stmt
{
	my $ids = $st{ids};
	my $k = rr(100);
	if ($k < 25 || @$ids < 5)
	{
		my @v;
		for (1 .. 1 + rr(3))
		{
			my $id = $st{next_id}++;
			push @$ids, $id;
			push @v, sprintf('(%d, %s, %d, %s)', $id, region_expr(), customer_expr(), amount_expr());
		}
		return 'INSERT INTO orders VALUES ' . join(', ', @v);
	}
	my $i = rr(scalar @$ids);
	my $id = $ids->[$i];
	return sprintf('UPDATE orders SET amount = %s WHERE id = %d', amount_expr(), $id) if $k < 37;
	return sprintf('UPDATE orders SET region = %s WHERE id = %d', region_expr(), $id) if $k < 50;
	return sprintf('UPDATE orders SET customer = %d WHERE id = %d', customer_expr(), $id) if $k < 57;
	return sprintf('UPDATE orders SET region = %s, customer = %d, amount = %s WHERE id = %d',
		region_expr(), customer_expr(), amount_expr(), $id) if $k < 63;
	return sprintf('UPDATE orders SET amount = amount WHERE id = %d', $id) if $k < 66;
	if ($k < 83)
	{
		splice(@$ids, $i, 1);
		return sprintf('DELETE FROM orders WHERE id = %d', $id);
	}
	# a region's rows go: its groups are deleted (ids kept: deleting them again is harmless)
	return sprintf('DELETE FROM orders WHERE %s AND id > 0', region_cond()) if $k < 87;
	# a region's rows move to another: groups deleted and others changed
	return sprintf('UPDATE orders SET region = %s WHERE %s AND id > 0', region_expr(), region_cond()) if $k < 91;
	return sprintf('UPDATE orders SET amount = amount + %d WHERE customer = %d', 1 + rr(9), customer_expr()) if $k < 95;
	return sprintf('DELETE FROM orders WHERE customer = %d AND %s AND id > 0', customer_expr(), region_cond());
}

# a TRUNCATE and a new set of rows (the sentinels again)
sub truncate_sql
{
	my @v = ("(0, 'jp', 0, 1)", "(-1, 'de', 0, 2)", "(-2, 'us', 0, 3)");
	my @ids;
	for (1 .. 25)
	{
		my $id = $st{next_id}++;
		push @ids, $id;
		push @v, sprintf('(%d, %s, %d, %s)', $id, region_expr(), customer_expr(), amount_expr());
	}
	$st{ids} = \@ids;
	return "BEGIN;\nTRUNCATE orders;\nINSERT INTO orders VALUES " . join(', ', @v) . ";\nCOMMIT;\n";
}

sub workload_sql
{
	my ($tag, $n, $truncate_at) = @_;
	my $sql = '';
	for my $t (1 .. $n)
	{
		$sql .= truncate_sql() if defined $truncate_at && $t == $truncate_at;
		my @s = map { one_stmt() } 1 .. 1 + rr(4);
		$sql .= FlowviewTest::transaction_sql(\@s, \&one_stmt, "fv200_${tag}_$t");
		$sql .= sprintf("SELECT pg_sleep(%.3f);\n", 0.01 + rand(0.04)) if rand() < 0.5;
	}
	return $sql;
}

my $dir = PostgreSQL::Test::Utils::tempdir();
my %events;    # what happened in the rounds, for the notes

# a round: the workload in the background while the readers read; $event
# runs once, about $at seconds in
sub round
{
	my ($n, %opt) = @_;
	my $tag = "round$n";
	append_to_file("$dir/$tag.sql", workload_sql($tag, $opt{txns} // 70, $opt{truncate_at}));
	my $w = IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', "$dir/$tag.sql" ],
		'<', '/dev/null', '>', "$dir/$tag.out", '2>', "$dir/$tag.err");
	my $t0 = time;
	my %start_at = map { $_->{name} => rand(1.0) } grep { $_->{start} == $n } @readers;
	my ($reads, $after) = (0, 0);
	while (1)
	{
		my $writing = $w->pumpable;
		$after++ unless $writing;
		last if !$writing && $after > 8 && $reads >= 40;
		last if time - $t0 > 20;
		for my $r (grep { !$_->{active} && exists $start_at{ $_->{name} } } @readers)
		{
			activate($r) if time - $t0 >= $start_at{ $r->{name} } || !$writing;
		}
		if ($opt{event} && time - $t0 >= ($opt{at} // 0.5))
		{
			$opt{event}->();
			delete $opt{event};
		}
		my @a = active();
		if (!@a)
		{
			sleep(0.02);
			next;
		}
		my $r = pick(@a);
		# (not while it must show that it resyncs)
		$r->{resnap} && !$r->{must_resync} && rand() < 0.04 ? snapshot($r) : read_feed($r);
		$reads++;
	}
	$opt{event}->() if $opt{event};
	my $ok = eval { $w->finish };
	ok($ok, "$tag: the workload ran");
	my @errors = grep { /ERROR/ } split /\n/, slurp_file("$dir/$tag.err");
	is(join("\n", @errors), '', "$tag: the workload had no error");
	note("$tag: $reads reads in " . sprintf('%.1f', time - $t0) . ' s; orders: ' . $node->safe_psql('postgres', 'SELECT count(*) FROM orders'));
	return;
}

sub by { my ($view, $role) = @_; return grep { $_->{view} eq $view && ($_->{role} // '') eq ($role // '') } active(); }
sub of_view { my ($view) = @_; return grep { $_->{view} eq $view } active(); }

# ---- the rounds ------------------------------------------------------------

round(1);
check_all('after round 1');

# organisation security on by_rc: its cursors resync, by_region's do not
$node->safe_psql('postgres', q{SELECT flowview.enable_org_security('by_rc', 'region')});
fresh('after enable_org_security(by_rc)');
next_reads('after enable_org_security(by_rc)', [ of_view('by_rc') ], [ of_view('by_region') ]);
check_all('after enable_org_security(by_rc)');

round(2);
check_all('after round 2');

# a TRUNCATE with nobody writing: every reader's next read is 'resync'
$node->safe_psql('postgres', truncate_sql());
fresh('after a TRUNCATE');
next_reads('after a TRUNCATE', [ active() ], []);
check_all('after a TRUNCATE');

# a TRUNCATE in the middle of the round: every reader reading before it resyncs
my %resyncs_before = map { $_->{name} => $_->{resyncs} } active();
$_->{must_resync} = 1 for active();
round(3, txns => 80, truncate_at => 40);
check_all('after round 3 (a TRUNCATE in it)');
for my $r (grep { exists $resyncs_before{ $_->{name} } } active())
{
	cmp_ok($r->{resyncs}, '>', $resyncs_before{ $r->{name} }, 'round 3: ' . who($r) . ' resynced after the TRUNCATE');
}

# analyst_us gets jp in the middle of the round: its readers' next reads
# are 'resync' (with the new units in the cursor), then their snapshots
# hold jp's groups; analyst_emea's readers go on
round(4, at => 0.6, event => sub {
	my @us = (by('by_region', 'analyst_us'), by('by_rc', 'analyst_us'));
	my @emea = (by('by_region', 'analyst_emea'), by('by_rc', 'analyst_emea'));
	for my $r (@us, @emea) { read_feed($r) unless defined $r->{cursor}; }
	my %cursor_before = map { $_->{name} => $_->{cursor} } @us;
	$node->safe_psql('postgres', q{SELECT flowview.assign_role('analyst_us', 'jp')});
	$VISIBLE{analyst_us}{jp} = 1;
	for my $r (@us)
	{
		is(read_feed($r), 'resync', 'round 4, after assign_role(analyst_us, jp): the next read of ' . who($r) . " is 'resync'");
		my (undef, $suffix_before) = cursor_pos($cursor_before{ $r->{name} });
		my (undef, $suffix) = cursor_pos($r->{cursor});
		isnt($suffix, $suffix_before, 'round 4: ' . who($r) . "'s new cursor carries other units ($cursor_before{ $r->{name} } -> $r->{cursor})");
		my $jp = grep { nn($_->{region}) eq 'jp' } values %{ $r->{map} // {} };
		ok($jp > 0, 'round 4: ' . who($r) . "'s new snapshot holds jp's groups ($jp)");
	}
	for my $r (@emea)
	{
		isnt(read_feed($r), 'resync', 'round 4, after assign_role(analyst_us, jp): ' . who($r) . ' is not told to resync');
	}
});
check_all('after round 4 (assign_role in it)');

# refresh_view(by_rc) with nobody writing: by_rc's readers resync, by_region's do not
$node->safe_psql('postgres', q{SELECT flowview.refresh_view('by_rc')});
fresh('after refresh_view(by_rc)');
next_reads('after refresh_view(by_rc)', [ of_view('by_rc') ], [ of_view('by_region') ]);
check_all('after refresh_view(by_rc)');

# refresh_view(by_region) right after a write (in the same transaction or
# the next), the worker not yet aware of it: until its next read says
# 'resync', each reader of by_region gets only changes that apply to what
# it holds
for my $try (1 .. 3)
{
	my @rs = of_view('by_region');
	my %before = map { $_->{name} => $_->{resyncs} } @rs;
	my $id = $st{next_id}++;
	push @{ $st{ids} }, $id;
	my $sql = "INSERT INTO orders VALUES ($id, 'emea', 1, 5);\nSELECT flowview.refresh_view('by_region');";
	$node->safe_psql('postgres', $try == 2 ? $sql : "BEGIN;\n$sql\nCOMMIT;");
	my $t0 = time;
	while (time - $t0 < 15)
	{
		my @waiting = grep { $_->{resyncs} == $before{ $_->{name} } } @rs;
		last unless @waiting;
		read_feed($_) for @waiting;
	}
	for my $r (@rs)
	{
		cmp_ok($r->{resyncs}, '>', $before{ $r->{name} }, "refresh_view after a write ($try): " . who($r) . ' was told to resync');
	}
	check_all("refresh_view after a write ($try)");
}

# refresh_view(by_region) in the middle of the round
%resyncs_before = map { $_->{name} => $_->{resyncs} } of_view('by_region');
$_->{must_resync} = 1 for of_view('by_region');
round(5, at => 0.5, event => sub { $node->safe_psql('postgres', q{SELECT flowview.refresh_view('by_region')}); });
check_all('after round 5 (refresh_view(by_region) in it)');
for my $r (grep { exists $resyncs_before{ $_->{name} } } of_view('by_region'))
{
	cmp_ok($r->{resyncs}, '>', $resyncs_before{ $r->{name} }, 'round 5: ' . who($r) . ' resynced after refresh_view');
}

# the workload did exercise every kind of change on both feeds, seen by analysts too
for my $v (qw(by_region by_rc))
{
	for my $op (qw(insert update delete))
	{
		my $all = 0;
		$all += $_->{applied}{$op} for of_view($v);
		my $analysts = 0;
		$analysts += $_->{applied}{$op} for grep { defined $_->{role} } of_view($v);
		ok($all >= 5 && $analysts >= 1, "$v: readers applied $all ${op}s ($analysts by analysts)");
	}
}
is(scalar(active()), scalar(@readers), 'every reader took part');
my $reads = 0;
$reads += $_->{reads} for @readers;
note(sprintf('%d feed reads; %.1f s', $reads, time - $t_start));
diag(join('; ', map { "$_->{name}: $_->{reads} reads, $_->{snapshots} snapshots, $_->{resyncs} resyncs, "
	  . "$_->{applied}{insert}/$_->{applied}{update}/$_->{applied}{delete} i/u/d" } @readers));

# (always 0 now that values are compared as text)
diag("equal to the view's only as numbers (another scale): $scale_only{old} old_ values, "
	  . "$scale_only{rows} rows of reconstructions") if $scale_only{old} || $scale_only{rows};

for my $s (@sessions)
{
	$s->{in} .= "\\q\n";
	$s->{h}->finish;
}
$node->stop;
done_testing();
