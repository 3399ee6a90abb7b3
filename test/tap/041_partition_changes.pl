# Source-change matrix, partitioned source (issue 11, part 3): partitions
# created, attached with rows (also sub-partitioned), detached (also
# CONCURRENTLY), dropped and truncated one at a time, unlogged, foreign and
# inheritance children refused, partitions renamed and altered, while two
# writers insert, update and delete through the parent.  After each change,
# either it was refused with an error naming the view, or, once fresh, every
# view is live and equals its query.  Seed printed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;
use SourceChangeMatrix;

my ($node, $seed) = SourceChangeMatrix::start_node('srcchg_parted', q{
	CREATE TABLE parted (g int, x int, k int, pad text) PARTITION BY RANGE (k);
	CREATE TABLE p0 PARTITION OF parted FOR VALUES FROM (0) TO (1000);
	CREATE TABLE p1 PARTITION OF parted FOR VALUES FROM (1000) TO (2000);
	INSERT INTO parted SELECT i % 7, i, i % 2000 FROM generate_series(1, 4000) i;
	CREATE FOREIGN DATA WRAPPER dummy_fdw;
	CREATE SERVER dummy_srv FOREIGN DATA WRAPPER dummy_fdw;
});

my %views = (
	v_parted    => 'SELECT g, count(*) AS n, sum(x) AS s, min(x) AS lo, max(x) AS hi FROM parted GROUP BY g',
	v_parted_ms => 'SELECT g, count(*) AS n, min(k) AS lo, max(k) AS hi FROM parted WHERE x % 3 <> 0 GROUP BY g',
	v_parted_gl => 'SELECT count(*) AS n, sum(x) AS s FROM parted',
);
SourceChangeMatrix::create_views($node, \%views, 'v_parted_ms');

# the writers write into p0 and p1 (k in [0, 2000)), which stay attached
my $m = SourceChangeMatrix->new($node, $seed, \%views, q{
	INSERT INTO parted (g, x, k) VALUES ((random() * 8)::int, (random() * 5000)::int, (random() * 1999)::int);
	UPDATE parted SET x = x + 1, g = (random() * 8)::int WHERE k = (random() * 1999)::int;
	DELETE FROM parted WHERE k = (random() * 1999)::int AND x % 2 = 0;
});
$m->check_views('start');

my $named = qr/live view public\.v_parted/;

$m->step('CREATE TABLE ... PARTITION OF, then rows',
	'CREATE TABLE p2 PARTITION OF parted FOR VALUES FROM (2000) TO (3000); '
	  . 'INSERT INTO parted SELECT i % 5, i, 2000 + i FROM generate_series(0, 999) i');
$m->step('ATTACH PARTITION of a table holding rows',
	'CREATE TABLE p3 (g int, x int, k int, pad text); '
	  . 'INSERT INTO p3 SELECT i % 9, i, 3000 + i FROM generate_series(0, 999) i; '
	  . 'ALTER TABLE parted ATTACH PARTITION p3 FOR VALUES FROM (3000) TO (4000)');
$m->step('ATTACH PARTITION of a partitioned table holding rows',
	'CREATE TABLE p4 (g int, x int, k int, pad text) PARTITION BY RANGE (k); '
	  . 'CREATE TABLE p4a PARTITION OF p4 FOR VALUES FROM (4000) TO (4500); '
	  . 'CREATE TABLE p4b PARTITION OF p4 FOR VALUES FROM (4500) TO (5000); '
	  . 'INSERT INTO p4 SELECT i % 4, i, 4000 + i FROM generate_series(0, 999) i; '
	  . 'ALTER TABLE parted ATTACH PARTITION p4 FOR VALUES FROM (4000) TO (5000)');
$m->step('rows into the attached partitions (REPLICA IDENTITY FULL set on attach)',
	'UPDATE parted SET x = x + 1 WHERE k >= 3000; DELETE FROM parted WHERE k >= 3000 AND k % 10 = 0');
