/* pg_flowview 0.2 -> 0.3 (ALTER EXTENSION pg_flowview UPDATE)
 *
 * 0.1 and 0.2 are released and their scripts never change; a fresh
 * CREATE EXTENSION installs 0.1 and runs every update script in turn, so an
 * upgraded database and a new one have the same objects
 * (test/tap/011_upgrade.pl checks both).  Everything below must work on a
 * database that already has views, alerts and an org hierarchy, while
 * writers keep writing; the library checks fv_sql_version() >= 3 before it
 * relies on anything added here.
 */
\echo Use "ALTER EXTENSION pg_flowview UPDATE" to load this file. \quit

-- ==== dump and restore (issue 12, part 2) ====

-- ==== standbys and failover (issue 12, part 3) ====

-- On a hot standby the live views are what replay made of the primary's,
-- and there is no apply worker.  flowview.freshness() and flowview.stats
-- used pg_current_wal_insert_lsn(), which fails during recovery ("recovery
-- is in progress"): both now take the replayed position there.  On a
-- standby _pipeline() (C, src/worker/standby.c) answers with the position
-- the replayed views reflect (the replicated origin) and the oldest
-- replayed commit of a source they miss, so staleness is how far behind
-- the primary's commits the views are on this standby; warning says when
-- WAL was received but not replayed yet (not counted).  Same columns.
CREATE OR REPLACE FUNCTION flowview.freshness()
RETURNS TABLE (view regclass, state text, applied_lsn pg_lsn, applied_commit_time timestamptz,
               lag_bytes numeric, staleness interval, freshness_sla interval, sla_met boolean,
               last_batch_at timestamptz, paused boolean, retained_wal_bytes numeric, warning text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH pos AS (
        SELECT pg_is_in_recovery() AS standby,
               CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                    ELSE pg_current_wal_insert_lsn() END AS lsn,
               CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() END AS received
    ), p AS (
        SELECT * FROM flowview._pipeline((SELECT min(applied_lsn) FROM flowview.view_catalog
                                           WHERE state = 'live'))
    ), slot AS (
        SELECT pg_wal_lsn_diff(pos.lsn, s.restart_lsn) AS retained, s.wal_status
          FROM pg_replication_slots s, pos
         WHERE s.slot_name = 'pg_flowview_' || (SELECT oid FROM pg_database WHERE datname = current_database())
    ), w AS (
        SELECT flowview._worker_problem() AS problem
    )
    SELECT c.view_oid::regclass,
           c.state,
           CASE WHEN c.state = 'live' THEN p.applied_lsn ELSE c.applied_lsn END,
           st.applied_commit_time,
           CASE WHEN c.state = 'live' THEN pg_wal_lsn_diff(pos.lsn, p.applied_lsn) END,
           CASE WHEN c.state <> 'live' THEN NULL
                WHEN p.oldest_pending_commit IS NULL THEN interval '0'
                ELSE greatest(clock_timestamp() - p.oldest_pending_commit, interval '0') END,
           c.freshness_sla,
           CASE WHEN c.freshness_sla IS NULL OR c.state = 'backfilling' THEN NULL
                WHEN c.state = 'error' THEN false
                ELSE coalesce(clock_timestamp() - p.oldest_pending_commit, interval '0') <= c.freshness_sla END,
           p.last_batch_at,
           p.paused,
           slot.retained,
           CASE WHEN c.state <> 'error' AND w.problem IS NOT NULL THEN w.problem
                WHEN pos.standby AND pos.received > pos.lsn
                THEN format('on a standby: staleness counts the WAL replayed here; %s more were received and are not replayed yet',
                            pg_size_pretty(pg_wal_lsn_diff(pos.received, pos.lsn)))
                WHEN slot.wal_status = 'lost' THEN 'the replication slot was invalidated: run flowview.refresh_view()'
                WHEN slot.retained > pg_size_bytes(current_setting('pg_flowview.max_retained_wal'))
                THEN format('the replication slot retains %s of WAL, more than pg_flowview.max_retained_wal (%s)',
                            pg_size_pretty(slot.retained), current_setting('pg_flowview.max_retained_wal'))
           END
      FROM flowview.view_catalog c
      CROSS JOIN pos
      CROSS JOIN p
      CROSS JOIN w
      LEFT JOIN slot ON true
      LEFT JOIN flowview._view_stats() st ON st.view_id = c.id
$$;

-- flowview.stats: the same columns; the WAL position is the replayed one
-- on a standby (which has no pg_flowview slot: the slot columns are NULL).
CREATE OR REPLACE VIEW flowview.stats WITH (security_invoker = true) AS
SELECT c.view_oid::regclass AS view,
       c.state,
       coalesce(st.rows_decoded, 0) AS rows_decoded,
       coalesce(st.rows_applied, 0) AS rows_applied,
       coalesce(st.groups_touched, 0) AS groups_touched,
       coalesce(st.batches, 0) AS batches,
       coalesce(st.errors, 0) AS errors,
       coalesce(st.apply_ms, 0) AS apply_ms,
       coalesce(st.minmax_rereads, 0) AS minmax_rereads,
       st.latency_p50_ms, st.latency_p95_ms, st.latency_p99_ms,
       coalesce(st.latency_samples, 0) AS latency_samples,
       st.last_trace_id, st.last_trace_at,
       st.change_rate,
       s.slot_name,
       s.confirmed_flush_lsn AS slot_confirmed_flush_lsn,
       s.restart_lsn AS slot_restart_lsn,
       pg_wal_lsn_diff(pos.lsn, s.confirmed_flush_lsn) AS slot_lag_bytes,
       pg_wal_lsn_diff(pos.lsn, s.restart_lsn) AS wal_retained_bytes,
       s.wal_status AS slot_wal_status,
       rs.spill_txns, rs.spill_count, rs.spill_bytes
  FROM flowview.view_catalog c
  CROSS JOIN (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                          ELSE pg_current_wal_insert_lsn() END AS lsn) pos
  LEFT JOIN flowview._view_stats() st ON st.view_id = c.id
  LEFT JOIN pg_replication_slots s
         ON s.slot_name = 'pg_flowview_' || (SELECT oid FROM pg_database WHERE datname = current_database())
  LEFT JOIN pg_stat_replication_slots rs ON rs.slot_name = s.slot_name;

-- ==== end of standbys and failover ====

-- ==== versioned view changes (issue 12, part 4) ====

-- ==== metrics for postgres_exporter (issue 12, part 5) ====
