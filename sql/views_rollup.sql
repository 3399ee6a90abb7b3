-- Rollups: live views over live views.  A view per minute, per hour over
-- it, per day over that (three levels), a global view, a view of rows and
-- a view over a join view; upstreams with HAVING and of rows.  Each level
-- equals its own query and the query over the base tables after inserts,
-- updates that move rows between groups, deletes, NULL keys, a TRUNCATE,
-- refresh_view; the levels agree in every snapshot; a failing rollup does
-- not stop its upstream; lineage goes down to the base columns; drop_view
-- needs cascade; and what is refused.
\set VERBOSITY default
SET timezone = 'UTC';
CREATE TABLE ru_orders (id int PRIMARY KEY, ts timestamptz, region text, amount numeric);
CREATE TABLE ru_regions (region text PRIMARY KEY, zone text);
INSERT INTO ru_regions VALUES ('eu', 'west'), ('us', 'west'), ('asia', 'east');
INSERT INTO ru_orders SELECT i, timestamptz '2026-01-01 00:00:00+00' + i * interval '7 minutes 13 seconds',
                             (ARRAY['eu', 'us', 'asia', NULL])[i % 4 + 1], i % 50 + 1
  FROM generate_series(1, 400) i;

-- each view, its own query, and the same over the base tables
CREATE TABLE ru_defs (name text PRIMARY KEY, q text, base text, minmax text);
INSERT INTO ru_defs VALUES
 ('ru_m',   $$SELECT date_trunc('minute', ts) AS minute, region, count(*) AS n, sum(amount) AS revenue, max(amount) AS top FROM ru_orders GROUP BY 1, 2$$,
            NULL, 'rescan'),
 ('ru_h',   $$SELECT date_trunc('hour', minute) AS hour, region, sum(n) AS n, sum(revenue) AS revenue, max(top) AS top FROM ru_m GROUP BY 1, 2$$,
            $$SELECT date_trunc('hour', ts), region, count(*)::numeric, sum(amount), max(amount) FROM ru_orders GROUP BY 1, 2$$, 'rescan'),
 ('ru_d',   $$SELECT date_trunc('day', hour) AS day, region, sum(n) AS n, sum(revenue) AS revenue, min(top) AS low_top, max(top) AS top FROM ru_h GROUP BY 1, 2$$,
            $$SELECT day, region, sum(n), sum(revenue), min(top), max(top) FROM (SELECT date_trunc('day', ts) AS day, date_trunc('hour', ts), region, count(*)::numeric AS n, sum(amount) AS revenue, max(amount) AS top FROM ru_orders GROUP BY 1, 2, 3) h GROUP BY 1, 2$$,
            'multiset'),
 ('ru_g',   $$SELECT count(*) AS groups, sum(revenue) AS revenue, min(top) AS lowest_top FROM ru_h$$,
            $$SELECT count(*), sum(revenue), min(top) FROM (SELECT sum(amount) AS revenue, max(amount) AS top FROM ru_orders GROUP BY date_trunc('hour', ts), region) h$$, 'rescan'),
 ('ru_busy', $$SELECT hour, region, n FROM ru_h WHERE n >= 8$$,
            $$SELECT date_trunc('hour', ts), region, count(*)::numeric FROM ru_orders GROUP BY 1, 2 HAVING count(*) >= 8$$, 'rescan'),
 ('ru_j',   $$SELECT r.zone, date_trunc('hour', o.ts) AS hour, count(*) AS n, sum(o.amount) AS revenue FROM ru_orders o JOIN ru_regions r ON r.region = o.region GROUP BY 1, 2$$,
            NULL, 'rescan'),
 ('ru_jd',  $$SELECT zone, date_trunc('day', hour) AS day, sum(n) AS n, max(revenue) AS best_hour FROM ru_j GROUP BY 1, 2$$,
            $$SELECT zone, day, sum(n), max(revenue) FROM (SELECT r.zone, date_trunc('day', o.ts) AS day, date_trunc('hour', o.ts), count(*)::numeric AS n, sum(o.amount) AS revenue FROM ru_orders o JOIN ru_regions r ON r.region = o.region GROUP BY 1, 2, 3) h GROUP BY 1, 2$$,
            'rescan'),
 ('ru_big', $$SELECT region, date_trunc('day', ts) AS day, count(*) AS n FROM ru_orders GROUP BY 1, 2 HAVING sum(amount) > 1000$$,
            NULL, 'rescan'),
 ('ru_bigc', $$SELECT region, count(*) AS days, sum(n) AS n FROM ru_big GROUP BY region$$,
            $$SELECT region, count(*), sum(n) FROM (SELECT region, count(*)::numeric AS n FROM ru_orders GROUP BY region, date_trunc('day', ts) HAVING sum(amount) > 1000) b GROUP BY region$$,
            'multiset'),
 ('ru_rows', $$SELECT region, amount FROM ru_orders WHERE amount > 45$$,
            NULL, 'rescan'),
 ('ru_rowsc', $$SELECT region, count(*) AS n, sum(amount) AS s FROM ru_rows GROUP BY region$$,
            $$SELECT region, count(*), sum(amount) FROM ru_orders WHERE amount > 45 GROUP BY region$$, 'rescan');
