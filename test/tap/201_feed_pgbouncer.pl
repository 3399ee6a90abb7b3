# Changefeeds through pgbouncer in transaction pooling mode (one server
# connection shared by every client): two dashboards take snapshots and read
# the changes after their cursors, interleaved, each read a new client of
# the pool; each reconstructs exactly the view.  A direct LISTEN gets the
# notification (push needs a session: README).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);
use FlowviewTest;

my $pgbouncer = (grep { -x $_ } '/usr/sbin/pgbouncer', '/usr/bin/pgbouncer')[0];
plan skip_all => 'pgbouncer is not installed' unless $pgbouncer;

my $node = FlowviewTest::node('feed_pgbouncer');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE orders (id int PRIMARY KEY, region text, amount numeric);
	ALTER TABLE orders REPLICA IDENTITY FULL;
	INSERT INTO orders SELECT i, (ARRAY['eu', 'us', 'asia', NULL])[i % 4 + 1], i FROM generate_series(1, 40) i;
	SELECT flowview.create_view('by_region', 'SELECT region, count(*) AS n, sum(amount) AS total FROM orders GROUP BY region');
	SELECT flowview.enable_changefeed('by_region');
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'view live');

# pgbouncer: transaction pooling, one server connection, trust on its socket
my $dir = PostgreSQL::Test::Utils::tempdir;
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $user = $node->safe_psql('postgres', 'SELECT current_user');
PostgreSQL::Test::Utils::append_to_file("$dir/users.txt", qq{"$user" ""\n});
PostgreSQL::Test::Utils::append_to_file("$dir/pgbouncer.ini", join("\n",
	'[databases]',
	'postgres = host=' . $node->host . ' port=' . $node->port . ' dbname=postgres',
	'[pgbouncer]',
	"listen_port = $port",
	"unix_socket_dir = $dir",
	'auth_type = trust',
	"auth_file = $dir/users.txt",
	'pool_mode = transaction',
	'default_pool_size = 1',
	'max_client_conn = 20',
	"logfile = $dir/pgbouncer.log",
	"pidfile = $dir/pgbouncer.pid", ''));
system($pgbouncer, '-d', "$dir/pgbouncer.ini") == 0 or BAIL_OUT("pgbouncer did not start");
my $pgbouncer_pid;
for (1 .. 50) { last if -s "$dir/pgbouncer.pid"; sleep 0.1; }
$pgbouncer_pid = PostgreSQL::Test::Utils::slurp_file("$dir/pgbouncer.pid") =~ s/\s+//gr;
END { kill 'TERM', $pgbouncer_pid if $pgbouncer_pid; }
note "pgbouncer pid $pgbouncer_pid";
for (1 .. 50) { last if -S "$dir/.s.PGSQL.$port"; sleep 0.1; }

# one statement as a new client of the pool
sub pooled
{
	my ($sql) = @_;
	my ($out, $err);
	IPC::Run::run([ 'psql', '-X', '-At', '-F', '|', '-h', $dir, '-p', $port, '-d', 'postgres', '-c', $sql ],
		'>', \$out, '2>', \$err);
	die "through pgbouncer: $sql: $err" if $err ne '';
	chomp $out;
	return $out;
}

my $pid1 = pooled('SELECT pg_backend_pid()');
ok($pid1 =~ /^\d+$/ && pooled('SELECT pg_backend_pid()') eq $pid1, "two clients of the pool share one server connection ($pid1)");

# a dashboard: its rows by region, its cursor
sub snapshot
{
	my ($d) = @_;
	$d->{rows} = {};
	for my $l (split /\n/, pooled('SELECT cursor, op, coalesce(region, \'<null>\'), n, total FROM by_region_changes(NULL)'))
	{
		my ($c, $op, $r, $n, $t) = split /\|/, $l, -1;
		$d->{cursor} = $c;
		$d->{rows}{$r} = "$n|$t" if $op eq 'insert';
	}
	$d->{snapshots}++;
}

