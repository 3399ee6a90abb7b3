# Reads on a hot standby (pg_basebackup -R, streaming).  Live views are
# ordinary tables: the standby serves them, and the monitoring functions
# dashboards use answer there from what was replayed, writing nothing:
#   1. the views, flowview.views, flowview.freshness, flowview.stats and the
#      other read functions work on the standby; analysts under org security
#      see the same rows as on the primary; no pg_flowview process runs there;
#   2. staleness is how far the replayed views are behind the primary's
#      commits: with the primary's worker paused it grows on the standby and
#      wait_for_freshness is false; a wait_for_freshness started on the
#      standby returns true once the primary applied and the standby
#      replayed, and the view then equals its query there;
#   3. commits to tables no live view reads do not make the views stale;
#   4. a view created (backfilled) on the primary without later writes is
#      fresh on the standby (its backfill snapshot saw the source's commits);
#   5. what cannot work on a standby fails clearly: pause_apply (25006, run
#      it on the primary), refresh_view and create_view (read-only, 25006).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FlowviewTest;

my $primary = FlowviewTest::node('primary');
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id serial PRIMARY KEY, g int, x int);
	INSERT INTO t (g, x) SELECT i % 7, i FROM generate_series(1, 700) i;
	SELECT flowview.create_view('v', $$SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g$$,
	                            freshness_sla => '1 s');
	SELECT flowview.create_alert('big', 'v', 'n > 1000000');
	SELECT flowview.add_org_unit('hq');
	SELECT flowview.add_org_unit('east', 'hq');
	CREATE ROLE analyst LOGIN;
	GRANT flowview_reader TO analyst;
	SELECT flowview.assign_role('analyst', 'east');
	CREATE TABLE r (id int PRIMARY KEY, unit text, x int);
	INSERT INTO r SELECT i, CASE WHEN i % 2 = 0 THEN 'east' ELSE 'west' END, i FROM generate_series(1, 100) i;
	SELECT flowview.create_view('by_unit', $$SELECT unit, count(*) AS n, sum(x) AS s FROM r GROUP BY unit$$);
	SELECT flowview.enable_org_security('by_unit', 'unit');
	GRANT SELECT ON by_unit, v TO analyst;
	CREATE TABLE unrelated (id serial PRIMARY KEY, x int);
});
is($primary->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views live on the primary');
$primary->safe_psql('postgres', 'INSERT INTO t (g, x) VALUES (1, 1)');
is($primary->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'and applying');

# the views' position in a WAL segment the clone does not get
$primary->safe_psql('postgres', 'SELECT pg_switch_wal()');
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'a hot standby');

my $vq = 'SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g';

# 1. reads
is(FlowviewTest::differences($standby, 'v', $vq), '', 'the standby serves the view, equal to its query');
is($standby->safe_psql('postgres', "SELECT string_agg(state || (applied_lsn IS NOT NULL), ',' ORDER BY view::text) FROM flowview.views"),
	'livetrue,livetrue', 'flowview.views: live, with the replayed position');
is($standby->safe_psql('postgres',
	"SELECT string_agg(format('%s %s %s %s', state, staleness, sla_met, lag_bytes IS NOT NULL), ',' ORDER BY view::text) FROM flowview.freshness"),
	'live 00:00:00  t,live 00:00:00 t t', 'flowview.freshness works on the standby: staleness 0, SLA met');
is($standby->safe_psql('postgres', 'SELECT count(*), count(slot_name) FROM flowview.stats'), '2|0',
	'flowview.stats works on the standby (no slot there)');
for my $q ('SELECT * FROM flowview.anomalies()',
	"SELECT * FROM flowview.sla_report(now() - interval '1 hour')",
	"SELECT * FROM flowview.lineage('v')",
	"SELECT flowview.openlineage('v')",
	'SELECT * FROM flowview.lineage_graph',
	'SELECT * FROM flowview.alerts',
	'SELECT * FROM flowview.alert_events',
	"SELECT flowview.storage_table('v')",
	'SELECT flowview._applied_lsn()')
{
	my ($ret, $out, $err) = $standby->psql('postgres', $q);
	is("$ret $err", '0 ', "on the standby: $q");
}
is($standby->safe_psql('postgres', 'SET ROLE analyst; SELECT unit, n, s FROM by_unit'),
	$primary->safe_psql('postgres', 'SET ROLE analyst; SELECT unit, n, s FROM by_unit'),
	'the analyst sees the same rows on the standby as on the primary (org security)');
