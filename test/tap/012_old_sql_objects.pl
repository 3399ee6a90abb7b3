# The upgrade window: the server runs the current library while a database
# still has the SQL objects of an earlier release (0.1 or 0.2: the library
# was installed and the server restarted, ALTER EXTENSION pg_flowview UPDATE
# has not run yet).  Every function those objects have is called with
# plausible, NULL and malformed arguments (FlowviewCalls): none crashes a
# backend or gives an internal error (XX000), the extension stays at its old
# version, and the live view keeps equalling its query under writes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;
use FlowviewCalls;

my $query = 'SELECT g, org, count(*) AS n, sum(v) AS s FROM src GROUP BY g, org';
for my $version ('0.1', '0.2')
{
	(my $tag = $version) =~ s/\./_/;
	my $node = FlowviewTest::node("old_sql_$tag");
	$node->append_conf('postgresql.conf', "restart_after_crash = off\n");
	$node->start;
	FlowviewCalls::fixture($node, undef, version => $version);
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v1', '60 s')"), 't', "$version: v1 live");
	my $sentinel = $node->background_psql('postgres');
	$sentinel->query_safe('SELECT 1');

	my ($ncalls, $bad) = (0, 0);
	FlowviewCalls::call_all($node, sub {
		my ($what, $sql, $state, $ret, $err) = @_;
		$ncalls++;
		if ($ret == 2 || $state eq 'lost' || $state eq 'XX000' || $err =~ /FATAL|PANIC/)
		{
			$bad++;
			diag("$version objects, $what: $sql gave $state: $err");
		}
	});
	cmp_ok($ncalls, '>', 100, "$version objects: $ncalls calls made");
	is($bad, 0, "$version objects: no call lost its connection or gave an internal error");
	is($sentinel->query_safe('SELECT 42'), '42', "$version objects: sentinel session still connected");
	$sentinel->quit;
	unlike(slurp_file($node->logfile), qr/terminated by signal|server process .* was terminated/,
		"$version objects: no process terminated by a signal");

	is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'pg_flowview'"),
		$version, "$version objects: still installed as $version");
	$node->safe_psql('postgres', q{
		INSERT INTO src SELECT i, 'g' || (i % 5), 'u1', i FROM generate_series(31, 300) i;
		UPDATE src SET g = 'moved' WHERE id % 7 = 0;
		DELETE FROM src WHERE id % 11 = 0;
	});
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v1', '60 s')"), 't', "$version objects: fresh after writes");
	is(FlowviewTest::differences($node, 'v1', $query), '', "$version objects: v1 equals its query");
	$node->stop;
}
done_testing();
