# An error while the worker populates one view (its owner lost SELECT on the
# source) puts that view in state error with the reason; the worker goes on
# with the other views (no crash loop), and GRANT + refresh_view recovers.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('backfill_error');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE ROLE own LOGIN IN ROLE flowview_admin;
	GRANT CREATE ON SCHEMA public TO own;
	CREATE TABLE os (g int);
	ALTER TABLE os REPLICA IDENTITY FULL;
	INSERT INTO os VALUES (1), (1), (2);
	GRANT SELECT ON os TO own;
	CREATE TABLE rs (g int);
	INSERT INTO rs VALUES (1);
	SELECT flowview.create_view('rsv', 'SELECT g, count(*) FROM rs GROUP BY g');
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('rsv', '30 s')"), 't', 'the other view is live');
my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply'");

# the worker is held while own's view is created, then own loses SELECT
$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$node->safe_psql('postgres', q{
	SET ROLE own;
	SELECT flowview.create_view('public.ov', 'SELECT g, count(*) AS c FROM public.os GROUP BY g');
});
$node->safe_psql('postgres', 'REVOKE SELECT ON os FROM own; SELECT flowview.resume_apply()');
ok($node->poll_query_until('postgres', "SELECT state FROM flowview.views WHERE view = 'ov'::regclass", 'error'),
	'the view whose owner lost SELECT goes to error');
like($node->safe_psql('postgres', "SELECT error FROM flowview.views WHERE view = 'ov'::regclass"),
	qr/permission denied for table os/, 'with the reason');

$node->safe_psql('postgres', 'INSERT INTO rs VALUES (1), (3)');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('rsv', '30 s')"), 't',
	'the other view stays fresh');
is(FlowviewTest::differences($node, 'rsv', 'SELECT g, count(*) FROM rs GROUP BY g'), '', 'and equals its query');
is($node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply'"),
	$pid, 'the worker did not restart');
is($node->safe_psql('postgres', "SELECT count(*) FROM flowview.views WHERE worker_problem IS NOT NULL"), '0',
	'no worker problem reported');

# recovery: the grant back, then refresh_view by the owner
$node->safe_psql('postgres', 'GRANT SELECT ON os TO own; INSERT INTO os VALUES (2), (4)');
$node->safe_psql('postgres', "SET ROLE own; SELECT flowview.refresh_view('public.ov')");
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('ov', '30 s')"), 't', 'fresh after GRANT and refresh_view');
is(FlowviewTest::differences($node, 'ov', 'SELECT g, count(*) AS c FROM os GROUP BY g'), '', 'ov equals its query');

$node->stop;
done_testing();
