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

-- ==== versioned view changes (issue 12, part 4) ====

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

-- ==== end of metrics ====
