# Dashboards reading a live view while its definition changes: several
# readers query the view in a loop through their own connections while a
# writer writes and alter_view (a column added: CREATE OR REPLACE VIEW), a
# change of columns (the view replaced whole), and two rollback_view calls
# swap definitions in.  Every result a reader got must be complete and one
# version's: no error, never empty, all rows with the columns of one
# version, every source row counted once and the 10 groups there (the
# writer moves rows between groups), and never older than what the same
# reader saw before (the writer makes sum(x) grow).
# After each swap, with the writer paused, the view equals the new query.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(sleep);
use FlowviewTest;

my $node = FlowviewTest::node('readers');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id int PRIMARY KEY, g int NOT NULL, x int NOT NULL);
	INSERT INTO t SELECT i, i % 10, i FROM generate_series(1, 1000) i;
	SELECT flowview.create_view('v', 'SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g');
	CREATE ROLE dashboard LOGIN IN ROLE flowview_reader;
	GRANT SELECT ON v TO dashboard;
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v', '60 s')"), 't', 'view live');

my %versions = (
	1 => 'SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g',
	2 => 'SELECT g, count(*) AS n, sum(x) AS s, max(x) AS top FROM t GROUP BY g',
	3 => 'SELECT g::text AS grp, count(*) AS n, sum(x) AS s FROM t GROUP BY g::text',
);
my %columns = (1 => 'g,n,s', 2 => 'g,n,s,top', 3 => 'grp,n,s');

# each transaction moves a row to the next group and adds 1 to its x: the
# row count stays 1000 (a row counted twice or not at all shows), sum(x)
# grows by one per transaction (a view older than one read before shows)
my $write = q{UPDATE t SET g = (g + 1) % 10, x = x + 1 WHERE id = 1 + floor(random() * 1000)::int \watch 0.002
};
# (background psql sessions write to files: a harness that is not pumped
# collects nothing)
my $dir = PostgreSQL::Test::Utils::tempdir();
my $writer;
my $writes = 0;
append_to_file("$dir/writer.sql", $write);
append_to_file("$dir/reader.sql", qq{SELECT coalesce(jsonb_agg(r), '[]') FROM v r \\watch 0.01\n});
sub start_writer
{
	$writes++;
	$writer = IPC::Run::start([ 'psql', '-X', '-q', '-At', '-d', $node->connstr('postgres') ],
		'<', "$dir/writer.sql", '>', '/dev/null', '2>', "$dir/writer_$writes.err");
	return;
}
sub stop_writer
{
	my $before = $node->safe_psql('postgres', 'SELECT sum(x::bigint * id) FROM t');
	sleep 0.2;
	isnt($node->safe_psql('postgres', 'SELECT sum(x::bigint * id) FROM t'), $before, 'the writer is writing');
	$writer->kill_kill;
	is(slurp_file("$dir/writer_$writes.err"), '', 'the writer had no error');
	return;
}

# readers: the whole view as JSON, as a dashboard would read it, in a loop
my @readers;
for my $i (1 .. 4)
{
	my %r;
	$r{h} = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres') . ' user=dashboard' ],
		'<', "$dir/reader.sql", '>', "$dir/reader_$i.out", '2>', "$dir/reader_$i.err");
	push @readers, \%r;
}
start_writer();

# a change swapped in while the writer writes and the readers read, then
# checked with the writer paused
sub change
{
	my ($what, $sql, $version) = @_;
	is($node->safe_psql('postgres', $sql), $version, "$what: version $version asked for");
	# let the readers and the writer run across the build and the swap
	ok($node->poll_query_until('postgres',
			"SELECT current FROM flowview.view_versions WHERE view = 'v'::regclass AND version = $version"),
		"$what: version $version swapped in");
	sleep 1;
	stop_writer();
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v', '60 s')"), 't', "$what: fresh");
	is(FlowviewTest::differences($node, 'v', $versions{$version}), '', "$what: the view equals the query of version $version");
	is($node->safe_psql('postgres', q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
		WHERE attrelid = 'v'::regclass AND attnum > 0}), $columns{$version}, "$what: the view has the columns of version $version");
	start_writer();
	return;
}

sleep 1;
change('a column added', q{SELECT flowview.alter_view('v', $$} . $versions{2} . q{$$)}, 2);
change('columns changed', q{SELECT flowview.alter_view('v', $$} . $versions{3} . q{$$)}, 3);
change('rolled back over a change of columns', q{SELECT flowview.rollback_view('v')}, 2);
change('rolled back again', q{SELECT flowview.rollback_view('v')}, 1);
stop_writer();

my %seen;
my $i = 0;
for my $r (@readers)
{
	$i++;
	$r->{h}->kill_kill;
	is(slurp_file("$dir/reader_$i.err"), '', "reader $i: no error");
	my ($results, $bad, $last_s) = (0, 0, 0);
	my $out = slurp_file("$dir/reader_$i.out");
	$out =~ s/[^\n]*\z//;		# a line cut short by the kill
	for my $line (split /\n/, $out)
	{
		next unless $line =~ /^\[/;
		$results++;
		my $rows = eval { decode_json($line) };
		if (!defined $rows)
		{
			diag("reader $i: not JSON: $line") if $bad++ < 5;
			next;
		}
		my %keys = map { join(',', sort keys %$_) => 1 } @$rows;
		my @sets = keys %keys;
		my $problem;
		if (@$rows != 10) { $problem = scalar(@$rows) . ' rows' }
		elsif (@sets != 1) { $problem = 'rows of different versions: ' . join(' | ', @sets) }
		elsif (!grep { join(',', sort split /,/, $columns{$_}) eq $sets[0] } keys %columns)
		{
			$problem = "columns of no version: $sets[0]";
		}
		else
		{
			my ($n, $s) = (0, 0);
			$n += $_->{n} for @$rows;
			$s += $_->{s} for @$rows;
			$problem = "count $n" if $n != 1000;
			$problem = "sum(x) $s after $last_s: older than before" if $s < $last_s;
			$last_s = $s;
			$seen{$sets[0]}++;
		}
		if (defined $problem)
		{
			diag("reader $i: $problem: $line") if $bad++ < 5;
		}
	}
	cmp_ok($results, '>', 20, "reader $i: read the view $results times");
	is($bad, 0, "reader $i: every result complete and of one version");
}
is(scalar(keys %seen), 3, 'the readers saw all three versions (' . join('; ', map { "$_: $seen{$_}" } sort keys %seen) . ')');
is($node->safe_psql('postgres', q{SELECT string_agg(version || ':' || current, ' ' ORDER BY version)
	FROM flowview.view_versions WHERE view = 'v'::regclass}), '1:true 2:false 3:false', 'view_versions');

$node->stop;
done_testing();
