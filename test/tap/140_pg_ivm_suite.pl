# The views pg_ivm maintains, measured against pg_flowview (issue 13).
#
# Every query for which pg_ivm's own regression tests (sql/create_immv.sql,
# sql/refresh_immv.sql, sql/pg_ivm.sql, sql/outer_join.sql and the two
# distinct queries of its isolation specs) create an IMMV successfully: 77
# queries, taken verbatim (whitespace joined onto one line; pg_ivm's column
# lists such as 'mv(v1, v2)' are a part of its view name, not of the query,
# and are left out).  The tables they read are recreated here, one schema per
# group of pg_ivm tests that shares a table set (several of them reuse a name
# such as base_t with other columns), with rows of our own.
#
# For each query: flowview.create_view.  Refused: recorded with the first
# line of the error.  Accepted: the view must equal its query (EXCEPT ALL both
# ways, FlowviewTest::differences) after it is created, after a round of
# inserts, updates and deletes on its tables (NULLs, duplicates, rows moving
# between groups and in and out of joins, writable CTEs changing several
# tables in one statement, savepoints, cascading foreign keys, a trigger
# updating the table it fires on), and after TRUNCATE of the tables and new
# rows.  An accepted view that is wrong fails the test: nothing wrong is
# allowed.  At the end "accepted N of M (P%)" and the refused queries with
# their reasons are printed, and the accepted count must not fall below the
# figure measured when this test was written.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FlowviewTest;

my $t0 = time;
my $node = FlowviewTest::node('pg_ivm_suite');
$node->start;

