# DROP DATABASE of a database with live views.  Its apply worker holds the
# database's logical slot, and PostgreSQL refuses to drop a database with an
# active slot even WITH (FORCE): pg_flowview stops the worker first (and
# keeps it from being restarted), dropdb drops the then inactive slot, and
# the replication origin goes too.
#   1. WITH (FORCE) while a session is connected to the database: dropped;
#      no slot, no origin, no worker left, none comes back.
#   2. plain DROP DATABASE with no other session: dropped the same way.
#   3. plain DROP DATABASE with another session connected: the usual
#      "being accessed by other users" error; the worker comes back and the
#      views stay fresh.
#   4. a role that does not own the database: "must be owner", the worker
#      is left alone; so is it by a DROP inside a transaction block.
#   5. DROP ... WITH (FORCE) right after create_view, while the worker is
#      starting and creating its slot, 5 times: nothing left behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FlowviewTest;

my $node = FlowviewTest::node('dropdb');
$node->start;

sub make_db
{
	my ($db, $wait) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
		CREATE EXTENSION pg_flowview;
		CREATE TABLE t (id serial PRIMARY KEY, g int, x int);
		INSERT INTO t (g, x) SELECT i % 5, i FROM generate_series(1, 100) i;
		SELECT flowview.create_view('v', $$SELECT g, count(*), sum(x) FROM t GROUP BY g$$);
	});
	return $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = '$db'") unless $wait;
	is($node->safe_psql($db, "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', "$db: view live");
	return $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = '$db'");
}

sub leftovers
{
	my ($oid) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pg_flowview_$oid')
		    || '|' || (SELECT count(*) FROM pg_replication_origin WHERE roname = 'pg_flowview_$oid')
		    || '|' || (SELECT count(*) FROM pg_stat_activity WHERE datid = $oid)});
}

sub idle_session
{
	my ($db) = @_;
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr($db), '-c', 'SELECT pg_sleep(120)' ],
		'>', \$o, '2>', \$e);
	$node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = '$db' AND query LIKE '%pg_sleep(120)%'")
	  or die 'idle session did not start';
	return $h;
}

# 1. WITH (FORCE), a session connected
my $oid1 = make_db('d1', 1);
is(leftovers($oid1) =~ /^1\|1\|/ ? 'ok' : leftovers($oid1), 'ok', 'd1 has its slot and origin');
my $session = idle_session('d1');
my $offset = -s $node->logfile;
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP DATABASE d1 WITH (FORCE)');
is($ret, 0, 'DROP DATABASE ... WITH (FORCE) of a database with live views works');
is($stderr, '', 'without an error') or diag $stderr;
$session->finish;
is(leftovers($oid1), '0|0|0', 'no slot, origin or session of d1 left');
sleep 3;	# the launcher looks every second
is(leftovers($oid1), '0|0|0', 'and none comes back (no worker restarted)');
unlike(slurp_file($node->logfile, $offset), qr/created replication slot "pg_flowview_$oid1"/,
	'no new slot was created during the drop');

# 2. plain DROP DATABASE, no other session
my $oid2 = make_db('d2', 1);
($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP DATABASE d2');
is($ret, 0, 'plain DROP DATABASE works while the worker runs (no other session)');
is($stderr, '', 'without an error') or diag $stderr;
is(leftovers($oid2), '0|0|0', 'no slot, origin or worker of d2 left');

# 3. plain DROP DATABASE, another session connected
my $oid3 = make_db('d3', 1);
my $pid_before = $node->safe_psql('postgres', "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'pg_flowview_$oid3'");
$session = idle_session('d3');
($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP DATABASE d3');
isnt($ret, 0, 'plain DROP DATABASE with another session connected fails');
like($stderr, qr/database "d3" is being accessed by other users/, 'with the usual error');
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid()");
$session->finish;
my $back = 0;
for (1 .. 100)
{
	$back = $node->safe_psql('postgres',
		"SELECT active_pid IS NOT NULL FROM pg_replication_slots WHERE slot_name = 'pg_flowview_$oid3'");
	last if $back eq 't';
	select(undef, undef, undef, 0.1);
}
is($back, 't', 'the worker is back on the slot within 10 s');
$node->safe_psql('d3', 'INSERT INTO t (g, x) VALUES (1, 1000)');
is($node->safe_psql('d3', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'd3 fresh again');
is(FlowviewTest::differences($node, 'v', 'SELECT g, count(*), sum(x) FROM t GROUP BY g', dbname => 'd3'), '',
	'd3: the view equals its query');

# 4. not the owner
$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');
$pid_before = $node->safe_psql('postgres', "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'pg_flowview_$oid3'");
($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP DATABASE d3 WITH (FORCE)', extra_params => [ '-U', 'mallory' ]);
like($stderr, qr/must be owner of database d3/, 'a role that does not own the database cannot drop it');
is($node->safe_psql('postgres', "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'pg_flowview_$oid3'"),
	$pid_before, 'and its worker was left alone');
($ret, $stdout, $stderr) = $node->psql('postgres', "BEGIN; DROP DATABASE d3 WITH (FORCE); COMMIT;");
like($stderr, qr/DROP DATABASE cannot run inside a transaction block/, 'in a transaction block: the usual refusal');
is($node->safe_psql('postgres', "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'pg_flowview_$oid3'"),
	$pid_before, 'and the worker was not stopped for it');
($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP DATABASE d3 WITH (FORCE)');
is($ret, 0, 'd3 dropped by its owner');
is(leftovers($oid3), '0|0|0', 'nothing of d3 left');

# 5. right after create_view: the worker is starting, creating its slot
for my $round (1 .. 5)
{
	my $oid = make_db("r$round", 0);
	select(undef, undef, undef, 0.05 * $round);
	($ret, $stdout, $stderr) = $node->psql('postgres', "DROP DATABASE r$round WITH (FORCE)");
	is($ret, 0, "round $round: dropped while its worker starts") or diag $stderr;
	sleep 2 if $round == 5;
	is(leftovers($oid), '0|0|0', "round $round: nothing left behind");
}
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots"), '0', 'no slot at all');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_origin"), '0', 'no origin at all');

$node->stop;
done_testing();
