-- Versioned view changes: alter_view, rollback_view, flowview.view_versions,
-- the pending state in flowview.views, what carries over (readers' GRANTs,
-- organisation security, the SLA, alert rules, the comment) and every
-- refusal with its SQLSTATE, each refused before anything changes.  Readers
-- during the swap: test/tap/100_alter_view_readers.pl.
\set VERBOSITY default
-- SQLSTATE and message of a statement expected to fail
CREATE FUNCTION vv_err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION vv_err(text) TO PUBLIC;
-- rows of the view not in the query and the other way round
CREATE FUNCTION vv_diff(v text, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((TABLE %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL TABLE %s)) d',
                   v, q, q, v) INTO n;
    RETURN n;
END $$;
-- what exists of pg_flowview's storage, the catalog and the versions
CREATE FUNCTION vv_state(OUT relations bigint, OUT catalog_rows bigint, OUT version_rows bigint)
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'flowview'::regnamespace AND relname ~ '^fv_(store|out)_'
               AND relkind IN ('r', 'v')),
           (SELECT count(*) FROM flowview.view_catalog),
           (SELECT count(*) FROM flowview.view_version_catalog)
$$;

SELECT * FROM vv_state() \gset base_
CREATE ROLE vv_owner IN ROLE flowview_admin;
CREATE ROLE vv_other IN ROLE flowview_admin;
CREATE ROLE vv_reader IN ROLE flowview_reader;
CREATE ROLE vv_nobody;
CREATE SCHEMA vv AUTHORIZATION vv_owner;
GRANT USAGE ON SCHEMA vv TO vv_reader, vv_other;
SET ROLE vv_owner;
CREATE TABLE vv.sales (id serial PRIMARY KEY, region text, amount int, secret int);
INSERT INTO vv.sales (region, amount, secret) SELECT (ARRAY['vv_north', 'vv_south', 'vv_east'])[i % 3 + 1], i, i FROM generate_series(1, 60) i;
SELECT flowview.create_view('vv.by_region', 'SELECT region, count(*) AS n, sum(amount) AS total FROM vv.sales GROUP BY region',
                            freshness_sla => '5 s') IS NOT NULL AS created;
GRANT SELECT ON vv.by_region TO vv_reader;
COMMENT ON VIEW vv.by_region IS 'orders per region';
SELECT flowview.create_alert('vv busy region', 'vv.by_region', 'n > 1000');
SELECT flowview.create_alert('vv north busy', 'vv.by_region', 'n > 40');
RESET ROLE;
SELECT flowview.add_org_unit('vv_north');
SELECT flowview.assign_role('vv_reader', 'vv_north');
SELECT flowview.enable_org_security('vv.by_region', 'region');
SELECT flowview.wait_for_freshness('vv.by_region', '60 s') AS fresh;

-- the API
\df flowview.alter_view
\df flowview.rollback_view
\d flowview.view_versions
-- a view that was never changed has one version, its create_view definition
SELECT view, version, query, minmax, changed_by, current, pending, error FROM flowview.view_versions
 WHERE view = 'vv.by_region'::regclass;
SELECT view, version, pending_version, pending_state FROM flowview.views WHERE view = 'vv.by_region'::regclass;

