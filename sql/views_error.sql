-- An apply error in one view (here: division by zero in a group key) puts
-- that view in state error with the message; the other views go on; fixing
-- the cause and refresh_view brings it back.  The same for a join view and
-- a sliding window whose row enters by time alone (their applies register
-- the batch rows in a subtransaction that the error rolls back: the worker
-- once crashed there).
CREATE TABLE meter (id int PRIMARY KEY, v int, ts timestamptz DEFAULT now());
CREATE TABLE meter_site (id int PRIMARY KEY, site text);
INSERT INTO meter_site SELECT i, 's' || i % 2 FROM generate_series(1, 10) i;
INSERT INTO meter VALUES (1, 5), (2, 10);
SELECT flowview.create_view('meter_ratio', $$SELECT 100 / v AS bucket, count(*) FROM meter GROUP BY 1$$) IS NOT NULL AS created;
SELECT flowview.create_view('meter_site_ratio', $$SELECT s.site, 100 / m.v AS bucket, count(*) FROM meter m JOIN meter_site s ON s.id = m.id GROUP BY 1, 2$$) IS NOT NULL AS created;
SELECT flowview.create_view('meter_window', $$SELECT 100 / v AS bucket, count(*) FROM meter WHERE ts BETWEEN now() - interval '1 hour' AND now() GROUP BY 1$$) IS NOT NULL AS created;
SELECT flowview.create_view('meter_total', $$SELECT count(*) AS n, sum(v) AS s FROM meter$$) IS NOT NULL AS created;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;

INSERT INTO meter VALUES (3, 0, now() + interval '1 hour');   -- the window's row enters in an hour
INSERT INTO meter VALUES (5, 0, now() + interval '1 second');  -- this one in a second
SELECT pg_sleep(1.5);
SELECT flowview.wait_for_freshness('meter_total', '60 s') AS total_fresh;
SELECT * FROM meter_total;
SELECT flowview.wait_for_freshness('meter_ratio', '2 s') AS ratio_fresh;
SELECT view, state, error FROM flowview.views WHERE view::text LIKE 'meter\_%' ORDER BY 1;
-- the other view keeps going
INSERT INTO meter VALUES (4, 1);
SELECT flowview.wait_for_freshness('meter_total', '60 s') AS total_fresh;
SELECT * FROM meter_total;

-- the fix: remove the cause, refresh
DELETE FROM meter WHERE v = 0;
SELECT flowview.refresh_view('meter_ratio');
SELECT flowview.refresh_view('meter_site_ratio');
SELECT flowview.refresh_view('meter_window');
SELECT flowview.wait_for_freshness(NULL, '60 s') AS ratio_fresh;
SELECT view, state, error FROM flowview.views WHERE view::text LIKE 'meter\_%' ORDER BY 1;
SELECT * FROM meter_ratio ORDER BY bucket;
SELECT * FROM meter_site_ratio ORDER BY 1, 2;
SELECT flowview.drop_view('meter_ratio');
SELECT flowview.drop_view('meter_site_ratio');
SELECT flowview.drop_view('meter_window');
SELECT flowview.drop_view('meter_total');
