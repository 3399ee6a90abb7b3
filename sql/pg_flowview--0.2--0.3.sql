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
