# Freshness and SLAs: with the apply worker paused, staleness grows and the
# SLA is breached; after resume it returns to 0.  The breach and the recovery
# are each announced once (NOTIFY flowview_sla, JSON payload) however many
# samples the episode lasts, and sla_report() shows the episode.  Trace ids
# reach the batch log line and flowview.stats.  Catalog changes made while
# the worker lags (a column before the view's columns changes type) do not
# confuse decoding of the rows written before them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use FlowviewTest;

my $node = FlowviewTest::node('fresh',
	'pg_flowview.sla_sample_interval' => "'200ms'",
	'pg_flowview.batch_log_level' => 'log');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id serial PRIMARY KEY, g int, x int);
	SELECT flowview.create_view('v', $$SELECT g, count(*), sum(x) FROM t GROUP BY g$$, freshness_sla => '1 s');
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '30 s')"), 't', 'view live');
is($node->safe_psql('postgres', "SELECT staleness < '0.5 s', sla_met FROM flowview.freshness WHERE view = 'v'::regclass"),
	't|t', 'idle: staleness ~0, SLA met');

# a session listening on flowview_sla for the whole episode
my ($out, $err) = ('', '');
my $listener = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
	  '-c', 'LISTEN flowview_sla', '-c', 'SELECT pg_sleep(9)' ],
	'>', \$out, '2>', \$err);
sleep 1;

$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$node->safe_psql('postgres', 'INSERT INTO t (g, x) VALUES (1, 10)');
sleep 3;
my ($stale, $met, $paused) = split /\|/, $node->safe_psql('postgres',
	"SELECT extract(epoch FROM staleness), sla_met, paused FROM flowview.freshness WHERE view = 'v'::regclass");
cmp_ok($stale, '>=', 2.5, "paused: staleness grows ($stale s)");
is($met, 'f', 'paused: SLA not met');
is($paused, 't', 'freshness shows the pause');
my $stale2 = $node->safe_psql('postgres',
	"SELECT extract(epoch FROM staleness) FROM flowview.freshness WHERE view = 'v'::regclass");
cmp_ok($stale2, '>', $stale, 'and keeps growing');
is($node->safe_psql('postgres', 'SELECT count(*) FROM v'), '0', 'paused: nothing applied');

$node->safe_psql('postgres', 'SELECT flowview.resume_apply()');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v', '30 s')"), 't', 'resumed: fresh');
is($node->safe_psql('postgres', "SELECT staleness < '0.5 s', sla_met FROM flowview.freshness WHERE view = 'v'::regclass"),
	't|t', 'resumed: staleness back to ~0, SLA met');
sleep 1;	# a sample or two within SLA: the recovery
$listener->finish;

my @events = map { decode_json($_) } ($out =~ /Asynchronous notification "flowview_sla" with payload "(.*)" received/g);
is(scalar(@events), 2, 'two notifications: one breach, one recovery (' . scalar(@events) . ')');
is($events[0]{event}, 'breach', 'first: breach');
is($events[0]{view}, 'public.v', 'breach names the view, schema-qualified');
is($events[0]{sla}, '00:00:01', 'breach carries the SLA');
ok(defined $events[0]{staleness}, 'breach carries the staleness');
is($events[1]{event}, 'recovery', 'then: recovery');

my ($nep, $ep) = split /\|/, $node->safe_psql('postgres',
	"SELECT breaches, episodes FROM flowview.sla_report(now() - interval '1 hour') WHERE view = 'v'::regclass");
is($nep, '1', 'sla_report: one breach episode');
my $episodes = decode_json($ep);
ok($episodes->[0]{start} && $episodes->[0]{end} && $episodes->[0]{worst}, 'episode has start, end and worst');
cmp_ok($node->safe_psql('postgres', q{SELECT within_sla FROM flowview.sla_report(now() - interval '1 hour')}),
	'<', 1, 'sla_report: not always within SLA');

# trace ids
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT pg_logical_emit_message(true, 'flowview.trace', 'trace-7f3a');
	INSERT INTO t (g, x) VALUES (2, 5);
	COMMIT;
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v', '30 s')"), 't', 'traced transaction applied');
is($node->safe_psql('postgres', "SELECT last_trace_id FROM flowview.stats WHERE view = 'v'::regclass"),
	'trace-7f3a', 'flowview.stats shows the last trace id');
ok($node->wait_for_log(qr/applied a batch of \d+ transactions.*traces: trace-7f3a/),
	'the batch log line names the trace id');
my ($rows, $batches, $p99) = split /\|/, $node->safe_psql('postgres',
	"SELECT rows_applied, batches, latency_p99_ms IS NOT NULL FROM flowview.stats WHERE view = 'v'::regclass");
is($rows, '2', 'stats: rows applied');
cmp_ok($batches, '>=', 1, 'stats: batches');
is($p99, 't', 'stats: commit-to-visible latency percentiles');

# a type change of a column before the view's columns, while the worker lags
$node->safe_psql('postgres', q{
	CREATE TABLE w (pad int, g int, x int);
	SELECT flowview.create_view('wv', $$SELECT g, count(*), sum(x) FROM w GROUP BY g$$);
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '30 s')"), 't', 'second view live');
$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$node->safe_psql('postgres', q{
	INSERT INTO w SELECT i, i % 5, i FROM generate_series(1, 1000) i;
	ALTER TABLE w ALTER pad TYPE text USING repeat('p', pad % 50);
	INSERT INTO w SELECT repeat('q', i % 70), i % 5, 2 * i FROM generate_series(1, 1000) i;
	ALTER TABLE w ADD COLUMN later numeric DEFAULT 1;
	UPDATE w SET x = x + 1 WHERE g = 3;
	DELETE FROM w WHERE g = 4 AND x % 2 = 0;
});
$node->safe_psql('postgres', 'SELECT flowview.resume_apply()');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'caught up after the DDL');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM ((SELECT * FROM wv EXCEPT ALL SELECT g, count(*), sum(x) FROM w GROUP BY g)
	              UNION ALL (SELECT g, count(*), sum(x) FROM w GROUP BY g EXCEPT ALL SELECT * FROM wv)) d}),
	'0', 'view equals its query across the type change');

$node->stop;
done_testing();
