# The source is bound by OID in a view's generated SQL (issue 11): the
# stored statements name it with a token that fv_with_source replaces only
# where it is a relation name, so a string constant of the user's query
# that contains the token keeps its value in the backfill, the apply, the
# min/max re-reads and refresh_view.  A source column named like the token
# is refused.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('source_token');
$node->start;
my $q = q{SELECT k, count(*) AS n, sum(n) FILTER (WHERE k <> '__flowview_source__') AS s,
                 min(n) FILTER (WHERE k LIKE '%__flowview_source__%') AS lo
            FROM t WHERE k <> 'zz__flowview_source__' GROUP BY k};
$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (k text, n int);
	INSERT INTO t VALUES ('a__flowview_source__b', 1), ('x', 2), ('__flowview_source__', 3),
	                     ('zz__flowview_source__', 4);
	SELECT flowview.create_view('tv', \$q\$$q\$q\$);
});
is(FlowviewTest::differences($node, 'tv', $q), '', 'created: equals its query');
is($node->safe_psql('postgres', "SELECT count(*) FROM tv"), '3', 'three groups');

$node->safe_psql('postgres', q{
	INSERT INTO t VALUES ('a__flowview_source__b', 5), ('__flowview_source__', 7), ('zz__flowview_source__', 1);
	DELETE FROM t WHERE k = 'a__flowview_source__b' AND n = 1;
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('tv', '30 s')"), 't', 'applied');
is(FlowviewTest::differences($node, 'tv', $q), '', 'applied: equals its query');

$node->safe_psql('postgres', "SELECT flowview.refresh_view('tv')");
is(FlowviewTest::differences($node, 'tv', $q), '', 'refresh_view: equals its query at once');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('tv', '30 s')"), 't', 'live again');
is(FlowviewTest::differences($node, 'tv', $q), '', 'repopulated by the worker: equals its query');

$node->safe_psql('postgres', 'ALTER TABLE t RENAME TO "t __flowview_source__"');
$q =~ s/FROM t /FROM "t __flowview_source__" /;
$node->safe_psql('postgres', q{INSERT INTO "t __flowview_source__" VALUES ('x', 10)});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('tv', '30 s')"), 't', 'renamed source: applied');
$node->safe_psql('postgres', "SELECT flowview.refresh_view('tv')");
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('tv', '30 s')"), 't', 'renamed source: refreshed');
is(FlowviewTest::differences($node, 'tv', $q), '', 'renamed source: equals its query');

my ($rc, $out, $err) = $node->psql('postgres', q{
	CREATE TABLE t2 (__flowview_source__ int);
	SELECT flowview.create_view('tv2', 'SELECT count(*) FROM t2')});
like($err, qr/a source column named __flowview_source__ is not supported in a live view/, 'token-named column refused');
$node->stop;
done_testing();
