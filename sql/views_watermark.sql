-- Watermarks and late data: create_view(..., allowed_lateness).  The
-- watermark W is the latest event time a view has received less the
-- lateness; windows ending at or before W are closed: their rows are not
-- applied but recorded in flowview.late_rows, and counted in
-- flowview.stats.  Each window form (date_trunc, date_bin, a cast to date,
-- the time column itself, over a join); late inserts, deletes and both
-- versions of updates; rows within the lateness and NULL event times
-- applied; each view equal to its query over the source adjusted by its
-- late rows, and to its query over the source in the open windows; the
-- refusals.
\set VERBOSITY default
SET timezone = 'UTC';
CREATE TABLE wm_ev (id int PRIMARY KEY, k text, ts timestamptz, x int);
CREATE TABLE wm_dim (k text PRIMARY KEY, region text);
INSERT INTO wm_dim VALUES ('a', 'north'), ('b', 'south');
INSERT INTO wm_ev SELECT i, CASE WHEN i % 3 = 0 THEN 'b' ELSE 'a' END,
                         timestamptz '2026-01-01 00:00:00+00' + i * interval '20 seconds', i
  FROM generate_series(1, 60) i;
CREATE TABLE wm_defs (name text PRIMARY KEY, q text, lateness interval, minmax text, len interval);
INSERT INTO wm_defs VALUES
 ('wm_minute', $$SELECT date_trunc('minute', ts) AS minute, k, count(*) AS n, sum(x) AS s, max(x) AS hi FROM wm_ev GROUP BY 1, 2$$,
               '2 minutes', NULL, '1 minute'),
 ('wm_bin',    $$SELECT date_bin('5 minutes', ts, '2026-01-01') AS w, count(*) AS n, min(x) AS lo FROM wm_ev GROUP BY 1$$,
               '0', 'multiset', '5 minutes'),
 ('wm_day',    $$SELECT ts::date AS day, k, count(*) AS n FROM wm_ev GROUP BY 1, 2$$,
               '1 hour', 'rescan', '1 day'),
 ('wm_rows',   $$SELECT ts, k, x FROM wm_ev WHERE x > 10$$,
               '5 minutes', 'rescan', '0'),
 ('wm_join',   $$SELECT date_trunc('minute', e.ts) AS minute, d.region, count(*) AS n, sum(e.x) AS s FROM wm_ev e JOIN wm_dim d ON d.k = e.k GROUP BY 1, 2 HAVING count(*) > 1$$,
               '30 seconds', 'rescan', '1 minute');
SELECT flowview.create_view(name, q, minmax => minmax, allowed_lateness => lateness) FROM wm_defs ORDER BY name;
-- the oracle: the query over the source's rows with the late rows put
-- back (a late delete) and taken out (a late insert); and, over the
-- windows still open, the query over the source itself
CREATE FUNCTION wm_adjusted(v regclass) RETURNS SETOF wm_ev LANGUAGE sql AS $$
  (SELECT 0, k, ts, x FROM wm_ev
   UNION ALL
   SELECT r.* FROM flowview.late_rows l, jsonb_populate_record(NULL::wm_ev, l.row_data || '{"id": 0}') r
    WHERE l.view = v AND l.sign = -1)
  EXCEPT ALL
  SELECT r.* FROM flowview.late_rows l, jsonb_populate_record(NULL::wm_ev, l.row_data || '{"id": 0}') r
   WHERE l.view = v AND l.sign = 1
$$;
-- (the late rows carry the columns the views of wm_ev read, not id: it is
-- 0 in all three branches)
CREATE FUNCTION wm_diff() RETURNS TABLE (name text, side text, row_text text) LANGUAGE plpgsql AS $$
DECLARE
  d record;
  oracle text;
  w timestamptz;
  keycol text;
BEGIN
  FOR d IN SELECT * FROM wm_defs ORDER BY 1 LOOP
    IF d.name = 'wm_join' THEN
      -- the join's late rows are rows of the join, (e.x, e.ts, d.region)
      oracle := $o$SELECT date_trunc('minute', ts) AS minute, region, count(*) AS n, sum(x) AS s FROM
        ((SELECT e.x, e.ts, d.region FROM wm_ev e JOIN wm_dim d ON d.k = e.k
          UNION ALL
          SELECT (l.row_data->>'e.x')::int, (l.row_data->>'e.ts')::timestamptz, l.row_data->>'d.region'
            FROM flowview.late_rows l WHERE l.view = 'wm_join'::regclass AND l.sign = -1)
         EXCEPT ALL
         SELECT (l.row_data->>'e.x')::int, (l.row_data->>'e.ts')::timestamptz, l.row_data->>'d.region'
           FROM flowview.late_rows l WHERE l.view = 'wm_join'::regclass AND l.sign = 1) j
        GROUP BY 1, 2 HAVING count(*) > 1$o$;
    ELSE
      oracle := replace(d.q, 'FROM wm_ev', format('FROM wm_adjusted(%L) wm_ev', d.name));
    END IF;
    RETURN QUERY EXECUTE format('SELECT %L, ''view only'', x::text FROM (SELECT * FROM %s EXCEPT ALL %s) x', d.name, d.name, oracle);
    RETURN QUERY EXECUTE format('SELECT %L, ''query only'', x::text FROM (%s EXCEPT ALL SELECT * FROM %s) x', d.name, oracle, d.name);
    -- open windows: the query over the source
    SELECT watermark INTO w FROM flowview.views WHERE view = d.name::regclass;
    keycol := (SELECT attname FROM pg_attribute WHERE attrelid = d.name::regclass AND attnum = 1);
    RETURN QUERY EXECUTE format('SELECT %L, ''open window, view only'', x::text FROM (SELECT * FROM %s v WHERE v.%I + %L::interval > %L EXCEPT ALL SELECT * FROM (%s) q WHERE q.%I + %L::interval > %L) x',
                                d.name, d.name, keycol, d.len, w, d.q, keycol, d.len, w);
    RETURN QUERY EXECUTE format('SELECT %L, ''open window, query only'', x::text FROM (SELECT * FROM (%s) q WHERE q.%I + %L::interval > %L EXCEPT ALL SELECT * FROM %s v WHERE v.%I + %L::interval > %L) x',
                                d.name, d.q, keycol, d.len, w, d.name, keycol, d.len, w);
  END LOOP;
