-- Live views over joins (issue 13): the accepted forms, their output types,
-- the index NOTICE, every refusal, and a change on each side checked against
-- the query.
SET timezone = 'UTC';
CREATE TABLE j_customers (id int PRIMARY KEY, name text, region text, unit text);
CREATE TABLE j_products (id int PRIMARY KEY, category text, price numeric(10,2));
CREATE TABLE j_orders (id int PRIMARY KEY, customer_id int, product_id int, qty int, amount numeric(12,2), ts timestamptz);
CREATE TABLE j_payments (id int PRIMARY KEY, order_id int, amount numeric);
CREATE TABLE j_regions (region text PRIMARY KEY, manager text);
INSERT INTO j_regions VALUES ('north', 'ann'), ('south', 'bob'), ('west', 'cy');
CREATE INDEX ON j_customers (region);
CREATE INDEX ON j_orders (customer_id);
CREATE INDEX ON j_orders (product_id);
INSERT INTO j_customers SELECT i, 'c' || i, (ARRAY['north', 'south', NULL])[1 + i % 3], 'u' || (i % 2) FROM generate_series(1, 9) i;
INSERT INTO j_products SELECT i, 'cat' || (i % 3), i * 1.5 FROM generate_series(1, 6) i;
INSERT INTO j_orders SELECT i, CASE WHEN i % 10 = 0 THEN NULL ELSE 1 + i % 11 END, 1 + i % 7, 1 + i % 4, i * 2.5,
                            '2024-01-01'::timestamptz + i * interval '7 minutes'
FROM generate_series(1, 60) i;
INSERT INTO j_payments SELECT i, i * 2, i FROM generate_series(1, 20) i;

