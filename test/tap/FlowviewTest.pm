# FlowviewTest: helpers for pg_flowview's Perl TAP tests.
#
#   my $node = FlowviewTest::node('name', %conf_overrides);
#
# returns an initialised (not started) PostgreSQL::Test::Cluster configured
# as pg_flowview needs: wal_level = logical, pg_flowview preloaded and, where
# this PostgreSQL build has the setting, listed in output_plugin_libraries.
# An override with value undef leaves that setting out.
#
#   my $diff = FlowviewTest::differences($node, 'view', 'SELECT ...');
#
# the oracle check: the rows in the live view but not in its defining query
# and the other way round (EXCEPT ALL both ways), one per line prefixed
# "view only: " or "query only: "; '' when they are equal.  The query is
# compared as a whole (a set operation in it does not bind to the EXCEPT).  Equal because
# both are empty proves nothing (a view that never received a row equals a
# query over an empty table): then it returns "both empty: ..." unless the
# caller expects that, with
#
#   FlowviewTest::differences($node, 'view', 'SELECT ...', empty_ok => 1);
#
# dbname => NAME compares in that database instead of postgres.
#
#   my $seed = FlowviewTest::seed();
#
# a randomised test's seed: FV_SEED if set, else a random one; printed (so a
# failing run can be repeated with FV_SEED=...) and given to srand.
package FlowviewTest;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;

sub seed
{
	my $seed = $ENV{FV_SEED} // int(rand(1_000_000));
	Test::More::note("seed $seed (rerun with FV_SEED=$seed)");
	Test::More::diag("seed $seed");
	srand($seed);
	return $seed;
}

# Does this server build have output_plugin_libraries?
sub has_plugin_list
{
	my $out = `postgres --describe-config 2>/dev/null`;
	return $out =~ /^output_plugin_libraries\t/m ? 1 : 0;
}

sub node
{
	my ($name, %over) = @_;
	my %conf = (
		wal_level => 'logical',
		shared_preload_libraries => "'pg_flowview'",
		max_replication_slots => 10,
		max_wal_senders => 10,
		max_prepared_transactions => 10,
		(has_plugin_list()
			? (output_plugin_libraries => "'pgoutput, test_decoding, pg_flowview, wal2json'")
			: ()),
		%over);
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	my $text = '';
	for my $k (sort keys %conf)
	{
		next unless defined $conf{$k};
		$text .= "$k = $conf{$k}\n";
	}
	$node->append_conf('postgresql.conf', $text);
	return $node;
}

sub differences
{
	my ($node, $view, $query, %opt) = @_;
	my $db = $opt{dbname} // 'postgres';
	my $diff = $node->safe_psql($db, qq{
		SELECT string_agg(side || ': ' || r, E'\n') FROM (
		  SELECT 'view only' AS side, x::text AS r FROM (SELECT * FROM $view EXCEPT ALL SELECT * FROM ($query) q) x
		  UNION ALL
		  SELECT 'query only', x::text FROM (SELECT * FROM ($query) q EXCEPT ALL SELECT * FROM $view) x) d}) // '';
	return $diff if $diff ne '' || $opt{empty_ok};
	my $rows = $node->safe_psql($db, "SELECT count(*) FROM (SELECT * FROM $view) v");
	return $rows eq '0' ? "both empty: $view and its query have no rows" : '';
}

1;