END $$;
SELECT flowview.wait_for_freshness(NULL, '60 s');
-- the watermark: the latest event time (00:20:00) less the lateness
SELECT v.view, v.allowed_lateness, v.watermark, v.minmax FROM flowview.views v JOIN wm_defs d ON d.name = v.view::text ORDER BY 1;
SELECT * FROM wm_diff() ORDER BY 1, 2, 3;

-- a row within the lateness (its window ends after W): applied; one whose
-- window has closed: late; a NULL event time: applied; a delete and an
-- update in a closed window: both versions late; an update moving a row
-- from a closed window to an open one: the old version late, the new one
-- applied
INSERT INTO wm_ev VALUES (101, 'a', '2026-01-01 00:19:30+00', 1001);
INSERT INTO wm_ev VALUES (102, 'b', '2026-01-01 00:05:10+00', 1002);
INSERT INTO wm_ev VALUES (103, 'a', NULL, 1003);
DELETE FROM wm_ev WHERE id = 4;
UPDATE wm_ev SET x = x + 100 WHERE id = 5;
UPDATE wm_ev SET ts = '2026-01-01 00:19:50+00' WHERE id = 6;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT view, sign, event_time, watermark, row_data FROM flowview.late_rows ORDER BY view::text, event_time, sign, row_data::text;
SELECT s.view, s.late_rows FROM flowview.stats s JOIN wm_defs d ON d.name = s.view::text ORDER BY 1;
SELECT * FROM wm_diff() ORDER BY 1, 2, 3;
-- late rows and watermarks are what the view says about them
SELECT * FROM wm_minute WHERE minute IN ('2026-01-01 00:05:00+00', '2026-01-01 00:19:00+00') ORDER BY 1, 2;
-- alerts when a window closes: evaluated once per group as the watermark
-- passes its window's end, with its final values (an event that starts and
-- ends at once); the other rules on the groups batches change
SELECT flowview.create_alert('wm_closed', 'wm_minute', 'n >= 2', 'wm_channel', on_close => true);
SELECT flowview.create_alert('wm_changed', 'wm_minute', 'n >= 100');
SELECT pg_sleep(0.6);   -- the worker reads its rules at most every 250 ms
-- the stream moves on: the watermark follows (never back), and a row of a
-- window that was open before is now late
INSERT INTO wm_ev VALUES (104, 'a', '2026-01-01 01:00:00+00', 1004);
SELECT flowview.wait_for_freshness(NULL, '60 s');
-- the windows that closed (ending after 00:18, at or before 00:58) with two
-- rows or more
SELECT alert, group_key, group_values->>'n' AS n, fired_at = ended_at AS final
  FROM flowview.alert_events WHERE alert IN ('wm_closed', 'wm_changed') ORDER BY alert, group_key::text;
SELECT count(*) AS closed_windows_with_two FROM wm_minute
 WHERE minute + interval '1 minute' > '2026-01-01 00:18:00+00' AND minute + interval '1 minute' <= '2026-01-01 00:58:00+00' AND n >= 2;
