# The CDC stream through a real walsender: pg_recvlogical -P pg_flowview
# writes one JSON object per line; a consumer that stops and restarts
# continues where it confirmed.  Across a server restart delivery is
# at-least-once (PostgreSQL 15 saves a slot's confirmed position only when
# other slot state changes): no change is lost, and a repeated change is
# recognisable by its (commit_lsn, lsn).  Only REPLICATION roles may stream.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use FlowviewTest;

my $node = FlowviewTest::node('recv');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE orders (id int PRIMARY KEY, item text, qty int);
});
my $connstr = $node->connstr('postgres');

command_ok(['pg_recvlogical', '-d', $connstr, '--slot', 'cdc', '--create-slot', '-P', 'pg_flowview'],
	'pg_recvlogical creates a pg_flowview slot');

# read everything committed so far; options as pg_recvlogical passes them
# (-o name without a value means true)
sub read_stream
{
	my (@opts) = @_;
	my $endpos = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	my $file = $node->basedir . '/stream.json';
	unlink $file;
	my @cmd = ('pg_recvlogical', '-d', $connstr, '--slot', 'cdc', '--start',
		'--endpos', $endpos, '--no-loop', '-f', $file, map { ('-o', $_) } @opts);
	my ($stdout, $stderr);
	IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr, IPC::Run::timeout(60))
	  or die "pg_recvlogical failed: $stderr";
	my @lines = grep { length } split /\n/, slurp_file($file);
	return map { decode_json($_) } @lines;
}

$node->safe_psql('postgres', q{
	INSERT INTO orders VALUES (1, 'apple', 2), (2, 'pear', 1);
	UPDATE orders SET qty = 3 WHERE id = 1;
	DELETE FROM orders WHERE id = 2;
	BEGIN; INSERT INTO orders VALUES (9, 'rolled back', 0); ROLLBACK;
});
# force a commit after the last change so --endpos lands beyond it
$node->safe_psql('postgres', "SELECT pg_logical_emit_message(true, 'x', 'y')");

my %seen;
sub key { my $c = shift; return ($c->{commit_lsn} // $c->{source}{ts_ms}) . '/' . ($c->{lsn} // $c->{source}{lsn}); }

my @changes = read_stream('include-transaction');
$seen{ key($_) } = 1 for grep { $_->{op} =~ /^[cud]$/ } @changes;
my @ops = map { $_->{op} } @changes;
is(join(',', @ops), 'B,c,c,C,B,u,C,B,d,C', 'ops in commit order with transaction markers');
is($changes[1]{after}{item}, 'apple', 'typed values: text');
is($changes[1]{after}{qty}, 2, 'typed values: integer');
like($changes[1]{commit_time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'commit_time is ISO 8601');
is($changes[5]{before}, undef, 'update without REPLICA IDENTITY FULL: before is null');

# a second read continues after what the first one confirmed
$node->safe_psql('postgres', "INSERT INTO orders VALUES (3, 'plum', 5)");
@changes = read_stream();
is(scalar(@changes), 1, 'second read: only the new change');
is($changes[0]{after}{id}, 3, '... the insert of id 3');
$seen{ key($_) } = 1 for @changes;

# across a server restart: the new change, plus at most repeats of seen ones
$node->restart;
$node->safe_psql('postgres', "INSERT INTO orders VALUES (4, 'fig', 1)");
@changes = read_stream();
my @new = grep { !$seen{ key($_) } } @changes;
is(scalar(@new), 1, 'after a restart: exactly one change not seen before');
is($new[0]{after}{id}, 4, '... the insert of id 4');
is($changes[-1]{after}{id}, 4, '... and it comes last');

# format=debezium through the walsender
$node->safe_psql('postgres', "INSERT INTO orders VALUES (5, 'kiwi', 1)");
@changes = read_stream('format=debezium');
is($changes[-1]{source}{table}, 'orders', 'Debezium envelope: source.table');
is($changes[-1]{op}, 'c', 'Debezium envelope: op');

# streaming needs the REPLICATION attribute (PostgreSQL enforces it)
$node->safe_psql('postgres', 'CREATE ROLE analyst LOGIN');
my ($stdout, $stderr);
my $ok = IPC::Run::run(['pg_recvlogical', '-d', $node->connstr('postgres') . ' user=analyst',
		'--slot', 'cdc', '--start', '--endpos', '0/1', '-f', '-'],
	'>', \$stdout, '2>', \$stderr, IPC::Run::timeout(60));
ok(!$ok, 'a role without REPLICATION cannot stream');
like($stderr, qr/permission denied|must be superuser or replication role/, '... permission error');

$node->stop;
done_testing();
