# pg_dump / pg_restore of a database with live views: restored into a new
# database of the same cluster and of another cluster, in custom format
# (pg_restore --exit-on-error) and as plain SQL (psql -v ON_ERROR_STOP=1),
# everything comes back without an error: the catalog (views, SLAs, alert
# rules with their state and history, the org hierarchy and its members,
# the id sequences), owners, grants and organisation security.  The views
# become live by themselves, rebuilt from the restored source rows (not
# from the dumped storage), once the restoring session ends; then they
# equal their queries under new writes, an analyst sees the rows it saw
# before, refresh_view works and a new view gets a new id; a view's former
# OIDs (its OIDs before a change of columns) are not restored.  While a restore
# is pending, its views are left alone, and the storage's owner (a
# flowview_admin member) can neither change the storage nor forge catalog
# rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my %query = (
	by_g => 'SELECT g, count(*), sum(x), min(x), max(x) FROM t GROUP BY g',
	by_unit => 'SELECT unit, count(*) AS n, sum(x) AS s FROM r GROUP BY unit',
	alice_v => 'SELECT unit, count(*) AS n, max(x) AS hi FROM r GROUP BY unit',
	total => 'SELECT count(*) AS n, sum(x) AS s, min(x) AS lo FROM t',
	by_k => 'SELECT k, count(*) AS n, sum(v) AS s, max(v) AS hi FROM p GROUP BY k',
	ver => 'SELECT g, sum(x) AS s, max(x) AS hi FROM t GROUP BY g',
	by_unit_g => 'SELECT r.unit, count(*) AS n, sum(t.x) AS s FROM t JOIN r ON r.id = t.g GROUP BY r.unit',
	# a rollup over it: its catalog row may be restored before by_unit_g's
	g_rollup => 'SELECT count(*) AS units, sum(n) AS n, max(s) AS top FROM by_unit_g',
	# retain => '10 years': the rows of 2001-2003 are behind its horizon,
	# the others after it (so the query names the groups it keeps)
	recent => q{SELECT date_trunc('day', ts) AS day, count(*) AS n, sum(x) AS s FROM ev WHERE ts > '2010-01-01' GROUP BY 1},
	# a sliding window: its clock table is dumped and restored with it
	last_days => q{SELECT count(*) AS n, sum(x) AS s FROM ev WHERE ts > now() - interval '100 days'},
);

