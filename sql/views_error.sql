-- An apply error in one view (here: division by zero in a group key) puts
-- that view in state error with the message; the other views go on; fixing
-- the cause and refresh_view brings it back.
CREATE TABLE meter (id int PRIMARY KEY, v int);
INSERT INTO meter VALUES (1, 5), (2, 10);
SELECT flowview.create_view('meter_ratio', $$SELECT 100 / v AS bucket, count(*) FROM meter GROUP BY 1$$) IS NOT NULL AS created;
SELECT flowview.create_view('meter_total', $$SELECT count(*) AS n, sum(v) AS s FROM meter$$) IS NOT NULL AS created;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;

INSERT INTO meter VALUES (3, 0);
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
SELECT flowview.wait_for_freshness('meter_ratio', '60 s') AS ratio_fresh;
SELECT view, state, error FROM flowview.views WHERE view::text LIKE 'meter\_%' ORDER BY 1;
SELECT * FROM meter_ratio ORDER BY bucket;
SELECT flowview.drop_view('meter_ratio');
SELECT flowview.drop_view('meter_total');
