/* pg_flowview 0.1 -> 0.2 (ALTER EXTENSION pg_flowview UPDATE)
 *
 * 0.1 is released and its install script never changes; a fresh
 * CREATE EXTENSION installs 0.1 and runs this script, so an upgraded database
 * and a new one have the same objects (test/tap/011_upgrade.pl checks both).
 * Everything below must therefore work on a database that already has views,
 * alerts and an org hierarchy, while writers keep writing.
 */
\echo Use "ALTER EXTENSION pg_flowview UPDATE" to load this file. \quit

-- ==== privilege model: who runs what (issue 11, part 1) ====

-- ==== end of privilege model ====


-- ==== bad input, crashes, memory (issue 11, part 2) ====

-- Why this database's apply worker makes no progress (a crash loop and its
-- last error, a wait for a prepared transaction at slot creation), with the
-- fix; NULL while it progresses.  See fv_worker_problem in
-- src/worker/monitor.c.
CREATE FUNCTION flowview._worker_problem() RETURNS text
AS 'MODULE_PATHNAME', 'fv_worker_problem' LANGUAGE C STABLE;
REVOKE ALL ON FUNCTION flowview._worker_problem() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview._worker_problem() TO flowview_reader;

-- flowview.views: the 0.1 columns, then worker_problem (for views the worker
-- keeps, i.e. not in state error, whose own column error says why).
CREATE OR REPLACE VIEW flowview.views WITH (security_invoker = true) AS
SELECT c.view_oid::regclass AS view,
       c.query,
       ARRAY[c.source_oid::regclass] AS sources,
       c.state,
       c.created_at,
       CASE WHEN c.state = 'live' THEN greatest(c.applied_lsn, flowview._applied_lsn())
            ELSE c.applied_lsn END AS applied_lsn,
       c.error,
       c.freshness_sla,
       c.time_zone,
       c.minmax,
       CASE WHEN c.state <> 'error' THEN flowview._worker_problem() END AS worker_problem
  FROM flowview.view_catalog c;

-- flowview.freshness(): same columns; warning now also says why the worker
-- makes no progress (before the slot's warnings).
CREATE OR REPLACE FUNCTION flowview.freshness()
RETURNS TABLE (view regclass, state text, applied_lsn pg_lsn, applied_commit_time timestamptz,
               lag_bytes numeric, staleness interval, freshness_sla interval, sla_met boolean,
               last_batch_at timestamptz, paused boolean, retained_wal_bytes numeric, warning text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH p AS (
        SELECT * FROM flowview._pipeline((SELECT min(applied_lsn) FROM flowview.view_catalog
                                           WHERE state = 'live'))
    ), slot AS (
        SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), s.restart_lsn) AS retained, s.wal_status
          FROM pg_replication_slots s
         WHERE s.slot_name = 'pg_flowview_' || (SELECT oid FROM pg_database WHERE datname = current_database())
    ), w AS (
        SELECT flowview._worker_problem() AS problem
    )
    SELECT c.view_oid::regclass,
           c.state,
           CASE WHEN c.state = 'live' THEN p.applied_lsn ELSE c.applied_lsn END,
           st.applied_commit_time,
           CASE WHEN c.state = 'live' THEN pg_wal_lsn_diff(pg_current_wal_insert_lsn(), p.applied_lsn) END,
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
                WHEN slot.wal_status = 'lost' THEN 'the replication slot was invalidated: run flowview.refresh_view()'
                WHEN slot.retained > pg_size_bytes(current_setting('pg_flowview.max_retained_wal'))
                THEN format('the replication slot retains %s of WAL, more than pg_flowview.max_retained_wal (%s)',
                            pg_size_pretty(slot.retained), current_setting('pg_flowview.max_retained_wal'))
           END
      FROM flowview.view_catalog c
      CROSS JOIN p
      CROSS JOIN w
      LEFT JOIN slot ON true
      LEFT JOIN flowview._view_stats() st ON st.view_id = c.id
$$;

-- _view(NULL), behind drop_view, refresh_view, set_freshness_sla, ...:
-- 22004 instead of '"<NULL>" is not a live view'.
CREATE OR REPLACE FUNCTION flowview._view(v regclass) RETURNS flowview.view_catalog
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog;
BEGIN
    SELECT * INTO r FROM flowview.view_catalog c WHERE c.view_oid = v;
    IF NOT FOUND THEN   -- (the RAISE stays on line 7, as error contexts show it)
        RAISE EXCEPTION USING
            MESSAGE = CASE WHEN v IS NULL THEN 'view must not be null' ELSE format('"%s" is not a live view', v) END,
            ERRCODE = CASE WHEN v IS NULL THEN 'null_value_not_allowed' ELSE 'wrong_object_type' END,
            HINT = 'SELECT view FROM flowview.views lists the live views.';
    END IF;
    RETURN r;
END $$;

-- ==== end of bad input ====


-- ==== source changes and view correctness (issue 11, part 3) ====

-- ==== end of source changes ====


-- ==== data shapes: keys, collations, min/max (issue 11, part 3) ====

-- ==== end of data shapes ====
