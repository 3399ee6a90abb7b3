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

-- pg_dump carries the configuration: views, alert rules (with their open
-- episodes and history), the org hierarchy and its members, and the id
-- sequences.  Not dumped: org_closure and org_version (rebuilt by the
-- org_units trigger while its rows are restored), sla_samples (SLA history
-- starts again), restores (below).  The storage tables, fv_out views and
-- user-facing views are ordinary objects that pg_dump writes itself; the
-- restored views are repopulated from the restored source rows (the dumped
-- storage rows are thrown away).  See README "Dump and restore".
SELECT pg_catalog.pg_extension_config_dump('flowview.view_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('flowview.view_catalog_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('flowview.alert_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('flowview.alert_catalog_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('flowview.alert_state', '');
SELECT pg_catalog.pg_extension_config_dump('flowview.alert_events', '');
SELECT pg_catalog.pg_extension_config_dump('flowview.alert_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('flowview.org_units', '');
SELECT pg_catalog.pg_extension_config_dump('flowview.org_members', '');

-- The catalog stores OIDs, which mean nothing in another database.  Each
-- OID gets a regclass/regrole twin: the same OID while the database lives,
-- written by pg_dump as the object's current name (renames included) and
-- read back by the restore as the new object's OID.
ALTER TABLE flowview.view_catalog ADD COLUMN view_rel regclass, ADD COLUMN source_rel regclass;
UPDATE flowview.view_catalog SET view_rel = view_oid, source_rel = source_oid;
ALTER TABLE flowview.alert_catalog ADD COLUMN view_rel regclass, ADD COLUMN owner_role regrole;
UPDATE flowview.alert_catalog SET view_rel = view_oid, owner_role = owner;

-- Views restored by a session that has not ended yet (the restore's
-- indexes, triggers and policies still to come): the apply worker leaves
-- them alone, then repopulates them (src/views/restore.c).  Runtime state:
-- not dumped.  (No foreign key: a row is written by the trigger before its
-- catalog row; the worker forgets rows whose session has ended.)
CREATE TABLE flowview.restores (
    view_id       int PRIMARY KEY,
    pid           int NOT NULL,            -- the restoring session
    backend_start timestamptz NOT NULL
);

-- Checks a restored view's objects (the view reads flowview.fv_out_ID,
-- which reads the storage; one owner for all), records the view's
-- dependencies on its source, registers the restore and starts the worker
-- at commit.  Superusers only: see src/views/restore.c.
CREATE FUNCTION flowview._restore_bind(view_id int, view_rel regclass, source_rel regclass,
                                       used_columns text[]) RETURNS void
AS 'MODULE_PATHNAME', 'fv_restore_bind' LANGUAGE C;
REVOKE ALL ON FUNCTION flowview._restore_bind(int, regclass, regclass, text[]) FROM PUBLIC;

-- A catalog row written by create_view gets its twins; one read back by a
-- restore (twins given, OIDs stale or the view not yet bound to its
-- source) is bound to the restored objects and repopulated.
CREATE FUNCTION flowview._catalog_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.view_oid IS DISTINCT FROM OLD.view_oid THEN NEW.view_rel := NEW.view_oid; END IF;
        IF NEW.source_oid IS DISTINCT FROM OLD.source_oid THEN NEW.source_rel := NEW.source_oid; END IF;
        RETURN NEW;
    END IF;
    IF NEW.view_rel IS NULL OR NEW.source_rel IS NULL THEN
        NEW.view_rel := NEW.view_oid;
        NEW.source_rel := NEW.source_oid;
        RETURN NEW;
    END IF;
    IF NEW.view_oid = NEW.view_rel AND NEW.source_oid = NEW.source_rel
       AND EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = NEW.view_oid
                      AND d.refclassid = 'pg_class'::regclass AND d.refobjid = NEW.source_oid) THEN
        RETURN NEW;       -- a copy of a bound row, not a restore
    END IF;
    PERFORM flowview._restore_bind(NEW.id, NEW.view_rel, NEW.source_rel, NEW.used_columns);
    NEW.view_oid := NEW.view_rel;
    NEW.source_oid := NEW.source_rel;
    NEW.state := 'backfilling';
    NEW.error := NULL;
    NEW.applied_lsn := NULL;
    NEW.sla_breached := false;
    NEW.snapshot_xmin := NULL;
    NEW.snapshot_xmax := NULL;
    NEW.snapshot_xip := NULL;
    RETURN NEW;
END $$;
CREATE TRIGGER catalog_row BEFORE INSERT OR UPDATE OF view_oid, source_oid ON flowview.view_catalog
    FOR EACH ROW EXECUTE FUNCTION flowview._catalog_row();

-- Alert rules: the same for the view and the rule's owner.  A restored
-- rule's owner must still be a member of the view's owner, as
-- create_alert requires.
CREATE FUNCTION flowview._alert_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR NEW.view_rel IS NULL OR NEW.owner_role IS NULL THEN
        NEW.view_rel := NEW.view_oid;
        NEW.owner_role := NEW.owner;
        RETURN NEW;
    END IF;
    IF NEW.view_oid = NEW.view_rel AND NEW.owner = NEW.owner_role THEN
        RETURN NEW;
    END IF;
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'only a superuser can restore alert rules'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT pg_has_role(NEW.owner_role, (SELECT c.relowner FROM pg_class c WHERE c.oid = NEW.view_rel), 'USAGE') THEN
        RAISE EXCEPTION 'cannot restore alert "%": role % is not a member of the owner of live view %',
                        NEW.name, NEW.owner_role, NEW.view_rel
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Restore the view''s owner as it was (pg_dump without --no-owner, roles from pg_dumpall --roles-only).';
    END IF;
    NEW.view_oid := NEW.view_rel;
    NEW.owner := NEW.owner_role;
    RETURN NEW;
END $$;
CREATE TRIGGER alert_row BEFORE INSERT OR UPDATE OF view_oid, owner ON flowview.alert_catalog
    FOR EACH ROW EXECUTE FUNCTION flowview._alert_row();
REVOKE ALL ON FUNCTION flowview._catalog_row(), flowview._alert_row() FROM PUBLIC;

-- ==== end of dump and restore ====


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

-- Every definition a live view has had (see README "Changing a view's
-- definition" and src/views/versions.c).  A view without rows here has one
-- version, its create_view definition (flowview.view_versions shows it as
-- version 1); alter_view records that one before the new one.  catalog_id is
-- the flowview.view_catalog row holding the storage of the current version
-- and of a pending one (built beside the current, swapped in by the apply
-- worker once it has caught up, at ready_lsn or later).
CREATE TABLE flowview.view_version_catalog (
    view_oid      oid NOT NULL,                -- the user-facing view
    version       int NOT NULL CHECK (version > 0),
    query         text NOT NULL,
    minmax        text NOT NULL CHECK (minmax IN ('rescan', 'multiset')),
    time_zone     text NOT NULL,
    view_sql      text,                        -- the user-facing view's SELECT once swapped in
    changed_by    name NOT NULL,               -- who defined this version
    changed_at    timestamptz NOT NULL DEFAULT now(),
    current       boolean NOT NULL DEFAULT false,
    pending       boolean NOT NULL DEFAULT false,
    requested_by  name,                        -- who asked for the pending or last swap to it
    requested_at  timestamptz,
    activated_at  timestamptz,                 -- when it last became current
    catalog_id    int,
    ready_lsn     pg_lsn,
    error         text,                        -- why the last change to it was abandoned
    PRIMARY KEY (view_oid, version),
    CHECK (NOT (current AND pending))
);
CREATE UNIQUE INDEX ON flowview.view_version_catalog (view_oid) WHERE current;
CREATE UNIQUE INDEX ON flowview.view_version_catalog (view_oid) WHERE pending;
SELECT pg_catalog.pg_extension_config_dump('flowview.view_version_catalog', '');

ALTER TABLE flowview.view_version_catalog ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON flowview.view_version_catalog FOR SELECT
    USING (pg_catalog.pg_has_role('flowview_admin', 'USAGE')
           OR pg_catalog.has_table_privilege(view_oid, 'SELECT'));

CREATE VIEW flowview.view_versions WITH (security_invoker = true) AS
SELECT v.view_oid::regclass AS view, v.version, v.query, v.minmax, v.changed_by, v.changed_at,
       v.current, v.pending, v.requested_by, v.requested_at, v.activated_at, v.error
  FROM flowview.view_version_catalog v
UNION ALL
SELECT c.view_oid::regclass, 1, c.query, c.minmax, pg_catalog.pg_get_userbyid(cl.relowner), c.created_at,
       true, false, NULL, NULL, c.created_at, NULL
  FROM flowview.view_catalog c JOIN pg_catalog.pg_class cl ON cl.oid = c.view_oid
 WHERE NOT EXISTS (SELECT FROM flowview.view_version_catalog v
                    WHERE v.view_oid = c.view_oid OR v.catalog_id = c.id);

CREATE FUNCTION flowview.alter_view(name regclass, new_query text, minmax text DEFAULT NULL)
RETURNS int
AS 'MODULE_PATHNAME', 'fv_alter_view'
LANGUAGE C;

CREATE FUNCTION flowview.rollback_view(name regclass) RETURNS int
AS 'MODULE_PATHNAME', 'fv_rollback_view'
LANGUAGE C;

-- DROP of a live view (drop_view, DROP VIEW, DROP TABLE ... CASCADE of its
-- source) drops its versions' rows; its pending storage depends on the view
-- and goes with it (flowview._on_drop).  A pending storage dropped by itself
-- abandons the change.
CREATE FUNCTION flowview._versions_on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM flowview.view_version_catalog v
     WHERE v.view_oid IN (SELECT objid FROM pg_event_trigger_dropped_objects()
                           WHERE classid = 'pg_class'::regclass AND objsubid = 0);
    UPDATE flowview.view_version_catalog v
       SET pending = false, catalog_id = NULL, ready_lsn = NULL,
           error = 'the pending definition''s storage was dropped'
     WHERE v.pending AND NOT EXISTS (SELECT FROM flowview.view_catalog c WHERE c.id = v.catalog_id);
END $$;
CREATE EVENT TRIGGER flowview_versions_on_drop ON sql_drop
    EXECUTE FUNCTION flowview._versions_on_drop();

-- flowview.views: the 0.2 columns, then version (the current one) and the
-- pending change's version and state ('backfilling': being populated;
-- 'catching up': populated, swapped in once it has caught up; 'error').
-- A pending definition's storage is not a view of its own here.
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
       CASE WHEN c.state <> 'error' THEN flowview._worker_problem() END AS worker_problem,
       coalesce((SELECT v.version FROM flowview.view_version_catalog v
                  WHERE v.view_oid = c.view_oid AND v.current), 1) AS version,
       p.version AS pending_version,
       CASE WHEN p.version IS NULL THEN NULL
            WHEN pc.state = 'live' THEN 'catching up'
            ELSE pc.state END AS pending_state
  FROM flowview.view_catalog c
  LEFT JOIN flowview.view_version_catalog p ON p.view_oid = c.view_oid AND p.pending
  LEFT JOIN flowview.view_catalog pc ON pc.id = p.catalog_id
 WHERE NOT EXISTS (SELECT FROM flowview.view_version_catalog x WHERE x.pending AND x.catalog_id = c.id);

REVOKE ALL ON FUNCTION flowview.alter_view(regclass, text, text), flowview.rollback_view(regclass),
    flowview._versions_on_drop() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview.alter_view(regclass, text, text), flowview.rollback_view(regclass)
    TO flowview_admin;
GRANT SELECT ON flowview.view_version_catalog, flowview.view_versions TO flowview_reader;

-- Dump and restore (see part 2): the versions are dumped with the catalog;
-- view_oid has a regclass twin, written by pg_dump as the view's name and
-- read back by the restore as the restored view's OID.
ALTER TABLE flowview.view_version_catalog ADD COLUMN view_rel regclass;

CREATE FUNCTION flowview._version_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR NEW.view_rel IS NULL THEN
        NEW.view_rel := NEW.view_oid;
        RETURN NEW;
    END IF;
    IF NEW.view_oid = NEW.view_rel THEN
        RETURN NEW;
    END IF;
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'only a superuser can restore view versions'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.view_oid := NEW.view_rel;
    RETURN NEW;
END $$;
CREATE TRIGGER version_row BEFORE INSERT OR UPDATE OF view_oid ON flowview.view_version_catalog
    FOR EACH ROW EXECUTE FUNCTION flowview._version_row();
REVOKE ALL ON FUNCTION flowview._version_row() FROM PUBLIC;

-- The apply worker swaps a new definition in with session_replication_role
-- = replica, moving the catalog rows, alert rules and versions to the new
-- view's OID: their twins must follow, or a dump taken afterwards names the
-- old view (or a dropped one) and the restore binds the wrong object.
ALTER TABLE flowview.view_catalog ENABLE ALWAYS TRIGGER catalog_row;
ALTER TABLE flowview.alert_catalog ENABLE ALWAYS TRIGGER alert_row;
ALTER TABLE flowview.view_version_catalog ENABLE ALWAYS TRIGGER version_row;

-- ==== end of versioned view changes ====

-- ==== metrics for postgres_exporter (issue 12, part 5) ====

-- flowview_monitor: for monitoring agents (postgres_exporter with
-- contrib/postgres_exporter/flowview.yaml).  A flowview_reader that sees the
-- metadata of every live view (flowview.views, freshness, stats, SLA samples)
-- without being able to read any view's rows, as pg_monitor does for the
-- server's own statistics.  flowview_admin members see every view already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'flowview_monitor') THEN
        CREATE ROLE flowview_monitor NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('flowview_monitor', 'flowview_reader', 'MEMBER') THEN
        GRANT flowview_reader TO flowview_monitor;
    END IF;
END $$;

ALTER POLICY readable ON flowview.view_catalog
    USING (pg_catalog.pg_has_role('flowview_admin', 'USAGE')
           OR pg_catalog.pg_has_role('flowview_monitor', 'USAGE')
           OR pg_catalog.has_table_privilege(view_oid, 'SELECT'));
ALTER POLICY readable ON flowview.sla_samples
    USING (pg_catalog.pg_has_role('flowview_admin', 'USAGE')
           OR pg_catalog.pg_has_role('flowview_monitor', 'USAGE')
           OR pg_catalog.has_table_privilege(view_oid, 'SELECT'));
ALTER POLICY readable ON flowview.view_version_catalog
    USING (pg_catalog.pg_has_role('flowview_admin', 'USAGE')
           OR pg_catalog.pg_has_role('flowview_monitor', 'USAGE')
           OR pg_catalog.has_table_privilege(view_oid, 'SELECT'));

-- ==== end of metrics ====
