# The apply worker's memory stays bounded over thousands of small batches:
# nothing it allocates per batch may outlive the batch (publish_batch_stats
# used to leave about 1 kB per batch in TopMemoryContext).  Measured twice,
# after a warm-up and after several thousand more batches: the grand total
# of the worker's memory contexts (pg_log_backend_memory_contexts) and its
# anonymous resident memory (RssAnon in /proc/PID/status, which must be
# readable: an unreadable /proc fails the test, it does not skip the check).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('worker_memory', 'pg_flowview.naptime' => '1');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id bigserial PRIMARY KEY, g int, v int);
	SELECT flowview.create_view('tv', 'SELECT g, count(*) AS n, sum(v) AS s, max(v) AS mx FROM t GROUP BY g');
	CREATE PROCEDURE work(n int) LANGUAGE plpgsql AS $$
	BEGIN
	  FOR i IN 1 .. n LOOP
	    INSERT INTO t (g, v) VALUES (i % 7, i);
	    IF i % 3 = 0 THEN DELETE FROM t WHERE id = (SELECT min(id) FROM t); END IF;
	    COMMIT;
	    PERFORM pg_sleep(0.001);	-- a batch per transaction or so
	  END LOOP;
	END $$;
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('tv', '60 s')"), 't', 'view live');
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply'");
like($pid, qr/^\d+$/, "apply worker $pid");

# (grand total of memory contexts, RssAnon in kB, batches so far)
sub measure
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
	my $total;
	$node->wait_for_log(qr/\[$pid\] LOG:  Grand total: \d+ bytes/, $offset);
	my $log = substr(slurp_file($node->logfile), $offset);
	($total) = $log =~ /\[$pid\] LOG:  Grand total: (\d+) bytes/;
	open(my $fh, '<', "/proc/$pid/status") or return ($total, undef);
	my ($rss) = join('', <$fh>) =~ /^RssAnon:\s+(\d+) kB/m;
	close $fh;
	my $batches = $node->safe_psql('postgres', 'SELECT batches FROM flowview.stats');
	return ($total, $rss, $batches);
}

sub round
{
	my ($n) = @_;
	$node->safe_psql('postgres', "CALL work($n)");
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('tv', '60 s')"), 't', "fresh after $n transactions");
}

round(1000);
my ($total0, $rss0, $batches0) = measure();
ok(defined $rss0, "RssAnon of the worker readable in /proc/$pid/status");
round(2500);
round(2500);
my ($total1, $rss1, $batches1) = measure();
my $batches = $batches1 - $batches0;
note "memory contexts: $total0 -> $total1 bytes, RssAnon: " . ($rss0 // '?') . ' -> ' . ($rss1 // '?') .
	" kB over $batches batches";
cmp_ok($batches, '>=', 1500, 'thousands of batches measured');
# a leak of 100 bytes per batch would show; catalog caches and kept plans may grow a little
cmp_ok($total1 - $total0, '<', 100 * $batches, 'memory contexts bounded');
ok(defined $rss1 && defined $rss0 && $rss1 - $rss0 < 100 * $batches / 1024 + 1024, 'RssAnon bounded');
# idle for the views: for 10 s, commits to a table no view reads, each
# waking the worker for a round that decodes them and applies nothing
$node->safe_psql('postgres', q{
	CREATE TABLE other (id int);
	CREATE PROCEDURE unrelated(secs int) LANGUAGE plpgsql AS $$
	DECLARE t0 timestamptz := clock_timestamp();
	BEGIN
	  WHILE clock_timestamp() < t0 + make_interval(secs => secs) LOOP
	    INSERT INTO other VALUES (1);
	    COMMIT;
	    PERFORM pg_sleep(0.001);
	  END LOOP;
	END $$;
});
my ($total2, undef, $batches2) = measure();
$node->safe_psql('postgres', 'CALL unrelated(10)');
my ($total3, undef, $batches3) = measure();
note "idle for 10 s of unrelated commits: memory contexts $total2 -> $total3 bytes";
cmp_ok($total3 - $total2, '<', 256 * 1024, 'memory contexts bounded while idle');
is($batches3, $batches2, 'commits to a table no view reads apply no batch');
is(FlowviewTest::differences($node, 'tv', 'SELECT g, count(*) AS n, sum(v) AS s, max(v) AS mx FROM t GROUP BY g'),
	'', 'view equals its query');
$node->stop;
done_testing();