SELECT flowview.create_view(name, q, minmax => minmax) FROM ru_defs ORDER BY name = 'ru_m' DESC, name = 'ru_h' DESC,
       name = 'ru_j' DESC, name = 'ru_big' DESC, name = 'ru_rows' DESC, name;
-- the view against its own query and against the query over the base tables
CREATE FUNCTION ru_diff() RETURNS TABLE (name text, side text, row_text text) LANGUAGE plpgsql AS $$
DECLARE
  d record;
BEGIN
  FOR d IN SELECT * FROM ru_defs ORDER BY 1 LOOP
    RETURN QUERY EXECUTE format('SELECT %L, ''view only'', x::text FROM (SELECT * FROM %s EXCEPT ALL %s) x', d.name, d.name, d.q);
    RETURN QUERY EXECUTE format('SELECT %L, ''query only'', x::text FROM (%s EXCEPT ALL SELECT * FROM %s) x', d.name, d.q, d.name);
    IF d.base IS NOT NULL THEN
      RETURN QUERY EXECUTE format('SELECT %L, ''view, not base'', x::text FROM (SELECT * FROM %s EXCEPT ALL %s) x', d.name, d.name, d.base);
      RETURN QUERY EXECUTE format('SELECT %L, ''base, not view'', x::text FROM (%s EXCEPT ALL SELECT * FROM %s) x', d.name, d.base, d.name);
    END IF;
  END LOOP;
END $$;
-- the levels in one snapshot: every count and revenue is the same
CREATE VIEW ru_levels AS
SELECT (SELECT sum(n) FROM ru_m) AS m, (SELECT sum(n) FROM ru_h) AS h, (SELECT sum(n) FROM ru_d) AS d,
       (SELECT count(*) FROM ru_orders) AS base,
       (SELECT sum(revenue) FROM ru_m) = (SELECT revenue FROM ru_g) AND
       (SELECT sum(revenue) FROM ru_d) = (SELECT revenue FROM ru_g) AS revenue_agrees;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT v.view, v.state FROM flowview.views v JOIN ru_defs d ON d.name = v.view::text ORDER BY 1;
SELECT * FROM ru_diff() ORDER BY 1, 2, 3;
SELECT * FROM ru_levels;
SELECT * FROM ru_g;
SELECT * FROM ru_bigc ORDER BY region;

-- writes: new rows (some with a NULL region), rows moved to other
-- minutes, hours, days and regions, the extremes removed, deletes, a group
-- entering and leaving ru_big's HAVING
BEGIN;
INSERT INTO ru_orders SELECT i, timestamptz '2026-01-01 00:00:00+00' + i * interval '3 minutes', (ARRAY['eu', 'us', NULL])[i % 3 + 1], i % 70
  FROM generate_series(401, 700) i;
UPDATE ru_orders SET ts = ts + interval '1 day 2 hours', region = 'asia' WHERE id % 9 = 0;
COMMIT;
UPDATE ru_orders SET amount = amount - 30 WHERE amount >= 49;
DELETE FROM ru_orders WHERE id % 5 = 0;
UPDATE ru_orders SET region = NULL WHERE id % 13 = 0;
UPDATE ru_orders SET region = 'us' WHERE region IS NULL AND id % 2 = 0;
UPDATE ru_regions SET zone = 'east' WHERE region = 'us';
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT * FROM ru_diff() ORDER BY 1, 2, 3;
SELECT * FROM ru_levels;
SELECT * FROM ru_g;
SELECT * FROM ru_bigc ORDER BY region;
-- a TRUNCATE of the base table empties every level; rows then come back
TRUNCATE ru_orders;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT * FROM ru_levels;
SELECT * FROM ru_g;
INSERT INTO ru_orders SELECT i, timestamptz '2026-01-02 00:00:00+00' + i * interval '11 minutes', (ARRAY['eu', 'us', 'asia', NULL])[i % 4 + 1], i % 40
  FROM generate_series(1, 300) i;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT * FROM ru_diff() ORDER BY 1, 2, 3;
