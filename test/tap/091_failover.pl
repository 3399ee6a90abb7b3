# Failover: a standby cloned (pg_basebackup -R, streaming) while the primary's
# apply worker lags (paused), promoted while writers keep writing to the old
# primary.  The new primary has the views' recorded position (the replication
# origin's progress is replayed) but no slot: its worker must recompute the
# live views from a snapshot instead of resuming from a new slot that cannot
# give the changes in between, and say so in the log.  While it cannot (a
# prepared transaction replayed from the old primary holds the new slot's
# creation) the views are 'backfilling', wait_for_freshness is false and
# freshness gives no staleness (never a false 0); afterwards, under new writes on the new
# primary, every view equals its query.  A restart with the slot resumes; a
# slot lost while the worker lagged (removed from pg_replslot, as a
# file-level restore without it) is recomputed the same way.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use File::Path;
use FlowviewTest;

my $primary = FlowviewTest::node('old_primary');
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id serial PRIMARY KEY, g int, x int);
	CREATE TABLE u (id serial PRIMARY KEY, k int);
	INSERT INTO t (g, x) SELECT i % 20, i FROM generate_series(1, 2000) i;
	INSERT INTO u (k) SELECT i % 5 FROM generate_series(1, 500) i;
	SELECT flowview.create_view('v_sum', $$SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g$$);
	SELECT flowview.create_view('v_mm', $$SELECT g, min(x) AS lo, max(x) AS hi FROM t GROUP BY g$$);
	SELECT flowview.create_view('v_u', $$SELECT k, count(*) AS n FROM u GROUP BY k$$);
});
is($primary->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views live on the old primary');
$primary->safe_psql('postgres', 'INSERT INTO t (g, x) VALUES (1, 1)');
is($primary->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't',
	'a batch applied: the origin has a position');

my %query = (
	v_sum => 'SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g',
	v_mm => 'SELECT g, min(x) AS lo, max(x) AS hi FROM t GROUP BY g',
	v_u => 'SELECT k, count(*) AS n FROM u GROUP BY k');

# the worker lags: paused, while changes accumulate
$primary->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$primary->safe_psql('postgres', q{
	INSERT INTO t (g, x) SELECT i % 25, i * 3 FROM generate_series(1, 1000) i;
	UPDATE t SET x = x + 7, g = g + 1 WHERE id % 7 = 0;
	DELETE FROM t WHERE id % 11 = 0;
	INSERT INTO u (k) SELECT i % 6 FROM generate_series(1, 300) i;
});

# the clone, while the worker lags
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('new_primary');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

# writers on the old primary during the promotion
my $script = $primary->basedir . '/writes.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
\set g random(0, 24)
\set x random(1, 5000)
\set id random(1, 3500)
INSERT INTO t (g, x) VALUES (:g, :x);
UPDATE t SET x = x + 1, g = :g WHERE id = :id;
DELETE FROM t WHERE id = :id + 13;
INSERT INTO u (k) VALUES (:g % 7);
});
my ($out, $err) = ('', '');
my $writers = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '2', '-T', '8', '-f', $script, $primary->connstr('postgres') ],
	'>', \$out, '2>', \$err);
# a prepared transaction, replayed on the standby: after the promotion it
# holds the new slot's creation, so the recompute's window can be looked at
$primary->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO t (g, x) VALUES (3, 33333);
	INSERT INTO u (k) VALUES (99);
	PREPARE TRANSACTION 'held';
});
sleep 2;
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
my $log_offset = -s $standby->logfile;
$standby->promote;
is($standby->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'held'"), '1',
	'the new primary has the prepared transaction');
note 'promoted while the writers write';
$writers->finish;
note "pgbench on the old primary: $err" if $err =~ /error|FATAL/i;
$primary->stop('immediate');

