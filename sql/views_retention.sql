-- Retention: create_view(..., retain => interval).  Groups whose time key is
-- older than the horizon (now() - retain, moved forward by the worker about
-- once a second) are not in the view, leave it without any write, and never
-- come back: rows written, deleted or updated in them are not applied.
-- After flowview.wait_for_freshness() each view equals its query restricted
-- to groups at or after flowview.views.retain_horizon (NULL keys kept),
-- EXCEPT ALL both ways.  Aggregates, min/max multisets, a join, a view of
-- rows, alter_view carrying the retention, refresh_view, and the refusals.
\set VERBOSITY default
SET timezone = 'UTC';
CREATE TABLE ret_ev (id int PRIMARY KEY, k text, ts timestamptz, d date, x numeric);
CREATE TABLE ret_dim (k text PRIMARY KEY, region text);
INSERT INTO ret_dim VALUES ('a', 'north'), ('b', 'south');
-- rows three hours old, ten minutes old, now, and without a time
INSERT INTO ret_ev VALUES
  (1, 'a', now() - interval '3 hours', current_date - 40, 1),
  (2, 'a', now() - interval '10 minutes', current_date - 1, 2),
  (3, 'b', now(), current_date, 3),
  (4, 'b', NULL, NULL, 4),
  (5, 'a', now() - interval '2 hours 30 minutes', current_date - 35, 5);

-- the view against its query over the groups at or after its horizon, in
-- one snapshot (the horizon and the storage move in one transaction);
-- "key" names the query's time key expression
CREATE FUNCTION ret_diff(v regclass, q text, key text) RETURNS TABLE (side text, row_text text) LANGUAGE plpgsql AS $$
DECLARE
  oracle text := format('SELECT * FROM (%s) o WHERE o.%I >= coalesce((SELECT retain_horizon FROM flowview.views WHERE view = %L::regclass), ''-infinity'') OR o.%I IS NULL',
                        q, key, v, key);
BEGIN
  RETURN QUERY EXECUTE format('SELECT ''view only'', x::text FROM (SELECT * FROM %s EXCEPT ALL %s) x', v, oracle);
  RETURN QUERY EXECUTE format('SELECT ''query only'', x::text FROM (%s EXCEPT ALL SELECT * FROM %s) x', oracle, v);
END $$;
CREATE TABLE ret_defs (name text PRIMARY KEY, q text, key text, minmax text, retain interval);
INSERT INTO ret_defs VALUES
 ('ret_minute',   $$SELECT k, date_trunc('minute', ts) AS m, count(*) AS n, sum(x) AS s, avg(x) AS a, min(x) AS lo, max(x) AS hi FROM ret_ev GROUP BY 1, 2$$, 'm', 'rescan', '1 hour'),
 ('ret_multiset', $$SELECT date_trunc('hour', ts) AS h, k, count(*) AS n, min(x) AS lo, max(x) AS hi FROM ret_ev GROUP BY 1, 2$$, 'h', 'multiset', '1 hour'),
 ('ret_day',      $$SELECT d, count(*) AS n, sum(x) AS s FROM ret_ev WHERE x < 100 GROUP BY d$$, 'd', 'rescan', '30 days'),
 ('ret_join',     $$SELECT r.region, date_bin('15 minutes', e.ts, timestamptz '2000-01-01') AS w, count(*) AS n, sum(e.x) AS s FROM ret_ev e JOIN ret_dim r ON r.k = e.k GROUP BY 1, 2$$, 'w', 'rescan', '1 hour'),
 ('ret_rows',     $$SELECT id, k, date_trunc('minute', ts) AS m FROM ret_ev$$, 'm', 'rescan', '1 hour');
SELECT flowview.create_view(name, q, minmax => minmax, retain => retain) FROM ret_defs ORDER BY name;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT v.view, v.retain, v.retain_horizon BETWEEN now() - v.retain - interval '1 minute' AND now() - v.retain AS horizon_is_now_minus_retain
  FROM flowview.views v JOIN ret_defs d ON d.name = v.view::text ORDER BY 1;
