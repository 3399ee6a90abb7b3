# Extension upgrades: the released 0.1 install script is unchanged; a database
# on 0.1 with live views is updated with ALTER EXTENSION while writers write,
# and its views then equal their queries; an updated database and a fresh
# install have the same objects in schema flowview.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(sha256_hex);
use FlowviewTest;

# 0.1 as released (commit 479beb5): never edit it, write an upgrade script
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
is(sha256_hex(slurp_file("$sharedir/extension/pg_flowview--0.1.sql")),
	'cd77556eaeba64cb23702bed29a16bff68c610201a29d4b5d37ecc34225e912a',
	'the installed 0.1 script is the released one');
# 0.2 as released (issue 11): its update script never changes either
is(sha256_hex(slurp_file("$sharedir/extension/pg_flowview--0.1--0.2.sql")),
	'f5524174ca137ad0c321a34f614267d9015aa82c108fbb1d01702ab0eb6c339b',
	'the installed 0.1--0.2 script is the released one');
# 0.3 as released (issue 12)
is(sha256_hex(slurp_file("$sharedir/extension/pg_flowview--0.2--0.3.sql")),
	'bf4bb7fb5f3b6808df080d64c14cd607436d344e7f1156f8e0c11dfd4fa0ea73',
	'the installed 0.2--0.3 script is the released one');

my $node = FlowviewTest::node('upgrade');
$node->start;
$node->safe_psql('postgres', q{
	CREATE DATABASE fresh;
	CREATE EXTENSION pg_flowview VERSION '0.1';
	CREATE TABLE t (id int PRIMARY KEY, g int, x numeric);
	INSERT INTO t SELECT i, i % 7, i FROM generate_series(1, 1000) i;
	SELECT flowview.create_view('by_g', $$SELECT g, count(*), sum(x), min(x), max(x) FROM t GROUP BY g$$);
	SELECT flowview.set_freshness_sla('by_g', '5 s');
	SELECT flowview.create_alert('big', 'by_g', 'count > 1000000');
	SELECT flowview.add_org_unit('hq');
	SELECT flowview.add_org_unit('east', 'hq');
	CREATE ROLE analyst LOGIN;
	SELECT flowview.assign_role('analyst', 'east');
	CREATE TABLE r (id int PRIMARY KEY, unit text, x int);
	INSERT INTO r SELECT i, CASE WHEN i % 2 = 0 THEN 'east' ELSE 'west' END, i FROM generate_series(1, 100) i;
	SELECT flowview.create_view('by_unit', $$SELECT unit, count(*) AS n, sum(x) AS s FROM r GROUP BY unit$$);
	SELECT flowview.enable_org_security('by_unit', 'unit');
	GRANT SELECT ON by_unit, by_g TO analyst;
});
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'pg_flowview'"),
	'0.1', 'installed as 0.1');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('by_g', '30 s')"), 't', 'live on 0.1');

# writers keep writing through the update
my $writer = $node->background_psql('postgres', on_error_stop => 1);
$writer->query_until(qr/started/, q{
	\echo started
	DO $$BEGIN FOR i IN 1001..4000 LOOP
	  INSERT INTO t VALUES (i, i % 7, i);
	  IF i % 3 = 0 THEN DELETE FROM t WHERE id = i - 1000; END IF;
	  IF i % 50 = 0 THEN COMMIT; END IF;
	END LOOP; END$$;
});
$node->safe_psql('postgres', 'ALTER EXTENSION pg_flowview UPDATE');
$writer->quit;

is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'pg_flowview'"),
	$node->safe_psql('postgres', "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_flowview'"),
	'updated to the default version');
$node->safe_psql('postgres', 'UPDATE t SET g = g + 1 WHERE id % 5 = 0');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('by_g', '30 s')"), 't', 'fresh after the update');
is(FlowviewTest::differences($node, 'by_g',
	'SELECT g, count(*), sum(x), min(x), max(x) FROM t GROUP BY g'), '',
	'the view equals its query: nothing lost or counted twice across the update');
is($node->safe_psql('postgres', "SELECT state FROM flowview.views WHERE view = 'by_g'::regclass"), 'live', 'still live');
$node->safe_psql('postgres', 'INSERT INTO r VALUES (101, \'east\', 101)');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('by_unit', '30 s')"), 't', 'the secured view is fresh');
is(FlowviewTest::differences($node, 'by_unit', 'SELECT unit, count(*) AS n, sum(x) AS s FROM r GROUP BY unit'), '',
	'the secured view equals its query (as its owner)');
is($node->safe_psql('postgres', 'SET ROLE analyst; SELECT unit, n, s FROM by_unit'), 'east|51|2651',
	'grants and organisation security carried across the update: the analyst reads only east');
is($node->safe_psql('postgres', 'SET ROLE analyst; SELECT count(*) FROM by_g'), '8', 'the analyst still reads by_g (groups 0 to 7)');

# a database on 0.2 (the second release) updates to the default version too
$node->safe_psql('postgres', 'CREATE DATABASE on02');
$node->safe_psql('on02', q{
	CREATE EXTENSION pg_flowview VERSION '0.2';
	CREATE TABLE t (id int PRIMARY KEY, g int, x numeric);
	INSERT INTO t SELECT i, i % 5, i FROM generate_series(1, 500) i;
	SELECT flowview.create_view('by_g', $$SELECT g, count(*), sum(x) FROM t GROUP BY g$$);
});
is($node->safe_psql('on02', "SELECT flowview.wait_for_freshness('by_g', '30 s')"), 't', 'live on 0.2');
$node->safe_psql('on02', 'ALTER EXTENSION pg_flowview UPDATE; DELETE FROM t WHERE id % 4 = 0');
is($node->safe_psql('on02', "SELECT flowview.wait_for_freshness('by_g', '30 s')"), 't', '0.2 database fresh after the update');
is(FlowviewTest::differences($node, 'by_g', 'SELECT g, count(*), sum(x) FROM t GROUP BY g', dbname => 'on02'), '',
	'0.2 database: the view equals its query after the update');

