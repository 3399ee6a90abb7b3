# A live view's former OIDs.  A change of columns (alter_view,
# rollback_view) replaces the user-facing view: a new OID under the same
# name.  A caller may hold the old OID: a regclass argument is resolved when
# its statement is parsed, and the swap may commit before the function
# reads the catalog.  Here the old OID is taken before the change and used
# only after the swap has committed (the race made deterministic):
# wait_for_freshness, alter_view and rollback_view given it act on the view
# (as the owner and as a reader), through several changes, also while a
# change is pending; an OID that was never a live view's, and the OIDs of a
# dropped view, still give "is not a live view".  With 0.3's SQL objects
# (no former OIDs recorded) the swap still works, and after the update the
# next change records them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('former');
$node->start;

my %versions = (
	1 => 'SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g',
	2 => 'SELECT g::text AS grp, count(*) AS n, sum(x) AS s FROM t GROUP BY g::text',
	3 => 'SELECT g, count(*) AS n, max(x) AS top FROM t GROUP BY g',
	4 => 'SELECT g, count(*) AS n, max(x) AS top, min(x) AS low FROM t GROUP BY g',
);

$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id int PRIMARY KEY, g int NOT NULL, x int NOT NULL);
	INSERT INTO t SELECT i, i % 10, i FROM generate_series(1, 1000) i;
	SELECT flowview.create_view('v', '$versions{1}');
	CREATE ROLE dashboard LOGIN IN ROLE flowview_reader;
	GRANT SELECT ON v TO dashboard;
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v', '60 s')"), 't', 'view live');