-- accepted: JOIN ... ON, comma joins with WHERE, three and four tables, a
-- self-join, expressions, time buckets, FILTER, HAVING, a global aggregate,
-- rows without aggregates, DISTINCT, LEFT JOINs (NULL-extended rows, a
-- chain, a WHERE over the NULL-extended side)
CREATE TABLE jdefs (name text PRIMARY KEY, q text, minmax text DEFAULT 'rescan');
INSERT INTO jdefs VALUES
 ('jv_region', $$SELECT c.region, count(*) AS n, sum(o.amount) AS revenue, avg(o.qty) AS avg_qty, min(o.amount) AS lo, max(o.amount) AS hi FROM j_orders o JOIN j_customers c ON c.id = o.customer_id GROUP BY c.region$$),
 ('jv_comma', $$SELECT c.unit, date_trunc('hour', o.ts) AS hour, count(*) AS n FROM j_orders o, j_customers c WHERE c.id = o.customer_id AND o.qty > 1 GROUP BY 1, 2$$),
 ('jv_three', $$SELECT p.category, upper(c.region) AS region, sum(o.qty) FILTER (WHERE p.price > 3) AS units, count(*) AS n FROM j_orders o JOIN j_customers c ON c.id = o.customer_id JOIN j_products p ON p.id = o.product_id GROUP BY 1, 2 HAVING count(*) > 1$$),
 ('jv_four', $$SELECT c.region, sum(pm.amount) AS paid, count(*) AS n FROM j_orders o JOIN j_customers c ON c.id = o.customer_id JOIN j_products p ON p.id = o.product_id JOIN j_payments pm ON pm.order_id = o.id WHERE p.category <> 'cat0' GROUP BY c.region$$),
 ('jv_self', $$SELECT a.region, count(*) AS pairs, max(b.id) AS last_b FROM j_customers a JOIN j_customers b ON a.region = b.region AND a.id < b.id GROUP BY a.region$$),
 ('jv_global', $$SELECT count(*) AS n, sum(o.amount * p.price) AS value FROM j_orders o JOIN j_products p ON p.id = o.product_id$$),
 ('jv_using', $$SELECT r.manager, region, count(*) AS n FROM j_customers JOIN j_regions r USING (region) GROUP BY 1, 2$$),
 ('jv_rows', $$SELECT o.id, o.amount, c.name, c.region FROM j_orders o JOIN j_customers c ON c.id = o.customer_id$$),
 ('jv_bag', $$SELECT c.region, o.qty FROM j_orders o, j_customers c WHERE c.id = o.customer_id$$),
 ('jv_distinct', $$SELECT DISTINCT c.unit, p.category FROM j_orders o JOIN j_customers c ON c.id = o.customer_id JOIN j_products p ON p.id = o.product_id$$),
 ('jv_left', $$SELECT c.region, count(*) AS n, count(c.id) AS matched, sum(o.amount) AS revenue FROM j_orders o LEFT JOIN j_customers c ON c.id = o.customer_id GROUP BY c.region$$),
 ('jv_left_rows', $$SELECT o.id, c.name, pm.amount AS paid FROM j_orders o LEFT JOIN j_customers c ON c.id = o.customer_id LEFT JOIN j_payments pm ON pm.order_id = o.id$$),
 ('jv_unpaid', $$SELECT o.customer_id, count(*) AS n FROM j_orders o JOIN j_products p ON p.id = o.product_id LEFT JOIN j_payments pm ON pm.order_id = o.id AND pm.amount > 5 WHERE pm.id IS NULL GROUP BY o.customer_id$$),
 ('jv_sub', $$SELECT c.region, count(*) AS n, sum(o.dbl) AS s FROM (SELECT customer_id, amount * 2 AS dbl FROM j_orders WHERE qty > 1) o JOIN j_customers c ON c.id = o.customer_id GROUP BY 1$$),
 ('jv_sub_one', $$SELECT region, count(*) AS n FROM (SELECT * FROM j_customers WHERE id > 2) c GROUP BY region$$),
 ('jv_cte', $$WITH big AS (SELECT * FROM j_orders WHERE amount > 50) SELECT c.name, count(*) AS n FROM big b JOIN j_customers c ON c.id = b.customer_id GROUP BY c.name$$),
 ('jv_exists', $$SELECT id, name FROM j_customers c WHERE EXISTS (SELECT 1 FROM j_orders o WHERE o.customer_id = c.id AND o.qty > 2)$$),
 ('jv_not_exists', $$SELECT c.region, count(*) AS n FROM j_orders o JOIN j_customers c ON c.id = o.customer_id WHERE NOT EXISTS (SELECT FROM j_payments pm WHERE pm.order_id = o.id) GROUP BY 1$$),
 ('jv_in', $$SELECT c.region, count(*) AS n FROM j_customers c WHERE c.id IN (SELECT o.customer_id FROM j_orders o WHERE o.qty > 1) GROUP BY 1$$),
 ('jv_full', $$SELECT c.region, count(*) AS n, count(o.id) AS orders, count(c.id) AS customers FROM j_orders o FULL JOIN j_customers c ON c.id = o.customer_id GROUP BY c.region$$),
 ('jv_full_rows', $$SELECT o.id AS order_id, c.name, pm.amount FROM j_orders o FULL JOIN j_customers c ON c.id = o.customer_id FULL JOIN j_payments pm ON pm.order_id = o.id$$),
 ('jv_left_comma', $$SELECT c.region, count(*) AS n FROM j_orders o, j_products p LEFT JOIN j_customers c ON c.id = p.id WHERE o.product_id = p.id GROUP BY 1$$),
 ('jv_left_paren', $$SELECT c.region, r.manager, count(*) AS n FROM j_orders o LEFT JOIN (j_customers c JOIN j_regions r USING (region)) ON c.id = o.customer_id GROUP BY 1, 2$$),
 ('jv_right_late', $$SELECT c.region, count(*) AS n, count(o.id) AS orders FROM j_orders o JOIN j_products p ON p.id = o.product_id RIGHT JOIN j_customers c ON c.id = o.customer_id GROUP BY 1$$),
 ('jv_full_paren', $$SELECT c.region, r.manager, count(*) AS n, count(o.id) AS orders FROM j_orders o FULL JOIN (j_customers c JOIN j_regions r USING (region)) ON c.id = o.customer_id GROUP BY 1, 2$$),
 ('jv_sub_left', $$SELECT c.region, count(*) AS n FROM j_orders o LEFT JOIN (SELECT * FROM j_customers WHERE id > 3) c ON c.id = o.customer_id GROUP BY 1$$),
 ('jv_full_cross', $$SELECT o.id AS order_id, c.name, p.category FROM j_orders o LEFT JOIN (j_customers c CROSS JOIN (j_products p FULL JOIN j_regions r ON r.manager = p.category)) ON c.id = o.customer_id AND p.id = o.product_id$$),
 ('jv_func', $$SELECT g, count(*) AS n, sum(o.qty) AS units FROM j_orders o, generate_series(1, 3) g WHERE o.qty >= g GROUP BY 1$$),
 ('jv_func_first', $$SELECT g, c.region, count(*) AS n FROM generate_series(1, 2) g, j_orders o JOIN j_customers c ON c.id = o.customer_id WHERE o.qty > g GROUP BY 1, 2$$),
 ('jv_no_from', $$SELECT 1 AS one, 'x'::text AS x$$),
 ('jv_no_from_agg', $$SELECT count(*) AS n$$),
 ('jv_union_rows', $$SELECT o.id, c.name FROM j_orders o JOIN j_customers c ON c.id = o.customer_id UNION ALL SELECT pm.order_id, 'payment ' || pm.id::text FROM j_payments pm WHERE pm.amount > 5$$),
 ('jv_union_agg', $$SELECT region, count(*) AS n, sum(amount) AS total FROM (SELECT c.region, o.amount FROM j_orders o JOIN j_customers c ON c.id = o.customer_id UNION ALL SELECT c.region, pm.amount FROM j_payments pm JOIN j_orders o ON o.id = pm.order_id LEFT JOIN j_customers c ON c.id = o.customer_id WHERE pm.amount > 50) u GROUP BY region$$),
 ('jv_union_distinct', $$SELECT DISTINCT region FROM (SELECT region FROM j_customers UNION ALL SELECT region FROM j_regions UNION ALL SELECT 'none' WHERE true) u$$),
 ('jv_exists_tree', $$SELECT c.region, count(*) AS n FROM j_customers c LEFT JOIN j_regions r USING (region), j_products p WHERE p.id = c.id AND EXISTS (SELECT FROM j_orders o WHERE o.customer_id = c.id AND o.product_id = p.id) GROUP BY 1$$);
