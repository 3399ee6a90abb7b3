-- Sliding windows: WHERE ts > now() - interval '...' (also >=, <, <=,
-- BETWEEN now() - X AND now(), now() on either side).  The view is its query
-- with now() read as the window clock (flowview.views.window_clock), which
-- the worker moves on about four times a second with or without writes:
-- rows leave when they age out and rows stamped in the future enter when
-- their time comes.  After flowview.wait_for_freshness() each view equals
-- its query with now() replaced by the clock, in one snapshot, EXCEPT ALL
-- both ways.  Aggregates, min/max multisets, HAVING, a join, a view of
-- rows, a global view, refresh_view, alter_view, drop_view, and refusals.
\set VERBOSITY default
SET timezone = 'UTC';
CREATE TABLE win_ev (id int PRIMARY KEY, k text, ts timestamptz, lt timestamp, x numeric);
CREATE INDEX ON win_ev (ts);
CREATE TABLE win_dim (k text PRIMARY KEY, region text);
INSERT INTO win_dim VALUES ('a', 'north'), ('b', 'south');
-- an hour old, a minute old, now, in two hours, no time
INSERT INTO win_ev VALUES
  (1, 'a', now() - interval '1 hour', localtimestamp - interval '1 hour', 1),
  (2, 'a', now() - interval '1 minute', localtimestamp - interval '1 minute', 2),
  (3, 'b', now(), localtimestamp, 3),
  (4, 'b', now() + interval '2 hours', localtimestamp + interval '2 hours', 4),
  (5, 'a', NULL, NULL, 5);

-- the view against its query at the view's clock, in one snapshot
CREATE FUNCTION win_diff(v regclass, q text) RETURNS TABLE (side text, row_text text) LANGUAGE plpgsql AS $$
DECLARE
  oracle text := replace(q, 'now()', format('(SELECT window_clock FROM flowview.views WHERE view = %L::regclass)', v));
BEGIN
  RETURN QUERY EXECUTE format('SELECT ''view only'', x::text FROM (SELECT * FROM %s EXCEPT ALL %s) x', v, oracle);
  RETURN QUERY EXECUTE format('SELECT ''query only'', x::text FROM (%s EXCEPT ALL SELECT * FROM %s) x', oracle, v);
END $$;
CREATE TABLE win_defs (name text PRIMARY KEY, q text, minmax text);
INSERT INTO win_defs VALUES
 ('win_recent',   $$SELECT k, count(*) AS n, sum(x) AS s, avg(x) AS a, min(x) AS lo, max(x) AS hi FROM win_ev WHERE ts > now() - interval '30 minutes' GROUP BY k$$, 'rescan'),
 ('win_multiset', $$SELECT k, count(*) AS n, min(x) AS lo, max(x) AS hi FROM win_ev WHERE x > 0 AND ts >= now() - interval '30 minutes' GROUP BY k HAVING count(*) > 0$$, 'multiset'),
 ('win_between',  $$SELECT k, count(*) AS n FROM win_ev WHERE ts BETWEEN now() - interval '30 minutes' AND now() GROUP BY k$$, 'rescan'),
 ('win_left',     $$SELECT count(*) AS n, sum(x) AS s FROM win_ev WHERE now() - interval '30 minutes' < ts$$, 'rescan'),
 ('win_local',    $$SELECT k, count(*) AS n FROM win_ev WHERE lt > now() - interval '30 minutes' GROUP BY k$$, 'rescan'),
 ('win_join',     $$SELECT d.region, count(*) AS n, sum(e.x) AS s FROM win_ev e JOIN win_dim d ON d.k = e.k WHERE e.ts > now() - interval '30 minutes' GROUP BY d.region$$, 'rescan'),
 ('win_rows',     $$SELECT id, k FROM win_ev WHERE ts <= now() + interval '1 hour'$$, 'rescan');
SELECT flowview.create_view(name, q, minmax => minmax) FROM win_defs ORDER BY name;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT v.view, v.window_clock BETWEEN now() - interval '1 minute' AND clock_timestamp() AS clock_is_now
  FROM flowview.views v JOIN win_defs d ON d.name = v.view::text ORDER BY 1;
SELECT d.name, x.* FROM win_defs d, win_diff(d.name::regclass, d.q) x ORDER BY 1, 2, 3;
-- what is in the views: rows 2 and 3 (row 4 is in the future, row 1 too old)
SELECT * FROM win_recent ORDER BY k;
SELECT * FROM win_between ORDER BY k;
SELECT * FROM win_left;
SELECT * FROM win_local ORDER BY k;
SELECT * FROM win_join ORDER BY region;
SELECT * FROM win_rows ORDER BY id;
-- the lag of the clock is shown, and stays under the documented second
SELECT view, window_lag < interval '1 second' AS within_bound FROM flowview.freshness
 WHERE view::text LIKE 'win\_%' ORDER BY 1;

