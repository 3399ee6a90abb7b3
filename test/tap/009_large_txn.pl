# A transaction far larger than logical_decoding_work_mem: 2,000,000 rows
# inserted, then 500,000 of them updated across groups, in one transaction
# each.  The reorder buffer spills to disk, the worker collects the batch in a
# tuplestore that spills too: the views must equal their queries and the
# worker's private memory must stay bounded (sampled while it works; the peak
# is printed).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FlowviewTest;

my $node = FlowviewTest::node('large',
	'logical_decoding_work_mem' => "'64MB'",
	'pg_flowview.recompute_backlog' => '0',	# decode every change
	'max_wal_size' => "'2GB'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE big (id int, g int, x int, pad text);
	SELECT flowview.create_view('big_g', $$SELECT g, count(*), sum(x), avg(x), min(x), max(x) FROM big GROUP BY g$$);
	SELECT flowview.create_view('big_total', $$SELECT count(*) AS n, sum(x) AS s FROM big$$);
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views live');
sub worker_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply'");
}
my $pid = worker_pid();
ok($pid =~ /^\d+$/, "apply worker runs (pid $pid)");

# The worker's memory from /proc/PID/status.  Where the platform has /proc,
# an unreadable file or a missing field is a failure, never a silent 0 (a
# bound checked against nothing measured proves nothing); only a platform
# without /proc at all skips the memory checks, saying so.
my $have_proc = -r '/proc/self/status';
sub status_kb
{
	my $field = shift;
	return 0 unless $have_proc;
	open(my $fh, '<', "/proc/$pid/status")
	  or die("cannot read /proc/$pid/status of the apply worker: $!");
	while (<$fh>) { return $1 if /^$field:\s+(\d+)/; }
	die("no $field in /proc/$pid/status of the apply worker");
}
my $samples = 0;
sub rss_anon_kb { $samples++; return status_kb('RssAnon'); }

my $peak = rss_anon_kb();
my $start_rss = $peak;
for my $step (
	q{INSERT INTO big SELECT i, i % 1000, i % 100000, 'p' FROM generate_series(1, 2000000) i},
	q{UPDATE big SET g = g + 1, x = x + 1 WHERE id % 4 = 0})
{
	$node->safe_psql('postgres', $step);
	my $done = 0;
	my $t0 = time;
	# sample the worker's memory while it decodes and applies
	while (time - $t0 < 600)
	{
		my $r = rss_anon_kb();
		$peak = $r if $r > $peak;
		my $fresh = $node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '0.2 s')");
		if ($fresh eq 't') { $done = 1; last; }
	}
	ok($done, "caught up after: " . substr($step, 0, 40));
}
my $diff = $node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM ((SELECT * FROM big_g EXCEPT ALL SELECT g, count(*), sum(x), avg(x), min(x), max(x) FROM big GROUP BY g)
	          UNION ALL (SELECT g, count(*), sum(x), avg(x), min(x), max(x) FROM big GROUP BY g EXCEPT ALL SELECT * FROM big_g)) a)
	     + (SELECT count(*) FROM ((SELECT * FROM big_total EXCEPT ALL SELECT count(*), sum(x) FROM big)
	          UNION ALL (SELECT count(*), sum(x) FROM big EXCEPT ALL SELECT * FROM big_total)) b)});
is($diff, '0', 'views equal their queries');
is($node->safe_psql('postgres', 'SELECT n FROM big_total'), '2000000', '2,000,000 rows counted once');
my $spilled = $node->safe_psql('postgres',
	"SELECT coalesce(sum(spill_bytes), 0) > 0 FROM pg_stat_replication_slots WHERE slot_name LIKE 'pg_flowview_%'");
is($spilled, 't', 'the reorder buffer spilled (the transactions exceeded logical_decoding_work_mem)');
SKIP:
{
	skip 'this platform has no /proc: the apply worker\'s memory is not measured', 4 unless $have_proc;
	my $hwm = status_kb('VmHWM');
	my $shmem = status_kb('RssShmem');
	diag(sprintf('apply worker private memory (RssAnon): %d MB at start, peak sampled %d MB in %d samples; '
		  . 'peak resident set (VmHWM, shared memory included) %d MB, of which shared memory now %d MB',
		  $start_rss / 1024, $peak / 1024, $samples, $hwm / 1024, $shmem / 1024));
	cmp_ok($samples, '>=', 3, 'the worker\'s memory was sampled while it worked');
	cmp_ok($peak, '<', 512 * 1024, 'worker private memory stayed bounded (< 512 MB)');
	cmp_ok($hwm - $shmem, '<', 512 * 1024, 'worker peak resident set minus shared memory < 512 MB');
	is(worker_pid(), $pid, 'the apply worker measured is still the one running (no restart in between)');
}
$node->stop;
done_testing();
