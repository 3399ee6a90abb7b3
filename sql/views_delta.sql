-- Oracle test: a seeded random workload of 5,000 transactions against a
-- source with several live views (NULL group keys, FILTER, HAVING, min/max,
-- a global aggregate, a time bucket); the apply worker keeps them live.
-- After flowview.wait_for_freshness() every view must equal its query
-- (EXCEPT ALL both ways); a failure lists the differing rows.
SET timezone = 'UTC';
CREATE TABLE events (id int PRIMARY KEY, grp text, bucket timestamptz, v int, amt numeric, flag bool);
INSERT INTO events SELECT g, (ARRAY['a', 'b', 'c', NULL])[g % 4 + 1], '2024-01-01'::timestamptz + (g % 5) * interval '1 hour',
                          CASE WHEN g % 7 = 0 THEN NULL ELSE g % 11 END, g * 0.5, g % 2 = 0
FROM generate_series(1, 60) g;

-- min/max are kept both ways: minmax 'rescan' (the default) and 'multiset' (the _ms views)
CREATE TABLE defs (name text PRIMARY KEY, q text, minmax text DEFAULT 'rescan');
INSERT INTO defs VALUES
 ('d_full',   $$SELECT grp, date_trunc('hour', bucket) AS hour, count(*) AS n, count(v) AS nv, sum(v) AS sv, sum(amt) AS sa, avg(v) AS av, min(v) AS mn, max(amt) AS mx FROM events GROUP BY 1, 2$$),
 ('d_filter', $$SELECT grp, count(*) FILTER (WHERE flag) AS nf, sum(v) FILTER (WHERE v > 5) AS big, min(v) FILTER (WHERE flag) AS mnf, max(v) FILTER (WHERE flag) AS mxf, max(v) AS mxv FROM events WHERE v IS DISTINCT FROM 3 GROUP BY grp$$),
 ('d_having', $$SELECT v, count(*) AS n FROM events GROUP BY v HAVING count(*) > 3 AND max(amt) > 10$$),
 ('d_global', $$SELECT count(*) AS n, sum(v) AS s, min(amt) AS mn, max(v) AS mx, avg(amt) AS av FROM events WHERE flag$$);
INSERT INTO defs SELECT name || '_ms', q, 'multiset' FROM defs WHERE name <> 'd_having';
SELECT name, flowview.create_view(name, q, minmax => minmax) IS NOT NULL AS created FROM defs ORDER BY name;
SELECT view, minmax FROM flowview.views WHERE view::text LIKE 'd\_%' ORDER BY 1;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT view, state FROM flowview.views WHERE view::text LIKE 'd\_%' ORDER BY 1;

-- rows in a view but not in its query, and the other way round
CREATE FUNCTION differences() RETURNS TABLE (view text, side text, row_text text) LANGUAGE plpgsql AS $$
DECLARE d record;
BEGIN
  FOR d IN SELECT name, q FROM defs ORDER BY name LOOP
    RETURN QUERY EXECUTE format('SELECT %L, ''view only'', x::text FROM (SELECT * FROM %I EXCEPT ALL %s) x', d.name, d.name, d.q);
    RETURN QUERY EXECUTE format('SELECT %L, ''query only'', x::text FROM (%s EXCEPT ALL SELECT * FROM %I) x', d.name, d.q, d.name);
  END LOOP;
END $$;
SELECT * FROM differences();

-- every comparison made during the run: the workload TRUNCATEs now and then
-- (which repopulates every view), so the views are compared with their
-- queries before each TRUNCATE too; an error anywhere in the run stays here
CREATE TABLE oracle_checks (seed float8, at_transaction int, fresh boolean, differences int);
CREATE TABLE oracle_log (seed float8, at_transaction int, view text, side text, row_text text);

