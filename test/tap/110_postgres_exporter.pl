# contrib/postgres_exporter/flowview.yaml with a real postgres_exporter
# (Debian's prometheus-postgres-exporter) against a cluster with live views:
# the scrape has the per-view series with Prometheus names and types, their
# values are the ones flowview.freshness and flowview.stats show (read just
# before and just after the scrape: a value that grows with time lies between
# them), a view in error is shown as such, and the queries run without error
# as a member of flowview_monitor, which sees every view's metadata and no rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use HTTP::Tiny;
use FlowviewTest;

my $exporter = '/usr/bin/prometheus-postgres-exporter';
my $queries = "$ENV{TESTDIR}/contrib/postgres_exporter/flowview.yaml";
-x $exporter or BAIL_OUT("$exporter missing (package prometheus-postgres-exporter)");
-r $queries or BAIL_OUT("$queries missing");

my $node = FlowviewTest::node('exporter');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE ROLE exporter LOGIN IN ROLE flowview_monitor;
	CREATE ROLE own LOGIN IN ROLE flowview_admin;
	GRANT CREATE ON SCHEMA public TO own;
	CREATE TABLE t (id serial PRIMARY KEY, g int, x int);
	INSERT INTO t (g, x) SELECT i % 5, i FROM generate_series(1, 100) i;
	CREATE TABLE os (g int);
	ALTER TABLE os REPLICA IDENTITY FULL;
	GRANT SELECT ON os TO own;
	SELECT flowview.create_view('v_sla', 'SELECT g, count(*), sum(x) FROM t GROUP BY g', freshness_sla => '1 h');
	SELECT flowview.create_view('v_tight', 'SELECT count(*) AS n FROM t', freshness_sla => '1 ms');
	SELECT flowview.create_view('v_plain', 'SELECT g, max(x) FROM t GROUP BY g');
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views live');
for my $i (1 .. 5) {
	$node->safe_psql('postgres', "INSERT INTO t (g, x) SELECT i % 7, i FROM generate_series(1, 20) i");
}
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'batches applied');

# a view whose owner lost SELECT on its source goes to error (as in 070)
$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$node->safe_psql('postgres', q{SET ROLE own; SELECT flowview.create_view('public.v_err', 'SELECT g, count(*) AS c FROM public.os GROUP BY g')});
$node->safe_psql('postgres', 'REVOKE SELECT ON os FROM own; SELECT flowview.resume_apply()');
ok($node->poll_query_until('postgres', "SELECT state FROM flowview.views WHERE view = 'v_err'::regclass", 'error'),
	'v_err is in error');

# the worker held, new rows: staleness grows, v_tight breaches its SLA
$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$node->safe_psql('postgres', "INSERT INTO t (g, x) VALUES (1, 1), (2, 2)");
# a change of v_plain's definition, pending (the worker is paused): its new
# storage has a catalog row of its own, which is no view of its own
$node->safe_psql('postgres', q{SELECT flowview.alter_view('v_plain', 'SELECT g, max(x), min(x) FROM t GROUP BY g')});
sleep 1;

# ---- the exporter
my $http_port = PostgreSQL::Test::Cluster::get_free_port();
my $dsn = sprintf('host=%s port=%d user=exporter dbname=postgres sslmode=disable', $node->host, $node->port);
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ $exporter, "--extend.query-path=$queries", "--web.listen-address=127.0.0.1:$http_port",
	  '--disable-default-metrics', '--disable-settings-metrics' ],
	'<', \undef, '>', \$out, '2>', \$err,
	init => sub { $ENV{DATA_SOURCE_NAME} = $dsn });
my $http = HTTP::Tiny->new(timeout => 30);
my $up;
for (1 .. 100) {
	$up = $http->get("http://127.0.0.1:$http_port/");
	last if $up->{success};
	select(undef, undef, undef, 0.1);
}
ok($up->{success}, 'the exporter listens') or diag($err);

