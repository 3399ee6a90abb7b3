# minmax 'rescan' re-reads many groups of a source without an index: one
# UPDATE moves the minimum (and some maxima) of 15,000 groups of a 60,000-row
# table.  Each of those groups must be read again from the source; read one
# group at a time that is 15,000 full scans (measured before the set-based
# read: about 50 s on 2 busy cores, and 25 s for 10,000 groups of 40,000
# rows; a 333,000-row UPDATE ran for more than 10 minutes).  Read together it
# is one scan.  The batch must finish within a bound the per-group reads
# clearly exceed, count every re-read, and leave the view equal to its query;
# then a batch with a few re-reads (read per group), one with a NULL-key
# group, and a 'rescan' view with a FILTER and a WHERE over the same source.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FlowviewTest;

my $groups = 15_000;
my $bound = 45;    # seconds: about 2 s here; the per-group reads took over 4 minutes

my $node = FlowviewTest::node('rescan_many');
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE big (g int, v int, k text);    -- no index at all
	INSERT INTO big SELECT i % $groups, i, 'k' || (i % 7) FROM generate_series(1, 4 * $groups) i;
	INSERT INTO big VALUES (NULL, 3, 'k1'), (NULL, 9, 'k2');
});

my %views = (
	big_mm => q{SELECT g, min(v) AS lo, max(v) AS hi, count(*) AS n FROM big GROUP BY g},
	big_filtered => q{SELECT g, k, min(v) FILTER (WHERE v % 2 = 0) AS lo_even, max(v) AS hi FROM big WHERE k <> 'k3' GROUP BY g, k},
);
for my $name (sort keys %views)
{
	$node->safe_psql('postgres', "SELECT flowview.create_view('$name', \$q\$$views{$name}\$q\$)");
}
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views populated');

sub check_views
{
	my ($what) = @_;
	for my $name (sort keys %views)
	{
		is(FlowviewTest::differences($node, $name, $views{$name}), '', "$name equals its query $what");
		ok($node->safe_psql('postgres', "SELECT count(*) FROM $name") > 0, "$name is not empty $what");
		is($node->safe_psql('postgres', "SELECT state FROM flowview.views WHERE view = '$name'::regclass"),
			'live', "$name is live $what");
	}
}

# every group's minimum (its smallest v, at most $groups) goes up; every
# third group's maximum goes down
my $start = time;
$node->safe_psql('postgres', qq{
	UPDATE big SET v = v + 1000000 WHERE v <= $groups;
	UPDATE big SET v = v - 1000000 WHERE v > 3 * $groups AND v <= 4 * $groups AND g % 3 = 0;
});
my $fresh = $node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '${bound} s')");
my $elapsed = time - $start;
note sprintf("the updates' batches applied in %.2f s (bound %d s)", $elapsed, $bound);
is($fresh, 't', "fresh within $bound s");
cmp_ok($elapsed, '<', $bound, "batch of $groups re-read groups within $bound s");
$node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '600 s')") if $fresh ne 't';
cmp_ok($node->safe_psql('postgres', "SELECT minmax_rereads FROM flowview.stats WHERE view = 'big_mm'::regclass"),
	'>=', $groups, 'every group whose extreme went was read again');
check_views('after the large batch');

# a few re-reads (each group alone), a NULL-key group's extreme, and a
# group emptied of values
$node->safe_psql('postgres', q{
	DELETE FROM big WHERE g IN (1, 2) AND v > 1000000;
	DELETE FROM big WHERE g IS NULL AND v = 3;
	UPDATE big SET v = NULL WHERE g = 4;
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'fresh after a few re-reads');
check_views('after a few re-reads');

$node->stop;
done_testing();