my $a = FlowviewTest::node('dump_a');
$a->start;
$a->safe_psql('postgres', q{
	CREATE ROLE analyst LOGIN;
	CREATE DATABASE src;
});
$a->safe_psql('src', q{
	CREATE EXTENSION pg_flowview;
	CREATE ROLE alice LOGIN IN ROLE flowview_admin;
	CREATE TABLE t (id int PRIMARY KEY, g int, x numeric);
	INSERT INTO t SELECT i, i % 7, i FROM generate_series(1, 1000) i;
	-- created under another name and renamed: the dump names it as it is now
	SELECT flowview.create_view('by_g0', $$SELECT g, count(*), sum(x), min(x), max(x) FROM t GROUP BY g$$);
	ALTER VIEW by_g0 RENAME TO by_g;
	SELECT flowview.set_freshness_sla('by_g', '5 s');
	SELECT flowview.create_alert('big', 'by_g', 'count > 1000000');
	SELECT flowview.create_alert('busy', 'by_g', 'count > 150');
	SELECT flowview.add_org_unit('hq');
	SELECT flowview.add_org_unit('west', 'hq');
	SELECT flowview.add_org_unit('east');
	SELECT flowview.move_org_unit('east', 'hq');     -- a parent row after its child
	SELECT flowview.add_org_unit('east_1', 'east');
	SELECT flowview.assign_role('analyst', 'east');
	CREATE TABLE r (id int PRIMARY KEY, unit text, x int);
	INSERT INTO r SELECT i, (ARRAY['east', 'west', 'east_1', 'north'])[i % 4 + 1], i FROM generate_series(1, 400) i;
	SELECT flowview.create_view('by_unit', $$SELECT unit, count(*) AS n, sum(x) AS s FROM r GROUP BY unit$$,
	                            minmax => 'multiset');
	SELECT flowview.enable_org_security('by_unit', 'unit');
	SELECT flowview.enable_changefeed('by_unit');
	GRANT SELECT ON by_unit, by_g TO analyst;
	GRANT flowview_reader TO analyst;   -- for by_unit's changefeed
	GRANT SELECT ON r TO alice;
	GRANT CREATE ON SCHEMA public TO alice;
	SET ROLE alice;
	SELECT flowview.create_view('alice_v', $$SELECT unit, count(*) AS n, max(x) AS hi FROM r GROUP BY unit$$,
	                            freshness_sla => '1 min');
	SELECT flowview.create_alert('alice_hi', 'alice_v', 'hi > 100000');
	SELECT flowview.enable_org_security('alice_v', 'unit');
	GRANT SELECT ON alice_v TO analyst;
	RESET ROLE;
	-- a global aggregate, and a partitioned source
	SELECT flowview.create_view('total', $$SELECT count(*) AS n, sum(x) AS s, min(x) AS lo FROM t$$);
	CREATE TABLE p (id int, k int, v int) PARTITION BY RANGE (id);
	CREATE TABLE p_1 PARTITION OF p FOR VALUES FROM (0) TO (1000);
	CREATE TABLE p_2 PARTITION OF p FOR VALUES FROM (1000) TO (MAXVALUE);
	INSERT INTO p SELECT i, i % 5, i FROM generate_series(1, 1500) i;
	SELECT flowview.create_view('by_k', $$SELECT k, count(*) AS n, sum(v) AS s, max(v) AS hi FROM p GROUP BY k$$);
	-- a join view: its join relation flowview.fv_join_ID is dumped and restored with it
	SELECT flowview.create_view('by_unit_g', $$SELECT r.unit, count(*) AS n, sum(t.x) AS s FROM t JOIN r ON r.id = t.g GROUP BY r.unit$$);
	SELECT flowview.create_view('g_rollup', $$SELECT count(*) AS units, sum(n) AS n, max(s) AS top FROM by_unit_g$$);
	-- its upstream's catalog row after its own in the dump's COPY
	UPDATE flowview.view_catalog SET freshness_sla = NULL WHERE view_oid = 'by_unit_g'::regclass;
	-- a view changed twice: a column added (same view), then other columns (a new view)
	SELECT flowview.create_view('ver', $$SELECT g, count(*) AS n FROM t GROUP BY g$$);
	GRANT SELECT ON ver TO analyst;
	SELECT flowview.alter_view('ver', $$SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g$$);
	CREATE TABLE ev (id int PRIMARY KEY, ts timestamptz, x int);
	INSERT INTO ev SELECT i, CASE WHEN i % 3 = 0 THEN timestamptz '2001-01-01' + i * interval '1 day'
	                              ELSE now() - i * interval '1 day' END, i
	  FROM generate_series(1, 300) i;
	SELECT flowview.create_view('recent', $$SELECT date_trunc('day', ts) AS day, count(*) AS n, sum(x) AS s FROM ev GROUP BY 1$$,
	                            retain => interval '10 years');
	SELECT flowview.create_view('last_days', $$SELECT count(*) AS n, sum(x) AS s FROM ev WHERE ts > now() - interval '100 days'$$);
});
ok($a->poll_query_until('src', "SELECT flowview.wait_for_freshness('ver', '5 s')"), 'source database: ver version 2');
$a->safe_psql('src', q{SELECT flowview.alter_view('ver', $$SELECT g, sum(x) AS s, max(x) AS hi FROM t GROUP BY g$$)});
ok($a->poll_query_until('src', "SELECT flowview.wait_for_freshness('ver', '5 s')"), 'source database: ver version 3');
# a workload, so the views have been applied to (and an alert has fired)
$a->safe_psql('src', q{
	INSERT INTO t SELECT i, i % 7, i FROM generate_series(1001, 1200) i;
	UPDATE t SET g = g + 1 WHERE id % 5 = 0;
	DELETE FROM t WHERE id % 9 = 0;
	INSERT INTO r SELECT i, 'west', i FROM generate_series(401, 450) i;
	UPDATE r SET x = x * 2 WHERE unit = 'east';
});
is($a->safe_psql('src', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'source database: views fresh');
for my $v (sort keys %query)
{
	is(FlowviewTest::differences($a, $v, $query{$v}, dbname => 'src'), '', "source database: $v equals its query");
}
ok($a->safe_psql('src', 'SELECT count(*) FROM flowview.alert_events') > 0, 'source database: alert "busy" fired');

# The catalog as it must come back: OIDs as names, no runtime columns
my %catalog = (
	view_catalog => q{SELECT id, view_oid::regclass, source_oid::regclass, view_rel, source_rel, query, time_zone,
	                         minmax, created_at, freshness_sla, storage_tables, objects, backfill_sql, apply_sql,
	                         used_columns, changed_groups_sql, retain, retain_sql, window_sql, advance_sql, upstream_keys
	                    FROM flowview.view_catalog ORDER BY id},
	alert_catalog => q{SELECT id, name, view_oid::regclass, view_rel, condition, channel, created_at,
	                          owner::regrole, owner_role, last_error FROM flowview.alert_catalog ORDER BY id},
	alert_state => q{SELECT * FROM flowview.alert_state ORDER BY 1, 2},
	alert_events => q{SELECT * FROM flowview.alert_events ORDER BY id},
	org_units => q{SELECT * FROM flowview.org_units ORDER BY unit},
	org_members => q{SELECT role::text, unit FROM flowview.org_members ORDER BY 1, 2},
	org_closure => q{SELECT * FROM flowview.org_closure ORDER BY 1, 2},
	sequences => q{SELECT last_value FROM flowview.view_catalog_id_seq
	               UNION ALL SELECT last_value FROM flowview.alert_catalog_id_seq
	               UNION ALL SELECT last_value FROM flowview.alert_events_id_seq},
	views => q{SELECT view, query, sources, freshness_sla, time_zone, minmax, retain FROM flowview.views ORDER BY view::text},
	view_versions => q{SELECT view, version, query, minmax, changed_by, changed_at, current, pending, requested_by,
	                          requested_at, activated_at, error FROM flowview.view_versions ORDER BY view::text, version},
	owners_and_grants => q{SELECT c.oid::regclass, pg_get_userbyid(c.relowner), c.relacl, c.relrowsecurity
	                         FROM pg_class c
	                        WHERE c.relname IN ('by_g', 'by_unit', 'alice_v', 'total', 'by_k', 'ver')
	                           OR c.relname LIKE 'fv\_%'
	                        ORDER BY c.oid::regclass::text},
	policies => q{SELECT tablename, policyname, roles, qual FROM pg_policies WHERE schemaname = 'flowview'
	               ORDER BY 1, 2},
	storage_indexes => q{SELECT indexdef FROM pg_indexes WHERE schemaname = 'flowview' AND tablename LIKE 'fv\_%'
	                      ORDER BY 1},
	source_dependencies => q{SELECT pg_describe_object(classid, objid, objsubid) || ' -> '
	                                || pg_describe_object(refclassid, refobjid, refobjsubid)
	                           FROM pg_depend WHERE classid = 'pg_class'::regclass AND deptype = 'n'
	                            AND objid IN (SELECT view_oid FROM flowview.view_catalog)
	                            AND refobjid IN (SELECT source_oid FROM flowview.view_catalog)
	                          ORDER BY 1},
);
my %before = map { $_ => $a->safe_psql('src', $catalog{$_}) } keys %catalog;
is($a->safe_psql('src', q{SELECT string_agg(v::text || ':' || cardinality(former_oids), ',' ORDER BY v::text)
	FROM flowview.view_catalog, LATERAL (SELECT view_oid::regclass) x(v) WHERE former_oids IS NOT NULL}), 'ver:1',
	'source database: ver has a former OID (its change of columns), the others none');
my $catalog_rows = $a->safe_psql('src', 'SELECT count(*) FROM flowview.view_catalog');
my $last_id = $a->safe_psql('src', 'SELECT last_value FROM flowview.view_catalog_id_seq');
is($a->safe_psql('src', "SELECT string_agg(version || ':' || current, ',' ORDER BY version) FROM flowview.view_versions
	WHERE view = 'ver'::regclass"), '1:false,2:false,3:true', 'source database: ver has three versions, the third current');
my $analyst_rows = q{SET ROLE analyst;
	SELECT 'by_unit', * FROM by_unit UNION ALL SELECT 'alice_v', unit, n, hi FROM alice_v ORDER BY 1, 2};
my $analyst_before = $a->safe_psql('src', $analyst_rows);
like($analyst_before, qr/^by_unit\|east\|.*^by_unit\|east_1\|/ms, 'the analyst sees east and east_1');
unlike($analyst_before, qr/west|north/, 'and not west or north');

# The dump is taken while the worker lags: rows written with the worker
# paused are in the dumped source table but not in the dumped storage, so
# the restored views must be rebuilt from the source rows.
$a->safe_psql('src', q{SELECT flowview.pause_apply();
	INSERT INTO t SELECT i, i % 3, i FROM generate_series(1201, 1500) i;
	DELETE FROM t WHERE id % 17 = 0;
	INSERT INTO p SELECT i, i % 5, i FROM generate_series(1501, 1600) i;
	INSERT INTO ev VALUES (1001, '2002-06-01', 1), (1002, now(), 2);});

my $dir = PostgreSQL::Test::Utils::tempdir;
my @conn_a = ('-h', $a->host, '-p', $a->port);
command_ok([ 'pg_dump', @conn_a, '-Fc', '-f', "$dir/src.dump", 'src' ], 'pg_dump -Fc');
command_ok([ 'pg_dump', @conn_a, '-Fp', '-f', "$dir/src.sql", 'src' ], 'pg_dump plain');
command_ok([ 'pg_dumpall', @conn_a, '--roles-only', '-f', "$dir/roles.sql" ], 'pg_dumpall --roles-only');

is(FlowviewTest::differences($a, 'by_g', $query{by_g}, dbname => 'src') ne '', 1,
	'(the dumped by_g storage lags its source)');
# writes after the dump are not in the restored databases
$a->safe_psql('src', q{SELECT flowview.resume_apply();
	INSERT INTO t SELECT i, 1, i FROM generate_series(2001, 2100) i});

my $b = FlowviewTest::node('dump_b');
$b->start;
my @conn_b = ('-h', $b->host, '-p', $b->port);
my ($o, $err);
run_command([ 'psql', @conn_b, '-X', '-q', '-v', 'ON_ERROR_STOP=0', '-d', 'postgres', '-f', "$dir/roles.sql" ]);

sub restore
{
	my ($node, $db, $format) = @_;
	my @conn = ('-h', $node->host, '-p', $node->port);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	my ($stdout, $stderr);
	my $ok = $format eq 'custom'
	  ? IPC::Run::run([ 'pg_restore', @conn, '--exit-on-error', '-d', $db, "$dir/src.dump" ],
		'>', \$stdout, '2>', \$stderr)
	  : IPC::Run::run([ 'psql', @conn, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-f', "$dir/src.sql" ],
		'>', \$stdout, '2>', \$stderr);
	ok($ok, "$db: $format restore succeeds");
	unlike($stderr, qr/ERROR|error:/, "$db: $format restore reports no error") or diag($stderr);
	return;
}

sub wait_live
{
	my ($node, $db) = @_;
	# no restart, no call: the worker starts and rebuilds the views itself
	return $node->poll_query_until($db,
		q{SELECT count(*) = } . scalar(keys %query) . q{ AND bool_and(state = 'live') FROM flowview.views});
}

sub check_restored
{
	my ($node, $db) = @_;
	ok(wait_live($node, $db), "$db: the restored views go live by themselves");
	is($node->safe_psql($db, 'SELECT count(*) FROM flowview.restores'), '0', "$db: no restore pending");
	is($node->safe_psql($db, 'SELECT count(*) FROM flowview.view_catalog WHERE former_oids IS NOT NULL'), '0',
		"$db: the source database's former OIDs are not restored");
	for my $k (sort keys %catalog)
	{
		is($node->safe_psql($db, $catalog{$k}), $before{$k}, "$db: $k as in the source database");
	}
	is($node->safe_psql($db, $analyst_rows), $analyst_before, "$db: the analyst sees the rows it saw before");
	is($node->safe_psql($db, 'SET ROLE analyst; SELECT count(*) FROM by_g'),
		$node->safe_psql($db, 'SELECT count(DISTINCT g) FROM t'), "$db: the analyst reads by_g");
	for my $v (sort keys %query)
	{
		is(FlowviewTest::differences($node, $v, $query{$v}, dbname => $db), '', "$db: $v equals its query");
	}

	# the changefeed came back: the analyst's snapshot, then its changes
	my $feed_cursor = $node->safe_psql($db, 'SET ROLE analyst; SELECT cursor FROM by_unit_changes(NULL) LIMIT 1');
	like($feed_cursor, qr/^\d+\.[0-9a-f]{8}$/, "$db: the changefeed of by_unit is restored (cursor $feed_cursor)");

	# new writes: the views follow
	my $events = $node->safe_psql($db, 'SELECT count(*) FROM flowview.alert_events');
	$node->safe_psql($db, q{
		INSERT INTO t SELECT i, 100, i FROM generate_series(5001, 5300) i;   -- a new group, over 150: fires
		UPDATE t SET x = x + 1, g = g + 2 WHERE id % 4 = 0;
		DELETE FROM t WHERE id % 13 = 0;
		INSERT INTO r SELECT i, 'east_1', i * 3 FROM generate_series(5001, 5100) i;
		DELETE FROM r WHERE id % 6 = 0;
		UPDATE r SET unit = 'east' WHERE id % 10 = 1;
		INSERT INTO p SELECT i, i % 7, i FROM generate_series(5001, 5200) i;
		INSERT INTO ev VALUES (5001, '2003-01-01', 5), (5002, now() - interval '1 hour', 6);   -- behind the horizon, after it
		DELETE FROM ev WHERE id IN (3, 4);   -- behind it (nothing to subtract), after it
		UPDATE ev SET ts = now() WHERE id = 6;   -- from behind it into the view
		UPDATE p SET id = id + 1000, v = v + 1 WHERE id % 8 = 0 AND id < 900;   -- moves rows between partitions
		DELETE FROM p WHERE id % 11 = 0;
	});
	is($node->safe_psql($db, "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', "$db: fresh after new writes");
	for my $v (sort keys %query)
	{
		is(FlowviewTest::differences($node, $v, $query{$v}, dbname => $db), '',
			"$db: $v equals its query after new writes");
	}
	is($node->safe_psql($db, 'SET ROLE analyst; SELECT string_agg(DISTINCT unit, \',\' ORDER BY unit) FROM by_unit'),
		'east,east_1', "$db: organisation security still applies after new writes");
	is($node->safe_psql($db, "SET ROLE analyst; SELECT string_agg(DISTINCT op || ':' || unit, ',' ORDER BY op || ':' || unit) FROM by_unit_changes('$feed_cursor')"),
		'update:east,update:east_1', "$db: the analyst's changefeed after the restore: its units' updates");
	ok($node->safe_psql($db, 'SELECT count(*) FROM flowview.alert_events') > $events,
		"$db: the restored alert rule fires on new writes");
	is($node->safe_psql($db, q{SELECT count(*) FROM flowview.alert_catalog WHERE last_error IS NOT NULL}), '0',
		"$db: alert conditions evaluate (as their owners)");

	# refresh_view, a new view's id, the dependency on the source
	$node->safe_psql($db, "SELECT flowview.refresh_view('by_g')");
	is($node->safe_psql($db, "SELECT flowview.wait_for_freshness('by_g', '60 s')"), 't', "$db: refreshed by_g fresh");
	is(FlowviewTest::differences($node, 'by_g', $query{by_g}, dbname => $db), '', "$db: by_g after refresh_view");
	$node->safe_psql($db, q{SELECT flowview.create_view('by_x', 'SELECT x, count(*) FROM t GROUP BY x')});
	is($node->safe_psql($db, q{SELECT id FROM flowview.view_catalog WHERE view_oid = 'by_x'::regclass}),
		$last_id + 1, "$db: a new view gets the next id");
	# the restored versions: rollback_view goes back to version 2
	$node->safe_psql($db, "SELECT flowview.rollback_view('ver')");
	ok($node->poll_query_until($db, "SELECT flowview.wait_for_freshness('ver', '5 s')"), "$db: ver rolled back");
	is($node->safe_psql($db, "SELECT version FROM flowview.view_versions WHERE view = 'ver'::regclass AND current"), '2',
		"$db: version 2 is current");
	is(FlowviewTest::differences($node, 'ver', 'SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g', dbname => $db),
		'', "$db: ver equals version 2's query");
	is($node->safe_psql($db, 'SET ROLE analyst; SELECT count(*) FROM ver'),
		$node->safe_psql($db, 'SELECT count(DISTINCT g) FROM t'), "$db: the analyst reads ver after the rollback");
	my ($rc, $o, $e) = $node->psql($db, 'DROP TABLE r');
	like($e, qr/cannot drop table r because other objects depend on it/, "$db: the restored views depend on their source");
	return;
}

# 1. same cluster, custom format, while the restoring session is kept open
# for a moment: nothing happens to the views until it ends
restore($a, 'copy_fc', 'custom');
check_restored($a, 'copy_fc');

# 2. same cluster, plain SQL run by a session that stays open
$a->safe_psql('postgres', 'CREATE DATABASE copy_sql');
my $session = $a->background_psql('copy_sql', on_error_stop => 1);
$session->query_safe("\\i $dir/src.sql");
$session->query_safe('SELECT 1');
is($a->safe_psql('copy_sql', 'SELECT count(*) FROM flowview.restores'), $catalog_rows,
	'copy_sql: a restore pending per view');
sleep 2;
is($a->safe_psql('copy_sql', q{SELECT string_agg(DISTINCT state, ',') FROM flowview.views}), 'backfilling',
	'copy_sql: the views wait while the restoring session lives');
# the storage's owner, a flowview_admin member, gets nothing from the pending restore
my $alice_store = $a->safe_psql('copy_sql', q{SELECT 'flowview.fv_store_' || id FROM flowview.view_catalog
                                               WHERE view_oid = 'alice_v'::regclass});
(undef, $o, $err) = $a->psql('copy_sql', qq{SET ROLE alice; CREATE INDEX ON $alice_store (n)});
like($err, qr/CREATE INDEX is not allowed on $alice_store/, 'copy_sql: the storage owner cannot change its storage during a restore');
(undef, $o, $err) = $a->psql('copy_sql', qq{SET ROLE alice; CREATE POLICY p ON $alice_store USING (true)});
like($err, qr/CREATE POLICY is not allowed/, 'copy_sql: nor add a policy');
(undef, $o, $err) = $a->psql('copy_sql', q{SET ROLE alice;
	INSERT INTO flowview.view_catalog SELECT * FROM flowview.view_catalog WHERE id = 1});
like($err, qr/permission denied for table view_catalog/, 'copy_sql: nor write catalog rows');
(undef, $o, $err) = $a->psql('copy_sql', q{SET ROLE alice;
	SELECT flowview._restore_bind(3, 'alice_v', 't', '{x}')});
like($err, qr/permission denied for function _restore_bind/, 'copy_sql: nor bind a view to another source');
(undef, $o, $err) = $a->psql('copy_sql', q{CREATE ROLE nosu IN ROLE flowview_admin; GRANT EXECUTE ON FUNCTION
	flowview._restore_bind(int, regclass, regclass, text[]) TO nosu; SET ROLE nosu;
	SELECT flowview._restore_bind(3, 'alice_v', 't', '{x}')});
like($err, qr/only a superuser can restore live views/, 'copy_sql: _restore_bind refuses a non-superuser even with EXECUTE');
$session->quit;
check_restored($a, 'copy_sql');

# 3. another cluster (roles from pg_dumpall --roles-only), both formats
restore($b, 'copy_fc', 'custom');
check_restored($b, 'copy_fc');
restore($b, 'copy_sql', 'plain');
check_restored($b, 'copy_sql');

# the source database was not disturbed
is($a->safe_psql('src', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'source database still fresh');
is(FlowviewTest::differences($a, 'by_g', $query{by_g}, dbname => 'src'), '', 'source database: by_g equals its query');

$a->stop;
$b->stop;
done_testing();
