-- flowview.create_view: supported constructs, output columns and types,
-- rejections (SQLSTATE 0A000 naming the construct), drop and refresh.
\set VERBOSITY default
SET timezone = 'UTC';
CREATE TABLE sales (id int PRIMARY KEY, region text, shop int, ts timestamptz, amount numeric(10,2),
                    qty int, big bigint, price float8, status text, note json);
INSERT INTO sales SELECT g, (ARRAY['eu', 'us', NULL])[g % 3 + 1], g % 4, '2024-03-01 00:00+00'::timestamptz + g * interval '7 minutes',
       (g % 13) * 1.25, g % 5, g * 1000000000::bigint, g / 3.0, CASE WHEN g % 9 = 0 THEN 'void' ELSE 'ok' END, '{}'
FROM generate_series(1, 200) g;

-- the design's example: time bucket, every aggregate, WHERE
SELECT flowview.create_view('sales_by_hour',
  $$SELECT region, date_trunc('hour', ts) AS hour,
           count(*) AS orders, sum(amount) AS revenue, avg(amount), min(amount), max(amount)
      FROM sales WHERE status <> 'void' GROUP BY 1, 2$$);
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'sales_by_hour'::regclass AND attnum > 0 ORDER BY attnum;
SELECT flowview.wait_for_freshness('sales_by_hour', '60 s') AS fresh;
SELECT view, sources, state, time_zone FROM flowview.views;
SELECT relreplident FROM pg_class WHERE oid = 'sales'::regclass;

