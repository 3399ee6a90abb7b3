-- Live views without GROUP BY and aggregates: a projection of the filtered
-- rows with bag semantics (every row, duplicates kept) and SELECT DISTINCT.
-- What is accepted, the output columns' names and types, what is refused
-- (SQLSTATE 0A000), and exactness after inserts, updates and deletes:
-- after flowview.wait_for_freshness() every view equals its query (EXCEPT
-- ALL both ways), NULLs, duplicates and rows moving in and out of WHERE
-- included.
\set VERBOSITY default
SET timezone = 'UTC';
CREATE TABLE items (id int, shop varchar(10), name text, qty int, price numeric, tags jsonb,
                    at timestamptz);
INSERT INTO items VALUES
  (1, 'north', 'Apple', 3, 1.50, '{"a": 1}', '2024-01-01 10:00'),
  (2, 'north', 'Apple', 3, 1.50, '{"a": 1}', '2024-01-01 10:00'),   -- a duplicate row
  (3, 'south', 'Pear', NULL, 2.00, NULL, '2024-01-01 11:30'),
  (4, NULL, NULL, 1, 2.0, '[1, 2]', NULL),
  (5, NULL, NULL, 1, 2.00, '[1, 2]', NULL);                           -- equal price, not identical

-- rows compared both ways, duplicates counted (EXCEPT ALL); one line per
-- differing row, none when the view is its query
CREATE FUNCTION rows_diff(v regclass, q text) RETURNS TABLE (side text, row_text text) LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format('SELECT ''view only'', x::text FROM (SELECT * FROM %s EXCEPT ALL %s) x', v, q);
  RETURN QUERY EXECUTE format('SELECT ''query only'', x::text FROM (%s EXCEPT ALL SELECT * FROM %s) x', q, v);
END $$;
CREATE TABLE rows_defs (name text PRIMARY KEY, q text);
INSERT INTO rows_defs VALUES
 ('r_proj',     $$SELECT shop, name, qty FROM items WHERE qty IS DISTINCT FROM 0$$),
 ('r_expr',     $$SELECT lower(name) AS lname, qty * 2 AS qty2, price, tags, date_trunc('hour', at) AS hour, 'x' AS tag FROM items WHERE shop IS NULL OR shop <> 'east'$$),
 ('r_star',     $$SELECT * FROM items$$),
 ('r_distinct', $$SELECT DISTINCT shop, name FROM items WHERE id < 100$$),
 ('r_distinct_price', $$SELECT DISTINCT price FROM items$$);
SELECT name, flowview.create_view(name, q) IS NOT NULL AS created FROM rows_defs ORDER BY name;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT view, state FROM flowview.views WHERE view::text LIKE 'r\_%' ORDER BY 1;

-- the query's columns, names and types (typmods and collations included)
\d r_proj
\d r_expr
\d r_star
\d r_distinct
SELECT pg_typeof(lname), pg_typeof(qty2), pg_typeof(hour), pg_typeof(tag) FROM r_expr LIMIT 1;

-- the query's rows: the duplicate twice, NULLs, each price as written
SELECT * FROM r_proj ORDER BY shop, name, qty;
SELECT price::text FROM r_expr ORDER BY 1;
SELECT * FROM r_distinct ORDER BY shop, name;
SELECT d.name, r.* FROM rows_defs d, rows_diff(d.name, d.q) r ORDER BY 1, 2, 3;

-- inserts, updates (in and out of WHERE, to and from NULL, onto a duplicate)
-- and deletes
INSERT INTO items VALUES (6, 'east', 'Plum', 0, 3, '{}', '2024-01-02'),
                         (7, 'north', 'Apple', 3, 1.50, '{"a": 1}', '2024-01-01 10:00');
UPDATE items SET qty = 0 WHERE id = 1;          -- leaves r_proj
UPDATE items SET shop = 'east' WHERE id = 3;    -- leaves r_expr
UPDATE items SET name = 'Apple', shop = 'north', qty = 3 WHERE id = 4;   -- from NULL onto a duplicate
UPDATE items SET price = 2.000 WHERE id = 5;
DELETE FROM items WHERE id = 2;
BEGIN;
INSERT INTO items SELECT 100 + g, 'west', 'Fig', g % 2, g, NULL, NULL FROM generate_series(1, 10) g;
ROLLBACK;
INSERT INTO items SELECT 200 + g, 'west', 'Fig', g % 2, g % 3, NULL, NULL FROM generate_series(1, 20) g;
DELETE FROM items WHERE id > 210;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT * FROM r_proj ORDER BY shop, name, qty;
SELECT d.name, r.* FROM rows_defs d, rows_diff(d.name, d.q) r ORDER BY 1, 2, 3;
SELECT count(*) AS r_star_rows FROM r_star;