INSERT INTO jdefs SELECT name || '_ms', q, 'multiset' FROM jdefs WHERE name IN ('jv_region', 'jv_self');
SELECT name, flowview.create_view(name, q, minmax => minmax) IS NOT NULL AS created FROM jdefs ORDER BY name;

-- the output columns are typed as the query types them
SELECT attrelid::regclass AS view, attname, format_type(atttypid, atttypmod) AS type
FROM pg_attribute WHERE attrelid IN ('jv_region'::regclass, 'jv_comma'::regclass, 'jv_rows'::regclass) AND attnum > 0 ORDER BY 1, attnum;
-- the join relation behind a view, and its tables in the catalog
SELECT view, sources FROM flowview.views WHERE view::text LIKE 'jv\_%' ORDER BY 1;

CREATE FUNCTION jdifferences() RETURNS TABLE (view text, side text, row_text text) LANGUAGE plpgsql AS $$
DECLARE d record;
BEGIN
  FOR d IN SELECT name, q FROM jdefs ORDER BY name LOOP
    RETURN QUERY EXECUTE format('SELECT %L, ''view only'', x::text FROM (SELECT * FROM %I EXCEPT ALL (%s)) x', d.name, d.name, d.q);
    RETURN QUERY EXECUTE format('SELECT %L, ''query only'', x::text FROM ((%s) EXCEPT ALL SELECT * FROM %I) x', d.name, d.q, d.name);
  END LOOP;
