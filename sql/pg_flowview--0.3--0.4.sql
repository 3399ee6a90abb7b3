/* pg_flowview 0.3 -> 0.4 (ALTER EXTENSION pg_flowview UPDATE)
 *
 * 0.1, 0.2 and 0.3 are released and their scripts never change; a fresh
 * CREATE EXTENSION installs 0.1 and runs every update script in turn
 * (test/tap/011_upgrade.pl checks both ways give the same objects).  The
 * library checks fv_sql_version() >= 4 before it relies on anything added
 * here.
 */
\echo Use "ALTER EXTENSION pg_flowview UPDATE" to load this file. \quit

-- ==== live views over joins (issue 13) ====

-- A join view's source (source_oid) is its join relation J, the view
-- flowview.fv_join_ID over the query's FROM items and conditions; its base
-- tables, the columns read of each (each element a text[] literal) and J's
-- delta statement over the tables' batch rows (src/views/join.c).  NULL for
-- a view over one table.
ALTER TABLE flowview.view_catalog
	ADD COLUMN join_sources pg_catalog.regclass[],
	ADD COLUMN join_source_columns text[],
	ADD COLUMN join_delta_sql text;