SELECT d.name, x.* FROM ret_defs d, ret_diff(d.name::regclass, d.q, d.key) x ORDER BY 1, 2, 3;
-- what is in the views: the old groups are not
SELECT k, m IS NULL AS no_time, n, s, lo, hi FROM ret_minute ORDER BY 1, 2, 3;
SELECT d IS NULL AS no_date, d = current_date - 1 AS yesterday, n, s FROM ret_day ORDER BY 1, 2;
SELECT id, k FROM ret_rows ORDER BY id;

-- writes in expired groups are not applied (inserted, deleted, updated
-- within them); rows moving in and out of the kept window are
INSERT INTO ret_ev VALUES (6, 'a', now() - interval '2 hours', current_date - 50, 6);
DELETE FROM ret_ev WHERE id = 1;
UPDATE ret_ev SET x = x + 100 WHERE id = 5;
UPDATE ret_ev SET ts = now(), d = current_date WHERE id = 6;          -- into the window
UPDATE ret_ev SET ts = now() - interval '5 hours', d = current_date - 60 WHERE id = 2;  -- out of it
INSERT INTO ret_ev VALUES (7, 'b', NULL, NULL, 7);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT d.name, x.* FROM ret_defs d, ret_diff(d.name::regclass, d.q, d.key) x ORDER BY 1, 2, 3;
SELECT k, m IS NULL AS no_time, n, s, lo, hi FROM ret_minute ORDER BY 1, 2, 3;
-- nothing negative or empty was left behind by the deletes and updates
CREATE FUNCTION ret_store(v regclass) RETURNS text LANGUAGE sql AS
  $$SELECT 'flowview.fv_store_' || id FROM flowview.view_catalog WHERE view_oid = v$$;
