# Source-change matrix, plain source (issue 11, part 3): every ALTER TABLE,
# TRUNCATE, RULE, INHERIT and create_view variant that changes a view's
# plain source (and so the live views over them, rollups), run while two
# writers insert, update and delete (rows
# stamped up to 15 s in the past, so a sliding window's rows leave it all
# along).  After
# each, either the change was refused with an error naming the view, or,
# once fresh, every view is live and equals its query.  Seed printed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;
use SourceChangeMatrix;

my ($node, $seed) = SourceChangeMatrix::start_node('srcchg_plain', q{
	CREATE TABLE plain (id bigserial PRIMARY KEY, g int, x int, pad text, spare int,
	                    ts timestamptz DEFAULT now() - random() * interval '15 seconds');
	CREATE INDEX ON plain (ts);
	INSERT INTO plain (g, x, pad) SELECT i % 7, i, 'p' || i FROM generate_series(1, 3000) i;
	CREATE TABLE other_parent ();
});

my $table = 'plain';
my %views = (
	v_plain    => sub { "SELECT g, count(*) AS n, sum(x) AS s, min(x) AS lo, max(x) AS hi FROM $table GROUP BY g" },
	v_plain_ms => sub { "SELECT g, count(*) AS n, min(x) AS lo, max(x) AS hi FROM $table WHERE x % 3 <> 0 GROUP BY g" },
	v_plain_gl => sub { "SELECT count(*) AS n, sum(x) FILTER (WHERE g < 3) AS s FROM $table" },
	v_plain_win => sub { "SELECT g, count(*) AS n, sum(x) AS s, max(x) AS hi FROM $table WHERE ts > now() - interval '10 seconds' GROUP BY g" },
	# a rollup over v_plain: follows whatever its upstream goes through
	v_plain_sum => "SELECT count(*) AS groups, sum(n) AS n, sum(s) AS s, max(hi) AS hi, min(lo) AS lo FROM v_plain",
);
SourceChangeMatrix::create_views($node, \%views, 'v_plain_ms');

# the writers: new rows, updates that move rows between groups and remove
# extremes, deletes
my $m = SourceChangeMatrix->new($node, $seed, \%views, q{
	INSERT INTO plain (g, x, pad) VALUES ((random() * 8)::int, (random() * 5000)::int, 'w');
	UPDATE plain SET x = x + 1, g = (random() * 8)::int
	 WHERE id = (SELECT max(id) FROM plain) - (random() * 100)::int;
	DELETE FROM plain WHERE id = (SELECT min(id) FROM plain) + (random() * 100)::int;
});
$m->check_views('start');

my $named = qr/live view public\.v_plain/;

# shape changes the views follow
$m->step('ADD COLUMN', 'ALTER TABLE plain ADD COLUMN added int DEFAULT 7');
$m->step('DROP COLUMN of an unused column', 'ALTER TABLE plain DROP COLUMN added');
$m->step('ALTER COLUMN TYPE of an unused column (rewrite)', 'ALTER TABLE plain ALTER COLUMN spare TYPE bigint');
$m->step('RENAME COLUMN of an unused column', 'ALTER TABLE plain RENAME COLUMN spare TO spare2');
$m->step('VACUUM FULL (rewrite)', 'VACUUM FULL plain');
$table = 'plain_renamed';
$m->step('RENAME of the table', 'ALTER TABLE plain RENAME TO plain_renamed');
$table = 'plain';
$m->step('RENAME back', 'ALTER TABLE plain_renamed RENAME TO plain');
$m->step('SET LOGGED (already logged)', 'ALTER TABLE plain SET LOGGED');
$m->step('REPLICA IDENTITY FULL (unchanged)', 'ALTER TABLE plain REPLICA IDENTITY FULL');
# set back to FULL at the end of the statement (event trigger), so the
# updates and deletes that follow carry their old rows
for my $ri ('DEFAULT', 'NOTHING', 'USING INDEX plain_pkey')
{
	$m->step("REPLICA IDENTITY $ri", "ALTER TABLE plain REPLICA IDENTITY $ri");
	is($node->safe_psql('postgres', "SELECT relreplident FROM pg_class WHERE oid = 'plain'::regclass"),
		'f', "REPLICA IDENTITY $ri: FULL again");
}
$m->step('INHERIT from another table (the source as child)', 'ALTER TABLE plain INHERIT other_parent');
$m->step('NO INHERIT', 'ALTER TABLE plain NO INHERIT other_parent');
$m->step('TRUNCATE', 'TRUNCATE plain');
$m->step('rows again', 'INSERT INTO plain (g, x) SELECT i % 5, i FROM generate_series(1, 500) i');

# refused, naming the view
$m->step('ALTER COLUMN TYPE of a used column', 'ALTER TABLE plain ALTER COLUMN x TYPE bigint',
	qr/cannot alter type of column "x" of table "plain": $named/);
$m->step('RENAME COLUMN of a used column', 'ALTER TABLE plain RENAME COLUMN g TO g2',
	qr/cannot rename column "g" of table "plain": $named/);
$m->step('DROP COLUMN of a used column', 'ALTER TABLE plain DROP COLUMN x',
	qr/cannot drop column x of table plain because other objects depend on it/);
$m->step('SET UNLOGGED', 'ALTER TABLE plain SET UNLOGGED',
	qr/cannot set table "plain" unlogged: $named/);
$m->step('CREATE TABLE ... INHERITS the source', 'CREATE TABLE child () INHERITS (plain)',
	qr/cannot make a table inherit from table "plain": $named/);
$m->step('ALTER TABLE child INHERIT the source',
	'CREATE TABLE child2 (id bigint, g int, x int, pad text, spare2 bigint); '
	  . 'INSERT INTO child2 VALUES (0, 1, 1); ALTER TABLE child2 INHERIT plain',
	qr/cannot make a table inherit from table "plain": $named/);
$m->step('CREATE RULE "_RETURN" (turn the source into a view)',
	q{CREATE RULE "_RETURN" AS ON SELECT TO plain DO INSTEAD SELECT 0::bigint AS id, 1 AS g, 2 AS x, ''::text AS pad, 0::bigint AS spare2},
	qr/cannot turn table "plain" into a view: $named/);
$m->step('create_view over another view\'s storage',
	q{SELECT flowview.create_view('v_store', 'SELECT count(*) FROM flowview.fv_store_1')},
	qr/pg_flowview's own tables \(the storage of live views, its catalogs\) are not supported in a live view/);
$m->step('create_view over another view\'s output',
	q{SELECT flowview.create_view('v_out', 'SELECT count(*) FROM flowview.fv_out_1')},
	qr/views as sources are not supported/);
$m->step('DROP TABLE of the source', 'DROP TABLE plain',
	qr/cannot drop table plain because other objects depend on it/);

$m->finish;
# the worker never crashed or restarted: one "starting logical decoding" per start
unlike(slurp_file($node->logfile), qr/terminated by signal|exited with exit code/, 'no worker crash');
$node->stop;
done_testing();
