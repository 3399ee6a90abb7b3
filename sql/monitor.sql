-- Freshness, SLAs and pipeline statistics: the SQL interface.  (Pause,
-- breach notifications, traces, anomalies and slot safety over time are in
-- the Perl TAP tests 005_freshness and 007_anomalies_slot.)
CREATE TABLE clicks (id int PRIMARY KEY, page text, ms int);
INSERT INTO clicks SELECT i, 'p' || (i % 3), i FROM generate_series(1, 30) i;
SELECT flowview.create_view('clicks_by_page', $$SELECT page, count(*), avg(ms) FROM clicks GROUP BY page$$,
                            freshness_sla => '5 min') IS NOT NULL AS created;
SELECT flowview.create_view('clicks_total', $$SELECT count(*) AS n FROM clicks$$) IS NOT NULL AS created;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
INSERT INTO clicks VALUES (100, 'p1', 7);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;

-- flowview.freshness: its columns, and the values of an idle, fresh database
\d flowview.freshness
SELECT view, state, applied_lsn IS NOT NULL AS has_lsn, applied_commit_time <= now() AS commit_time_past,
       lag_bytes BETWEEN 0 AND 1048576 AS lag_ok, staleness < interval '1 s' AS fresh, freshness_sla, sla_met, last_batch_at IS NOT NULL AS has_batch,
       paused, warning
  FROM flowview.freshness WHERE view::text LIKE 'clicks\_%' ORDER BY 1;
SELECT count(*) = 2 AS same_as_function FROM flowview.freshness() WHERE view::text LIKE 'clicks\_%';

-- set_freshness_sla: set, change, remove; bad values
SELECT flowview.set_freshness_sla('clicks_total', '10 s');
SELECT view, freshness_sla, sla_met FROM flowview.freshness WHERE view::text LIKE 'clicks\_%' ORDER BY 1;
SELECT flowview.set_freshness_sla('clicks_total', NULL);
SELECT view, freshness_sla, sla_met FROM flowview.freshness WHERE view::text LIKE 'clicks\_%' ORDER BY 1;
SELECT flowview.set_freshness_sla('clicks_total', '-1 s');
SELECT flowview.set_freshness_sla('clicks', '1 s');
SELECT flowview.create_view('clicks_bad', $$SELECT count(*) FROM clicks$$, freshness_sla => '0 s');
SELECT count(*) FROM pg_class WHERE relname = 'clicks_bad';

-- flowview.stats: columns; counters after one applied insert
\d flowview.stats
-- (one row inserted since the views were populated: exactly one row decoded
-- and applied, one group touched; lag and retained WAL small, no spill)
SELECT view, rows_decoded, rows_applied, groups_touched,
       batches BETWEEN 1 AND 5 AS batches, errors, latency_samples BETWEEN 1 AND 5 AS latency,
       latency_p50_ms BETWEEN 0 AND 60000 AND latency_p50_ms <= latency_p99_ms AS ordered,
       slot_name LIKE 'pg_flowview_%' AS slot, slot_lag_bytes BETWEEN 0 AND 1048576 AS lag,
       wal_retained_bytes BETWEEN 0 AND 64 * 1048576 AS retained,
       slot_wal_status, spill_txns
  FROM flowview.stats WHERE view::text LIKE 'clicks\_%' ORDER BY 1;

-- anomalies(): none on a quiet database; sla_report(): per view with an SLA
SELECT * FROM flowview.anomalies();
-- (wait up to 60 s for the worker's first samples, taken every sla_sample_interval:
-- the report must have a row to say anything)
DO $$BEGIN
  FOR i IN 1 .. 600 LOOP
    EXIT WHEN (SELECT count(*) FROM flowview.sla_samples WHERE view_oid = 'clicks_by_page'::regclass) >= 2;
    PERFORM pg_sleep(0.1);
  END LOOP;
END$$;
SELECT view, samples >= 1 AS samples, within_sla, worst_staleness < interval '5 s' AS worst_small, breaches, episodes
  FROM flowview.sla_report(now() - interval '1 hour') WHERE view::text LIKE 'clicks\_%' ORDER BY 1;
\d flowview.sla_samples

-- pause and resume hold and release the worker (paused shows in freshness)
SELECT flowview.pause_apply();
SELECT DISTINCT paused FROM flowview.freshness WHERE view::text LIKE 'clicks\_%';
INSERT INTO clicks VALUES (101, 'p2', 8);
SELECT flowview.wait_for_freshness('clicks_total', '1 s') AS fresh_while_paused;
SELECT flowview.resume_apply();
SELECT flowview.wait_for_freshness('clicks_total', '60 s') AS fresh_after_resume;
SELECT n FROM clicks_total;

-- not live views
SELECT flowview.set_freshness_sla('pg_class', '1 s');

SELECT flowview.drop_view('clicks_by_page');
SELECT flowview.drop_view('clicks_total');
SELECT count(*) FROM flowview.stats WHERE view::text LIKE 'clicks\_%';

-- the worker's pacing settings
SELECT name, setting, unit, context FROM pg_settings
 WHERE name IN ('pg_flowview.naptime', 'pg_flowview.naptime_under_load', 'pg_flowview.batch_max_changes') ORDER BY 1;