END $$;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT * FROM jdifferences();

-- each side changes: facts move, a dimension attribute changes (all its
-- facts move), a dimension row goes and comes back, NULL join keys, several
-- sides in one transaction, a rollback, a subtransaction
UPDATE j_orders SET customer_id = 2 WHERE id IN (1, 2, 3);
UPDATE j_customers SET region = 'west' WHERE id = 4;
UPDATE j_regions SET manager = 'dee' WHERE region = 'south';
DELETE FROM j_customers WHERE id = 5;
INSERT INTO j_customers VALUES (5, 'c5 again', 'east', 'u1');
UPDATE j_orders SET customer_id = NULL WHERE id = 4;
BEGIN;
UPDATE j_products SET price = price * 10 WHERE category = 'cat1';
INSERT INTO j_orders VALUES (100, 7, 2, 3, 99.5, '2024-01-02');
INSERT INTO j_payments VALUES (100, 100, 42);
UPDATE j_customers SET region = 'north' WHERE id = 7;
COMMIT;
BEGIN;
DELETE FROM j_customers;
ROLLBACK;
BEGIN;
INSERT INTO j_orders VALUES (101, 8, 3, 1, 5, '2024-01-03');
SAVEPOINT s;
DELETE FROM j_products WHERE id = 3;
ROLLBACK TO SAVEPOINT s;
UPDATE j_products SET category = 'cat9' WHERE id = 4;
COMMIT;
TRUNCATE j_payments;
INSERT INTO j_payments SELECT i, i, i * 3 FROM generate_series(1, 30) i;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT * FROM jdifferences();
SELECT view, state FROM flowview.views WHERE view::text LIKE 'jv\_%' ORDER BY 1;
SELECT * FROM jv_region ORDER BY region;
SELECT region, qty, count(*) FROM jv_bag GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 6;

-- LEFT JOIN: deleting a dimension row turns its facts into NULL-extended
-- rows, inserting it again turns them back
SELECT count(*) AS orders_of_6 FROM j_orders WHERE customer_id = 6;
SELECT n - matched AS unmatched FROM jv_left WHERE region IS NULL;
DELETE FROM j_customers WHERE id = 6;
SELECT flowview.wait_for_freshness('jv_left', '30 s') AS fresh;
SELECT n - matched AS unmatched FROM jv_left WHERE region IS NULL;
SELECT count(*) AS rows_without_name FROM jv_left_rows WHERE name IS NULL;
INSERT INTO j_customers VALUES (6, 'c6', NULL, 'u0');
SELECT flowview.wait_for_freshness('jv_left', '30 s') AS fresh;
SELECT n - matched AS unmatched FROM jv_left WHERE region IS NULL;
SELECT count(*) AS rows_without_name FROM jv_left_rows WHERE name IS NULL;
SELECT * FROM jdifferences();

-- a missing index on a join key: the NOTICE names the statement
CREATE TABLE j_notes (id int PRIMARY KEY, order_ref int, note text);
SELECT flowview.create_view('jv_notes', $$SELECT n.note, count(*) AS n FROM j_orders o JOIN j_notes n ON n.order_ref = o.id GROUP BY n.note$$);
SELECT flowview.drop_view('jv_notes');
-- a table joined without an equality to another's columns
SELECT flowview.create_view('jv_cross', $$SELECT count(*) AS n FROM j_products p, j_notes n WHERE n.id > 0$$);
SELECT flowview.drop_view('jv_cross');