-- n transactions, each committed (or rolled back) on its own
CREATE PROCEDURE random_transactions(seed float8, n int) LANGUAGE plpgsql AS $$
DECLARE i int; k int; r float8;
BEGIN
  PERFORM setseed(seed);
  RAISE NOTICE 'random_transactions: seed %, % transactions', seed, n;
  FOR i IN 1 .. n LOOP
    r := random();
    k := 1 + floor(random() * 80)::int;
    IF r < 0.25 THEN
      INSERT INTO events VALUES (k, (ARRAY['a', 'b', 'c', NULL])[1 + floor(random() * 4)::int],
                                 '2024-01-01'::timestamptz + floor(random() * 5) * interval '1 hour',
                                 CASE WHEN random() < 0.15 THEN NULL ELSE floor(random() * 12)::int END,
                                 round((random() * 40)::numeric, 2), random() < 0.5)
      ON CONFLICT (id) DO NOTHING;
    ELSIF r < 0.45 THEN       -- move rows between groups, NULL keys included
      UPDATE events SET grp = (ARRAY['a', 'b', 'c', NULL])[1 + floor(random() * 4)::int], flag = NOT flag,
                        bucket = bucket + interval '1 hour' * (floor(random() * 3) - 1) WHERE id = k;
    ELSIF r < 0.6 THEN        -- change aggregated values, to and from NULL, several rows
      UPDATE events SET v = CASE WHEN random() < 0.2 THEN NULL ELSE floor(random() * 12)::int END, amt = amt + 1 WHERE id % 9 = k % 9;
    ELSIF r < 0.7 THEN        -- delete the current extreme
      DELETE FROM events WHERE id = (SELECT id FROM events ORDER BY v DESC NULLS LAST, amt DESC LIMIT 1);
    ELSIF r < 0.8 THEN
      DELETE FROM events WHERE id = k;
    ELSIF r < 0.88 THEN       -- a subtransaction that rolls back, then a change that stays
      BEGIN
        DELETE FROM events WHERE id % 3 = 0;
        RAISE EXCEPTION 'roll back to the savepoint';
      EXCEPTION WHEN raise_exception THEN NULL;
      END;
      UPDATE events SET amt = amt - 1 WHERE id = k;
    ELSIF r < 0.96 THEN       -- a whole transaction that rolls back
      INSERT INTO events VALUES (1000 + k, 'rolled back', now(), 1, 1, true) ON CONFLICT DO NOTHING;
      UPDATE events SET grp = 'rolled back' WHERE id % 2 = 0;
      ROLLBACK;
      CONTINUE;
    ELSIF r < 0.995 THEN      -- several statements in one transaction
      INSERT INTO events SELECT 100 + g, 'c', '2024-01-01', g, g, true FROM generate_series(1, 5) g ON CONFLICT DO NOTHING;
      DELETE FROM events WHERE id BETWEEN 101 AND 103;
    ELSE                      -- compare, then TRUNCATE and refill in the same transaction
      INSERT INTO oracle_checks VALUES (seed, i, flowview.wait_for_freshness(NULL, '120 s'), 0);
      INSERT INTO oracle_log SELECT seed, i, d.* FROM differences() d;
      UPDATE oracle_checks c SET differences = (SELECT count(*) FROM oracle_log l WHERE l.seed = c.seed AND l.at_transaction = i)
       WHERE c.seed = random_transactions.seed AND c.at_transaction = i;
      TRUNCATE events;
      INSERT INTO events SELECT g, (ARRAY['a', 'b', NULL])[g % 3 + 1], '2024-01-01', g % 5, g, g % 2 = 0 FROM generate_series(1, 30) g;
    END IF;
    COMMIT;
  END LOOP;
END $$;

CALL random_transactions(0.42, 2500);
SELECT flowview.wait_for_freshness(NULL, '120 s') AS fresh;
SELECT * FROM differences();
CALL random_transactions(-0.17, 2500);
SELECT flowview.wait_for_freshness(NULL, '120 s') AS fresh;
SELECT * FROM differences();
-- empty the table row by row: groups disappear, the global row stays
DELETE FROM events;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT * FROM differences();
SELECT * FROM d_global;
SELECT count(*) AS groups_left FROM d_full;
SELECT view, state, applied_lsn IS NOT NULL AS applied FROM flowview.views WHERE view::text LIKE 'd\_%' ORDER BY 1;
-- the comparisons made before each TRUNCATE: all fresh, no difference
SELECT count(*) >= 10 AS checks, bool_and(fresh) AS all_fresh, sum(differences) AS differences FROM oracle_checks;
SELECT * FROM oracle_log ORDER BY 1, 2, 3, 4, 5 LIMIT 20;
-- min and max over the same argument and FILTER share one multiset;
-- minmax 'rescan' keeps none
SELECT view, (SELECT count(*) FROM unnest(storage_tables) t WHERE t ~ '_m[0-9]+$') AS multisets
  FROM flowview.view_catalog c, LATERAL (SELECT c.view_oid::regclass AS view) v
 WHERE view::text IN ('d_filter', 'd_filter_ms') ORDER BY 1;
-- only minmax 'rescan' reads values again from the source (flowview.stats)
SELECT view, minmax_rereads > 0 AS reread FROM flowview.stats
 WHERE view::text IN ('d_full', 'd_full_ms', 'd_global', 'd_global_ms') ORDER BY 1;
-- a bad minmax
SELECT flowview.create_view('d_bad', 'SELECT count(*) FROM events', minmax => 'sometimes');