# min/max 'rescan' over two group keys, a group's second key NULL: the
# statements of views written by the libraries of 0.2 and 0.3 re-read such a
# group with plain equality (its min/max became NULL); the update repairs
# them, and the worker drops the plans it kept of the old ones.  The view is
# made by this library, so its statements are rewritten as they were.
$node->safe_psql('postgres', 'CREATE DATABASE on02b');
$node->safe_psql('on02b', q{
	CREATE EXTENSION pg_flowview VERSION '0.2';
	CREATE TABLE t2 (id int PRIMARY KEY, g int, h int, x numeric);
	INSERT INTO t2 SELECT i, i % 3, CASE WHEN i % 2 = 0 THEN i % 4 END, i FROM generate_series(1, 60) i;
	SELECT flowview.create_view('by_gh', $$SELECT g, h, count(*) AS n, min(x) AS lo, max(x) AS hi FROM t2 GROUP BY g, h$$);
	UPDATE flowview.view_catalog
	   SET apply_sql = ARRAY(SELECT regexp_replace(u.s, 'NOT \((__fv_s\.g1 IS NOT NULL AND __fv_s\.g2 IS NOT NULL)\)', 'NOT \1', 'g')
	                           FROM unnest(apply_sql) WITH ORDINALITY u(s, o) ORDER BY u.o);
});
is($node->safe_psql('on02b', q{SELECT count(*) FROM flowview.view_catalog, unnest(apply_sql) s WHERE s ~ 'NOT __fv_s\.g1 IS NOT NULL AND'}),
	'1', '(the view has the statement of the earlier libraries)');
is($node->safe_psql('on02b', "SELECT flowview.wait_for_freshness('by_gh', '30 s')"), 't', 'two-key view live on 0.2');
my $gh = 'SELECT g, h, count(*) AS n, min(x) AS lo, max(x) AS hi FROM t2 GROUP BY g, h';
# the defect: removing the extremes of the groups (g, NULL) leaves them NULL
$node->safe_psql('on02b', q{DELETE FROM t2 WHERE h IS NULL AND id IN (SELECT min(id) FROM t2 WHERE h IS NULL GROUP BY g)});
is($node->safe_psql('on02b', "SELECT flowview.wait_for_freshness('by_gh', '30 s')"), 't', 'two-key view fresh on 0.2');
like(FlowviewTest::differences($node, 'by_gh', $gh, dbname => 'on02b'), qr/view only: \(0,,\d+,,/,
	'(with the statement of the earlier libraries the (0, NULL) group lost its minimum)');
$node->safe_psql('on02b', 'ALTER EXTENSION pg_flowview UPDATE');
is($node->safe_psql('on02b', q{SELECT count(*) FROM flowview.view_catalog, unnest(apply_sql) s WHERE s ~ 'NOT __fv_s\\.g1 IS NOT NULL AND'}),
	'0', 'the update repaired the statement');
is($node->safe_psql('on02b', "SELECT flowview.wait_for_freshness('by_gh', '30 s')"), 't', 'two-key view recomputed after the update');
is(FlowviewTest::differences($node, 'by_gh', $gh, dbname => 'on02b'), '', 'the update recomputed the wrong minimums');
# remove the extremes of the groups (g, NULL) again
$node->safe_psql('on02b', q{DELETE FROM t2 WHERE h IS NULL AND (id IN (55, 59) OR id IN (SELECT min(id) FROM t2 WHERE h IS NULL GROUP BY g))});
is($node->safe_psql('on02b', "SELECT flowview.wait_for_freshness('by_gh', '30 s')"), 't', 'two-key view fresh after the update');
is(FlowviewTest::differences($node, 'by_gh', $gh, dbname => 'on02b'), '',
	'the two-key view equals its query after its NULL-key groups lost their extremes again');

# an updated database has what a fresh install has
$node->safe_psql('fresh', 'CREATE EXTENSION pg_flowview');
my $objects = q{
	SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
	 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_flowview')
	 ORDER BY 1};
my $defs = q{
	SELECT p.oid::regprocedure || ' ' || pg_get_functiondef(p.oid) FROM pg_proc p
	 WHERE pronamespace = 'flowview'::regnamespace AND prokind <> 'a' ORDER BY 1};
my $cols = q{
	SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
	       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
	  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
	 WHERE c.relnamespace = 'flowview'::regnamespace AND c.relname NOT LIKE 'fv\_%' ORDER BY 1};
my $acls = q{
	SELECT relname || ' ' || coalesce(relacl::text, '') FROM pg_class
	 WHERE relnamespace = 'flowview'::regnamespace AND relname NOT LIKE 'fv\_%'
	UNION ALL
	SELECT p.oid::regprocedure || ' ' || coalesce(proacl::text, '') || ' ' || prosecdef
	  FROM pg_proc p WHERE pronamespace = 'flowview'::regnamespace ORDER BY 1};
for my $q ([ 'extension members', $objects ], [ 'function definitions', $defs ],
	[ 'table columns', $cols ], [ 'privileges', $acls ])
{
	is($node->safe_psql('postgres', $q->[1]), $node->safe_psql('fresh', $q->[1]),
		"updated and fresh databases: same $q->[0]");
}

$node->stop;
done_testing();