sub log_wait
{
	my ($re, $secs) = @_;
	for (1 .. $secs * 10)
	{
		my $log = PostgreSQL::Test::Utils::slurp_file($standby->logfile, $log_offset);
		return $1 // 1 if $log =~ $re;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

my $line = log_wait(qr/(LOG:  pg_flowview: replication slot "pg_flowview_\d+" is missing while 3 live views have a recorded position: recomputing them from a snapshot: [^\n]*)/, 60);
ok($line, 'the new primary logs the recompute');
note $line;
like($line, qr/public\.v_sum \(applied up to [0-9A-F]+\/[0-9A-F]+\)/, 'the LOG line names the views and their positions');
ok(log_wait(qr/DETAIL:  The replication origin's position is [0-9A-F]+\/[0-9A-F]+/, 5), 'and the origin position');

# the window: the slot waits for the prepared transaction
ok(log_wait(qr/creating replication slot "pg_flowview_\d+" waits for prepared transaction 'held'/, 30),
	'the new slot waits for the prepared transaction');
is($standby->safe_psql('postgres', "SELECT string_agg(DISTINCT state, ',') FROM flowview.views"), 'backfilling',
	'during the recompute the views are backfilling');
is($standby->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '1 s')"), 'f',
	'wait_for_freshness is false during the recompute');
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM flowview.freshness WHERE staleness IS NOT NULL OR state <> 'backfilling'"), '0',
	'freshness claims no staleness while recomputing');
$standby->safe_psql('postgres', 'INSERT INTO t (g, x) VALUES (5, 555)');
$standby->safe_psql('postgres', "COMMIT PREPARED 'held'");

ok(log_wait(qr/created replication slot "pg_flowview_\d+" at [0-9A-F]+\/[0-9A-F]+/, 60), 'a new slot is created');

# new writes on the new primary
$standby->pgbench('--no-vacuum --client=2 --time=3', 0, [qr{processed: [1-9]}],
	[qr{^(?:pgbench: setting random seed to \d+\s*)?$}], 'writers on the new primary',
	{ '091_writes' => PostgreSQL::Test::Utils::slurp_file($script) });
is($standby->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '90 s')"), 't', 'fresh again on the new primary');
for my $v (sort keys %query)
{
	is(FlowviewTest::differences($standby, $v, $query{$v}), '', "$v equals its query after the failover");
}
is($standby->safe_psql('postgres', "SELECT string_agg(DISTINCT state, ',') FROM flowview.views"), 'live', 'all live');
is($standby->safe_psql('postgres', 'SELECT n FROM v_u WHERE k = 99'), '1',
	'the prepared transaction committed on the new primary is in the view');
ok(log_wait(qr/live view \d+ populated/, 5), 'the views were repopulated');
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pg_flowview_%'"), '1', 'one slot');

# a restart of the new primary resumes (the slot exists now): no second recompute
$log_offset = -s $standby->logfile;
$standby->restart;
$standby->safe_psql('postgres', 'INSERT INTO t (g, x) VALUES (8, 8888)');
is($standby->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'fresh after a restart');
is(FlowviewTest::differences($standby, 'v_sum', $query{v_sum}), '', 'v_sum equals its query after the restart');
unlike(PostgreSQL::Test::Utils::slurp_file($standby->logfile, $log_offset), qr/is missing while/,
	'no recompute when the slot is there');

# the same rule without a failover: the slot is gone (a file-level restore
# without pg_replslot, say) while the worker lagged
$standby->safe_psql('postgres', 'SELECT flowview.pause_apply()');
$standby->safe_psql('postgres', q{
	INSERT INTO t (g, x) SELECT i % 30, i FROM generate_series(1, 500) i;
	DELETE FROM t WHERE id % 13 = 0;
	INSERT INTO u (k) SELECT i % 4 FROM generate_series(1, 50) i;
});
my $dboid = $standby->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
$standby->stop;
File::Path::rmtree($standby->data_dir . "/pg_replslot/pg_flowview_$dboid");
$log_offset = -s $standby->logfile;
$standby->start;
ok(log_wait(qr/replication slot "pg_flowview_$dboid" is missing while 3 live views have a recorded position/, 60),
	'a lost slot: the views are recomputed');
is($standby->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'fresh after the recompute');
for my $v (sort keys %query)
{
	is(FlowviewTest::differences($standby, $v, $query{$v}), '', "$v equals its query after the slot was lost");
}

$standby->stop;
done_testing();