# Groups of tables: schema => setup, changes, what TRUNCATE and rows after it.
# The setup runs as superuser with search_path = schema, public.
my %ctx = (
	# create_immv.sql
	cimmv => {
		setup => q{CREATE TABLE t (i int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);},
		change => q{INSERT INTO t SELECT generate_series(101, 110); DELETE FROM t WHERE i < 5;
			UPDATE t SET i = i + 1000 WHERE i BETWEEN 50 AND 52; UPDATE t SET i = 3 WHERE i = 6;},
		truncate => q{TRUNCATE t; INSERT INTO t SELECT generate_series(7, 20);},
	},
	# refresh_immv.sql
	rimmv => {
		setup => q{CREATE TABLE t (i int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 5);},
		change => q{INSERT INTO t VALUES (6); INSERT INTO t VALUES (7); INSERT INTO t VALUES (8); DELETE FROM t WHERE i = 2;},
		truncate => q{TRUNCATE t; INSERT INTO t VALUES (1), (9);},
	},
	# pg_ivm.sql: two tables that lost columns, and the views over them
	ivm => {
		setup => q{
			CREATE TABLE mv_base_a (x int, i int, y int, j int);
			CREATE TABLE mv_base_b (x int, i int, y int, k int);
			ALTER TABLE mv_base_a DROP COLUMN x, DROP COLUMN y;
			ALTER TABLE mv_base_b DROP COLUMN x, DROP COLUMN y;
			INSERT INTO mv_base_a VALUES (1, 10), (2, 20), (3, 30), (4, 40), (5, 50);
			INSERT INTO mv_base_b VALUES (1, 101), (2, 102), (3, 103), (4, 104);
			CREATE FUNCTION ivm_func() RETURNS int LANGUAGE sql AS 'SELECT 1' IMMUTABLE;},
		change => q{
			INSERT INTO mv_base_b VALUES (5, 105);
			UPDATE mv_base_a SET j = 0 WHERE i = 1;
			DELETE FROM mv_base_b WHERE (i, k) = (5, 105);
			INSERT INTO mv_base_a VALUES (6, 20);
			DELETE FROM mv_base_a WHERE (i, j) = (2, 20);
			INSERT INTO mv_base_a VALUES (2, 100);
			UPDATE mv_base_a SET j = 200 WHERE (i, j) = (2, 100);
			INSERT INTO mv_base_a VALUES (1, 0), (1, 0), (2, 30), (2, 30);
			DELETE FROM mv_base_a WHERE ctid = (SELECT min(ctid) FROM mv_base_a WHERE (i, j) = (2, 30));
			INSERT INTO mv_base_a VALUES (1, 11), (1, 12), (3, 31), (3, 32), (5, 51), (5, 52);
			DELETE FROM mv_base_a WHERE (i, j) IN ((1, 12), (3, 32), (5, 50));
			INSERT INTO mv_base_a VALUES (1, 60), (6, 60), (3, 300);
			INSERT INTO mv_base_b VALUES (1, 101), (1, 111), (2, 102), (6, 106);
			UPDATE mv_base_a SET i = 1 WHERE j = 60;
			UPDATE mv_base_b SET i = 10 WHERE k = 101;
			UPDATE mv_base_b SET k = 1002 WHERE k = 102;
			DELETE FROM mv_base_b WHERE i = 2;
			WITH ai AS (INSERT INTO mv_base_a VALUES (1, 11), (2, 22) RETURNING 0),
			     bi AS (INSERT INTO mv_base_b VALUES (1, 111), (3, 133) RETURNING 0),
			     bd AS (DELETE FROM mv_base_b WHERE i = 4 RETURNING 0)
			SELECT;
			INSERT INTO mv_base_a VALUES (7, NULL), (NULL, 5), (NULL, 6);
			BEGIN; INSERT INTO mv_base_a VALUES (8, 80); SAVEPOINT s; DELETE FROM mv_base_a WHERE i = 3;
			  ROLLBACK TO SAVEPOINT s; UPDATE mv_base_b SET i = 8 WHERE k = 106; COMMIT;},
		truncate => q{TRUNCATE mv_base_a; TRUNCATE mv_base_b;
			INSERT INTO mv_base_a VALUES (1, 1), (1, 2), (2, 2), (NULL, 3);
			INSERT INTO mv_base_b VALUES (1, 7), (2, 8), (2, 9);},
	},
	# pg_ivm.sql: self-join and multiple changes of the same table
	selfj => {
		setup => q{CREATE TABLE base_t (i int, v int); INSERT INTO base_t VALUES (1, 10), (2, 20), (3, 30);},
		change => q{INSERT INTO base_t VALUES (4, 40); DELETE FROM base_t WHERE i = 1; UPDATE base_t SET v = v * 10 WHERE i = 2;
			WITH ins_t1 AS (INSERT INTO base_t VALUES (5, 50) RETURNING 1),
			     ins_t2 AS (INSERT INTO base_t VALUES (6, 60) RETURNING 1),
			     upd_t AS (UPDATE base_t SET v = v + 100 RETURNING 1),
			     dlt_t AS (DELETE FROM base_t WHERE i IN (4, 5) RETURNING 1)
			SELECT NULL;
			BEGIN; SAVEPOINT p1; INSERT INTO base_t VALUES (7, 70); RELEASE SAVEPOINT p1; INSERT INTO base_t VALUES (7, 77); COMMIT;},
		truncate => q{TRUNCATE base_t; INSERT INTO base_t VALUES (1, 1), (1, 2), (2, 3);},
	},
	# pg_ivm.sql: simultaneous changes of two tables
	simul => {
		setup => q{CREATE TABLE base_r (i int, v int); CREATE TABLE base_s (i int, v int);
			INSERT INTO base_r VALUES (1, 10), (2, 20), (3, 30); INSERT INTO base_s VALUES (1, 100), (2, 200), (3, 300);},
		change => q{WITH ins_r AS (INSERT INTO base_r VALUES (1, 11) RETURNING 1),
			     ins_r2 AS (INSERT INTO base_r VALUES (3, 33) RETURNING 1),
			     ins_s AS (INSERT INTO base_s VALUES (2, 222) RETURNING 1),
			     upd_r AS (UPDATE base_r SET v = v + 1000 WHERE i = 2 RETURNING 1),
			     dlt_s AS (DELETE FROM base_s WHERE i = 3 RETURNING 1)
			SELECT NULL;},
		truncate => q{TRUNCATE base_s; INSERT INTO base_s VALUES (1, 5), (1, 6);},
	},
	# pg_ivm.sql: foreign keys with cascades
	ri => {
		setup => q{CREATE TABLE ri1 (i int PRIMARY KEY);
			CREATE TABLE ri2 (i int PRIMARY KEY REFERENCES ri1 (i) ON UPDATE CASCADE ON DELETE CASCADE, v int);
			INSERT INTO ri1 VALUES (1), (2), (3); INSERT INTO ri2 VALUES (1), (2), (3);},
		change => q{UPDATE ri1 SET i = 10 WHERE i = 1; DELETE FROM ri1 WHERE i = 2; INSERT INTO ri1 VALUES (4), (5); INSERT INTO ri2 VALUES (4, 1);},
		truncate => q{TRUNCATE ri1 CASCADE; INSERT INTO ri1 VALUES (7), (8); INSERT INTO ri2 VALUES (8, 0);},
	},
	# pg_ivm.sql: a WITH query referenced twice
	ctemulti => {
		setup => q{CREATE TABLE base_t (i int, v int); INSERT INTO base_t VALUES (1, 10), (2, 20), (3, 30);},
		change => q{INSERT INTO base_t VALUES (4, 40); DELETE FROM base_t WHERE i = 1; UPDATE base_t SET v = v * 10 WHERE i = 2;
			WITH ins_t1 AS (INSERT INTO base_t VALUES (5, 50) RETURNING 1),
			     ins_t2 AS (INSERT INTO base_t VALUES (6, 60) RETURNING 1),
			     upd_t AS (UPDATE base_t SET v = v + 100 RETURNING 1),
			     dlt_t AS (DELETE FROM base_t WHERE i IN (4, 5) RETURNING 1)
			SELECT NULL;},
		truncate => q{TRUNCATE base_t; INSERT INTO base_t VALUES (1, 1), (1, 2);},
	},
	# pg_ivm.sql: views including NULL (four table shapes)
	null1 => {
		setup => q{CREATE TABLE base_t (i int, v int); INSERT INTO base_t VALUES (1, 10), (2, NULL);},
		change => q{UPDATE base_t SET v = 20 WHERE i = 2; INSERT INTO base_t VALUES (NULL, NULL), (NULL, NULL), (3, NULL); DELETE FROM base_t WHERE i = 1;},
		truncate => q{TRUNCATE base_t; INSERT INTO base_t VALUES (NULL, 1);},
	},
	null2 => {
		setup => q{CREATE TABLE base_t (i int);},
		change => q{INSERT INTO base_t VALUES (1), (NULL); INSERT INTO base_t VALUES (NULL), (2); DELETE FROM base_t WHERE i = 2;},
		truncate => q{TRUNCATE base_t; INSERT INTO base_t VALUES (NULL);},
	},
	null3 => {
		setup => q{CREATE TABLE base_t (i int, v int); INSERT INTO base_t VALUES (NULL, 1), (NULL, 2), (1, 10), (1, 20);},
		change => q{UPDATE base_t SET v = v * 10; INSERT INTO base_t VALUES (2, NULL); UPDATE base_t SET i = NULL WHERE v = 100;},
		truncate => q{TRUNCATE base_t; INSERT INTO base_t VALUES (NULL, 5), (3, 3);},
	},
	null4 => {
		setup => q{CREATE TABLE base_t (i int, v int); INSERT INTO base_t VALUES (NULL, 1), (NULL, 2), (NULL, 3), (NULL, 4), (NULL, 5);},
		change => q{DELETE FROM base_t WHERE v = 1; DELETE FROM base_t WHERE v = 3; DELETE FROM base_t WHERE v = 5; INSERT INTO base_t VALUES (1, NULL), (1, 7);},
		truncate => q{TRUNCATE base_t; INSERT INTO base_t VALUES (NULL, 9), (NULL, NULL);},
	},
	# pg_ivm.sql: a user-defined base type (like int4, with a btree class)
	mytype => {
		setup => q{
			CREATE TYPE mytype;
			CREATE FUNCTION mytype_in(cstring) RETURNS mytype AS 'int4in' LANGUAGE internal STRICT IMMUTABLE;
			CREATE FUNCTION mytype_out(mytype) RETURNS cstring AS 'int4out' LANGUAGE internal STRICT IMMUTABLE;
			CREATE TYPE mytype (LIKE = int4, INPUT = mytype_in, OUTPUT = mytype_out);
			CREATE FUNCTION mytype_eq(mytype, mytype) RETURNS bool AS 'int4eq' LANGUAGE internal STRICT IMMUTABLE;
			CREATE FUNCTION mytype_lt(mytype, mytype) RETURNS bool AS 'int4lt' LANGUAGE internal STRICT IMMUTABLE;
			CREATE FUNCTION mytype_cmp(mytype, mytype) RETURNS integer AS 'btint4cmp' LANGUAGE internal STRICT IMMUTABLE;
			CREATE OPERATOR = (leftarg = mytype, rightarg = mytype, procedure = mytype_eq);
			CREATE OPERATOR < (leftarg = mytype, rightarg = mytype, procedure = mytype_lt);
			CREATE OPERATOR CLASS mytype_ops DEFAULT FOR TYPE mytype USING btree AS
			  OPERATOR 1 <, OPERATOR 3 =, FUNCTION 1 mytype_cmp(mytype, mytype);
			CREATE TABLE t_mytype (x mytype);
			INSERT INTO t_mytype VALUES ('5'), ('6');},
		change => q{INSERT INTO t_mytype VALUES ('1'::mytype), ('1'); DELETE FROM t_mytype WHERE x = '5'::mytype;},
		truncate => q{TRUNCATE t_mytype; INSERT INTO t_mytype VALUES ('2');},
	},
	# pg_ivm.sql: tables with row-level security, views created by a user
	# the policy filters for; compared as that user
	rls => {
		role => 'regress_ivm_user',
		setup => q{
			CREATE ROLE regress_ivm_admin;
			CREATE ROLE regress_ivm_user IN ROLE flowview_admin;
			GRANT ALL ON SCHEMA rls TO PUBLIC;
			SET SESSION AUTHORIZATION regress_ivm_admin;
			CREATE TABLE rls_tbl (id int, data text, owner name);
			INSERT INTO rls_tbl VALUES (1, 'foo', 'regress_ivm_user'), (2, 'bar', 'postgres');
			CREATE TABLE num_tbl (id int, num text);
			INSERT INTO num_tbl VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five'), (6, 'six');
			CREATE POLICY rls_tbl_policy ON rls_tbl FOR SELECT TO PUBLIC USING (owner = current_user);
			ALTER TABLE rls_tbl ENABLE ROW LEVEL SECURITY;
			ALTER TABLE rls_tbl REPLICA IDENTITY FULL;
			ALTER TABLE num_tbl REPLICA IDENTITY FULL;
			GRANT ALL ON rls_tbl TO PUBLIC;
			GRANT ALL ON num_tbl TO PUBLIC;
			RESET SESSION AUTHORIZATION;},
		change => q{INSERT INTO rls_tbl VALUES (3, 'baz', 'regress_ivm_user'), (4, 'qux', 'postgres');
			WITH i AS (INSERT INTO rls_tbl VALUES (5, 'quux', 'postgres'), (6, 'corge', 'regress_ivm_user')),
			     u AS (UPDATE rls_tbl SET owner = 'postgres' WHERE id = 1),
			     u2 AS (UPDATE rls_tbl SET owner = 'regress_ivm_user' WHERE id = 2)
			SELECT;
			WITH x AS (UPDATE rls_tbl SET data = data || '_2' WHERE id IN (3, 4)),
			     y AS (UPDATE num_tbl SET num = num || '_2' WHERE id IN (3, 4))
			SELECT;},
		truncate => q{TRUNCATE rls_tbl; INSERT INTO rls_tbl VALUES (2, 'x', 'regress_ivm_user'), (3, 'y', 'postgres');},
	},
	# pg_ivm.sql: a trigger updating its own table, a self-referencing key
	trig => {
		setup => q{
			CREATE TABLE tbl_update_same (i int);
			CREATE FUNCTION func_update_same() RETURNS trigger LANGUAGE plpgsql AS
			  $$ BEGIN UPDATE tbl_update_same SET i = i + 1; RETURN NEW; END; $$;
			CREATE TRIGGER trig_update_same AFTER INSERT ON tbl_update_same FOR EACH ROW
			  EXECUTE FUNCTION func_update_same();
			CREATE TABLE tbl_self_ref (a int PRIMARY KEY, b int REFERENCES tbl_self_ref (a) ON UPDATE CASCADE);
			INSERT INTO tbl_self_ref VALUES (1, NULL), (2, 1), (3, 2);},
		change => q{INSERT INTO tbl_update_same VALUES (1); INSERT INTO tbl_update_same VALUES (10);
			UPDATE tbl_self_ref SET a = a + 10;},
		truncate => q{TRUNCATE tbl_update_same, tbl_self_ref; INSERT INTO tbl_update_same VALUES (5);
			INSERT INTO tbl_self_ref VALUES (1, NULL), (4, 1);},
	},
	# pg_ivm.sql: the views it indexes automatically (its tables stay
	# empty there; here they get rows)
	idx => {
		setup => q{CREATE TABLE base_a (i int PRIMARY KEY, j int); CREATE TABLE base_b (i int PRIMARY KEY, j int);
			INSERT INTO base_a SELECT g, g % 3 FROM generate_series(1, 6) g;
			INSERT INTO base_b SELECT g, g % 2 FROM generate_series(1, 4) g;},
		change => q{INSERT INTO base_a VALUES (7, 1), (8, NULL); DELETE FROM base_a WHERE i = 2; UPDATE base_a SET j = 5 WHERE i = 3;
			UPDATE base_b SET i = 40 WHERE i = 4; INSERT INTO base_b VALUES (9, 9); DELETE FROM base_b WHERE i = 1;},
		truncate => q{TRUNCATE base_a; INSERT INTO base_a VALUES (1, 1), (2, 1);},
	},
	# outer_join.sql: four small tables with duplicates
	oj => {
		setup => q{CREATE TABLE base_r (i int); CREATE TABLE base_s (i int, j int); CREATE TABLE base_t (j int);
			CREATE TABLE base_u (j int, i int);
			INSERT INTO base_r VALUES (1), (2), (3), (3);
			INSERT INTO base_s VALUES (2, 1), (2, 2), (3, 1), (4, 1), (4, 2);
			INSERT INTO base_t VALUES (2), (3), (3);
			INSERT INTO base_u VALUES (2, 2), (2, 3), (3, 2), (3, 3);},
		change => q{INSERT INTO base_r VALUES (1), (2), (3); INSERT INTO base_r VALUES (4), (5);
			INSERT INTO base_s VALUES (1, 3); INSERT INTO base_s VALUES (2, 3);
			INSERT INTO base_t VALUES (1), (2); INSERT INTO base_t VALUES (3), (4);
			DELETE FROM base_r WHERE i = 1; DELETE FROM base_s WHERE i = 3; DELETE FROM base_t WHERE j = 2;
			INSERT INTO base_s VALUES (1, NULL), (NULL, 2); DELETE FROM base_s WHERE j IS NULL; INSERT INTO base_t VALUES (2);
			WITH ri AS (INSERT INTO base_r VALUES (6), (7) RETURNING 0), si AS (INSERT INTO base_s VALUES (6, 3) RETURNING 0) SELECT;
			WITH rd AS (DELETE FROM base_r WHERE i = 2 RETURNING 0), sd AS (DELETE FROM base_s WHERE i = 2 RETURNING 0) SELECT;
			UPDATE base_u SET i = 4 WHERE (j, i) = (3, 3); INSERT INTO base_u VALUES (1, 1), (NULL, 3);},
		truncate => q{TRUNCATE base_r; TRUNCATE base_s; TRUNCATE base_t; TRUNCATE base_u;
			INSERT INTO base_r VALUES (100); INSERT INTO base_s VALUES (100); INSERT INTO base_t VALUES (1);},
	},
	# specs/*.spec: a self-join, and a self-join joined to a third table
	spec1 => {
		setup => q{CREATE TABLE a (i int); INSERT INTO a VALUES (1);},
		change => q{INSERT INTO a VALUES (1); INSERT INTO a VALUES (2), (2), (NULL); DELETE FROM a WHERE ctid = (SELECT min(ctid) FROM a WHERE i = 2);},
		truncate => q{TRUNCATE a; INSERT INTO a VALUES (3), (3);},
	},
	spec2 => {
		setup => q{CREATE TABLE a (i int, j int); CREATE TABLE b (i int, j int); INSERT INTO a VALUES (1, 10); INSERT INTO b VALUES (1, 100);},
		change => q{INSERT INTO a VALUES (1, 11); INSERT INTO b VALUES (1, 101), (2, 200); INSERT INTO a VALUES (2, 20);
			UPDATE a SET j = j + 1 WHERE i = 1; DELETE FROM b WHERE j = 100;},
		truncate => q{TRUNCATE a; INSERT INTO a VALUES (2, 1);},
	},
);

