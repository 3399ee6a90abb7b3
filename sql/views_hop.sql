-- Hopping windows: flowview.hop(ts, size, slide [, origin]) in FROM gives
-- the starts of the windows of length size, every slide, that contain ts;
-- a live view groups by them, so each row counts in every window it falls
-- in.  The function's own answers at the edges and its refusals; a view
-- equal to its query after inserts, updates that move rows between windows
-- and deletes; hopping windows combined with a join, a sliding window and
-- a retention.
\set VERBOSITY default
SET timezone = 'UTC';
-- the windows of 10 minutes every 5 minutes containing a time: two, or one
-- on the edge of a slide (a window is [start, start + size))
SELECT * FROM flowview.hop('2026-01-01 00:07:00+00', interval '10 minutes', interval '5 minutes');
SELECT * FROM flowview.hop('2026-01-01 00:05:00+00', interval '10 minutes', interval '5 minutes');
SELECT * FROM flowview.hop('2026-01-01 00:04:59.999999+00', interval '10 minutes', interval '5 minutes');
-- a size that is no multiple of the slide, an origin, a gap between windows
SELECT * FROM flowview.hop('2026-01-01 00:07:00+00', interval '7 minutes', interval '3 minutes');
SELECT * FROM flowview.hop('2026-01-01 00:07:00+00', interval '1 hour', interval '30 minutes', '2026-01-01 00:10:00+00');
SELECT count(*) AS in_no_window FROM flowview.hop('2026-01-01 00:07:00+00', interval '1 minute', interval '5 minutes');
SELECT count(*) AS rows_null FROM flowview.hop(NULL, interval '1 minute', interval '5 minutes');
\set ON_ERROR_STOP 0
SELECT * FROM flowview.hop(now(), interval '1 day', interval '1 hour');
SELECT * FROM flowview.hop(now(), interval '1 hour', interval '0');
SELECT * FROM flowview.hop(now(), interval '-1 hour', interval '1 minute');
SELECT * FROM flowview.hop(now(), interval '1 month', interval '1 hour');
SELECT * FROM flowview.hop(now(), interval '1000 hours', interval '1 second');
\set ON_ERROR_STOP 1

CREATE TABLE hop_ev (id int PRIMARY KEY, k text, ts timestamptz, x int);
CREATE TABLE hop_dim (k text PRIMARY KEY, region text);
INSERT INTO hop_dim VALUES ('a', 'north'), ('b', 'south');
INSERT INTO hop_ev SELECT i, CASE WHEN i % 3 = 0 THEN 'b' ELSE 'a' END,
                          timestamptz '2026-01-01 00:00:00+00' + i * interval '97 seconds', i
  FROM generate_series(1, 40) i;
INSERT INTO hop_ev VALUES (41, 'a', NULL, 41);
-- win_diff (views_window): the view against its query, now() read as the
-- view's window clock
CREATE TABLE hop_defs (name text PRIMARY KEY, q text, minmax text);
INSERT INTO hop_defs VALUES
 ('hop_10m',    $$SELECT w.start, e.k, count(*) AS n, sum(e.x) AS s, min(e.x) AS lo, max(e.x) AS hi FROM hop_ev e, flowview.hop(e.ts, interval '10 minutes', interval '5 minutes') AS w(start) GROUP BY 1, 2$$, 'rescan'),
 ('hop_ms',     $$SELECT w.start, count(*) AS n, min(e.x) AS lo, max(e.x) AS hi FROM hop_ev e CROSS JOIN LATERAL flowview.hop(e.ts, interval '7 minutes', interval '3 minutes') AS w(start) WHERE e.x > 2 GROUP BY 1$$, 'multiset'),
 ('hop_join',   $$SELECT d.region, w.start, count(*) AS n, sum(e.x) AS s FROM hop_ev e JOIN hop_dim d ON d.k = e.k, flowview.hop(e.ts, interval '15 minutes', interval '5 minutes') w(start) GROUP BY 1, 2$$, 'rescan'),
 ('hop_rows',   $$SELECT e.id, w.start FROM hop_ev e, flowview.hop(e.ts, interval '4 minutes', interval '2 minutes') w(start)$$, 'rescan');