# wait_for_freshness(OID::regclass, timeout) in a session of its own:
# "t"/"f", or the error
sub wait_oid
{
	my ($oid, $timeout, %opt) = @_;
	my $sql = "SELECT flowview.wait_for_freshness(${oid}::regclass, '$timeout')";
	$sql = "SET ROLE $opt{role}; $sql" if $opt{role};
	my ($rc, $out, $err) = $node->psql($opt{db} // 'postgres', $sql);
	return $rc == 0 ? $out : "error: $err";
}

sub view_oid
{
	my ($db) = @_;
	return $node->safe_psql($db // 'postgres', "SELECT 'v'::regclass::oid");
}

# poll until version $version is current (swapped in), then return the view's OID
sub swapped
{
	my ($version, $db) = @_;
	ok($node->poll_query_until($db // 'postgres',
			"SELECT current FROM flowview.view_versions WHERE view = 'v'::regclass AND version = $version"),
		"version $version swapped in");
	return view_oid($db);
}

# 1. a change of columns: the old OID names nothing, and stands for the view
my $oid1 = view_oid();
is($node->safe_psql('postgres', "SELECT flowview.alter_view('v', '$versions{2}')"), '2', 'alter_view: version 2');
my $oid2 = swapped(2);
isnt($oid2, $oid1, 'the change of columns replaced the view (a new OID)');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE oid = $oid1"), '0', 'the old OID names nothing');
is(wait_oid($oid1, '30 s'), 't', 'wait_for_freshness(old OID) after the swap: true');
is(wait_oid($oid1, '30 s', role => 'dashboard'), 't', 'and as a reader of the view');
is(FlowviewTest::differences($node, 'v', $versions{2}), '', 'the view equals version 2');

# 2. it waits for the view, not for nothing: stale while the worker is paused
$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$node->safe_psql('postgres', 'INSERT INTO t SELECT i, i % 10, i FROM generate_series(1001, 1100) i');
is(wait_oid($oid1, '1 s'), 'f', 'wait_for_freshness(old OID): false while the view lags');
$node->safe_psql('postgres', 'SELECT flowview.resume_apply()');
is(wait_oid($oid1, '60 s'), 't', 'true once it has caught up');
is(FlowviewTest::differences($node, 'v', $versions{2}), '', 'the view equals version 2 after the writes');

# 3. alter_view given the oldest OID, and waits by old OIDs across a
# pending change and its swap
$node->safe_psql('postgres', 'SELECT flowview.pause_apply()');
is($node->safe_psql('postgres', "SELECT flowview.alter_view(${oid1}::regclass, '$versions{3}')"), '3',
	'alter_view(old OID): version 3 of the view');
is(wait_oid($oid1, '1 s'), 'f', 'wait_for_freshness(old OID): false while the change is pending');
$node->safe_psql('postgres', 'SELECT flowview.resume_apply()');
is(wait_oid($oid2, '60 s'), 't', 'wait_for_freshness(OID of version 2) returns true, across the swap');
my $oid3 = swapped(3);
ok($oid3 ne $oid1 && $oid3 ne $oid2, 'version 3 is a new view again');
is(wait_oid($oid1, '30 s'), 't', 'wait_for_freshness(first OID): true');
is(FlowviewTest::differences($node, 'v', $versions{3}), '', 'the view equals version 3');

# 4. a change that keeps the columns keeps the OID and the former ones
is($node->safe_psql('postgres', "SELECT flowview.alter_view('v', '$versions{4}')"), '4', 'alter_view: version 4 adds a column');
is(swapped(4), $oid3, 'the view kept its OID');
is($node->safe_psql('postgres', q{SELECT former_oids FROM flowview.view_catalog WHERE view_oid = 'v'::regclass}),
	"{$oid1,$oid2}", 'former_oids: the two replaced views, oldest first');
is(wait_oid($oid2, '30 s'), 't', 'wait_for_freshness(OID of version 2): true');

# 5. rollback_view given old OIDs: back to version 3 (a column fewer than
# 4: replaced again), then to version 2
is($node->safe_psql('postgres', "SELECT flowview.rollback_view(${oid2}::regclass)"), '3', 'rollback_view(old OID): to version 3');
my $oid4 = swapped(3);
ok(!grep({ $_ eq $oid4 } ($oid1, $oid2, $oid3)), 'version 3 again: a new view');
is($node->safe_psql('postgres', "SELECT flowview.rollback_view(${oid1}::regclass)"), '2', 'rollback_view(first OID): to version 2');
my $oid5 = swapped(2);
ok(!grep({ $_ eq $oid5 } ($oid1, $oid2, $oid3, $oid4)), 'version 2 again: a new view');
is(wait_oid($oid1, '30 s'), 't', 'wait_for_freshness(first OID): true');
is(wait_oid($oid4, '30 s', role => 'dashboard'), 't', 'wait_for_freshness(OID of version 3 again) as the reader: true');
is(FlowviewTest::differences($node, 'v', $versions{2}), '', 'the view equals version 2');
is($node->safe_psql('postgres', q{SELECT former_oids FROM flowview.view_catalog WHERE view_oid = 'v'::regclass}),
	"{$oid1,$oid2,$oid3,$oid4}", 'former_oids: the four replaced views');

# 6. no following where there is nothing to follow
$node->safe_psql('postgres', 'CREATE TABLE gone (a int)');
my $gone = $node->safe_psql('postgres', "SELECT 'gone'::regclass::oid");
$node->safe_psql('postgres', 'DROP TABLE gone');
like(wait_oid($gone, '5 s'), qr/"$gone" is not a live view/, 'an OID that was never a live view: not a live view');
like(wait_oid($node->safe_psql('postgres', "SELECT 't'::regclass::oid"), '5 s'), qr/"t" is not a live view/,
	'a table: not a live view');
$node->safe_psql('postgres', "SELECT flowview.drop_view('v')");
like(wait_oid($oid1, '5 s'), qr/"$oid1" is not a live view/, 'a dropped view\'s former OID: not a live view');
like(wait_oid($oid5, '5 s'), qr/"$oid5" is not a live view/, 'the dropped view\'s OID: not a live view');

# 7. 0.3's SQL objects: no former OIDs recorded, the swap works; after the
# update the next change records the replaced view's OID
$node->safe_psql('postgres', 'CREATE DATABASE old_sql');
$node->safe_psql('old_sql', qq{
	CREATE EXTENSION pg_flowview VERSION '0.3';
	CREATE TABLE t (id int PRIMARY KEY, g int NOT NULL, x int NOT NULL);
	INSERT INTO t SELECT i, i % 10, i FROM generate_series(1, 500) i;
	SELECT flowview.create_view('v', '$versions{1}');
});
is($node->safe_psql('old_sql', "SELECT flowview.wait_for_freshness('v', '60 s')"), 't', '0.3: view live');
my $old1 = view_oid('old_sql');
is($node->safe_psql('old_sql', "SELECT flowview.alter_view('v', '$versions{2}')"), '2', '0.3: alter_view');
isnt(swapped(2, 'old_sql'), $old1, '0.3: the change of columns swapped in (a new view)');
is($node->safe_psql('old_sql', "SELECT flowview.wait_for_freshness('v', '60 s')"), 't', '0.3: fresh');
is(FlowviewTest::differences($node, 'v', $versions{2}, dbname => 'old_sql'), '', '0.3: the view equals version 2');
$node->safe_psql('old_sql', 'ALTER EXTENSION pg_flowview UPDATE');
my $old2 = view_oid('old_sql');
is($node->safe_psql('old_sql', "SELECT flowview.alter_view('v', '$versions{3}')"), '3', 'updated: alter_view');
isnt(swapped(3, 'old_sql'), $old2, 'updated: the change of columns swapped in');
is(wait_oid($old2, '30 s', db => 'old_sql'), 't', 'updated: wait_for_freshness(old OID): true');
is(FlowviewTest::differences($node, 'v', $versions{3}, dbname => 'old_sql'), '', 'updated: the view equals version 3');

unlike(slurp_file($node->logfile), qr/terminated by signal|was abandoned/, 'no crash, no change abandoned');
$node->stop;
done_testing();
