# The privilege model across ALTER EXTENSION pg_flowview UPDATE (0.1 ->
# 0.2).  With the 0.1 SQL objects the worker keeps applying a min/max view
# a flowview_admin member owns (0.1 gives owners no EXECUTE on
# flowview._reread, so the worker runs such statements as itself, as 0.1
# did); after the update the same view's statements run as its owner: the
# owner losing SELECT on the source puts the view in error with the reason,
# and regaining it plus refresh_view repairs it.  The update also takes
# INSERT on flowview.alert_catalog away from flowview_admin, and alert rules
# made under 0.1 keep firing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('privilege_upgrade');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview VERSION '0.1';
	CREATE ROLE fv_admin LOGIN IN ROLE flowview_admin;
	CREATE TABLE src (id int PRIMARY KEY, g text, x int);
	ALTER TABLE src REPLICA IDENTITY FULL;
	INSERT INTO src SELECT i, 'g' || i % 3, i FROM generate_series(1, 90) i;
	GRANT SELECT ON src TO fv_admin;
	GRANT CREATE ON SCHEMA public TO fv_admin;
	SET ROLE fv_admin;
	SELECT flowview.create_view('mm', $$SELECT g, count(*) AS n, min(x) AS lo, max(x) AS hi FROM src GROUP BY g$$);
	SELECT flowview.create_alert('big groups', 'mm', 'n > 1000');
});
my $query = 'SELECT g, count(*) AS n, min(x) AS lo, max(x) AS hi FROM src GROUP BY g';

sub state_of
{
	return $node->safe_psql('postgres', q{SELECT state || coalesce(': ' || error, '') FROM flowview.views WHERE view = 'mm'::regclass});
}

# 0.1 objects: deletes of minimums make the worker re-read from the source
$node->safe_psql('postgres', 'DELETE FROM src WHERE id <= 6; UPDATE src SET x = x + 1000 WHERE id > 84');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('mm', '60 s')"), 't', '0.1: caught up');
is(state_of(), 'live', '0.1: the admin\'s min/max view stays live');
is(FlowviewTest::differences($node, 'mm', $query), '', '0.1: the view equals its query');

$node->safe_psql('postgres', 'ALTER EXTENSION pg_flowview UPDATE');
is($node->safe_psql('postgres', q{SELECT e.extversion = a.default_version FROM pg_extension e, pg_available_extensions a
	WHERE e.extname = 'pg_flowview' AND a.name = e.extname}), 't', 'updated to the default version');

$node->safe_psql('postgres', 'DELETE FROM src WHERE id <= 12; UPDATE src SET x = x - 500 WHERE id > 80');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('mm', '60 s')"), 't', 'updated: caught up');
is(state_of(), 'live', 'updated: the view stays live');
is(FlowviewTest::differences($node, 'mm', $query), '', 'updated: the view equals its query');

# now the apply runs as the owner: without SELECT on the source, it cannot
$node->safe_psql('postgres', 'REVOKE SELECT ON src FROM fv_admin');
$node->safe_psql('postgres', 'DELETE FROM src WHERE id = 13');
$node->poll_query_until('postgres', q{SELECT state = 'error' FROM flowview.views WHERE view = 'mm'::regclass})
  or die 'the view did not go to error';
like(state_of(), qr/^error: permission denied for table src/, '0.2: the apply runs as the owner (no SELECT: error, with the reason)');
$node->safe_psql('postgres', q{GRANT SELECT ON src TO fv_admin; SET ROLE fv_admin; SELECT flowview.refresh_view('mm')});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('mm', '60 s')"), 't', 'refreshed');
is(state_of(), 'live', 'live again after GRANT and refresh_view');
is(FlowviewTest::differences($node, 'mm', $query), '', 'the view equals its query again');

# alert rules: written only through create_alert after the update
my ($rc, $out, $err) = $node->psql('postgres', q{SET ROLE fv_admin;
	INSERT INTO flowview.alert_catalog (name, view_oid, condition, channel, owner)
	VALUES ('forged', 'mm'::regclass, 'true', 'x', 10)});
like($err, qr/permission denied for table alert_catalog/, 'a forged rule is refused after the update');
is($node->safe_psql('postgres', q{SELECT name || ' ' || owner::text || ' ' || coalesce(last_error, 'ok') FROM flowview.alerts}),
	'big groups fv_admin ok', 'the 0.1 rule is kept, owned by its creator');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'fv_admin'}), 'f', 'the admin is no superuser');

$node->stop;
done_testing();