-- storage is one row per distinct output row, with its count
CREATE FUNCTION storage_counts(v regclass) RETURNS TABLE (stored_rows bigint, source_rows numeric) LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format('SELECT count(*), sum(__rows) FROM %s', flowview.storage_table(v));
END $$;
SELECT * FROM storage_counts('r_proj');
SELECT count(*) AS query_rows FROM items WHERE qty IS DISTINCT FROM 0;

-- refresh_view recomputes; the view stays its query
SELECT flowview.refresh_view('r_proj');
SELECT flowview.wait_for_freshness('r_proj', '60 s') AS fresh;
SELECT * FROM rows_diff('r_proj', (SELECT q FROM rows_defs WHERE name = 'r_proj'));

-- lineage: each output column and where it comes from
SELECT "column", source_column, transformation, direct FROM flowview.lineage('r_expr') ORDER BY column_number, source_column, transformation;
SELECT "column", source_column, transformation, direct FROM flowview.lineage('r_distinct') ORDER BY column_number, source_column, transformation;

-- alerts name the changed rows by their output columns
SELECT changed_groups_sql FROM flowview.view_catalog WHERE view_oid = 'r_proj'::regclass;

-- organisation security on a text output column
SELECT flowview.enable_org_security('r_proj', 'name');
SELECT flowview.disable_org_security('r_proj');

-- alter_view: DISTINCT to DISTINCT, rows to rows, rows to an aggregate
SELECT flowview.alter_view('r_distinct', $$SELECT DISTINCT shop FROM items$$);
SELECT flowview.wait_for_freshness('r_distinct', '60 s') AS fresh;
SELECT * FROM rows_diff('r_distinct', $$SELECT DISTINCT shop FROM items$$);
SELECT flowview.alter_view('r_proj', $$SELECT shop, name, qty FROM items WHERE qty > 0$$);
SELECT flowview.wait_for_freshness('r_proj', '60 s') AS fresh;
SELECT * FROM rows_diff('r_proj', $$SELECT shop, name, qty FROM items WHERE qty > 0$$);
SELECT flowview.alter_view('r_expr', $$SELECT lower(name) AS lname, count(*) AS n FROM items GROUP BY 1$$);
SELECT flowview.wait_for_freshness('r_expr', '60 s') AS fresh;
SELECT * FROM rows_diff('r_expr', $$SELECT lower(name) AS lname, count(*) AS n FROM items GROUP BY 1$$);

-- refusals: SQLSTATE 0A000 naming the construct; nothing left behind
CREATE FUNCTION refusal(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; msg text; hint text;
BEGIN
  PERFORM flowview.create_view('bad', q);
  RETURN 'created';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN state || ': ' || msg || coalesce(nullif(' (hint: ' || hint || ')', ' (hint: )'), '');
END $$;
CREATE COLLATION rows_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT count(*) AS views_before FROM flowview.views \gset
SELECT refusal($$SELECT id, tags::json AS doc FROM items$$);
SELECT refusal($$SELECT id, point(qty, qty) AS p FROM items$$);
SELECT refusal($$SELECT DISTINCT ON (shop) shop, name FROM items$$);
SELECT refusal($$SELECT DISTINCT shop, count(*) FROM items GROUP BY shop$$);
SELECT refusal($$SELECT shop, name AS shop FROM items$$);
SELECT refusal($$SELECT FROM items$$);
SELECT refusal($$SELECT 1 AS one FROM items HAVING true$$);
SELECT refusal($$SELECT id, random() AS r FROM items$$);
SELECT refusal($$SELECT name COLLATE rows_ci AS n FROM items$$);
SELECT refusal($$SELECT DISTINCT tags::json AS doc FROM items$$);
SELECT count(*) = :views_before AS nothing_created FROM flowview.views;

SELECT flowview.drop_view(name) FROM rows_defs ORDER BY name;
DROP FUNCTION refusal(text);
DROP FUNCTION storage_counts(regclass);
DROP FUNCTION rows_diff(regclass, text);
DROP TABLE rows_defs, items;
DROP COLLATION rows_ci;