-- refused, naming the construct
SELECT flowview.create_view('jr_sub', $$SELECT c.region, count(*) FROM j_orders o JOIN (SELECT region, id FROM j_customers GROUP BY 1, 2) c ON c.id = o.customer_id GROUP BY 1$$);
SELECT flowview.create_view('jr_exists_or', $$SELECT id FROM j_customers c WHERE EXISTS (SELECT FROM j_orders o WHERE o.customer_id = c.id) OR id = 1$$);
SELECT flowview.create_view('jr_exists_agg', $$SELECT id FROM j_customers c WHERE EXISTS (SELECT FROM j_orders o GROUP BY o.customer_id HAVING o.customer_id = c.id)$$);
SELECT flowview.create_view('jr_union', $$SELECT region FROM j_customers UNION SELECT region FROM j_regions$$);
SELECT flowview.create_view('jr_union_group', $$SELECT region, count(*) FROM j_customers GROUP BY 1 UNION ALL SELECT region, 1 FROM j_regions$$);
SELECT flowview.create_view('jr_union_order', $$SELECT region FROM j_customers UNION ALL SELECT region FROM j_regions ORDER BY 1$$);
SELECT flowview.create_view('jr_intersect', $$SELECT region FROM j_customers INTERSECT SELECT region FROM j_regions$$);
SELECT flowview.create_view('jr_union_join', $$SELECT u.region, count(*) FROM (SELECT region FROM j_customers UNION ALL SELECT region FROM j_regions) u JOIN j_regions r USING (region) GROUP BY 1$$);
SELECT flowview.create_view('jr_recursive', $$WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n, count(*) FROM r GROUP BY 1$$);
SELECT flowview.create_view('jr_materialized', $$WITH m AS MATERIALIZED (SELECT * FROM j_orders) SELECT customer_id, count(*) FROM m GROUP BY 1$$);
SELECT flowview.create_view('jr_volatile', $$SELECT c.region, count(*) FROM j_orders o JOIN j_customers c ON c.id = o.customer_id AND random() > 0.5 GROUP BY 1$$);
SELECT flowview.create_view('jr_lateral', $$SELECT c.region, count(*) FROM j_customers c, LATERAL (SELECT * FROM j_orders o WHERE o.customer_id = c.id) x GROUP BY 1$$);
SELECT flowview.create_view('jr_nine', $$SELECT count(*) FROM j_orders a, j_orders b, j_orders c, j_orders d, j_orders e, j_orders f, j_orders g, j_orders h, j_orders i WHERE a.id = b.id AND b.id = c.id AND c.id = d.id AND d.id = e.id AND e.id = f.id AND f.id = g.id AND g.id = h.id AND h.id = i.id$$);
CREATE TEMP TABLE j_temp (id int);
SELECT flowview.create_view('jr_temp', $$SELECT count(*) FROM j_orders o JOIN j_temp t ON t.id = o.id$$);
CREATE VIEW j_plainview AS SELECT * FROM j_customers;
SELECT flowview.create_view('jr_view', $$SELECT count(*) FROM j_orders o JOIN j_plainview c ON c.id = o.customer_id$$);

-- lineage: every table and column, the join conditions as "join"
SELECT "column", source_table, source_column, transformation, direct, expression
FROM flowview.lineage('jv_three') ORDER BY column_number, direct DESC, transformation, source_table, source_column;
SELECT "column", source_table, source_column, transformation FROM flowview.lineage('jv_self') ORDER BY 1, 2, 3, 4;
-- the tables of EXISTS and IN subqueries, and of every branch of a UNION ALL
SELECT "column", source_table, source_column, transformation, expression FROM flowview.lineage('jv_not_exists') ORDER BY 1, 2, 3, 4;
SELECT "column", source_table, source_column, transformation, expression FROM flowview.lineage('jv_union_agg') ORDER BY 1, 2, 3, 4;
SELECT DISTINCT t->>'name' AS input FROM jsonb_array_elements(flowview.openlineage('jv_union_rows')->'inputs') t ORDER BY 1;
SELECT jsonb_array_length(flowview.openlineage('jv_four')->'inputs') AS inputs,
       flowview.openlineage('jv_four')#>'{inputs,3,name}' AS fourth_input;
