# FlowviewTest: helpers for pg_flowview's Perl TAP tests.
#
#   my $node = FlowviewTest::node('name', %conf_overrides);
#
# returns an initialised (not started) PostgreSQL::Test::Cluster configured
# as pg_flowview needs: wal_level = logical, pg_flowview preloaded and, where
# this PostgreSQL build has the setting, listed in output_plugin_libraries.
# An override with value undef leaves that setting out.
#
#   my $diff = FlowviewTest::differences($node, 'view', 'SELECT ...');
#
# the oracle check: the rows in the live view but not in its defining query
# and the other way round (EXCEPT ALL both ways), one per line prefixed
# "view only: " or "query only: "; '' when they are equal.  The query is
# compared as a whole (a set operation in it does not bind to the EXCEPT).  Equal because
# both are empty proves nothing (a view that never received a row equals a
# query over an empty table): then it returns "both empty: ..." unless the
# caller expects that, with
#
#   FlowviewTest::differences($node, 'view', 'SELECT ...', empty_ok => 1);
#
# dbname => NAME compares in that database instead of postgres.  now() in
# the query is read as the view's window clock (flowview.views.window_clock)
# when it has one: a sliding window equals its query at its clock.
#
#   my $seed = FlowviewTest::seed();
#
# a randomised test's seed: FV_SEED if set, else a random one; printed (so a
# failing run can be repeated with FV_SEED=...) and given to srand.
package FlowviewTest;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;

sub seed
{
	my $seed = $ENV{FV_SEED} // int(rand(1_000_000));
	Test::More::note("seed $seed (rerun with FV_SEED=$seed)");
	Test::More::diag("seed $seed");
	srand($seed);
	return $seed;
}

# Does this server build have output_plugin_libraries?
sub has_plugin_list
{
	my $out = `postgres --describe-config 2>/dev/null`;
	return $out =~ /^output_plugin_libraries\t/m ? 1 : 0;
}

sub node
{
	my ($name, %over) = @_;
	my %conf = (
		wal_level => 'logical',
		shared_preload_libraries => "'pg_flowview'",
		max_replication_slots => 10,
		max_wal_senders => 10,
		max_prepared_transactions => 10,
		(has_plugin_list()
			? (output_plugin_libraries => "'pgoutput, test_decoding, pg_flowview, wal2json'")
			: ()),
		%over);
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	my $text = '';
	for my $k (sort keys %conf)
	{
		next unless defined $conf{$k};
		$text .= "$k = $conf{$k}\n";
	}
	$node->append_conf('postgresql.conf', $text);
	return $node;
}

sub differences
{
	my ($node, $view, $query, %opt) = @_;
	my $db = $opt{dbname} // 'postgres';
	# a sliding window: the query at the view's clock (in the same snapshot)
	$query =~ s/\bnow\(\)/coalesce((SELECT window_clock FROM flowview.views WHERE view = '$view'::regclass), now())/g;
	my $diff = $node->safe_psql($db, qq{
		SELECT string_agg(side || ': ' || r, E'\n') FROM (
		  SELECT 'view only' AS side, x::text AS r FROM (SELECT * FROM $view EXCEPT ALL SELECT * FROM ($query) q) x
		  UNION ALL
		  SELECT 'query only', x::text FROM (SELECT * FROM ($query) q EXCEPT ALL SELECT * FROM $view) x) d}) // '';
	return $diff if $diff ne '' || $opt{empty_ok};
	my $rows = $node->safe_psql($db, "SELECT count(*) FROM (SELECT * FROM $view) v");
	return $rows eq '0' ? "both empty: $view and its query have no rows" : '';
}

#   my $node = FlowviewTest::event_node($name, $extra_sql);
#
# a started node of the time tests with the extension, dim (k 0..5 in three
# regions) and ev (id, k, ts, x; indexed on k), then $extra_sql run (in
# time zone UTC): it fills ev.
sub event_node
{
	my ($name, $extra) = @_;
	my $node = node($name, 'log_min_messages' => 'warning');
	$node->start;
	$node->safe_psql('postgres', q{
		CREATE EXTENSION pg_flowview;
		SET timezone = 'UTC';
		CREATE TABLE dim (k int PRIMARY KEY, region text);
		INSERT INTO dim SELECT i, 'r' || (i % 3) FROM generate_series(0, 5) i;
		CREATE TABLE ev (id int PRIMARY KEY, k int, ts timestamptz, x numeric);
		CREATE INDEX ON ev (k);
	} . $extra);
	return $node;
}