SELECT flowview.create_view(name, q, minmax => minmax) FROM hop_defs ORDER BY name;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT d.name, x.* FROM hop_defs d, win_diff(d.name::regclass, d.q) x ORDER BY 1, 2, 3;
SELECT * FROM hop_10m ORDER BY 1, 2 LIMIT 6;
-- a row counts in each window it falls in
SELECT count(*) AS windows_of_row_5 FROM hop_rows WHERE id = 5;
-- min and max of windows are kept as multisets unless asked otherwise
SELECT flowview.create_view('hop_default', $$SELECT w.start, max(e.x) AS hi FROM hop_ev e, flowview.hop(e.ts, interval '10 minutes', interval '5 minutes') w(start) GROUP BY 1$$) IS NOT NULL AS created;
SELECT minmax FROM flowview.views WHERE view = 'hop_default'::regclass;
SELECT flowview.drop_view('hop_default');

-- inserts, updates moving rows between windows and groups, deletes
INSERT INTO hop_ev VALUES (42, 'b', '2026-01-01 00:09:59+00', 1000), (43, 'a', '2026-01-01 00:10:00+00', -5);
UPDATE hop_ev SET ts = ts + interval '6 minutes' WHERE id % 4 = 0;
UPDATE hop_ev SET k = 'b', x = x * 2 WHERE id % 5 = 0;
UPDATE hop_ev SET ts = '2026-01-01 00:03:00+00' WHERE id = 41;
DELETE FROM hop_ev WHERE id % 7 = 0;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT d.name, x.* FROM hop_defs d, win_diff(d.name::regclass, d.q) x ORDER BY 1, 2, 3;
SELECT * FROM hop_10m ORDER BY 1, 2 LIMIT 6;

-- hopping windows of the last hour (a sliding window), kept 2 hours
CREATE TABLE hop_live (id int PRIMARY KEY, ts timestamptz, x int);
CREATE INDEX ON hop_live (ts);
INSERT INTO hop_live SELECT i, now() - i * interval '1 minute', i FROM generate_series(1, 90) i;
SELECT flowview.create_view('hop_recent', $$SELECT w.start, count(*) AS n, sum(l.x) AS s FROM hop_live l, flowview.hop(l.ts, interval '20 minutes', interval '10 minutes') w(start) WHERE l.ts > now() - interval '1 hour' GROUP BY 1$$,
                            retain => interval '2 hours');
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT x.* FROM win_diff('hop_recent', $$SELECT w.start, count(*) AS n, sum(l.x) AS s FROM hop_live l, flowview.hop(l.ts, interval '20 minutes', interval '10 minutes') w(start) WHERE l.ts > now() - interval '1 hour' GROUP BY 1$$) x;
SELECT minmax, retain, window_clock IS NOT NULL AS has_clock FROM flowview.views WHERE view = 'hop_recent'::regclass;
SELECT sum(n) = 2 * (SELECT count(*) FROM hop_live WHERE ts > (SELECT window_clock FROM flowview.views WHERE view = 'hop_recent'::regclass) - interval '1 hour') AS each_row_twice
  FROM hop_recent;

-- refused: functions over other functions' columns, volatile arguments
\set ON_ERROR_STOP 0
SELECT flowview.create_view('hop_bad', $$SELECT w.start, v.n FROM hop_ev e, flowview.hop(e.ts, interval '10 minutes', interval '5 minutes') w(start), generate_series(1, extract(minute FROM w.start)::int) v(n)$$);
SELECT flowview.create_view('hop_bad', $$SELECT w.start, count(*) FROM hop_ev e, flowview.hop(e.ts, (random() * 10) * interval '1 minute', interval '5 minutes') w(start) GROUP BY 1$$);
SELECT flowview.create_view('hop_bad', $$SELECT w.start, count(*) FROM hop_ev e LEFT JOIN hop_dim d ON d.k = e.k, flowview.hop(e.ts, interval '10 minutes', interval '5 minutes') w(start) GROUP BY 1$$);
\set ON_ERROR_STOP 1

SELECT flowview.drop_view(name) FROM hop_defs ORDER BY name;
SELECT flowview.drop_view('hop_recent');
DROP TABLE hop_ev, hop_dim, hop_live, hop_defs;
DROP FUNCTION win_diff(regclass, text);
