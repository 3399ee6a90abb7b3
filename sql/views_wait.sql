-- wait_for_freshness inside the transaction that created or refreshed the
-- view: the worker sees the view only after the commit, so the call refuses
-- at once (55000) instead of waiting out its timeout
CREATE TABLE wait_src (g int, x int);
INSERT INTO wait_src SELECT i % 3, i FROM generate_series(1, 30) i;
BEGIN;
SELECT flowview.create_view('wait_v', 'SELECT g, count(*) FROM wait_src GROUP BY g') IS NOT NULL AS created;
SELECT flowview.wait_for_freshness('wait_v', '20 s');
ROLLBACK;
BEGIN;
SELECT flowview.create_view('wait_v', 'SELECT g, count(*) FROM wait_src GROUP BY g') IS NOT NULL AS created;
SELECT flowview.wait_for_freshness(NULL, '20 s');    -- every view: the new one among them
ROLLBACK;
SELECT flowview.create_view('wait_v', 'SELECT g, count(*) FROM wait_src GROUP BY g') IS NOT NULL AS created;
SELECT flowview.wait_for_freshness('wait_v', '30 s');
BEGIN;
SELECT flowview.refresh_view('wait_v');
SELECT flowview.wait_for_freshness('wait_v', '20 s');
ROLLBACK;
-- committed: waits, and the view equals its query
SELECT flowview.refresh_view('wait_v');
SELECT flowview.wait_for_freshness('wait_v', '30 s');
SELECT count(*) AS differences FROM ((TABLE wait_v EXCEPT ALL SELECT g, count(*) FROM wait_src GROUP BY g)
  UNION ALL (SELECT g, count(*) FROM wait_src GROUP BY g EXCEPT ALL TABLE wait_v)) d;
SELECT count(*) AS rows FROM wait_v;
SELECT flowview.drop_view('wait_v');
DROP TABLE wait_src;