is($standby->safe_psql('postgres', 'SET ROLE analyst; SELECT unit, n FROM by_unit'), 'east|50', '(only east)');
is($standby->safe_psql('postgres', 'SET ROLE analyst; SELECT count(*), count(staleness) FROM flowview.freshness'), '2|2',
	'the analyst reads flowview.freshness on the standby');
is($standby->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '10 s')"), 't', 'wait_for_freshness on the standby: fresh');
is($standby->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_flowview%'"), '0',
	'no pg_flowview process on the standby');

# 2. the primary's worker lags: the standby says so
$primary->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$primary->safe_psql('postgres', 'INSERT INTO t (g, x) SELECT i % 9, i FROM generate_series(1, 300) i');
$primary->wait_for_catchup($standby);
sleep 2;
my ($stale, $met) = split /\|/, $standby->safe_psql('postgres',
	"SELECT extract(epoch FROM staleness), sla_met FROM flowview.freshness WHERE view = 'v'::regclass");
cmp_ok($stale, '>=', 1.5, "standby: staleness grows while the primary's worker is paused ($stale s)");
is($met, 'f', 'standby: SLA not met');
is($standby->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v', '1 s')"), 'f',
	'standby: wait_for_freshness is false while the replayed view misses commits');
isnt(FlowviewTest::differences($standby, 'v', $vq), '', '(the replayed view does miss them)');

my ($out, $err) = ('', '');
my $waiter = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $standby->connstr('postgres'), '-c', "SELECT flowview.wait_for_freshness('v', '60 s')" ],
	'>', \$out, '2>', \$err);
sleep 1;
$waiter->pump_nb;
is($out, '', 'a wait_for_freshness on the standby waits');
$primary->safe_psql('postgres', 'SELECT flowview.resume_apply()');
$waiter->finish;
is($out, "t\n", 'and returns true once the primary applied and the standby replayed') or diag $err;
is(FlowviewTest::differences($standby, 'v', $vq), '', 'then the view equals its query on the standby');
cmp_ok($standby->safe_psql('postgres', "SELECT extract(epoch FROM staleness) FROM flowview.freshness WHERE view = 'v'::regclass"),
	'<', 0.5, 'standby: staleness back to ~0');

# 3. commits to tables no view reads
$primary->safe_psql('postgres', 'INSERT INTO unrelated (x) VALUES (1)') for 1 .. 5;
$primary->wait_for_catchup($standby);
sleep 2;
is($standby->safe_psql('postgres', "SELECT count(*) FROM flowview.freshness WHERE staleness > interval '1 s'"), '0',
	'commits to other tables do not make the views stale on the standby');
is($standby->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '5 s')"), 't', 'wait_for_freshness true');

# 3b. much WAL without source changes: the primary's worker records its
# position (a commit of its own after 16 MB), so the standby need not read
# beyond its 64 MB limit (where it would err on the stale side)
my $origin_before = $primary->safe_psql('postgres',
	"SELECT remote_lsn FROM pg_replication_origin_status s JOIN pg_replication_origin o ON o.roident = s.local_id WHERE o.roname LIKE 'pg_flowview_%'");
$primary->safe_psql('postgres', q{
	CREATE TABLE bulk (id int, pad text);
	INSERT INTO bulk SELECT i, repeat('x', 400) FROM generate_series(1, 150000) i;
});
is($primary->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'primary: fresh after the bulk load');
$primary->safe_psql('postgres', 'INSERT INTO unrelated (x) VALUES (2)');
for (1 .. 100)
{
	last if $primary->safe_psql('postgres', qq{
		SELECT pg_wal_lsn_diff(remote_lsn, '$origin_before') > 16 * 1024 * 1024
		  FROM pg_replication_origin_status s JOIN pg_replication_origin o ON o.roident = s.local_id
		 WHERE o.roname LIKE 'pg_flowview_%'}) eq 't';
	select(undef, undef, undef, 0.2);
}
cmp_ok($primary->safe_psql('postgres', qq{
	SELECT pg_wal_lsn_diff(remote_lsn, '$origin_before')
	  FROM pg_replication_origin_status s JOIN pg_replication_origin o ON o.roident = s.local_id
	 WHERE o.roname LIKE 'pg_flowview_%'}), '>', 16 * 1024 * 1024,
	'the primary worker recorded its position past the bulk load (no source changed)');