# [schema, pg_ivm's view name, query]: every create_immv of pg_ivm's tests
# that succeeds there, in the order of its files
my @cases = (
	# create_immv.sql
	['cimmv', 'mv', q{SELECT * FROM t}, {}],
	['cimmv', 'mv2', q{SELECT * FROM t WHERE i%2 = 0}, {}],
	# pg_ivm.sql
	['ivm', 'mv_ivm_1', q{SELECT i,j,k FROM mv_base_a a INNER JOIN mv_base_b b USING(i)}, {}],
	['ivm', 'mv_ivm_func', q{SELECT * FROM ivm_func()}, {}],
	['ivm', 'mv_ivm_no_tbl', q{SELECT 1}, {}],
	['ivm', 'mv_ivm_duplicate', q{SELECT j FROM mv_base_a}, {}],
	['ivm', 'mv_ivm_distinct', q{SELECT DISTINCT j FROM mv_base_a}, {}],
	['ivm', 'mv_ivm_agg', q{SELECT i, SUM(j), COUNT(i), AVG(j) FROM mv_base_a GROUP BY i}, {}],
	['ivm', 'mv_ivm_agg', q{SELECT i, SUM(j), COUNT(*) FROM mv_base_a GROUP BY i}, {}],
	['ivm', 'mv_ivm_agg', q{SELECT i, SUM(j), COUNT(*) FROM mv_base_a GROUP BY i}, {}],
	['ivm', 'mv_ivm_group', q{SELECT SUM(j), COUNT(j), AVG(j) FROM mv_base_a}, {}],
	['ivm', 'mv_ivm_group', q{SELECT SUM(j), COUNT(j), AVG(j) FROM mv_base_a}, {}],
	['ivm', 'mv_ivm_avg_bug', q{SELECT i, SUM(j), COUNT(j), AVG(j) FROM mv_base_A GROUP BY i}, {}],
	['ivm', 'mv_ivm_min_max', q{SELECT i, MIN(j), MAX(j) FROM mv_base_a GROUP BY i}, {}],
	['ivm', 'mv_ivm_min_max', q{SELECT MIN(j), MAX(j) FROM mv_base_a}, {}],
	['ivm', 'mv_ivm_min', q{SELECT MIN(j) FROM mv_base_a}, {}],
	['ivm', 'mv_ivm_agg', q{SELECT i, SUM(j) FROM mv_base_a GROUP BY i}, {}],
	['ivm', 'mv_ivm_agg', q{SELECT i, SUM(j) FROM mv_base_a GROUP BY i}, {}],
	['selfj', 'mv_self', q{SELECT t1.v, t2.v FROM base_t AS t1 JOIN base_t AS t2 ON t1.i = t2.i}, {cols => 'v1, v2'}],
	['simul', 'mv', q{SELECT r.v, s.v FROM base_r AS r JOIN base_s AS s USING(i)}, {cols => 'v1, v2'}],
	['ri', 'mv_ri', q{SELECT ri1.i, ri2.i FROM ri1 JOIN ri2 USING(i)}, {cols => 'i1, i2'}],
	['ivm', 'mv_ivm_exists_subquery', q{SELECT a.i, a.j FROM mv_base_a a WHERE EXISTS(SELECT 1 FROM mv_base_b b WHERE a.i = b.i)}, {}],
	['ivm', 'mv_ivm_exists_subquery2', q{SELECT a.i,a.j FROM mv_base_a a WHERE EXISTS(SELECT 1 FROM mv_base_b b WHERE a.i = b.i) AND a.i > 2}, {}],
	['ivm', 'mv_ivm_exists_subquery_distinct', q{SELECT DISTINCT a.i, a.j FROM mv_base_a a WHERE EXISTS(SELECT 1 FROM mv_base_b b WHERE a.i = b.i)}, {}],
	['ivm', 'mv_ivm_subquery', q{SELECT a.i,a.j FROM mv_base_a a,( SELECT * FROM mv_base_b) b WHERE a.i = b.i}, {}],
	['ivm', 'mv_ivm_join_subquery', q{SELECT i, j, k FROM ( SELECT i, a.j, b.k FROM mv_base_b b INNER JOIN mv_base_a a USING(i)) tmp}, {}],
	['ivm', 'mv_ivm_join_subquery', q{SELECT i, j, k FROM ( SELECT i, a.j, b.k FROM mv_base_b b INNER JOIN (SELECT * FROM mv_base_a) a USING(i)) tmp}, {}],
	['ivm', 'mv_cte', q{WITH b AS ( SELECT * FROM mv_base_b) SELECT a.i,a.j FROM mv_base_a a, b WHERE a.i = b.i}, {}],
	['ivm', 'mv_cte', q{WITH a AS (SELECT * FROM mv_base_a), b AS ( SELECT * FROM mv_base_b) SELECT a.i,a.j FROM a, b WHERE a.i = b.i}, {}],
	['ivm', 'mv_cte', q{WITH b AS ( SELECT * FROM mv_base_b) SELECT v.i,v.j FROM (WITH a AS (SELECT * FROM mv_base_a) SELECT a.i,a.j FROM a, b WHERE a.i = b.i) v}, {}],
	['ivm', 'mv_cte', q{SELECT * FROM (WITH a AS (SELECT * FROM mv_base_a), b AS ( SELECT * FROM mv_base_b) SELECT a.i,a.j FROM a, b WHERE a.i = b.i) v}, {}],
	['ivm', 'mv_cte', q{WITH b AS ( SELECT * FROM (SELECT * FROM mv_base_b) b2) SELECT v.i,v.j FROM (WITH a AS (SELECT * FROM mv_base_a) SELECT a.i,a.j FROM a, b WHERE a.i = b.i) v}, {}],
	['ivm', 'mv_cte', q{WITH x AS ( SELECT i, a.j, b.k FROM mv_base_b b INNER JOIN mv_base_a a USING(i)) SELECT * FROM x}, {}],
	['ivm', 'mv_ivm_nested_cte', q{WITH v AS ( WITH a AS (SELECT * FROM mv_base_a) SELECT i, a.j, b.k FROM mv_base_b b INNER JOIN a USING(i)) SELECT * FROM v}, {}],
	['ctemulti', 'mv_cte_multi', q{WITH t AS (SELECT * FROM base_t) SELECT t1.v, t2.v FROM t AS t1 JOIN t AS t2 ON t1.i = t2.i}, {cols => 'v1, v2'}],
	['null1', 'mv', q{SELECT * FROM base_t}, {}],
	['null2', 'mv', q{SELECT * FROM base_t}, { empty_at_start => 1 }],
	['null3', 'mv', q{SELECT i, sum(v) FROM base_t GROUP BY i}, {}],
	['null4', 'mv', q{SELECT i, min(v), max(v) FROM base_t GROUP BY i}, {}],
	['mytype', 'mv_mytype', q{SELECT * FROM t_mytype}, {}],
	['rls', 'ivm_rls', q{SELECT * FROM rls_tbl}, {}],
	['rls', 'ivm_rls2', q{SELECT * FROM rls_tbl JOIN num_tbl USING(id)}, {}],
	['trig', 'mv_update_same', q{SELECT * FROM tbl_update_same}, { empty_at_start => 1 }],
	['trig', 'mv_self_ref', q{SELECT * FROM tbl_self_ref}, {}],
	['idx', 'mv_idx1', q{SELECT i, sum(j) FROM base_a GROUP BY i}, {}],
	['idx', 'mv_idx2', q{SELECT DISTINCT j FROM base_a}, {}],
	['idx', 'mv_idx3', q{SELECT a.i, b.i FROM base_a a, base_b b}, {cols => 'i_a, i_b'}],
	['idx', 'mv_idx4', q{SELECT j FROM base_a}, {}],
	['idx', 'mv_idx5', q{SELECT a.i, b.j FROM base_a a, base_b b}, {}],
	['idx', 'mv_idx6', q{SELECT a.i, b.i FROM (SELECT * FROM base_a) a, (SELECT * FROM base_b) b}, {cols => 'i_a, i_b'}],
	['idx', 'mv_idx7', q{SELECT i FROM base_a, generate_series(1,10)}, {}],
	# outer_join.sql
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r FULL JOIN base_s AS s ON r.i=s.i FULL JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT DISTINCT r.i, s.i, s.j, t.j FROM base_r AS r FULL JOIN base_s AS s ON r.i=s.i FULL JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r FULL JOIN base_s AS s ON r.i=s.i LEFT JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r FULL JOIN base_s AS s ON r.i=s.i RIGHT JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r FULL JOIN base_s AS s ON r.i=s.i INNER JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r LEFT JOIN base_s AS s ON r.i=s.i FULL JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r LEFT JOIN base_s AS s ON r.i=s.i LEFT JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r LEFT JOIN base_s AS s ON r.i=s.i RIGHT JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r LEFT JOIN base_s AS s ON r.i=s.i INNER JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r RIGHT JOIN base_s AS s ON r.i=s.i FULL JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r RIGHT JOIN base_s AS s ON r.i=s.i LEFT JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r RIGHT JOIN base_s AS s ON r.i=s.i RIGHT JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r RIGHT JOIN base_s AS s ON r.i=s.i INNER JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r INNER JOIN base_s AS s ON r.i=s.i FULL JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r INNER JOIN base_s AS s ON r.i=s.i LEFT JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r AS r INNER JOIN base_s AS s ON r.i=s.i RIGHT JOIN base_t AS t ON s.j=t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j, u.i, u.j FROM (base_r AS r FULL JOIN base_s AS s ON r.i=s.i) FULL JOIN (base_t AS t FULL JOIN base_u AS u ON t.j=u.j) ON r.i=u.i}, {cols => 'r, si, sj, t, ui, uj'}],
	['oj', 'mv', q{SELECT r.i, s.i FROM base_r AS r FULL JOIN base_s AS s ON r.i=s.i WHERE s.i > 0}, {cols => 'r, s'}],
	['oj', 'mv', q{SELECT r.i, r2.i FROM base_r AS r FULL JOIN base_r as r2 ON r.i=r2.i}, {cols => 'r1, r2'}],
	['oj', 'mv', q{SELECT r.i, s.i, t.j, u.j FROM (base_r r LEFT JOIN (base_s s CROSS JOIN (base_t t FULL JOIN base_u u ON ((t.j = u.j)))) ON ((r.i = s.i)))}, {cols => 'r, s, t, u'}],
	['oj', 'mv', q{SELECT r.i, s.i, s.j, t.j FROM base_r r FULL JOIN base_s s ON r.i = s.i FULL JOIN base_t t ON s.j = t.j}, {cols => 'r, si, sj, t'}],
	['oj', 'mv', q{SELECT r.i, s.i FROM base_r AS r FULL JOIN base_s AS s ON r.i=s.i}, {cols => 'r, s'}],
	['oj', 'mv', q{SELECT r.i, s.i FROM base_r AS r FULL JOIN base_s AS s ON r.i=s.i}, {cols => 'r, s'}],
	# refresh_immv.sql
	['rimmv', 'mv', q{SELECT * FROM t}, {}],
	# specs/*.spec (isolation tests; the same two queries in each isolation level)
	['spec1', 'mv', q{SELECT * FROM a a1, a a2 WHERE a1.i = a2.i}, {cols => 'x,y'}],
	['spec2', 'mv', q{SELECT a1.j, a2.j,b.j FROM a AS a1, a AS a2,b WHERE a1.i = a2.i AND a1.i = b.i}, {cols => 'x,y,z'}],
);

