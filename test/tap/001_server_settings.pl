# CREATE EXTENSION refuses a server that cannot run pg_flowview, with an error
# naming the setting to change; nothing is left half-created.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my ($ret, $stdout, $stderr);
my $node = FlowviewTest::node('settings', wal_level => 'replica');
$node->start;

sub create_extension
{
	$stderr = '';
	return $node->psql('postgres', 'CREATE EXTENSION pg_flowview', stderr => \$stderr);
}

sub no_schema
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_namespace WHERE nspname = 'flowview'") eq '0';
}

# 1. wal_level below logical
isnt(create_extension(), 0, 'wal_level = replica: CREATE EXTENSION fails');
like($stderr, qr/pg_flowview requires wal_level = logical/, '... saying what is required');
like($stderr, qr/ALTER SYSTEM SET wal_level = logical/, '... and how to fix it');
ok(no_schema(), '... leaving no schema behind');

# 2. not preloaded
$node->append_conf('postgresql.conf', "wal_level = logical\nshared_preload_libraries = ''\n");
$node->restart;
isnt(create_extension(), 0, 'not preloaded: CREATE EXTENSION fails');
like($stderr, qr/must be loaded via shared_preload_libraries/, '... naming shared_preload_libraries');
ok(no_schema(), '... leaving no schema behind');

# 3. not an allowed output plugin (only in builds that have the setting)
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_flowview'\n");
SKIP:
{
	skip 'this PostgreSQL build has no output_plugin_libraries', 5
	  unless FlowviewTest::has_plugin_list();
	$node->append_conf('postgresql.conf',
		"output_plugin_libraries = 'pgoutput, test_decoding'\n");
	$node->restart;
	isnt(create_extension(), 0, 'pg_flowview not in output_plugin_libraries: CREATE EXTENSION fails');
	like($stderr, qr/pg_flowview is not listed in output_plugin_libraries/, '... naming the setting');
	like($stderr, qr/ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, pg_flowview/,
		'... and the command that fixes it');
	ok(no_schema(), '... leaving no schema behind');

	# the fix from the hint: an unquoted list with ALTER SYSTEM, then reload
	$node->safe_psql('postgres',
		'ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, pg_flowview, wal2json');
	$node->reload;
	is($node->safe_psql('postgres', 'SHOW output_plugin_libraries'),
		'pgoutput, test_decoding, pg_flowview, wal2json', 'ALTER SYSTEM with the unquoted list');
}
$node->restart;

# 4. all good
is(create_extension(), 0, 'correct settings: CREATE EXTENSION succeeds');
is($node->safe_psql('postgres', "SELECT extname FROM pg_extension WHERE extname = 'pg_flowview'"),
	'pg_flowview', 'extension installed');
$node->safe_psql('postgres', 'DROP EXTENSION pg_flowview');
ok(no_schema(), 'DROP EXTENSION removes the flowview schema');

$node->stop;
done_testing();