-- writes: into the window, out of it, and in the past (not applied: they
-- are outside the window), the extreme of a group leaving
INSERT INTO win_ev VALUES (6, 'a', now(), localtimestamp, 60);
UPDATE win_ev SET ts = now() - interval '2 hours', lt = localtimestamp - interval '2 hours' WHERE id = 3;
UPDATE win_ev SET ts = now() - interval '5 minutes', lt = localtimestamp - interval '5 minutes' WHERE id = 1;
UPDATE win_ev SET x = x + 100 WHERE id = 3;
INSERT INTO win_ev VALUES (7, 'b', now() - interval '3 hours', localtimestamp - interval '3 hours', 7);
DELETE FROM win_ev WHERE id = 7;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT d.name, x.* FROM win_defs d, win_diff(d.name::regclass, d.q) x ORDER BY 1, 2, 3;
SELECT * FROM win_recent ORDER BY k;

-- no writes: a row leaves on time, a row stamped in the future enters
CREATE TABLE win_short (id int PRIMARY KEY, k text, ts timestamptz);
CREATE INDEX ON win_short (ts);
INSERT INTO win_short VALUES (1, 'leaving', now() - interval '6 seconds'),
                             (2, 'staying', now()),
                             (3, 'arriving', now() + interval '4 seconds');
SELECT flowview.create_view('win_short_v', $$SELECT k, count(*) AS n FROM win_short WHERE ts BETWEEN now() - interval '10 seconds' AND now() GROUP BY k$$);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT k, n FROM win_short_v ORDER BY k;
-- min and max of a window are kept as multisets unless asked otherwise
SELECT minmax FROM flowview.views WHERE view = 'win_short_v'::regclass;
SELECT pg_sleep(5);
SELECT k, n FROM win_short_v ORDER BY k;
SELECT x.* FROM win_diff('win_short_v', $$SELECT k, count(*) AS n FROM win_short WHERE ts BETWEEN now() - interval '10 seconds' AND now() GROUP BY k$$) x;

-- refresh_view and alter_view keep the window working
SELECT flowview.refresh_view('win_recent');
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT x.* FROM win_diff('win_recent', (SELECT q FROM win_defs WHERE name = 'win_recent')) x;
SELECT flowview.alter_view('win_recent', $$SELECT k, count(*) AS n, sum(x) AS s, avg(x) AS a, min(x) AS lo, max(x) AS hi FROM win_ev WHERE ts > now() - interval '3 hours' GROUP BY k$$);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT x.* FROM win_diff('win_recent', $$SELECT k, count(*) AS n, sum(x) AS s, avg(x) AS a, min(x) AS lo, max(x) AS hi FROM win_ev WHERE ts > now() - interval '3 hours' GROUP BY k$$) x;
SELECT * FROM win_recent ORDER BY k;

-- without an index on the window's column: a NOTICE
CREATE TABLE win_noidx (id int PRIMARY KEY, ts timestamptz);
SELECT flowview.create_view('win_noidx_v', $$SELECT count(*) AS n FROM win_noidx WHERE ts > now() - interval '1 minute'$$);