sub catch_up
{
	my ($d) = @_;
	for my $l (split /\n/, pooled("SELECT cursor, op, coalesce(region, '<null>'), n, total, old_n, old_total FROM by_region_changes('$d->{cursor}')"))
	{
		my ($c, $op, $r, $n, $t, $on, $ot) = split /\|/, $l, -1;
		if ($op eq 'resync') { snapshot($d); return; }
		$d->{cursor} = $c;
		$d->{ops}{$op}++;
		if ($op eq 'insert') { $d->{bad}++ if exists $d->{rows}{$r}; $d->{rows}{$r} = "$n|$t"; }
		elsif ($op eq 'update') { $d->{bad}++ if ($d->{rows}{$r} // '') ne "$on|$ot"; $d->{rows}{$r} = "$n|$t"; }
		elsif ($op eq 'delete') { $d->{bad}++ if ($d->{rows}{$r} // '') ne "$on|$ot"; delete $d->{rows}{$r}; }
	}
}

sub view_rows
{
	my %rows;
	for my $l (split /\n/, $node->safe_psql('postgres', q{SELECT coalesce(region, '<null>'), n, total FROM by_region}, extra_params => [ '-F', '|' ]))
	{
		my ($r, $n, $t) = split /\|/, $l, -1;
		$rows{$r} = "$n|$t";
	}
	return join(';', map { "$_=$rows{$_}" } sort keys %rows);
}

sub replay { my ($d) = @_; join(';', map { "$_=$d->{rows}{$_}" } sort keys %{ $d->{rows} }); }

my %a = (snapshots => 0, bad => 0);
my %b = (snapshots => 0, bad => 0);
snapshot(\%a);
my $next = 41;
for my $round (1 .. 12)
{
	snapshot(\%b) if $round == 1 || $round == 7;
	$node->safe_psql('postgres', join(';',
		"INSERT INTO orders VALUES ($next, 'eu', $round)" . ($round % 2 ? ", ($next + 1, 'mars', 1)" : ''),
		"UPDATE orders SET region = 'us' WHERE id = $round",
		($round % 2 ? 'SELECT 1' : "DELETE FROM orders WHERE region = 'mars'"),
		"UPDATE orders SET amount = amount + 1 WHERE region IS NULL AND id % 3 = $round % 3"));
	$next += 2;
	$node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '30 s')");
	catch_up(\%a);
	catch_up(\%b) if $round % 2 == 0;
}
catch_up(\%b);
my $view = view_rows();
is(replay(\%a), $view, "dashboard A, reading through the pool, reconstructs the view ($a{snapshots} snapshot(s))");
is(replay(\%b), $view, "dashboard B, interleaved with A, reconstructs the view ($b{snapshots} snapshot(s))");
is($a{bad} + $b{bad}, 0, 'every update and delete matched what the dashboard held, no insert of a known group');
ok($a{ops}{insert} && $a{ops}{update} && $a{ops}{delete} && $view !~ /mars/,
	"A read inserts, updates and deletes (a group, mars, came and went): "
	. join(', ', map { "$_ $a{ops}{$_}" } sort keys %{ $a{ops} }));

# push: a direct LISTEN gets the notification, its payload only a position
my $direct = $node->background_psql('postgres');
$direct->query_safe('LISTEN by_region_changes');
$node->safe_psql('postgres', "INSERT INTO orders VALUES ($next, 'eu', 1)");
$node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '30 s')");
like($direct->query_safe('SELECT 1'), qr/Asynchronous notification "by_region_changes" with payload "\d+" received/,
	'a direct LISTEN gets the notification, its payload only a position');
$direct->quit;

kill 'TERM', $pgbouncer_pid;
for (1 .. 50) { last unless kill 0, $pgbouncer_pid; sleep 0.1; }
ok(!kill(0, $pgbouncer_pid), 'pgbouncer stopped');
$pgbouncer_pid = undef;

done_testing();