$primary->wait_for_catchup($standby);
sleep 2;
is($standby->safe_psql('postgres', "SELECT count(*) FROM flowview.freshness WHERE staleness > interval '1 s'"), '0',
	'standby: not stale after a bulk load of another table');

# 4. a view backfilled on the primary, no later writes
$primary->safe_psql('postgres', q{
	CREATE TABLE t2 (id int PRIMARY KEY, k int);
	INSERT INTO t2 SELECT i, i % 4 FROM generate_series(1, 200) i;
	UPDATE t2 SET k = k + 1 WHERE id % 3 = 0;
	SELECT flowview.create_view('w', $$SELECT k, count(*) AS n FROM t2 GROUP BY k$$);
});
is($primary->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'w live on the primary');
$primary->wait_for_catchup($standby);
sleep 1;
is($standby->safe_psql('postgres', "SELECT string_agg(state || ' ' || staleness, ',') FROM flowview.freshness"),
	'live 00:00:00,live 00:00:00,live 00:00:00', 'standby: every view live and fresh after the backfill');
is($standby->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '10 s')"), 't', 'standby: wait_for_freshness true');
is(FlowviewTest::differences($standby, 'w', 'SELECT k, count(*) AS n FROM t2 GROUP BY k'), '', 'standby: w equals its query');

# 5. clear errors
my ($ret, $o, $e) = $standby->psql('postgres', 'SELECT flowview.pause_apply()', extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($e, qr/ERROR:  25006: cannot pause the apply worker on a standby.*HINT:  Run flowview\.pause_apply\(\) on the primary/s,
	'pause_apply on the standby: 25006, run it on the primary');
($ret, $o, $e) = $standby->psql('postgres', "SELECT flowview.refresh_view('v')", extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($e, qr/ERROR:  25006: /, 'refresh_view on the standby: 25006 (read-only)');
($ret, $o, $e) = $standby->psql('postgres', "SELECT flowview.create_view('x', 'SELECT g, count(*) FROM t GROUP BY g')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($e, qr/ERROR:  25006: /, 'create_view on the standby: 25006 (read-only)');
($ret, $o, $e) = $standby->psql('postgres', "SELECT flowview.wait_for_freshness('t', '1 s')");
like($e, qr/"t" is not a live view/, 'wait_for_freshness of a table on the standby: not a live view');

# 5. a join view: a change to either table counts for it on the standby
$primary->safe_psql('postgres', q{
	CREATE TABLE dim (g int PRIMARY KEY, label text);
	INSERT INTO dim SELECT g, 'g' || g FROM generate_series(0, 9) g;
	SELECT flowview.create_view('jv', $$SELECT d.label, count(*) AS n FROM t JOIN dim d ON d.g = t.g GROUP BY d.label$$);
});
is($primary->safe_psql('postgres', "SELECT flowview.wait_for_freshness('jv', '60 s')"), 't', 'join view live on the primary');
$primary->wait_for_catchup($standby);
$standby->poll_query_until('postgres', "SELECT flowview.wait_for_freshness('jv', '1 s')")
  or die 'the join view did not become fresh on the standby';
$primary->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$primary->safe_psql('postgres', "UPDATE dim SET label = 'moved' WHERE g = 3");
$primary->wait_for_catchup($standby);
sleep 2;
cmp_ok($standby->safe_psql('postgres',
	"SELECT extract(epoch FROM staleness) FROM flowview.freshness WHERE view = 'jv'::regclass"),
	'>=', 1.5, 'standby: a change to the dimension makes the join view stale');
is($standby->safe_psql('postgres', "SELECT flowview.wait_for_freshness('jv', '1 s')"), 'f',
	'standby: wait_for_freshness of the join view is false while it misses the change');
$primary->safe_psql('postgres', 'SELECT flowview.resume_apply()');
is($primary->safe_psql('postgres', "SELECT flowview.wait_for_freshness('jv', '60 s')"), 't', 'primary applies it');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT flowview.wait_for_freshness('jv', '30 s')"), 't', 'standby: fresh again');
is(FlowviewTest::differences($standby, 'jv', 'SELECT d.label, count(*) AS n FROM t JOIN dim d ON d.g = t.g GROUP BY d.label'), '',
	'standby: the join view equals its query');

$standby->stop;
$primary->stop;
done_testing();