-- refused: now() outside a window's condition, or in a form that is not one
\set ON_ERROR_STOP 0
SELECT flowview.create_view('win_bad', $$SELECT k, now() AS t FROM win_ev$$);
SELECT flowview.create_view('win_bad', $$SELECT k, count(*) FROM win_ev GROUP BY k HAVING max(ts) > now() - interval '1 hour'$$);
SELECT flowview.create_view('win_bad', $$SELECT k, count(*) FROM win_ev WHERE ts = now() GROUP BY k$$);
SELECT flowview.create_view('win_bad', $$SELECT k, count(*) FROM win_ev WHERE ts > now() - interval '1 hour' OR x > 1 GROUP BY k$$);
SELECT flowview.create_view('win_bad', $$SELECT k, count(*) FROM win_ev WHERE ts > now() - make_interval(hours => 1) GROUP BY k$$);
SELECT flowview.create_view('win_bad', $$SELECT k, count(*) FROM win_ev WHERE now() - ts < interval '1 hour' GROUP BY k$$);
SELECT flowview.create_view('win_bad', $$SELECT k, count(*) FROM win_ev WHERE ts > now() - x * interval '1 hour' GROUP BY k$$);
SELECT flowview.create_view('win_bad', $$SELECT k, count(*) FROM win_ev WHERE ts > clock_timestamp() - interval '1 hour' GROUP BY k$$);
SELECT flowview.create_view('win_bad', $$SELECT k, count(*) FROM win_ev WHERE ts > statement_timestamp() GROUP BY k$$);
SELECT flowview.create_view('win_bad', $$SELECT k, count(*) FROM win_ev WHERE ts::date >= current_date GROUP BY k$$);
SELECT flowview.create_view('win_bad', $$SELECT k, count(*) FROM win_ev WHERE lt > localtimestamp - interval '1 hour' GROUP BY k$$);
SELECT flowview.create_view('win_bad', $$SELECT e.k, count(*) FROM win_ev e JOIN win_dim d ON d.k = e.k AND e.ts > now() - interval '1 hour' GROUP BY e.k$$);
SELECT flowview.create_view('win_bad', $$SELECT k FROM win_ev WHERE ts > now() - interval '1 hour' UNION ALL SELECT k FROM win_dim$$);
SELECT flowview.create_view('win_bad', $$SELECT k, count(*) FROM win_ev WHERE ts > (now() - interval '1 hour') + interval '1 minute' GROUP BY k$$);
\set ON_ERROR_STOP 1

-- a window's condition is checked as the rest of the query is: a function
-- its creator owns is refused (the worker would run it at every advance)
CREATE ROLE win_admin IN ROLE flowview_admin;
GRANT CREATE ON SCHEMA public TO win_admin;
GRANT SELECT ON win_ev TO win_admin;
SET ROLE win_admin;
CREATE FUNCTION win_shift(t timestamptz) RETURNS timestamptz IMMUTABLE LANGUAGE sql AS 'SELECT t';
\set ON_ERROR_STOP 0
SELECT flowview.create_view('win_mine', $$SELECT k, count(*) FROM win_ev WHERE win_shift(ts) > now() - interval '1 hour' GROUP BY k$$);
\set ON_ERROR_STOP 1
RESET ROLE;
DROP OWNED BY win_admin;
DROP ROLE win_admin;

-- organisation security on a window view: an analyst sees the window's
-- rows of their unit, and a row leaves their sight on time
SELECT flowview.add_org_unit('win_u0');
SELECT flowview.add_org_unit('win_u1');
CREATE TABLE win_org (id int PRIMARY KEY, unit text, ts timestamptz);
CREATE INDEX ON win_org (ts);
INSERT INTO win_org VALUES (1, 'win_u0', now()), (2, 'win_u0', now() - interval '3 seconds'),
                           (3, 'win_u1', now()), (4, 'win_u0', now() - interval '1 hour');
SELECT flowview.create_view('win_org_v', $$SELECT unit, count(*) AS n FROM win_org WHERE ts > now() - interval '6 seconds' GROUP BY unit$$);
CREATE ROLE win_analyst;
SELECT flowview.assign_role('win_analyst', 'win_u0');
SELECT flowview.enable_org_security('win_org_v', 'unit');
GRANT SELECT ON win_org_v TO win_analyst;
SELECT flowview.wait_for_freshness('win_org_v', '30 s') AS fresh;
SET ROLE win_analyst;
SELECT unit, n FROM win_org_v ORDER BY 1;
RESET ROLE;
SELECT pg_sleep(4);
SET ROLE win_analyst;
SELECT unit, n FROM win_org_v ORDER BY 1;
RESET ROLE;
SELECT flowview.drop_view('win_org_v');
SELECT flowview.drop_org_unit('win_u0');
SELECT flowview.drop_org_unit('win_u1');
DROP OWNED BY win_analyst;
DROP ROLE win_analyst;
DROP TABLE win_org;

-- drop_view takes the clock with it
SELECT to_regclass(format('flowview.fv_store_%s_t', id)) IS NOT NULL AS has_clock FROM flowview.view_catalog WHERE view_oid = 'win_short_v'::regclass;
SELECT flowview.drop_view('win_short_v');
SELECT count(*) AS clocks_left FROM pg_class WHERE relname ~ '^fv_store_[0-9]+_t$'
   AND relname NOT IN (SELECT format('fv_store_%s_t', id) FROM flowview.view_catalog);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT view, state FROM flowview.views WHERE view::text LIKE 'win\_%' ORDER BY 1;
SELECT flowview.drop_view(name) FROM win_defs ORDER BY name;
SELECT flowview.drop_view('win_noidx_v');
DROP TABLE win_ev, win_dim, win_short, win_noidx, win_defs;
-- (win_diff stays for views_hop)
