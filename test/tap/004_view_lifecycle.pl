# Lifecycle: the apply worker starts with the first live view, dropping the
# last view drops the database's slot and origin (no WAL retained) and ends
# the worker; DROP EXTENSION leaves no slot, origin or worker behind; the
# worker comes back after a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('life');
$node->start;
my $count_sql = q{SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pg_flowview_%')
	|| ',' || (SELECT count(*) FROM pg_replication_origin WHERE roname LIKE 'pg_flowview_%')
	|| ',' || (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply')};

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id int PRIMARY KEY, g int);
	INSERT INTO t SELECT i, i % 3 FROM generate_series(1, 10) i;
});
$node->poll_query_until('postgres', $count_sql, '0,0,0') or die;
is($node->safe_psql('postgres', $count_sql), '0,0,0', 'no views: no slot, origin or worker');

$node->safe_psql('postgres', q{SELECT flowview.create_view('v1', $$SELECT g, count(*) FROM t GROUP BY g$$)});
$node->safe_psql('postgres', q{SELECT flowview.create_view('v2', $$SELECT count(*) FROM t$$)});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '30 s')"), 't', 'views live');
is($node->safe_psql('postgres', $count_sql), '1,1,1', 'one slot, one origin, one worker');

$node->restart;
$node->safe_psql('postgres', 'INSERT INTO t VALUES (100, 1)');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v1', '30 s')"), 't', 'fresh after a restart');
is($node->safe_psql('postgres', 'SELECT count FROM v1 WHERE g = 1'), '5', 'the insert after the restart is there');

$node->safe_psql('postgres', q{SELECT flowview.drop_view('v1')});
is($node->safe_psql('postgres', $count_sql), '1,1,1', 'one view left: slot kept');
$node->safe_psql('postgres', q{SELECT flowview.drop_view('v2')});
ok($node->poll_query_until('postgres', $count_sql, '0,0,0'), 'last view dropped: slot, origin and worker gone');

$node->safe_psql('postgres', q{SELECT flowview.create_view('v3', $$SELECT g, count(*) FROM t GROUP BY g$$)});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '30 s')"), 't', 'a new view brings the worker back');
$node->safe_psql('postgres', 'DROP EXTENSION pg_flowview CASCADE');
ok($node->poll_query_until('postgres', $count_sql, '0,0,0'), 'DROP EXTENSION: no slot, origin or worker left');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'v3'"), '0', 'CASCADE dropped the view');

$node->stop;
done_testing();
