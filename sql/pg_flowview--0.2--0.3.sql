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