-- the view equals its query
CREATE FUNCTION diff(v text, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint; m bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM (SELECT * FROM %s EXCEPT ALL %s) d', v, q) INTO n;
  EXECUTE format('SELECT count(*) FROM (%s EXCEPT ALL SELECT * FROM %s) d', q, v) INTO m;
  RETURN n + m;
END $$;
SELECT diff('sales_by_hour', $$SELECT region, date_trunc('hour', ts) AS hour, count(*), sum(amount), avg(amount), min(amount), max(amount)
                               FROM sales WHERE status <> 'void' GROUP BY 1, 2$$) AS differences;
SELECT count(*) AS groups FROM sales_by_hour;

-- output types follow the query: sum(int) is bigint, sum(bigint) and avg are numeric, count is bigint
SELECT flowview.create_view('public."Typed View"',
  $$SELECT shop, count(qty) AS n, sum(qty) AS s4, sum(big) AS s8, avg(qty) AS a4, min(ts) AS first, max(status) AS last
      FROM sales GROUP BY shop$$);
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = '"Typed View"'::regclass AND attnum > 0 ORDER BY attnum;
SELECT * FROM "Typed View" ORDER BY shop;

-- no GROUP BY: one row, also when the source is empty; FILTER; HAVING
CREATE TABLE empty_src (x int);
SELECT flowview.create_view('totals', $$SELECT count(*), sum(x), min(x), count(*) FILTER (WHERE x > 1) AS big FROM empty_src$$);
SELECT * FROM totals;
SELECT flowview.create_view('busy_shops',
  $$SELECT shop, count(*) AS orders FROM sales GROUP BY shop HAVING sum(qty) > 90 AND shop <> 3$$);
SELECT * FROM busy_shops ORDER BY shop;
SELECT diff('busy_shops', $$SELECT shop, count(*) FROM sales GROUP BY shop HAVING sum(qty) > 90 AND shop <> 3$$) AS differences;
-- GROUP BY expressions not shown, NULL group keys, date_bin
SELECT flowview.create_view('by_bin', $$SELECT count(*) AS n FROM sales GROUP BY date_bin('90 minutes', ts, '2024-01-01'), region$$);
SELECT diff('by_bin', $$SELECT count(*) AS n FROM sales GROUP BY date_bin('90 minutes', ts, '2024-01-01'), region$$) AS differences;

-- the time zone in force at creation is pinned: later sessions get the same buckets
SET timezone = 'Asia/Kolkata';
SELECT flowview.create_view('by_day_kolkata', $$SELECT date_trunc('day', ts) AS day, count(*) FROM sales GROUP BY 1$$);
SET timezone = 'America/New_York';
SELECT flowview.refresh_view('by_day_kolkata');
SELECT flowview.wait_for_freshness('by_day_kolkata', '60 s') AS fresh;
SELECT time_zone FROM flowview.views WHERE view = 'by_day_kolkata'::regclass;
SET timezone = 'Asia/Kolkata';
SELECT diff('by_day_kolkata', $$SELECT date_trunc('day', ts) AS day, count(*) FROM sales GROUP BY 1$$) AS differences;
RESET timezone;
SET timezone = 'UTC';

-- schema-qualified names
CREATE SCHEMA reports;
SELECT flowview.create_view('reports.shops', $$SELECT shop, count(*) FROM public.sales GROUP BY shop$$);
SELECT count(*) FROM reports.shops;

-- rejections: SQLSTATE 0A000 and the construct named; nothing left behind
SELECT count(*) AS views_before FROM flowview.views;
SELECT flowview.create_view('bad', $$SELECT s.region, count(*) FROM sales s, LATERAL (SELECT * FROM sales t WHERE t.id = s.id) u GROUP BY s.region$$);
SELECT flowview.create_view('bad', $$SELECT t1.region, count(*) FROM sales t1 WHERE t1.id > (SELECT max(id) FROM sales) GROUP BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region, count(*) FROM (SELECT * FROM sales LIMIT 5) s GROUP BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region, count(*) FROM sales WHERE id IN (SELECT 1) GROUP BY 1$$);
SELECT flowview.create_view('bad', $$WITH s AS MATERIALIZED (SELECT * FROM sales) SELECT region, count(*) FROM s GROUP BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region FROM sales UNION SELECT status FROM sales$$);
SELECT flowview.create_view('bad', $$SELECT region, count(*) OVER () FROM sales$$);
SELECT flowview.create_view('bad', $$SELECT DISTINCT region, count(*) FROM sales GROUP BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region, count(*) FROM sales GROUP BY 1 ORDER BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region, count(*) FROM sales GROUP BY 1 LIMIT 5$$);
SELECT flowview.create_view('bad', $$SELECT region, count(*) FROM sales GROUP BY ROLLUP (region)$$);
SELECT flowview.create_view('bad', $$SELECT 1 AS one FROM sales HAVING true$$);
SELECT flowview.create_view('bad', $$SELECT region, string_agg(status, ',') FROM sales GROUP BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region, count(DISTINCT status) FROM sales GROUP BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region, sum(price) FROM sales GROUP BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region, sum(amount) / 2 FROM sales GROUP BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region, 1 AS one, count(*) FROM sales GROUP BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region, count(*) FROM sales WHERE random() > 0.5 GROUP BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region, count(*) FROM sales WHERE ts > now() - interval '1 day' OR region = 'x' GROUP BY 1$$);
SELECT flowview.create_view('bad', $$SELECT region, count(*) FROM sales WHERE ts::date > CURRENT_DATE GROUP BY 1$$);
CREATE VIEW plain_sales AS SELECT * FROM sales;
SELECT flowview.create_view('bad', $$SELECT count(*) FROM plain_sales$$);
DROP VIEW plain_sales;
SELECT flowview.create_view('bad', $$SELECT count(*) FROM pg_class$$);
SELECT flowview.create_view('bad', $$SELECT count(*) FROM generate_series(1, 3) WITH ORDINALITY g$$);
SELECT flowview.create_view('bad', $$SELECT count(*) FROM generate_series(1, 3) a, generate_series(1, a) g$$);
SELECT flowview.create_view('bad', $$SELECT count(*) FROM sales s, random() r$$);
SELECT flowview.create_view('bad', $$SELECT count(*) FROM sales s LEFT JOIN generate_series(1, 3) g ON g = s.id$$);
SELECT flowview.create_view('bad', $$SELECT count(*) WHERE EXISTS (SELECT FROM sales)$$);
SELECT flowview.create_view('bad', $$SELECT count(*) FROM sales; SELECT 1$$);
SELECT flowview.create_view('bad', $$INSERT INTO sales DEFAULT VALUES$$);
SELECT flowview.create_view('bad', $$SELECT count(*), count(*) FROM sales$$);
SELECT flowview.create_view('bad', $$SELECT count(*) FROM no_such_table$$);
CREATE TEMP TABLE tmp_src (x int);
SELECT flowview.create_view('bad', $$SELECT count(*) FROM tmp_src$$);
SELECT flowview.create_view('sales_by_hour', $$SELECT count(*) FROM sales$$);
SELECT flowview.create_view('no_such_schema.v', $$SELECT count(*) FROM sales$$);
SELECT count(*) AS views_after FROM flowview.views;
SELECT count(*) AS stray_storage FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'flowview' AND c.relname ~ '^fv_' AND NOT EXISTS (
   SELECT 1 FROM flowview.view_catalog v WHERE c.relname ~ ('^fv_(store|out)_' || v.id || '(_|$)'));

-- changes reach the views; refresh and drop
UPDATE sales SET amount = amount + 1 WHERE id <= 10;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT diff('sales_by_hour', $$SELECT region, date_trunc('hour', ts) AS hour, count(*), sum(amount), avg(amount), min(amount), max(amount)
                               FROM sales WHERE status <> 'void' GROUP BY 1, 2$$) AS after_update;
SELECT flowview.refresh_view('sales_by_hour');
SELECT flowview.wait_for_freshness('sales_by_hour', '60 s') AS fresh;
SELECT diff('sales_by_hour', $$SELECT region, date_trunc('hour', ts) AS hour, count(*), sum(amount), avg(amount), min(amount), max(amount)
                               FROM sales WHERE status <> 'void' GROUP BY 1, 2$$) AS after_refresh;
SELECT flowview.refresh_view('sales');
SELECT flowview.drop_view('reports.shops');
SELECT flowview.drop_view('"Typed View"');
SELECT view FROM flowview.views ORDER BY 1;
SELECT flowview.drop_view('sales');
SELECT flowview.wait_for_freshness('sales', '1 s');
