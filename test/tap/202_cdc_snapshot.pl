# What a CDC consumer expects of a source connector (issue 15, part 4):
# - an initial snapshot: a slot created over the replication protocol with
#   EXPORT_SNAPSHOT while pgbench writes; flowview.cdc_snapshot() read in
#   that snapshot, then the slot's changes, replayed by key, give exactly
#   the table at the end: no change missing, none twice (an insert of a key
#   the consumer holds, an update or delete of one it lacks, fail);
# - heartbeats: a pg_recvlogical consumer of a quiet table, while another
#   table is busy, keeps confirming a moving position (the slot does not pin
#   WAL);
# - transaction metadata: BEGIN/END markers with per-table counts.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use FlowviewTest;

my $seed = FlowviewTest::seed();
my $node = FlowviewTest::node('cdc_snapshot');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE acct (id int PRIMARY KEY, owner text, balance numeric(12,2), ts timestamptz);
	INSERT INTO acct SELECT i, 'o' || i, i, '2026-01-01' FROM generate_series(1, 500) i;
	CREATE TABLE quiet (id int PRIMARY KEY);
});

# the writers: inserts of new keys, updates and deletes of random ones
my $script = PostgreSQL::Test::Utils::tempdir . '/w.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
\set k random(1, 3000)
\set r random(1, 3)
BEGIN;
INSERT INTO acct VALUES (:k + 1000 * :r, 'n', :k, now()) ON CONFLICT (id) DO UPDATE SET balance = acct.balance + 1;
UPDATE acct SET balance = balance - 1, owner = owner || 'x' WHERE id = :k;
DELETE FROM acct WHERE id = :k + 7 AND :r = 1;
COMMIT;
});
my $bench = IPC::Run::start([ 'pgbench', '-n', '-c', '2', '-T', '6', '-f', $script, '-h', $node->host, '-p', $node->port,
	'postgres' ], '>', \my $bout, '2>', \my $berr);
sleep 1;

# the slot and its snapshot, over a replication connection kept open until
# the snapshot has been read
my ($rin, $rout, $rerr) = ('', '', '');
my $repl = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres') . ' replication=database' ],
	'<', \$rin, '>', \$rout, '2>', \$rerr);