SELECT * FROM ru_levels;
-- refresh_view of the lowest level recomputes the levels over it too, in
-- its transaction
SELECT flowview.refresh_view('ru_m');
SELECT * FROM ru_levels;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT v.view, v.state FROM flowview.views v JOIN ru_defs d ON d.name = v.view::text ORDER BY 1;
SELECT * FROM ru_diff() ORDER BY 1, 2, 3;

-- a rollup that fails goes to error alone: its upstream goes on
SELECT flowview.create_view('ru_fail', $$SELECT region, sum(100 / (top - 999)) AS x FROM ru_m GROUP BY region$$);
SELECT flowview.wait_for_freshness('ru_fail', '60 s');
INSERT INTO ru_orders VALUES (1001, '2030-01-01 00:00:00+00', 'eu', 999);
SELECT flowview.wait_for_freshness('ru_m', '60 s');
SELECT c.view_oid::regclass AS view, c.state, c.error FROM flowview.view_catalog c
 WHERE c.view_oid IN ('ru_fail'::regclass, 'ru_m'::regclass, 'ru_h'::regclass) ORDER BY 1;
SELECT * FROM ru_diff() ORDER BY 1, 2, 3;
SELECT flowview.drop_view('ru_fail');
DELETE FROM ru_orders WHERE id = 1001;
-- an upstream that fails goes to error; its rollups keep equal to its
-- (unchanged) rows, and follow it again once it is refreshed
SELECT flowview.create_view('ru_up', $$SELECT region, sum(10 / (amount - 999)) AS x, count(*) AS n FROM ru_orders GROUP BY region$$);
SELECT flowview.create_view('ru_upc', $$SELECT count(*) AS regions, sum(n) AS n FROM ru_up$$);
INSERT INTO ru_orders VALUES (1002, '2030-01-01 00:00:00+00', 'us', 999);
SELECT flowview.wait_for_freshness('ru_upc', '60 s');
SELECT c.view_oid::regclass AS view, c.state FROM flowview.view_catalog c
 WHERE c.view_oid IN ('ru_up'::regclass, 'ru_upc'::regclass) ORDER BY 1;
SELECT (SELECT n FROM ru_upc) = (SELECT sum(n) FROM ru_up) AS rollup_equals_its_upstream;
DELETE FROM ru_orders WHERE id = 1002;
SELECT flowview.refresh_view('ru_up');
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT c.view_oid::regclass AS view, c.state FROM flowview.view_catalog c
 WHERE c.view_oid IN ('ru_up'::regclass, 'ru_upc'::regclass) ORDER BY 1;
SELECT (SELECT n FROM ru_upc) = (SELECT count(*) FROM ru_orders) AS rollup_follows;
SELECT flowview.drop_view('ru_up', cascade => true);

-- lineage goes through the levels to the base columns (depth 3 for ru_d)
SELECT "column", source_table, source_column, transformation, depth, direct
  FROM flowview.lineage('ru_d') WHERE "column" IN ('day', 'revenue') ORDER BY column_number, depth, source_column, transformation;
SELECT source_table, view_name, source_kind, source_columns FROM flowview.lineage_graph
 WHERE view_name IN ('ru_h', 'ru_d', 'ru_jd') ORDER BY view_name;