INSERT INTO wm_ev VALUES (105, 'b', '2026-01-01 00:19:40+00', 1005), (106, 'a', '2026-01-01 00:00:00+00', 1006);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT v.view, v.watermark FROM flowview.views v JOIN wm_defs d ON d.name = v.view::text ORDER BY 1;
SELECT view, count(*) FILTER (WHERE (row_data->>'x')::int IN (1005, 1006)) AS late_of_the_two FROM flowview.late_rows GROUP BY 1 ORDER BY 1;
SELECT * FROM wm_diff() ORDER BY 1, 2, 3;
-- a dimension change of the join view in a closed window: late too
UPDATE wm_dim SET region = 'east' WHERE k = 'b';
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT * FROM wm_diff() ORDER BY 1, 2, 3;
SELECT count(*) > 0 AS join_rows_late FROM flowview.late_rows WHERE view = 'wm_join'::regclass AND row_data ? 'd.region';
-- refresh_view recomputes every window from the source (the late rows
-- too), so they leave the log; the watermark stays
SELECT flowview.refresh_view('wm_minute');
SELECT flowview.wait_for_freshness('wm_minute', '60 s');
SELECT watermark FROM flowview.views WHERE view = 'wm_minute'::regclass;
SELECT count(*) AS late_rows_after_refresh FROM flowview.late_rows WHERE view = 'wm_minute'::regclass;
SELECT count(*) AS differences FROM (SELECT * FROM wm_minute EXCEPT ALL SELECT date_trunc('minute', ts), k, count(*), sum(x), max(x) FROM wm_ev GROUP BY 1, 2) x;
SELECT * FROM wm_diff() ORDER BY 1, 2, 3;

-- refused
\set ON_ERROR_STOP 0
SELECT flowview.create_view('wm_bad', $$SELECT k, count(*) FROM wm_ev GROUP BY k$$, allowed_lateness => '1 minute');
-- (min and max of a view with a watermark come from the rows it applies)
SELECT flowview.create_view('wm_bad', $$SELECT date_trunc('minute', ts) AS m, max(x) FROM wm_ev GROUP BY 1$$, minmax => 'rescan', allowed_lateness => '1 minute');
SELECT flowview.create_view('wm_bad', $$SELECT date_trunc('minute', ts) AS m, count(*) FROM wm_ev GROUP BY 1$$, allowed_lateness => '-1 minute');
SELECT flowview.create_view('wm_bad', $$SELECT date_trunc('minute', ts) AS m, count(*) FROM wm_ev WHERE ts > now() - interval '1 hour' GROUP BY 1$$, allowed_lateness => '1 minute');
SELECT flowview.create_view('wm_bad', $$SELECT count(*) FROM wm_ev$$, allowed_lateness => '1 minute');
SELECT flowview.create_view('wm_bad', $$SELECT date_trunc('hour', minute) AS h, sum(n) AS n FROM wm_minute GROUP BY 1$$, allowed_lateness => '1 minute');
SELECT flowview.alter_view('wm_minute', $$SELECT date_trunc('minute', ts) AS minute, k, count(*) AS n FROM wm_ev GROUP BY 1, 2$$);
SELECT flowview.create_alert('wm_bad', 'wm_minute', 'n > 1', 'c', on_close => NULL);
SELECT flowview.create_view('wm_plain', $$SELECT k, count(*) AS n FROM wm_ev GROUP BY k$$);
SELECT flowview.create_alert('wm_bad', 'wm_plain', 'n > 1', 'c', on_close => true);
SELECT flowview.drop_view('wm_plain');
\set ON_ERROR_STOP 1
-- a rollup over a view with a watermark follows what it applies
SELECT flowview.create_view('wm_hour', $$SELECT date_trunc('hour', minute) AS hour, sum(n) AS n FROM wm_minute GROUP BY 1$$);
INSERT INTO wm_ev VALUES (107, 'a', '2026-01-01 00:59:59+00', 7), (108, 'a', '2026-01-01 00:01:00+00', 8);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT count(*) AS differences FROM (SELECT * FROM wm_hour EXCEPT ALL SELECT date_trunc('hour', minute), sum(n) FROM wm_minute GROUP BY 1) x;
SELECT flowview.drop_view('wm_hour');
-- the dead letters are the admins': a reader may not read them
CREATE ROLE wm_reader IN ROLE flowview_reader;
SET ROLE wm_reader;
\set ON_ERROR_STOP 0
SELECT count(*) FROM flowview.late_rows;
\set ON_ERROR_STOP 1
SELECT count(*) >= 0 AS stats_readable FROM flowview.stats;
RESET ROLE;
DROP ROLE wm_reader;
-- an admin sees the late rows of its own views only
CREATE ROLE wm_admin IN ROLE flowview_admin;
SET ROLE wm_admin;
SELECT count(*) AS late_rows_of_others FROM flowview.late_rows;
\set ON_ERROR_STOP 0
SELECT count(*) FROM flowview.late_row_log;
\set ON_ERROR_STOP 1
RESET ROLE;
SELECT count(*) > 0 AS superuser_sees_them FROM flowview.late_rows;
DROP ROLE wm_admin;
-- dropping a view drops its late rows
SELECT count(*) > 0 AS had_late_rows FROM flowview.late_rows WHERE view = 'wm_minute'::regclass;
SELECT flowview.drop_view('wm_minute');
SELECT count(*) AS late_rows_of_dropped FROM flowview.late_row_log l WHERE NOT EXISTS (SELECT FROM flowview.view_catalog c WHERE c.id = l.view_id);
SELECT flowview.drop_view(name::regclass) FROM wm_defs WHERE name <> 'wm_minute' ORDER BY name;
SELECT count(*) AS late_rows_left FROM flowview.late_row_log;
DROP FUNCTION wm_diff(), wm_adjusted(regclass);
DROP TABLE wm_defs, wm_ev, wm_dim;