#   FlowviewTest::event_workload($node, $n, $state);
#
# $n random transactions on table ev (id int, k int, ts timestamptz, x
# numeric) of the time tests (150, 160): inserts, updates of ts (to
# $state->{offset}->(), SQL for a time) and of x and k, deletes; one in ten
# rolled back, one in ten with a savepoint rolled back.  $state->{ids} (the
# ids that may exist) and $state->{next_id} are kept up to date; with
# $state->{pause}, a pg_sleep of that many seconds after one transaction in
# five.  Rows of rolled-back transactions may stay in ids: their updates
# and deletes touch nothing.
sub event_workload
{
	my ($node, $n, $state) = @_;
	my $ids = $state->{ids};
	my $sql = "SET timezone = 'UTC';\n";
	for (1 .. $n)
	{
		my $r = rand();
		my @stmts;
		for (1 .. 1 + int(rand(4)))
		{
			my $op = rand();
			if ($op < 0.45 || !@$ids)
			{
				my $id = $state->{next_id}++;
				push @$ids, $id;
				push @stmts, sprintf("INSERT INTO ev VALUES (%d, %d, %s, %d)", $id, int(rand(7)), $state->{offset}->(), int(rand(50)));
			}
			elsif ($op < 0.65)
			{
				push @stmts, sprintf("UPDATE ev SET ts = %s WHERE id = %d", $state->{offset}->(), $ids->[ int(rand(@$ids)) ]);
			}
			elsif ($op < 0.8)
			{
				push @stmts, sprintf("UPDATE ev SET x = x + %d, k = %d WHERE id = %d",
					int(rand(20)) - 5, int(rand(6)), $ids->[ int(rand(@$ids)) ]);
			}
			else
			{
				my $i = int(rand(@$ids));
				push @stmts, sprintf("DELETE FROM ev WHERE id = %d", $ids->[$i]);
				splice(@$ids, $i, 1);
			}
		}
		if ($r < 0.1)
		{
			$sql .= "BEGIN;\n" . join(";\n", @stmts) . ";\nROLLBACK;\n";
		}
		elsif ($r < 0.2)
		{
			$sql .= "BEGIN;\n$stmts[0];\nSAVEPOINT s;\n" . join(";\n", @stmts[ 1 .. $#stmts ], 'SELECT 1')
			  . ";\nROLLBACK TO SAVEPOINT s;\nCOMMIT;\n";
		}
		else
		{
			$sql .= "BEGIN;\n" . join(";\n", @stmts) . ";\nCOMMIT;\n";
		}
		$sql .= "SELECT pg_sleep($state->{pause});\n" if $state->{pause} && rand() < 0.2;
	}
	$node->safe_psql('postgres', $sql);
	return;
}

#   my $sql = FlowviewTest::transaction_sql(\@statements, $one_more, $gid);
#
# the statements as one transaction of a seeded workload, chosen with rand():
# rolled back (8%), with its second part rolled back to a savepoint and
# $one_more->() run after it (8%), prepared and committed as $gid (4%, when
# $gid is given), a lone statement in autocommit (about half of those of
# one statement), else committed.  The SQL text, ending in a newline.
sub transaction_sql
{
	my ($s, $one_more, $gid) = @_;
	my @s = @$s;
	my $y = rand();
	return "BEGIN;\n" . join(";\n", @s) . ";\nROLLBACK;\n" if $y < 0.08;
	if ($y < 0.16)
	{
		push @s, 'SELECT 1' if @s == 1;
		my $cut = 1 + int(rand(scalar(@s) - 1));
		return "BEGIN;\n" . join(";\n", @s[ 0 .. $cut - 1 ]) . ";\nSAVEPOINT s;\n"
		  . join(";\n", @s[ $cut .. $#s ]) . ";\nROLLBACK TO SAVEPOINT s;\n" . $one_more->() . ";\nCOMMIT;\n";
	}
	return "BEGIN;\n" . join(";\n", @s) . ";\nPREPARE TRANSACTION '$gid';\nCOMMIT PREPARED '$gid';\n"
	  if defined $gid && $y < 0.20;
	return "$s[0];\n" if @s == 1 && $y < 0.6;
	return "BEGIN;\n" . join(";\n", @s) . ";\nCOMMIT;\n";
}

#   my $w = FlowviewTest::start_writers($node, $dir, $tag, \@psql_options, @pgbench_arguments);
#   FlowviewTest::finish_writers($w, $crashed, $tolerated);
#
# a round's writers in the background: psql running $dir/work_$tag.sql (the
# caller wrote it) and pgbench with the given arguments, against database
# postgres of $node, their output in $dir.  finish_writers waits for both;
# unless $crashed (they lost their connections), checks that pgbench ran,
# that psql did, and that its errors all match $tolerated (a regex; undef:
# none may occur).
sub start_writers
{
	my ($node, $dir, $tag, $psql_options, @pgbench) = @_;
	my %w = (tag => $tag, dir => $dir);
	$w{psql} = IPC::Run::start([ 'psql', '-X', '-q', @$psql_options, '-d', $node->connstr('postgres'),
			'-f', "$dir/work_$tag.sql" ],
		'<', '/dev/null', '>', "$dir/work_$tag.out", '2>', "$dir/work_$tag.err");
	$w{bench} = IPC::Run::start([ 'pgbench', @pgbench, '-h', $node->host, '-p', $node->port, 'postgres' ],
		'<', '/dev/null', '>', "$dir/bench_$tag.out", '2>', "$dir/bench_$tag.err");
	return \%w;
}

sub finish_writers
{
	my ($w, $crashed, $tolerated) = @_;
	my ($tag, $dir) = ($w->{tag}, $w->{dir});
	my $psql_ok = eval { $w->{psql}->finish };
	my $bench_ok = eval { $w->{bench}->finish };
	return if $crashed;
	Test::More::ok($bench_ok, "$tag: pgbench ran") or Test::More::diag(PostgreSQL::Test::Utils::slurp_file("$dir/bench_$tag.err"));
	my $out = PostgreSQL::Test::Utils::slurp_file("$dir/bench_$tag.out");
	Test::More::note("$tag: pgbench: " . ($out =~ /(number of transactions actually processed: \d+)/ ? $1 : $out));
	Test::More::ok($psql_ok, "$tag: the workload ran");
	my @errors = grep { /ERROR/ && !(defined $tolerated && /$tolerated/) }
	  split /\n/, PostgreSQL::Test::Utils::slurp_file("$dir/work_$tag.err");
	Test::More::is(join("\n", @errors), '', "$tag: the workload had no unexpected error");
	return;
}

1;
