# Collect mode (the apply worker's batches) cannot be switched on by a
# client: the former internal option "flowview-apply", sent through
# pg_logical_slot_get_changes or pg_recvlogical, is an unknown option (22023)
# and nothing crashes; the slot then still decodes as JSON, and the apply
# worker still keeps its views live.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('plugin_option');
$node->append_conf('postgresql.conf', "restart_after_crash = off\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id int PRIMARY KEY, g int);
	SELECT pg_create_logical_replication_slot('client', 'pg_flowview');
	INSERT INTO t SELECT i, i % 3 FROM generate_series(1, 10) i;
	SELECT flowview.create_view('tv', 'SELECT g, count(*) AS n FROM t GROUP BY g');
});
my $sentinel = $node->background_psql('postgres');
$sentinel->query_safe('SELECT 1');

for my $value (q{'on'}, q{''})
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT count(*) FROM pg_logical_slot_get_changes('client', NULL, NULL, 'flowview-apply', $value)");
	isnt($ret, 2, "get_changes with flowview-apply = $value keeps its connection");
	like($err, qr/ERROR:  22023: option "flowview-apply" is not recognized/,
		"flowview-apply = $value is an unknown option");
}

# pg_recvlogical: the walsender refuses it as well
my ($stdout, $stderr);
IPC::Run::run(['pg_recvlogical', '-d', $node->connstr('postgres'), '-S', 'client', '--start',
	'-o', 'flowview-apply', '-f', '-', '--no-loop', '-E', 'FFFFFFFF/FFFFFFFF'],
	'>', \$stdout, '2>', \$stderr, IPC::Run::timeout(60));
like($stderr, qr/option "flowview-apply" is not recognized/, 'pg_recvlogical: unknown option');

# the slot still works for a client, as JSON
my $json = $node->safe_psql('postgres',
	"SELECT data FROM pg_logical_slot_get_changes('client', NULL, NULL) LIMIT 1");
like($json, qr/^\{"op":"c","schema":"public","table":"t"/, 'the client slot decodes as JSON');

is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('tv', '60 s')"), 't', 'view live');
$node->safe_psql('postgres', 'INSERT INTO t SELECT i, i % 3 FROM generate_series(11, 20) i');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('tv', '60 s')"), 't', 'view fresh');
is(FlowviewTest::differences($node, 'tv', 'SELECT g, count(*) AS n FROM t GROUP BY g'), '',
	'the apply worker still collects its batches');
is($sentinel->query_safe('SELECT 42'), '42', 'sentinel session still connected');
$sentinel->quit;
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no process terminated by a signal');
$node->stop;
done_testing();