-- ---------------------------------------------------------------------------
-- Refused, with nothing changed
-- ---------------------------------------------------------------------------
SELECT * FROM vv_state() \gset before_
-- NULL arguments
SELECT vv_err($$SELECT flowview.alter_view(NULL, 'SELECT 1')$$);
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', NULL)$$);
SELECT vv_err($$SELECT flowview.rollback_view(NULL)$$);
-- not a live view
SELECT vv_err($$SELECT flowview.alter_view('vv.sales', 'SELECT region, count(*) FROM vv.sales GROUP BY region')$$);
SELECT vv_err($$SELECT flowview.rollback_view('vv.sales')$$);
SELECT vv_err($$SELECT flowview.alter_view(4000000000::oid::regclass, 'SELECT region, count(*) FROM vv.sales GROUP BY region')$$);
-- bad and unsupported queries: create_view's refusals and SQLSTATEs
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELEC region FROM vv.sales')$$);
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT nope, count(*) FROM vv.sales GROUP BY nope')$$);
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT a.region, count(*) AS n FROM vv.sales a, LATERAL (SELECT * FROM vv.sales b WHERE b.id = a.id) c GROUP BY a.region')$$);
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS n, sum(amount::float8) FROM vv.sales GROUP BY region')$$);
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS n, random() FROM vv.sales GROUP BY region')$$);
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS n FROM vv.sales GROUP BY region', 'fast')$$);
-- rollback without a previous version
SELECT vv_err($$SELECT flowview.rollback_view('vv.by_region')$$);
-- privileges: only the view's owner may change it, and the new query is
-- checked against the caller's privileges, as create_view checks them
SET ROLE vv_other;
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS n FROM vv.sales GROUP BY region')$$);
SELECT vv_err($$SELECT flowview.rollback_view('vv.by_region')$$);
RESET ROLE;
SET ROLE vv_nobody;
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS n FROM vv.sales GROUP BY region')$$);
RESET ROLE;
CREATE TABLE vv_private (region text, x int);
SET ROLE vv_owner;
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS n FROM public.vv_private GROUP BY region')$$);
RESET ROLE;
-- an alert whose condition names a column the new query does not have
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS orders, sum(amount) AS total FROM vv.sales GROUP BY region')$$);
-- organisation security: the column disappears, or is no longer text
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT region AS area, count(*) AS n FROM vv.sales GROUP BY region')$$);
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT length(region) AS region, count(*) AS n FROM vv.sales GROUP BY 1')$$);
-- a change of columns while another view reads the view
CREATE VIEW vv.over_region AS SELECT region, n FROM vv.by_region;
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS n, sum(amount) AS revenue FROM vv.sales GROUP BY region')$$);
DROP VIEW vv.over_region;
SELECT relations = :before_relations AND catalog_rows = :before_catalog_rows AND version_rows = :before_version_rows
       AS nothing_changed FROM vv_state();

-- ---------------------------------------------------------------------------
-- A compatible change (a column added at the end), under writes
-- ---------------------------------------------------------------------------
SET ROLE vv_owner;
SELECT flowview.alter_view('vv.by_region',
    'SELECT region, count(*) AS n, sum(amount) AS total, max(amount) AS largest FROM vv.sales GROUP BY region');
RESET ROLE;
-- pending until the worker has built it and swapped it in
SELECT view, version, pending_version, pending_state FROM flowview.views WHERE view = 'vv.by_region'::regclass;
SELECT count(*) AS views_listed FROM flowview.views WHERE view::text LIKE 'flowview.%';
SELECT version, current, pending, changed_by, requested_by FROM flowview.view_versions
 WHERE view = 'vv.by_region'::regclass ORDER BY version;
