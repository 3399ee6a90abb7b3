# Throughput anomalies: a steady workload that stops shows up in
# flowview.anomalies() as 'stopped', one that bursts as 'spike'.
# Slot safety: past pg_flowview.max_retained_wal freshness warns; when the
# slot is invalidated (max_slot_wal_keep_size) the views go to state error
# with a message naming refresh_view, which brings them back, exact.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('anom',
	'pg_flowview.sla_sample_interval' => "'500ms'",	# long enough to smooth batching jitter
	'pg_flowview.max_retained_wal' => "'1MB'",
	'max_slot_wal_keep_size' => "'1MB'",
	'wal_keep_size' => '0');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id serial PRIMARY KEY, g int, x int);
	SELECT flowview.create_view('v', $$SELECT g, count(*), sum(x) FROM t GROUP BY g$$);
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '30 s')"), 't', 'view live');

my $script = "$PostgreSQL::Test::Utils::tmp_check/ins.sql";
PostgreSQL::Test::Utils::append_to_file($script, "INSERT INTO t (g, x) VALUES (1, 1);\n");
sub pgbench
{
	my ($rate, $secs) = @_;
	PostgreSQL::Test::Utils::system_or_bail('pgbench', '-n', '-R', $rate, '-T', $secs, '-c', '1',
		'-f', $script, $node->connstr('postgres'));
}

# a steady 200 rows/s for 14 s (28 samples), then nothing
pgbench(200, 14);
ok($node->poll_query_until('postgres',
	q{SELECT kind FROM flowview.anomalies(3, 20) WHERE view = 'v'::regclass}, 'stopped'),
	'the workload stopped: anomaly "stopped"');
my $z = $node->safe_psql('postgres', q{SELECT z_score FROM flowview.anomalies(3, 20)});
cmp_ok($z, '<=', -3, "with a negative z-score ($z)");

# quiet long enough to become the norm, then a burst
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM flowview.anomalies(3, 20)}, '0'),
	'a quiet source is the norm again');
my $bg = IPC::Run::start([ 'pgbench', '-n', '-R', '1000', '-T', '4', '-c', '2', '-f', $script,
	$node->connstr('postgres') ], '>', \my $o, '2>', \my $e);
ok($node->poll_query_until('postgres',
	q{SELECT kind FROM flowview.anomalies(3, 20) WHERE view = 'v'::regclass}, 'spike'),
	'a burst: anomaly "spike"');
$bg->finish;

# retained WAL above pg_flowview.max_retained_wal: warned in freshness and the log
$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$node->safe_psql('postgres', q{INSERT INTO t (g, x) SELECT 2, i FROM generate_series(1, 30000) i});
ok($node->poll_query_until('postgres',
	q{SELECT warning LIKE '%retains%max_retained_wal%' FROM flowview.freshness WHERE view = 'v'::regclass}),
	'freshness warns about retained WAL');
ok($node->wait_for_log(qr/retains \d+ MB of WAL, more than pg_flowview.max_retained_wal/),
	'and so does the log');

# past max_slot_wal_keep_size the slot is invalidated at a checkpoint
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', q{INSERT INTO t (g, x) SELECT 3, i FROM generate_series(1, 20000) i; SELECT pg_switch_wal()});
}
$node->safe_psql('postgres', 'CHECKPOINT');
$node->safe_psql('postgres', 'SELECT flowview.resume_apply()');
ok($node->poll_query_until('postgres', q{SELECT state FROM flowview.views WHERE view = 'v'::regclass}, 'error'),
	'slot invalidated: the view is in state error');
like($node->safe_psql('postgres', q{SELECT error FROM flowview.views WHERE view = 'v'::regclass}),
	qr/invalidated.*refresh_view/, 'its message says to run refresh_view');

$node->safe_psql('postgres', q{SELECT flowview.refresh_view('v')});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'refresh_view: live again');
$node->safe_psql('postgres', q{INSERT INTO t (g, x) VALUES (4, 4)});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'and applying');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM ((SELECT * FROM v EXCEPT ALL SELECT g, count(*), sum(x) FROM t GROUP BY g)
	              UNION ALL (SELECT g, count(*), sum(x) FROM t GROUP BY g EXCEPT ALL SELECT * FROM v)) d}),
	'0', 'view equals its query');

$node->stop;
done_testing();