# what the accepted count must not fall below (the goal of issue 13 is at
# least 95% of the queries, i.e. 74 of 77; measured 2026-12-02: 75, the two
# refused are the views over tables whose row-level security filters their
# creator, refused by design)
my $min_accepted = 75;

# The SQL to run in a group's schema (and as its role, if it has one).
sub in_ctx_sql
{
	my ($c, $sql, $as_role) = @_;
	my $role = $as_role && $ctx{$c}{role} ? "SET ROLE $ctx{$c}{role};\n" : '';
	return "SET search_path = $c, public;\n$role$sql\nRESET ROLE;\nRESET search_path;\n";
}

$node->safe_psql('postgres', 'CREATE EXTENSION pg_flowview;'
	. join('', map { "CREATE SCHEMA $_;\n" . in_ctx_sql($_, $ctx{$_}{setup}) } sort keys %ctx));

# Try every query in one session (a session per query would take most of
# the time): each create_view in its own transaction, its error caught.
$node->safe_psql('postgres', q{
	CREATE FUNCTION public.try_view(v text, q text) RETURNS text LANGUAGE plpgsql AS $$
	DECLARE m text; h text; st text;
	BEGIN
		PERFORM flowview.create_view(v, q);
		RETURN 'ok';
	EXCEPTION WHEN others THEN
		GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, h = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
		RETURN st || ': ' || m || CASE WHEN h <> '' THEN ' (hint: ' || h || ')' ELSE '' END;
	END $$;});