-- a second change waits for the first
SET ROLE vv_owner;
SELECT vv_err($$SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS n FROM vv.sales GROUP BY region')$$);
SELECT vv_err($$SELECT flowview.rollback_view('vv.by_region')$$);
RESET ROLE;
INSERT INTO vv.sales (region, amount, secret) SELECT (ARRAY['vv_north', 'vv_south', 'vv_east'])[i % 3 + 1], i, i FROM generate_series(61, 90) i;
SELECT 'vv.by_region'::regclass::oid AS oid_v1 \gset
SELECT flowview.wait_for_freshness('vv.by_region', '60 s') AS fresh;
SELECT view, version, pending_version, pending_state, freshness_sla FROM flowview.views WHERE view = 'vv.by_region'::regclass;
SELECT 'vv.by_region'::regclass::oid = :oid_v1 AS same_view;
SELECT * FROM vv.by_region ORDER BY region;
SELECT vv_diff('vv.by_region', 'SELECT region, count(*) AS n, sum(amount) AS total, max(amount) AS largest FROM vv.sales GROUP BY region') AS differences;
SELECT version, current, pending, error FROM flowview.view_versions WHERE view = 'vv.by_region'::regclass ORDER BY version;
-- carried over: the reader's GRANT with organisation security, the alert
SET ROLE vv_reader;
SELECT * FROM vv.by_region ORDER BY region;
RESET ROLE;
SELECT name, view, condition FROM flowview.alerts WHERE name = 'vv busy region';
SELECT polname FROM pg_policy WHERE polrelid = flowview.storage_table('vv.by_region') ORDER BY 1;
-- the old definition's storage is gone: one storage table and one fv_out
SELECT relations - :base_relations AS relations, catalog_rows - :base_catalog_rows AS catalog_rows FROM vv_state();

-- ---------------------------------------------------------------------------
-- A change of columns (renamed, retyped): the view is replaced whole
-- ---------------------------------------------------------------------------
SET ROLE vv_owner;
SELECT flowview.alter_view('vv.by_region',
    'SELECT region, count(*) AS n, sum(amount::numeric) AS revenue, min(amount) AS smallest FROM vv.sales WHERE amount > 10 GROUP BY region',
    'multiset');
RESET ROLE;
DELETE FROM vv.sales WHERE id % 7 = 0;
SELECT flowview.wait_for_freshness('vv.by_region', '60 s') AS fresh;
-- the view's former OID (a statement parsed before the swap holds it) still stands for it
SELECT flowview.wait_for_freshness(:oid_v1::regclass, '60 s') AS fresh_by_former_oid;
SELECT 'vv.by_region'::regclass::oid <> :oid_v1 AS replaced,
       obj_description('vv.by_region'::regclass, 'pg_class') AS comment,
       pg_get_userbyid(relowner) AS owner,
       has_table_privilege('vv_reader', 'vv.by_region', 'SELECT') AS reader_may_select
  FROM pg_class WHERE oid = 'vv.by_region'::regclass;
SELECT view, version, minmax, freshness_sla, pending_version FROM flowview.views WHERE view = 'vv.by_region'::regclass;
SELECT * FROM vv.by_region ORDER BY region;
SELECT vv_diff('vv.by_region', 'SELECT region, count(*) AS n, sum(amount::numeric) AS revenue, min(amount) AS smallest FROM vv.sales WHERE amount > 10 GROUP BY region') AS differences;
SET ROLE vv_reader;
SELECT * FROM vv.by_region ORDER BY region;
RESET ROLE;
SELECT name, view FROM flowview.alerts WHERE name = 'vv busy region';
-- the alert rules work on the new definition: north passes 40 rows
SELECT count(*) AS events_before FROM flowview.alert_events WHERE alert = 'vv north busy';
INSERT INTO vv.sales (region, amount, secret) SELECT 'vv_north', 100, 0 FROM generate_series(1, 20);
SELECT flowview.wait_for_freshness('vv.by_region', '60 s') AS fresh;
SELECT alert, view, group_key, group_values->'n' AS n FROM flowview.alert_events WHERE alert = 'vv north busy';
-- writes still refused, DROP COLUMN of a column the new query reads refused
SELECT vv_err($$INSERT INTO vv.by_region VALUES ('x', 1, 1)$$);
SELECT vv_err($$ALTER TABLE vv.sales DROP COLUMN amount$$);
SELECT version, minmax, current, pending, changed_by FROM flowview.view_versions WHERE view = 'vv.by_region'::regclass ORDER BY version;

-- ---------------------------------------------------------------------------
-- Rollback: to the previous version, the same way
-- ---------------------------------------------------------------------------
SET ROLE vv_owner;
SELECT flowview.rollback_view('vv.by_region');
RESET ROLE;
SELECT flowview.wait_for_freshness('vv.by_region', '60 s') AS fresh;
SELECT view, version, minmax, pending_version FROM flowview.views WHERE view = 'vv.by_region'::regclass;
SELECT vv_diff('vv.by_region', 'SELECT region, count(*) AS n, sum(amount) AS total, max(amount) AS largest FROM vv.sales GROUP BY region') AS differences;
SET ROLE vv_owner;
SELECT flowview.rollback_view('vv.by_region');
RESET ROLE;
SELECT flowview.wait_for_freshness('vv.by_region', '60 s') AS fresh;
SELECT * FROM vv.by_region ORDER BY region;
SELECT vv_diff('vv.by_region', 'SELECT region, count(*) AS n, sum(amount) AS total FROM vv.sales GROUP BY region') AS differences;
SELECT version, current, pending, requested_by FROM flowview.view_versions WHERE view = 'vv.by_region'::regclass ORDER BY version;
SELECT vv_err($$SELECT flowview.rollback_view('vv.by_region')$$);
SET ROLE vv_reader;
SELECT * FROM vv.by_region ORDER BY region;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- wait_for_freshness inside the transaction that asked for the change
-- refuses at once; the versions are readable like the catalog
-- ---------------------------------------------------------------------------
BEGIN;
SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS n, sum(amount) AS total FROM vv.sales GROUP BY region');
SELECT vv_err($$SELECT flowview.wait_for_freshness('vv.by_region', '20 s')$$);
ROLLBACK;
CREATE TABLE vv_hidden (g int);
SELECT flowview.create_view('vv_hidden_v', 'SELECT g, count(*) FROM vv_hidden GROUP BY g') IS NOT NULL AS created;
SET ROLE vv_reader;
SELECT DISTINCT view FROM flowview.view_versions WHERE view::text LIKE 'vv%' ORDER BY 1;
SELECT vv_err($$INSERT INTO flowview.view_version_catalog (view_oid, version, query, minmax, time_zone, changed_by) VALUES (1, 1, 'x', 'rescan', 'UTC', 'x')$$);
RESET ROLE;
SELECT flowview.drop_view('vv_hidden_v');
DROP TABLE vv_hidden;

-- ---------------------------------------------------------------------------
-- A new definition that cannot be populated (its owner lost SELECT on the
-- source before the worker built it) is abandoned: the current one stays
-- ---------------------------------------------------------------------------
CREATE TABLE vv_granted (g int, x int);
INSERT INTO vv_granted SELECT i % 3, i FROM generate_series(1, 30) i;
ALTER TABLE vv_granted REPLICA IDENTITY FULL;
GRANT SELECT ON vv_granted TO vv_owner;
SET ROLE vv_owner;
SELECT flowview.create_view('vv.granted_v', 'SELECT g, count(*) AS n FROM public.vv_granted GROUP BY g') IS NOT NULL AS created;
RESET ROLE;
SELECT flowview.wait_for_freshness('vv.granted_v', '60 s') AS fresh;
BEGIN;
SET ROLE vv_owner;
SELECT flowview.alter_view('vv.granted_v', 'SELECT g, count(*) AS n, sum(x) AS s FROM public.vv_granted GROUP BY g');
RESET ROLE;
REVOKE SELECT ON vv_granted FROM vv_owner;
COMMIT;
DO $$BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN EXISTS (SELECT FROM flowview.view_versions WHERE view = 'vv.granted_v'::regclass AND error IS NOT NULL);
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT version, current, pending, error FROM flowview.view_versions WHERE view = 'vv.granted_v'::regclass ORDER BY version;
SELECT view, version, pending_version FROM flowview.views WHERE view = 'vv.granted_v'::regclass;
SELECT * FROM vv.granted_v ORDER BY g;
SELECT flowview.drop_view('vv.granted_v');
DROP TABLE vv_granted;

-- ---------------------------------------------------------------------------
-- drop_view during a pending change drops both; DROP of the view drops the
-- versions' rows
-- ---------------------------------------------------------------------------
SET ROLE vv_owner;
SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS n FROM vv.sales GROUP BY region');
SET client_min_messages = warning;   -- (the NOTICE names the pending storage's id)
SELECT flowview.drop_view('vv.by_region');
RESET client_min_messages;
RESET ROLE;
SELECT relations - :base_relations AS relations, catalog_rows - :base_catalog_rows AS catalog_rows,
       version_rows - :base_version_rows AS version_rows FROM vv_state();
SET ROLE vv_owner;
SELECT flowview.create_view('vv.by_region', 'SELECT region, count(*) AS n FROM vv.sales GROUP BY region') IS NOT NULL AS created;
SELECT flowview.alter_view('vv.by_region', 'SELECT region, count(*) AS n, min(amount) AS smallest FROM vv.sales GROUP BY region');
RESET ROLE;
SELECT flowview.wait_for_freshness('vv.by_region', '60 s') AS fresh;
DROP TABLE vv.sales CASCADE;
SELECT relations - :base_relations AS relations, catalog_rows - :base_catalog_rows AS catalog_rows,
       version_rows - :base_version_rows AS version_rows FROM vv_state();

DROP TABLE vv_private;
DROP SCHEMA vv CASCADE;
SELECT flowview.drop_org_unit('vv_north');
DROP OWNED BY vv_owner, vv_other, vv_reader, vv_nobody;
DROP ROLE vv_owner, vv_other, vv_reader, vv_nobody;
DROP FUNCTION vv_err(text), vv_diff(text, text), vv_state();