$m->step('DETACH PARTITION', 'ALTER TABLE parted DETACH PARTITION p3');
$m->step('rows of the detached table (not counted)', 'INSERT INTO p3 VALUES (1, 1, 3001); DELETE FROM p3 WHERE k = 3002');
$m->step('DETACH PARTITION CONCURRENTLY', 'ALTER TABLE parted DETACH PARTITION p2 CONCURRENTLY');
$m->step('DETACH PARTITION of a sub-partition', 'ALTER TABLE p4 DETACH PARTITION p4b');
$m->step('ATTACH again', 'ALTER TABLE parted ATTACH PARTITION p2 FOR VALUES FROM (2000) TO (3000)');
$m->step('DROP TABLE of a partition', 'DROP TABLE p2');
$m->step('DROP TABLE of a sub-partition', 'DROP TABLE p4a');
$m->step('TRUNCATE of one partition', 'TRUNCATE p1');
$m->step('TRUNCATE of a partition and rows after it in one transaction',
	'BEGIN; TRUNCATE p0; INSERT INTO parted VALUES (3, 3, 3), (4, 4, 1004); COMMIT');
# (the parent locked first: writers lock it before its partitions, so no deadlock)
$m->step('TRUNCATE of every partition by name', 'BEGIN; LOCK TABLE parted; TRUNCATE p0, p1, p4; COMMIT');
$m->step('rows again', 'INSERT INTO parted SELECT i % 6, i, i FROM generate_series(0, 1999) i');
$m->step('ADD COLUMN', 'ALTER TABLE parted ADD COLUMN added int');
$m->step('DROP COLUMN of an unused column', 'ALTER TABLE parted DROP COLUMN pad');
$m->step('RENAME of a partition', 'ALTER TABLE p1 RENAME TO p1_renamed');
$m->step('REPLICA IDENTITY DEFAULT of a partition (set back to FULL)', 'ALTER TABLE p0 REPLICA IDENTITY DEFAULT');
is($node->safe_psql('postgres', "SELECT relreplident FROM pg_class WHERE oid = 'p0'::regclass"), 'f', 'p0: FULL again');
$m->step('TRUNCATE of the partitioned table', 'TRUNCATE parted');
$m->step('rows once more', 'INSERT INTO parted SELECT i % 6, i, i FROM generate_series(0, 1999) i');

# refused, naming the view
$m->step('SET UNLOGGED of a partition', 'ALTER TABLE p0 SET UNLOGGED',
	qr/cannot set table "p0" unlogged: $named/);
$m->step('CREATE UNLOGGED TABLE ... PARTITION OF',
	'CREATE UNLOGGED TABLE pu PARTITION OF parted FOR VALUES FROM (6000) TO (7000)',
	qr/cannot create an unlogged partition of table "parted": $named/);
$m->step('ATTACH PARTITION of an unlogged table',
	'CREATE UNLOGGED TABLE pu2 (g int, x int, k int, added int); '
	  . 'ALTER TABLE parted ATTACH PARTITION pu2 FOR VALUES FROM (7000) TO (8000)',
	qr/cannot attach an unlogged partition to table "parted": $named/);
$m->step('CREATE FOREIGN TABLE ... PARTITION OF',
	'CREATE FOREIGN TABLE pf PARTITION OF parted FOR VALUES FROM (8000) TO (9000) SERVER dummy_srv',
	qr/cannot create a foreign partition of table "parted": $named/);
$m->step('ATTACH PARTITION of a foreign table',
	'CREATE FOREIGN TABLE pf2 (g int, x int, k int, added int) SERVER dummy_srv; '
	  . 'ALTER TABLE parted ATTACH PARTITION pf2 FOR VALUES FROM (9000) TO (10000)',
	qr/cannot attach a partition that is not an ordinary table to table "parted": $named/);
$m->step('ALTER TABLE ... INHERIT a partition',
	'CREATE TABLE ic (g int, x int, k int, added int); ALTER TABLE ic INHERIT p0',
	qr/cannot inherit from a partition|cannot make a table inherit from table "p0": $named/);

$m->finish;
unlike(slurp_file($node->logfile), qr/terminated by signal|exited with exit code 1/, 'no worker crash');
$node->stop;
done_testing();
