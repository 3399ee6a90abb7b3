# FlowviewTest: helpers for pg_flowview's Perl TAP tests.
#
#   my $node = FlowviewTest::node('name', %conf_overrides);
#
# returns an initialised (not started) PostgreSQL::Test::Cluster configured
# as pg_flowview needs: wal_level = logical, pg_flowview preloaded and, where
# this PostgreSQL build has the setting, listed in output_plugin_libraries.
# An override with value undef leaves that setting out.
package FlowviewTest;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;

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

1;