CREATE FUNCTION ret_count(sql text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE sql INTO n;
  RETURN n;
END $$;
SELECT d.name, ret_count(format('SELECT count(*) FROM %s WHERE __rows <= 0', ret_store(d.name::regclass))) AS empty_groups
  FROM ret_defs d ORDER BY 1;
-- the min/max multisets keep no value of an expired group
SELECT count(*) AS multisets,
       sum(ret_count(format('SELECT count(*) FROM %s m WHERE NOT EXISTS (SELECT FROM %s s WHERE s.g1 IS NOT DISTINCT FROM m.g1 AND s.g2 IS NOT DISTINCT FROM m.g2)',
                            t, ret_store('ret_multiset')))) AS orphan_values
  FROM flowview.view_catalog c, unnest(c.storage_tables) t
 WHERE c.view_oid = 'ret_multiset'::regclass AND t ~ '_m[0-9]+$';
SELECT id, k FROM ret_rows ORDER BY id;

-- groups leave on time without any write: a two-second retention
CREATE TABLE ret_clock (id int PRIMARY KEY, ts timestamptz);
INSERT INTO ret_clock VALUES (1, now()), (2, now() + interval '1 hour'), (3, NULL);
SELECT flowview.create_view('ret_seconds', $$SELECT date_trunc('second', ts) AS s, count(*) AS n, min(id) AS lo FROM ret_clock GROUP BY 1$$,
                            minmax => 'multiset', retain => interval '2 seconds');
SELECT flowview.wait_for_freshness('ret_seconds', '60 s');
SELECT count(*) AS groups_at_first FROM ret_seconds;
DO $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    EXIT WHEN (SELECT count(*) FROM ret_seconds) = 2 OR clock_timestamp() - t0 > interval '30 s';
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
-- the future row and the NULL stay; the horizon has moved
SELECT s > now() AS future, n, lo FROM ret_seconds ORDER BY 1;
-- and its min/max multiset keeps no value of the expired group
SELECT count(*) AS multisets,
       sum(ret_count(format('SELECT count(*) FROM %s m WHERE NOT EXISTS (SELECT FROM %s s WHERE s.g1 IS NOT DISTINCT FROM m.g1)',
                            t, ret_store('ret_seconds')))) AS orphan_values
  FROM flowview.view_catalog c, unnest(c.storage_tables) t
 WHERE c.view_oid = 'ret_seconds'::regclass AND t ~ '_m[0-9]+$';
SELECT retain_horizon > now() - interval '30 seconds' AS horizon_moved FROM flowview.views WHERE view = 'ret_seconds'::regclass;
-- a row behind the horizon never comes back
INSERT INTO ret_clock VALUES (4, now() - interval '1 minute');
SELECT flowview.wait_for_freshness('ret_seconds', '60 s');
SELECT count(*) AS groups FROM ret_seconds;

-- refresh_view recomputes within the horizon
SELECT flowview.refresh_view('ret_minute');
SELECT flowview.wait_for_freshness('ret_minute', '60 s');
SELECT x.* FROM ret_defs d, ret_diff(d.name::regclass, d.q, d.key) x WHERE d.name = 'ret_minute';

-- alter_view carries the retention; a new query without a time key is refused (2BP01)
SELECT flowview.alter_view('ret_day', $$SELECT d, count(*) AS n, sum(x) AS s, max(x) AS hi FROM ret_ev WHERE x < 100 GROUP BY d$$);
SELECT flowview.wait_for_freshness('ret_day', '60 s');
SELECT retain FROM flowview.views WHERE view = 'ret_day'::regclass;
SELECT x.* FROM ret_diff('ret_day', $$SELECT d, count(*) AS n, sum(x) AS s, max(x) AS hi FROM ret_ev WHERE x < 100 GROUP BY d$$, 'd') x;
CREATE FUNCTION ret_refusal(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT ret_refusal($q$SELECT flowview.alter_view('ret_day', 'SELECT k, count(*) AS n FROM ret_ev GROUP BY k')$q$);
SELECT retain FROM flowview.views WHERE view = 'ret_day'::regclass;

-- without retain nothing changes: NULL in flowview.views
SELECT flowview.create_view('ret_none', $$SELECT d, count(*) AS n FROM ret_ev GROUP BY d$$);
SELECT retain IS NULL AND retain_horizon IS NULL AS no_retention FROM flowview.views WHERE view = 'ret_none'::regclass;

-- set_retention: longer brings expired groups back (the view is recomputed),
-- shorter takes effect at the worker's next tick, NULL keeps every group
SELECT ret_count('SELECT count(*) FROM ret_minute') AS groups_with_1_hour;
SELECT flowview.set_retention('ret_minute', interval '4 hours');
SELECT flowview.wait_for_freshness('ret_minute', '60 s');
SELECT retain, retain_horizon BETWEEN now() - interval '4 hours 1 minute' AND now() - interval '4 hours' AS horizon_4_hours
  FROM flowview.views WHERE view = 'ret_minute'::regclass;
SELECT ret_count('SELECT count(*) FROM ret_minute') AS groups_with_4_hours;
SELECT x.* FROM ret_defs d, ret_diff(d.name::regclass, d.q, d.key) x WHERE d.name = 'ret_minute';
SELECT flowview.set_retention('ret_minute', interval '1 hour');
DO $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    EXIT WHEN (SELECT retain_horizon > now() - interval '1 hour 1 minute' FROM flowview.views WHERE view = 'ret_minute'::regclass)
           OR clock_timestamp() - t0 > interval '30 s';
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT retain, retain_horizon > now() - interval '1 hour 1 minute' AS horizon_1_hour
  FROM flowview.views WHERE view = 'ret_minute'::regclass;
SELECT ret_count('SELECT count(*) FROM ret_minute') AS groups_with_1_hour_again;
SELECT x.* FROM ret_defs d, ret_diff(d.name::regclass, d.q, d.key) x WHERE d.name = 'ret_minute';
SELECT flowview.set_retention('ret_minute', NULL);
SELECT flowview.wait_for_freshness('ret_minute', '60 s');
SELECT retain IS NULL AND retain_horizon IS NULL AS no_retention FROM flowview.views WHERE view = 'ret_minute'::regclass;
SELECT ret_count('SELECT count(*) FROM ret_minute') AS groups_without_retention;
SELECT x.* FROM ret_defs d, ret_diff(d.name::regclass, d.q, d.key) x WHERE d.name = 'ret_minute';
-- an old row counts again
INSERT INTO ret_ev VALUES (8, 'b', now() - interval '9 hours', current_date - 90, 8);
SELECT flowview.wait_for_freshness('ret_minute', '60 s');
SELECT x.* FROM ret_defs d, ret_diff(d.name::regclass, d.q, d.key) x WHERE d.name = 'ret_minute';
SELECT flowview.set_retention('ret_minute', interval '1 hour');
SELECT flowview.wait_for_freshness('ret_minute', '60 s');
-- its refusals: not the owner (42501), a view made without retain and a
-- pending change of definition (55000), not positive (22023), NULL view (22004)
CREATE ROLE ret_other IN ROLE flowview_admin;
SET ROLE ret_other;
SELECT ret_refusal($q$SELECT flowview.set_retention('ret_minute', interval '2 hours')$q$);
RESET ROLE;
DROP ROLE ret_other;
SELECT ret_refusal($q$SELECT flowview.set_retention('ret_none', interval '2 hours')$q$);
BEGIN;
SELECT flowview.alter_view('ret_minute', $$SELECT k, date_trunc('minute', ts) AS m, count(*) AS n FROM ret_ev GROUP BY 1, 2$$) > 0 AS pending;
SELECT ret_refusal($q$SELECT flowview.set_retention('ret_minute', interval '2 hours')$q$);
ROLLBACK;
SELECT ret_refusal($q$SELECT flowview.set_retention('ret_minute', interval '-1 hour')$q$);
SELECT ret_refusal($q$SELECT flowview.set_retention(NULL, interval '1 hour')$q$);
SELECT retain FROM flowview.views WHERE view = 'ret_minute'::regclass;

-- refusals: no time key (22023), a global view, retain not positive
SELECT flowview.create_view('ret_bad', $$SELECT k, count(*) FROM ret_ev GROUP BY k$$, retain => interval '1 day');
SELECT ret_refusal($q$SELECT flowview.create_view('ret_bad', 'SELECT k, count(*) FROM ret_ev GROUP BY k', retain => interval '1 day')$q$);
SELECT ret_refusal($q$SELECT flowview.create_view('ret_bad', 'SELECT count(*) FROM ret_ev', retain => interval '1 day')$q$);
SELECT ret_refusal($q$SELECT flowview.create_view('ret_bad', 'SELECT d, count(*) FROM ret_ev GROUP BY d', retain => interval '0')$q$);
SELECT ret_refusal($q$SELECT flowview.create_view('ret_bad', 'SELECT d, count(*) FROM ret_ev GROUP BY d', retain => interval '-1 day')$q$);

-- the horizon table is storage: DDL on it is refused, drop_view drops it
SELECT regexp_replace(ret_refusal(format('ALTER TABLE %s_h ADD COLUMN y int', ret_store('ret_minute'))), 'fv_store_[0-9]+', 'fv_store_N') AS alter_horizon;
SELECT flowview.drop_view(name) FROM ret_defs ORDER BY name;
SELECT flowview.drop_view('ret_seconds');
SELECT flowview.drop_view('ret_none');
SELECT count(*) AS horizon_tables_left FROM pg_class WHERE relname ~ '^fv_store_[0-9]+_h$';
DROP FUNCTION ret_diff(regclass, text, text);
DROP FUNCTION ret_store(regclass);
DROP FUNCTION ret_count(text);
DROP FUNCTION ret_refusal(text);
DROP TABLE ret_defs, ret_ev, ret_dim, ret_clock;
