# When the apply worker cannot make progress, flowview.views (worker_problem),
# flowview.freshness (warning) and the server log say why, with the fix; and
# once the cause is gone the views catch up and the problem is cleared.
#   1. a prepared transaction open when the worker creates its replication
#      slot: the slot waits for it, the new view stays backfilling; the
#      same with a session idle in a transaction;
#   2. a crash loop: every attempt of the worker fails (here: its database
#      was made read-only by default), it exits and restarts every second.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;
use Time::HiRes qw(usleep);

my $node = FlowviewTest::node('stalls');
$node->start;

# does the server log, from offset on, match re within 30 s?
sub log_has
{
	my ($re, $offset) = @_;
	for (1 .. 300)
	{
		return 1 if substr(slurp_file($node->logfile), $offset) =~ $re;
		usleep(100_000);
	}
	return 0;
}

# 1. a prepared transaction at slot creation
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE t (id int PRIMARY KEY, g int, v int);
	CREATE TABLE other (x int);
	INSERT INTO t SELECT i, i % 4, i FROM generate_series(1, 100) i;
	BEGIN;
	INSERT INTO other VALUES (1);
	PREPARE TRANSACTION 'fv_blocker';
});
my $offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT flowview.create_view('pv', 'SELECT g, count(*) AS n, sum(v) AS s FROM t GROUP BY g')");
ok($node->poll_query_until('postgres',
	"SELECT worker_problem LIKE '%prepared transaction ''fv_blocker''%COMMIT PREPARED or ROLLBACK PREPARED%' FROM flowview.views WHERE view = 'pv'::regclass"),
	'flowview.views says the worker waits for the prepared transaction, and the fix');
is($node->safe_psql('postgres', "SELECT state FROM flowview.views WHERE view = 'pv'::regclass"), 'backfilling', 'the view waits backfilling');
like($node->safe_psql('postgres', "SELECT warning FROM flowview.freshness WHERE view = 'pv'::regclass"),
	qr/waiting for prepared transaction 'fv_blocker'.*COMMIT PREPARED/, 'flowview.freshness says it too');
ok(log_has(qr/WARNING:  pg_flowview: creating replication slot "pg_flowview_\d+" waits for prepared transaction 'fv_blocker'.*\n.*DETAIL: .*\n.*HINT:  COMMIT PREPARED or ROLLBACK PREPARED that transaction/, $offset),
	'the log says it, with the hint');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('pv', '1 s')"), 'f', 'not fresh meanwhile');
$node->safe_psql('postgres', "COMMIT PREPARED 'fv_blocker'");
$node->safe_psql('postgres', 'CHECKPOINT');	# logs the running transactions the slot waits to see
$node->safe_psql('postgres', 'INSERT INTO t VALUES (1000, 1, 1000)');
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('pv', '120 s')"), 't', 'live once the transaction ended');
is($node->safe_psql('postgres', "SELECT worker_problem IS NULL FROM flowview.views WHERE view = 'pv'::regclass"), 't', 'problem cleared');
is($node->safe_psql('postgres', "SELECT warning IS NULL FROM flowview.freshness WHERE view = 'pv'::regclass"), 't', 'no warning left');
is(FlowviewTest::differences($node, 'pv', 'SELECT g, count(*) AS n, sum(v) AS s FROM t GROUP BY g'), '', 'pv equals its query');

# 1b. a session idle in a transaction at slot creation (a new database: its own slot)
$node->safe_psql('postgres', 'CREATE DATABASE it');
my $idle = $node->background_psql('postgres');
$idle->query_safe('BEGIN; INSERT INTO other VALUES (2)');
$node->safe_psql('it', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE u (id int PRIMARY KEY, g int);
	INSERT INTO u SELECT i, i % 2 FROM generate_series(1, 10) i;
	SELECT flowview.create_view('iv', 'SELECT g, count(*) AS n FROM u GROUP BY g');
});
ok($node->poll_query_until('it',
	"SELECT worker_problem ~ 'waiting for transaction [0-9]+ of process [0-9]+ \\(idle in transaction.*End that transaction' FROM flowview.views"),
	'flowview.views names the session idle in its transaction, and the fix');
$idle->query_safe('COMMIT');
$idle->quit;
$node->safe_psql('postgres', 'CHECKPOINT');
is($node->safe_psql('it', "SELECT flowview.wait_for_freshness('iv', '120 s')"), 't', 'iv live once the transaction ended');
is($node->safe_psql('it', 'SELECT worker_problem IS NULL FROM flowview.views'), 't', 'problem cleared');

# 2. a crash loop
$node->safe_psql('postgres', 'CREATE DATABASE ro');
$node->safe_psql('ro', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE s (id int PRIMARY KEY, g int);
	INSERT INTO s SELECT i, i % 3 FROM generate_series(1, 30) i;
	SELECT flowview.create_view('cv', 'SELECT g, count(*) AS n FROM s GROUP BY g');
});
is($node->safe_psql('ro', "SELECT flowview.wait_for_freshness('cv', '60 s')"), 't', 'cv live');
$offset = -s $node->logfile;
$node->safe_psql('postgres', 'ALTER DATABASE ro SET default_transaction_read_only = on');
# the worker takes the setting when it starts again
$node->safe_psql('postgres', q{
	SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	 WHERE backend_type = 'pg_flowview apply' AND datname = 'ro'});
$node->safe_psql('ro', 'SET default_transaction_read_only = off; INSERT INTO s VALUES (100, 1)');
ok($node->poll_query_until('ro',
	"SELECT worker_problem ~ 'the apply worker failed [0-9]+ times in a row and restarts every second: .*read-only transaction' FROM flowview.views"),
	'flowview.views says the worker is in a crash loop, with the error');
like($node->safe_psql('ro', 'SELECT warning FROM flowview.freshness'), qr/failed \d+ times? in a row.*read-only/,
	'flowview.freshness says it too');
ok(log_has(qr/WARNING:  pg_flowview: the apply worker of database \d+ keeps failing \(\d+ times in a row\).*\n.*DETAIL: .*read-only.*\n.*HINT:  Fix the cause/, $offset),
	'the log says it, with the hint');
$node->safe_psql('postgres', 'ALTER DATABASE ro RESET default_transaction_read_only');
is($node->safe_psql('ro', "SELECT flowview.wait_for_freshness('cv', '60 s')"), 't', 'cv fresh once the cause is gone');
is($node->safe_psql('ro', 'SELECT worker_problem IS NULL FROM flowview.views'), 't', 'problem cleared');
is($node->safe_psql('ro', q{
	SELECT count(*) FROM (SELECT * FROM cv EXCEPT ALL SELECT g, count(*) FROM s GROUP BY g
	                      UNION ALL
	                      (SELECT g, count(*) FROM s GROUP BY g EXCEPT ALL SELECT * FROM cv)) d}), '0',
	'cv equals its query');
$node->stop;
done_testing();