-- refused
\set ON_ERROR_STOP 0
-- upstreams whose rows change with time, or cannot name their groups
SELECT flowview.create_view('ru_win', $$SELECT region, count(*) AS n FROM ru_orders WHERE ts > now() - interval '1 hour' GROUP BY region$$);
SELECT flowview.create_view('ru_bad', $$SELECT sum(n) AS n FROM ru_win$$);
SELECT flowview.drop_view('ru_win');
SELECT flowview.create_view('ru_ret', $$SELECT date_trunc('day', ts) AS day, count(*) AS n FROM ru_orders GROUP BY 1$$, retain => interval '30 days');
SELECT flowview.create_view('ru_bad', $$SELECT sum(n) AS n FROM ru_ret$$);
SELECT flowview.drop_view('ru_ret');
SELECT flowview.create_view('ru_hidden', $$SELECT count(*) AS n FROM ru_orders GROUP BY region$$);
SELECT flowview.create_view('ru_bad', $$SELECT sum(n) AS n FROM ru_hidden$$);
SELECT flowview.drop_view('ru_hidden');
-- a live view in a join or a subquery, a window over a rollup
SELECT flowview.create_view('ru_bad', $$SELECT m.region, count(*) FROM ru_m m JOIN ru_regions r ON r.region = m.region GROUP BY 1$$);
SELECT flowview.create_view('ru_bad', $$SELECT region, count(*) FROM ru_orders o WHERE EXISTS (SELECT FROM ru_m m WHERE m.region = o.region) GROUP BY 1$$);
SELECT flowview.create_view('ru_bad', $$SELECT region, count(*) FROM ru_m WHERE minute > now() - interval '1 hour' GROUP BY 1$$);
-- a plain view is still no source
CREATE VIEW ru_plain AS SELECT * FROM ru_orders;
SELECT flowview.create_view('ru_bad', $$SELECT region, count(*) FROM ru_plain GROUP BY 1$$);
-- the definition of a view read by rollups cannot change; no view starts
-- reading another one by alter_view (so there are no cycles)
SELECT flowview.alter_view('ru_m', $$SELECT date_trunc('minute', ts) AS minute, region, count(*) AS n, sum(amount) AS revenue, max(amount) AS top FROM ru_orders WHERE amount > 0 GROUP BY 1, 2$$);
SELECT flowview.alter_view('ru_g', $$SELECT count(*) AS groups, sum(revenue) AS revenue, min(top) AS lowest_top FROM ru_d$$);
SELECT flowview.alter_view('ru_big', $$SELECT region, count(*) AS days, sum(n) AS n FROM ru_bigc GROUP BY region$$);
-- dropping a level read by others needs cascade (DROP VIEW too)
SELECT flowview.drop_view('ru_m');
DROP VIEW ru_m;
SELECT flowview.drop_view('ru_m', NULL);
\set ON_ERROR_STOP 1
SELECT count(*) AS created_by_refusals FROM flowview.views WHERE view::text LIKE 'ru\_bad%';
-- a role that may not read the upstream cannot roll it up
CREATE ROLE ru_admin;
GRANT flowview_admin TO ru_admin;
CREATE SCHEMA ru_s AUTHORIZATION ru_admin;
GRANT SELECT ON ru_orders TO ru_admin;
SET ROLE ru_admin;
SELECT flowview.create_view('ru_s.mine', $$SELECT region, count(*) AS n FROM ru_orders GROUP BY 1$$);
\set ON_ERROR_STOP 0
SELECT flowview.create_view('ru_s.sneak', $$SELECT region, sum(n) AS n FROM ru_m GROUP BY 1$$);
\set ON_ERROR_STOP 1
-- over its own view it may
SELECT flowview.create_view('ru_s.mine_total', $$SELECT sum(n) AS n FROM ru_s.mine$$);
SELECT flowview.wait_for_freshness('ru_s.mine_total', '60 s');
SELECT n = (SELECT count(*) FROM ru_orders) AS equal FROM ru_s.mine_total;
SELECT flowview.drop_view('ru_s.mine', cascade => true);
RESET ROLE;
DROP SCHEMA ru_s;
REVOKE SELECT ON ru_orders FROM ru_admin;
DROP ROLE ru_admin;

-- drop_view with cascade drops the live views above, nothing else: a plain
-- view over a level (ru_levels) still blocks it, as with DROP VIEW
\set ON_ERROR_STOP 0
SELECT flowview.drop_view('ru_h', cascade => true);
\set ON_ERROR_STOP 1
DROP VIEW ru_levels;
SELECT flowview.drop_view('ru_h', cascade => true);
SELECT v.view FROM flowview.views v WHERE v.view::text LIKE 'ru\_%' ORDER BY 1;
SELECT count(*) AS views_left FROM flowview.view_catalog c JOIN pg_class k ON k.oid = c.view_oid WHERE k.relname LIKE 'ru\_%';
SELECT flowview.drop_view(name::regclass, cascade => true) FROM ru_defs WHERE name IN ('ru_m', 'ru_j', 'ru_big', 'ru_rows') ORDER BY name;
SELECT count(*) AS rollups_left FROM flowview.view_catalog WHERE upstream_keys IS NOT NULL;
DROP VIEW ru_plain;
DROP TABLE ru_defs, ru_orders, ru_regions;
DROP FUNCTION ru_diff();