my (@accepted, @refused);
my $script = '';
my $n = 0;
for my $case (@cases)
{
	my ($c, $ivm_name, $q) = @$case;
	$n++;
	my $view = sprintf('%s.q%02d_%s', $c, $n, $ivm_name);
	push @$case, $view;
	$script .= in_ctx_sql($c,
		"SELECT $n || E'\\t' || replace(public.try_view('$view"
		  . ($case->[3]{cols} ? "($case->[3]{cols})" : '')
		  . "', \$q\$$q\$q\$), E'\\n', ' ');", 1);
}
my %result = map { split(/\t/, $_, 2) } split(/\n/, $node->safe_psql('postgres', $script));
for my $i (1 .. @cases)
{
	my ($c, $ivm_name, $q, $opt, $view) = @{ $cases[ $i - 1 ] };
	my $r = $result{$i} // 'no result';
	if ($r eq 'ok') { push @accepted, $cases[ $i - 1 ]; }
	else { push @refused, [ $c, $view, $q, $r ]; }
}
is(scalar(@cases), 77, 'every query pg_ivm maintains in its tests is tried');

# The oracle check of every accepted view at once, in one session: the same
# EXCEPT ALL both ways as FlowviewTest::differences; a view found different
# is then checked with FlowviewTest::differences itself, whose output is
# what the failure shows.  $all: check every view with it (the last round).
sub check_all
{
	my ($label, $all) = @_;
	return unless @accepted;
	is($node->safe_psql('postgres', q{SELECT flowview.wait_for_freshness(NULL, '60 s')}), 't',
		"$label: every view fresh");
	my $sql = '';
	for my $i (0 .. $#accepted)
	{
		my ($c, $ivm_name, $q, $opt, $view) = @{ $accepted[$i] };
		$sql .= in_ctx_sql($c, qq{
			SELECT $i || E'\\t' || coalesce((SELECT string_agg(side || ': ' || r, ' | ') FROM (
			  SELECT 'view only' AS side, x::text AS r FROM (SELECT * FROM $view EXCEPT ALL SELECT * FROM ($q) q) x
			  UNION ALL
			  SELECT 'query only', x::text FROM (SELECT * FROM ($q) q EXCEPT ALL SELECT * FROM $view) x) d),
			  CASE WHEN EXISTS (SELECT FROM $view) THEN '' ELSE 'both empty' END);}, 1);
	}
	my %diff = map { my ($k, $v) = split(/\t/, $_, 2); ($k, $v // '') } split(/\n/, $node->safe_psql('postgres', $sql));
	for my $i (0 .. $#accepted)
	{
		my ($c, $ivm_name, $q, $opt, $view) = @{ $accepted[$i] };
		# empty on both sides is equal too, except where a view must have rows
		# (EXISTS filters can leave none after the TRUNCATE round)
		my $empty_ok = ($label eq 'created' && $opt->{empty_at_start}) || $label =~ /TRUNCATE/;
		my $d = $diff{$i} // 'no result';
		$d = '' if $d eq 'both empty' && $empty_ok;
		if ($d ne '' || $all)
		{
			local $ENV{PGOPTIONS} = "-c search_path=$c,public"
			  . ($ctx{$c}{role} ? " -c role=$ctx{$c}{role}" : '');
			$d = FlowviewTest::differences($node, $view, $q, empty_ok => $empty_ok);
		}
		is($d, '', "$label: $view equals its query: $q");
	}
	is($node->safe_psql('postgres', q{SELECT string_agg(view::text || ' ' || state || coalesce(': ' || error, ''), E'\n') FROM flowview.views WHERE state <> 'live'}),
		'', "$label: every view live");
}

check_all('created');
$node->safe_psql('postgres', join('', map { in_ctx_sql($_, $ctx{$_}{change}) } sort keys %ctx));
check_all('after changes');
$node->safe_psql('postgres', join('', map { in_ctx_sql($_, $ctx{$_}{truncate}) } sort keys %ctx));
check_all('after TRUNCATE', 1);

my $m = scalar(@cases);
my $acc = scalar(@accepted);
my $summary = sprintf("accepted %d of %d (%.0f%%)", $acc, $m, 100 * $acc / $m);
diag("140_pg_ivm_suite: $summary");
note("refused:") if @refused;
note("  $_->[1]: $_->[2]\n      => $_->[3]") for @refused;
# the reasons, with names taken out, and how many queries each
my %reasons;
for my $r (@refused)
{
	(my $why = $r->[3]) =~ s/ \(hint: .*//;
	$why =~ s/"[^"]*"/"..."/g;
	$reasons{$why}++;
}
note("refused by reason:");
note(sprintf('  %2d  %s', $reasons{$_}, $_)) for sort { $reasons{$b} <=> $reasons{$a} || $a cmp $b } keys %reasons;
# The goal (issue 13) is at least 95%; this guards against regressions.
cmp_ok($acc, '>=', $min_accepted, "accepted at least $min_accepted of $m (goal: 95%)");
note(sprintf('%.1f s', time - $t0));

$node->stop;
done_testing();