my $freshness_sql = q{SELECT view::text, coalesce(extract(epoch FROM staleness)::float8::text, 'NaN'),
	coalesce(lag_bytes::text, 'NaN'), retained_wal_bytes FROM flowview.freshness
	WHERE view IN (SELECT view FROM flowview.views) ORDER BY 1};
my $before = $node->safe_psql('postgres', $freshness_sql);
my $res = $http->get("http://127.0.0.1:$http_port/metrics");
my $after = $node->safe_psql('postgres', $freshness_sql);
ok($res->{success}, 'GET /metrics') or diag("$res->{status} $res->{content}");
my $text = $res->{content};
PostgreSQL::Test::Utils::append_to_file("$PostgreSQL::Test::Utils::tmp_check/110_metrics.txt", $text);

# series: "name{labels}" => value; types: name => type
my (%value, %type);
for my $line (split /\n/, $text) {
	if ($line =~ /^# TYPE (\S+) (\S+)/) { $type{$1} = $2; next; }
	next if $line =~ /^#/ || $line !~ /\S/;
	my ($name, $labels, $v) = $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/ or next;
	my %l = ($labels // '') =~ /(\w+)="((?:[^"\\]|\\.)*)"/g;
	delete $l{server};
	$value{ $name . '{' . join(',', map { "$_=$l{$_}" } sort keys %l) . '}' } = $v;
}
sub series
{
	my ($name, %labels) = @_;
	$labels{datname} = 'postgres';
	return $value{ $name . '{' . join(',', map { "$_=$labels{$_}" } sort keys %labels) . '}' };
}

is($value{'pg_exporter_last_scrape_error{}'}, '0', 'the queries ran without error as a flowview_monitor member')
	or diag(join("\n", grep { /error/i } split /\n/, $err . $text));

unlike($text, qr/^flowview_[^{]*\{[^}]*view="flowview\.fv_/m, 'no series for the pending definition\'s storage');
is(series('flowview_view_state', view => 'v_plain', state => 'live'), '1', 'v_plain stays live while its change is pending');

# types and names
is($type{flowview_view_state}, 'gauge', 'flowview_view_state is a gauge');
is($type{flowview_view_staleness_seconds}, 'gauge', 'staleness in seconds, a gauge');
is($type{flowview_view_applied_lag_bytes}, 'gauge', 'applied lag in bytes, a gauge');
is($type{flowview_view_rows_applied_total}, 'counter', 'rows applied, a counter');
is($type{flowview_view_apply_seconds_total}, 'counter', 'apply time, a counter');
is($type{flowview_view_batch_latency_seconds}, 'gauge', 'batch latency quantiles in seconds');

# states: one series per state, 1 for the view's
for my $v (qw(v_sla v_tight v_plain v_err)) {
	my $state = $v eq 'v_err' ? 'error' : 'live';
	is(join(',', map { series('flowview_view_state', view => $v, state => $_) // 'none' } qw(live backfilling error)),
		$state eq 'live' ? '1,0,0' : '0,0,1', "$v: state $state");
}

# staleness, lag and retained WAL between the readings before and after the scrape
my %b = map { my @f = split /\|/; $f[0] => [@f[1 .. 3]] } split /\n/, $before;
my %a = map { my @f = split /\|/; $f[0] => [@f[1 .. 3]] } split /\n/, $after;
for my $v (qw(v_sla v_tight v_plain)) {
	my $s = series('flowview_view_staleness_seconds', view => $v);
	ok(defined $s && $s >= $b{$v}[0] && $s <= $a{$v}[0] && $s >= 1,
		"$v: staleness $s s between $b{$v}[0] and $a{$v}[0]");
	my $l = series('flowview_view_applied_lag_bytes', view => $v);
	ok(defined $l && $l >= $b{$v}[1] && $l <= $a{$v}[1] && $l > 0, "$v: lag $l bytes between $b{$v}[1] and $a{$v}[1]");
	my $r = series('flowview_view_retained_wal_bytes', view => $v);
	ok(defined $r && $r >= $b{$v}[2] && $r <= $a{$v}[2] && $r > 0, "$v: retained WAL $r between $b{$v}[2] and $a{$v}[2]");
}
is(series('flowview_view_staleness_seconds', view => 'v_err'), 'NaN', 'v_err: no staleness (NaN)');

# SLA
is(series('flowview_view_freshness_sla_seconds', view => 'v_sla'), '3600', 'v_sla: SLA 3600 s');
is(series('flowview_view_sla_met', view => 'v_sla'), '1', 'v_sla: SLA met');
is(series('flowview_view_sla_met', view => 'v_tight'), '0', 'v_tight: SLA breached');
is(series('flowview_view_sla_met', view => 'v_plain'), 'NaN', 'v_plain: no SLA (NaN)');
is(series('flowview_view_sla_met', view => 'v_err'), 'NaN', 'v_err: no SLA (NaN)');
is(series('flowview_view_paused', view => 'v_sla'), '1', 'the worker is paused');

# counters and latency: the values flowview.stats shows (the worker is paused)
my $stats = $node->safe_psql('postgres', q{SELECT view::text, rows_applied, batches, errors, rows_decoded,
	latency_p50_ms / 1000.0, latency_p99_ms / 1000.0, latency_samples FROM flowview.stats
	WHERE view IN (SELECT view FROM flowview.views) ORDER BY 1});
for my $row (split /\n/, $stats) {
	my ($v, $applied, $batches, $errors, $decoded, $p50, $p99, $samples) = split /\|/, $row;
	is(join(',', map { series($_, view => $v) // 'none' }
			qw(flowview_view_rows_applied_total flowview_view_batches_total flowview_view_apply_errors_total
			  flowview_view_rows_decoded_total flowview_view_latency_samples)),
		join(',', $applied, $batches, $errors, $decoded, $samples), "$v: counters as in flowview.stats");
	my $apply_s = $node->safe_psql('postgres', "SELECT apply_ms / 1000.0 FROM flowview.stats WHERE view = '$v'::regclass");
	ok(abs(series('flowview_view_apply_seconds_total', view => $v) - $apply_s) < 1e-6, "$v: apply time $apply_s s");
	next if $p50 eq '';
	ok(abs(series('flowview_view_batch_latency_seconds', view => $v, quantile => '0.5') - $p50) < 1e-9
		  && abs(series('flowview_view_batch_latency_seconds', view => $v, quantile => '0.99') - $p99) < 1e-9,
		"$v: latency quantiles $p50 s, $p99 s");
}
is(series('flowview_view_rows_applied_total', view => 'v_sla'), '100', 'v_sla: the 100 rows written after it was populated');

# flowview_monitor sees every view's metadata, none of its rows
my ($rc, $stdout, $stderr) = $node->psql('postgres', 'SELECT count(*) FROM v_sla', extra_params => [ '-U', 'exporter' ]);
like($stderr, qr/permission denied for view v_sla/, 'the monitor role cannot read the view');
is($node->safe_psql('postgres', 'SELECT count(*) FROM flowview.views', extra_params => [ '-U', 'exporter' ]), '4',
	'and sees all four views in flowview.views');
is($node->safe_psql('postgres', 'SELECT count(*) FROM flowview.view_versions', extra_params => [ '-U', 'exporter' ]), '5',
	'and their versions in flowview.view_versions (v_plain: two)');
($rc, $stdout, $stderr) = $node->psql('postgres', "SELECT flowview.refresh_view('v_sla')", extra_params => [ '-U', 'exporter' ]);
isnt($rc, 0, 'and may not refresh one');

$h->kill_kill;
PostgreSQL::Test::Utils::append_to_file("$PostgreSQL::Test::Utils::tmp_check/110_exporter.log", $err);
$node->stop;
done_testing();