$rin .= "CREATE_REPLICATION_SLOT snap LOGICAL pg_flowview EXPORT_SNAPSHOT;\n";
my $deadline = time + 30;
$repl->pump until $rout =~ /\n/ || time > $deadline;
my (undef, undef, $snapshot) = split /\|/, (split /\n/, $rout)[0];
like($snapshot // '', qr/^[0-9A-F]+-[0-9A-F]+-\d+$/, "the slot exported snapshot $snapshot");
sleep 1;    # the writers go on
my $rows = $node->safe_psql('postgres', qq{
	BEGIN ISOLATION LEVEL REPEATABLE READ;
	SET TRANSACTION SNAPSHOT '$snapshot';
	SELECT * FROM flowview.cdc_snapshot(ARRAY['tables', 'public.acct']);
	COMMIT;
});
$rin .= "\\q\n";
$repl->finish;
$bench->finish;
like($bout, qr/number of transactions actually processed: [1-9]/, 'pgbench wrote while the snapshot was taken');

my %have;
my $snapshot_rows = 0;
for my $l (split /\n/, $rows)
{
	my $c = decode_json($l);
	$have{ $c->{after}{id} } = $c->{after};
	$snapshot_rows++;
	die "not a snapshot row: $l" unless $c->{op} eq 'r' && !defined $c->{before} && $c->{table} eq 'acct';
}
ok($snapshot_rows > 400, "the snapshot has $snapshot_rows rows, as op r");

# the stream after the snapshot, replayed by key
my ($bad, %ops) = (0);
for my $l (split /\n/, $node->safe_psql('postgres',
	q{SELECT data FROM pg_logical_slot_get_changes('snap', NULL, NULL, 'tables', 'public.acct')}))
{
	my $c = decode_json($l);
	my $id = ($c->{after} // $c->{before})->{id};
	$ops{ $c->{op} }++;
	if ($c->{op} eq 'c') { $bad++, diag("insert of held key $id") if exists $have{$id}; $have{$id} = $c->{after}; }
	elsif ($c->{op} eq 'u') { $bad++, diag("update of missing key $id") unless exists $have{$id}; $have{$id} = $c->{after}; }
	elsif ($c->{op} eq 'd') { $bad++, diag("delete of missing key $id") unless exists $have{$id}; delete $have{$id}; }
}
is($bad, 0, 'no change repeats the snapshot or misses a row: ' . join(', ', map { "$_ $ops{$_}" } sort keys %ops));
ok(($ops{c} // 0) > 0 && ($ops{u} // 0) > 0 && ($ops{d} // 0) > 0, 'the stream had inserts, updates and deletes');
my %now;
for my $l (split /\n/, $node->safe_psql('postgres', q{
	BEGIN ISOLATION LEVEL REPEATABLE READ;
	SELECT * FROM flowview.cdc_snapshot(ARRAY['tables', 'public.acct']);
	COMMIT;}))
{
	my $c = decode_json($l);
	$now{ $c->{after}{id} } = $c->{after};
}
my $json = JSON::PP->new->canonical;
is(join("\n", map { $json->encode($have{$_}) } sort { $a <=> $b } keys %have),
	join("\n", map { $json->encode($now{$_}) } sort { $a <=> $b } keys %now),
	'snapshot + changes = the table now (' . scalar(keys %now) . ' rows), value for value');

# transaction metadata: per-table counts in the END marker
$node->safe_psql('postgres', q{SELECT 'x' FROM pg_create_logical_replication_slot('meta', 'pg_flowview')});
$node->safe_psql('postgres', q{BEGIN; INSERT INTO acct VALUES (90001, 'm', 1, now()), (90002, 'm', 2, now()); INSERT INTO quiet VALUES (1); COMMIT;});
my @meta = map { decode_json($_) } split /\n/, $node->safe_psql('postgres',
	q{SELECT data FROM pg_logical_slot_get_changes('meta', NULL, NULL, 'include-transaction', 'on', 'format', 'debezium')});
is($json->encode($meta[-1]{data_collections}),
	'[{"data_collection":"public.acct","event_count":2},{"data_collection":"public.quiet","event_count":1}]',
	'the END marker counts the transaction\'s changes per table');
is($meta[-1]{status} . ':' . $meta[-1]{event_count}, 'END:3', 'and in all');

# heartbeats: a consumer of a quiet table while another is busy
$node->safe_psql('postgres', q{SELECT 'x' FROM pg_create_logical_replication_slot('hb', 'pg_flowview')});
my $start = $node->safe_psql('postgres', q{SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'hb'});
my $recv = IPC::Run::start([ 'pg_recvlogical', '-d', $node->connstr('postgres'), '-S', 'hb', '--start', '-o', 'tables=public.quiet',
	'-s', '1', '-F', '1', '-f', PostgreSQL::Test::Utils::tempdir . '/hb.out' ], '2>', \my $recv_err);
my $moved = 0;
for my $i (1 .. 30)
{
	$node->safe_psql('postgres', "INSERT INTO acct SELECT 100000 + $i * 100 + g, 'b', g, now() FROM generate_series(1, 50) g");
	sleep 0.5;
	$moved = $node->safe_psql('postgres', qq{SELECT confirmed_flush_lsn > '$start'::pg_lsn + 4096 FROM pg_replication_slots WHERE slot_name = 'hb'}) eq 't';
	last if $moved && $i >= 4;
}
$recv->kill_kill;
ok($moved, "a consumer of a quiet table confirms a moving position while another table is busy (from $start to "
	. $node->safe_psql('postgres', q{SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'hb'}) . ')');

# bad calls
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM flowview.cdc_snapshot()});
like($err, qr/must run in a REPEATABLE READ/, 'outside REPEATABLE READ: refused');

done_testing();