SELECT t->>'name' AS input, t->>'field' AS field, tr->>'type' AS type, tr->>'subtype' AS subtype
FROM jsonb_array_elements(flowview.openlineage('jv_region')#>'{outputs,0,facets,columnLineage,fields,revenue,inputFields}') t,
     jsonb_array_elements(t->'transformations') tr ORDER BY 1, 2, 3, 4;
SELECT source_table, view_name, source_columns FROM flowview.lineage_graph WHERE view_name = 'jv_four' ORDER BY 1;

-- renaming a table of a join keeps the view live and exact; renaming a
-- column a join view reads is refused, naming the view
ALTER TABLE j_products RENAME TO j_goods;
UPDATE j_goods SET category = 'cat7' WHERE id = 2;
INSERT INTO j_orders VALUES (102, 1, 2, 4, 12, '2024-01-04');
SELECT flowview.wait_for_freshness('jv_three', '30 s') AS fresh;
SELECT count(*) AS differences FROM (
  (SELECT * FROM jv_three EXCEPT ALL
   SELECT p.category, upper(c.region) AS region, sum(o.qty) FILTER (WHERE p.price > 3) AS units, count(*) AS n FROM j_orders o JOIN j_customers c ON c.id = o.customer_id JOIN j_goods p ON p.id = o.product_id GROUP BY 1, 2 HAVING count(*) > 1)
  UNION ALL
  (SELECT p.category, upper(c.region) AS region, sum(o.qty) FILTER (WHERE p.price > 3) AS units, count(*) AS n FROM j_orders o JOIN j_customers c ON c.id = o.customer_id JOIN j_goods p ON p.id = o.product_id GROUP BY 1, 2 HAVING count(*) > 1
   EXCEPT ALL SELECT * FROM jv_three)) d;
ALTER TABLE j_goods RENAME TO j_products;
ALTER TABLE j_orders RENAME COLUMN qty TO quantity;
-- shape changes of a join's table: refused naming the view, or followed
ALTER TABLE j_customers SET UNLOGGED;
ALTER TABLE j_payments REPLICA IDENTITY DEFAULT;
SELECT relreplident FROM pg_class WHERE oid = 'j_payments'::regclass;
ALTER TABLE j_customers ALTER COLUMN region TYPE varchar(20);
SELECT view, state FROM flowview.views WHERE state <> 'live' AND view::text LIKE 'jv\_%';

-- the join relation is pg_flowview's, like the storage
SELECT relname LIKE 'fv\_join\_%' AS join_relation, relkind FROM pg_class WHERE oid = (SELECT source_oid FROM flowview.view_catalog WHERE view_oid = 'jv_region'::regclass);
DO $$
BEGIN
  EXECUTE format('CREATE OR REPLACE VIEW flowview.%I AS SELECT 1',
                 (SELECT relname FROM pg_class WHERE oid = (SELECT source_oid FROM flowview.view_catalog WHERE view_oid = 'jv_region'::regclass)));
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'refused (%): %', SQLSTATE, regexp_replace(SQLERRM, 'fv_join_[0-9]+', 'fv_join_ID');
END $$;

-- privileges: SELECT on every column the query reads, of every table
CREATE ROLE fvj_admin IN ROLE flowview_admin;
GRANT CREATE ON SCHEMA public TO fvj_admin;
GRANT SELECT ON j_orders TO fvj_admin;
GRANT SELECT (id, unit) ON j_customers TO fvj_admin;
SET ROLE fvj_admin;
SELECT flowview.create_view('jp_units', $$SELECT c.unit, count(*) AS n, sum(o.amount) AS revenue FROM j_orders o JOIN j_customers c ON c.id = o.customer_id GROUP BY c.unit$$) IS NOT NULL AS created;
SELECT flowview.create_view('jp_names', $$SELECT c.name, count(*) AS n FROM j_orders o JOIN j_customers c ON c.id = o.customer_id GROUP BY c.name$$);
SELECT flowview.create_view('jp_cond', $$SELECT c.unit, count(*) AS n FROM j_orders o JOIN j_customers c ON c.id = o.customer_id AND c.region = 'north' GROUP BY c.unit$$);
-- a function in FROM, or in a UNION ALL branch, owned by a role that is not
-- a superuser: refused as in WHERE
CREATE FUNCTION fvj_steps() RETURNS SETOF int LANGUAGE sql IMMUTABLE AS 'SELECT 1 UNION ALL SELECT 2';
CREATE FUNCTION fvj_tag(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1';
SELECT flowview.create_view('jp_func', $$SELECT s, count(*) AS n FROM j_orders o, fvj_steps() s GROUP BY s$$);
SELECT flowview.create_view('jp_union', $$SELECT c.unit FROM j_customers c UNION ALL SELECT fvj_tag('x') FROM j_orders$$);
RESET ROLE;
DROP FUNCTION fvj_steps(), fvj_tag(text);

-- organisation security with the org column from the dimension: orders
-- per unit of their customer; a customer moving to another unit moves
-- their orders out of one analyst's sight and into another's
SELECT flowview.add_org_unit('fvj_u0');
SELECT flowview.add_org_unit('fvj_u1');
UPDATE j_customers SET unit = 'fvj_' || unit;
CREATE ROLE fvj_analyst;
SELECT flowview.assign_role('fvj_analyst', 'fvj_u0');
SELECT flowview.enable_org_security('jp_units', 'unit');
GRANT SELECT ON jp_units TO fvj_analyst;
SELECT flowview.wait_for_freshness('jp_units', '30 s') AS fresh;
SET ROLE fvj_analyst;
SELECT unit, n FROM jp_units ORDER BY 1;
RESET ROLE;
UPDATE j_customers SET unit = 'fvj_u0' WHERE id = 7;
SELECT flowview.wait_for_freshness('jp_units', '30 s') AS fresh;
SELECT count(*) AS expected FROM j_orders o JOIN j_customers c ON c.id = o.customer_id WHERE c.unit = 'fvj_u0' \gset
SET ROLE fvj_analyst;
SELECT unit, n = :expected AS exact, n > 23 AS grew FROM jp_units ORDER BY 1;
RESET ROLE;
SELECT flowview.drop_view('jp_units');
SELECT flowview.drop_org_unit('fvj_u0');
SELECT flowview.drop_org_unit('fvj_u1');
DROP OWNED BY fvj_admin, fvj_analyst;
DROP ROLE fvj_admin, fvj_analyst;

-- dropping a join view drops its join relation
SELECT count(*) AS join_relations FROM pg_class WHERE relname LIKE 'fv\_join\_%';
SELECT flowview.drop_view(name) IS NOT NULL AS dropped FROM jdefs ORDER BY name;
SELECT count(*) AS join_relations FROM pg_class WHERE relname LIKE 'fv\_join\_%';
DROP VIEW j_plainview;
DROP TABLE jdefs, j_regions, j_notes, j_orders, j_customers, j_products, j_payments;
DROP FUNCTION jdifferences();

-- NOT IN, ALL, NOT ... ALL, ANY and several subqueries in one WHERE: each a
-- semi- or anti-join; NOT IN keeps no row once the subquery yields a NULL,
-- and keeps them again when the NULL goes
CREATE TABLE s_c (id int PRIMARY KEY, region text, lim int);
CREATE TABLE s_o (id int PRIMARY KEY, cid int, amt int);
CREATE TABLE s_p (id int PRIMARY KEY, oid int, amt int);
INSERT INTO s_c SELECT i, (ARRAY['n', 's', NULL])[1 + i % 3], i * 10 FROM generate_series(1, 12) i;
INSERT INTO s_c VALUES (13, 'n', NULL);
INSERT INTO s_o SELECT i, CASE WHEN i % 9 = 0 THEN NULL ELSE 1 + i % 14 END, i * 3 FROM generate_series(1, 40) i;
INSERT INTO s_p SELECT i, i * 2, i FROM generate_series(1, 15) i;
CREATE TABLE sdefs (name text PRIMARY KEY, q text);
INSERT INTO sdefs VALUES
 ('sv_not_in', $$SELECT id, region FROM s_c WHERE id NOT IN (SELECT cid FROM s_o WHERE amt > 100 AND id % 9 <> 0)$$),
 ('sv_not_in_agg', $$SELECT region, count(*) AS n FROM s_c WHERE lim NOT IN (SELECT amt FROM s_o) GROUP BY 1$$),
 ('sv_all', $$SELECT id FROM s_c WHERE lim > ALL (SELECT amt FROM s_o WHERE s_o.cid = s_c.id)$$),
 ('sv_not_all', $$SELECT id FROM s_c WHERE NOT (lim >= ALL (SELECT amt FROM s_o WHERE s_o.cid = s_c.id))$$),
 ('sv_any', $$SELECT id FROM s_c WHERE lim < ANY (SELECT amt FROM s_o WHERE s_o.cid = s_c.id)$$),
 ('sv_three', $$SELECT s_c.region, count(*) AS n FROM s_c WHERE EXISTS (SELECT FROM s_o WHERE s_o.cid = s_c.id) AND NOT EXISTS (SELECT FROM s_p WHERE s_p.id = s_c.id + 10) AND s_c.id IN (SELECT oid FROM s_p) GROUP BY 1$$);
SELECT name, flowview.create_view(name, q) IS NOT NULL AS created FROM sdefs ORDER BY name;
CREATE FUNCTION sdifferences() RETURNS TABLE (view text, side text, row_text text) LANGUAGE plpgsql AS $$
DECLARE d record;
BEGIN
  PERFORM flowview.wait_for_freshness(NULL, '60 s');
  FOR d IN SELECT * FROM sdefs ORDER BY name LOOP
    RETURN QUERY EXECUTE format('SELECT %L, ''view only'', x::text FROM (SELECT * FROM %I EXCEPT ALL (%s)) x', d.name, d.name, d.q);
    RETURN QUERY EXECUTE format('SELECT %L, ''query only'', x::text FROM ((%s) EXCEPT ALL SELECT * FROM %I) x', d.name, d.q, d.name);
  END LOOP;
END $$;
SELECT * FROM sdifferences();
SELECT (SELECT count(*) FROM sv_not_in) AS not_in, (SELECT count(*) FROM sv_all) AS all_, (SELECT count(*) FROM sv_not_all) AS not_all, (SELECT count(*) FROM sv_three) AS three;
-- a NULL enters NOT IN's subquery
INSERT INTO s_o VALUES (100, NULL, 200);
UPDATE s_c SET lim = NULL WHERE id = 2;
UPDATE s_o SET amt = 1000 WHERE id = 5;
DELETE FROM s_p WHERE id = 3;
INSERT INTO s_p VALUES (50, 7, 1);
SELECT * FROM sdifferences();
SELECT count(*) AS not_in_with_null FROM sv_not_in;
-- and leaves it
DELETE FROM s_o WHERE id = 100;
UPDATE s_o SET cid = 13 WHERE id < 6;
INSERT INTO s_o VALUES (101, 2, NULL);
SELECT * FROM sdifferences();
SELECT (SELECT count(*) FROM sv_not_in) AS not_in, (SELECT count(*) FROM sv_all) AS all_, (SELECT count(*) FROM sv_not_all) AS not_all, (SELECT count(*) FROM sv_three) AS three;
SELECT flowview.drop_view(name) IS NOT NULL AS dropped FROM sdefs ORDER BY name;
DROP TABLE sdefs, s_c, s_o, s_p;
DROP FUNCTION sdifferences();
