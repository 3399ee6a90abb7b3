-- Securing views: the organisation hierarchy, row-level security by
-- organisation on live views, roles and privileges, hostile names, CDC
-- access.  Roles are cluster-wide: every role here is named fv_sec_* and
-- dropped at the end.
SET client_min_messages = warning;

-- SQLSTATE and message of a statement expected to fail
CREATE FUNCTION fv_sec_err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION fv_sec_err(text) TO PUBLIC;
-- the same with the error's DETAIL
CREATE FUNCTION fv_sec_err_detail(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || ' / ' || coalesce(detail, '(no detail)');
END $$;
GRANT EXECUTE ON FUNCTION fv_sec_err_detail(text) TO PUBLIC;
-- EXPLAIN (COSTS OFF) lines, storage ids replaced by N
CREATE FUNCTION fv_sec_explain(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        RETURN NEXT regexp_replace(l, 'fv_(store|out)_[0-9]+', 'fv_\1_N', 'g');
    END LOOP;
END $$;

-- the extension's roles
SELECT rolname, rolcanlogin, rolsuper, rolbypassrls FROM pg_roles
 WHERE rolname IN ('flowview_admin', 'flowview_reader') ORDER BY 1;
SELECT pg_has_role('flowview_admin', 'flowview_reader', 'USAGE') AS admin_is_reader;

-- ---------------------------------------------------------------------------
-- The hierarchy
-- ---------------------------------------------------------------------------
SELECT flowview.add_org_unit('Acme');
SELECT flowview.add_org_unit('EMEA', 'Acme');
SELECT flowview.add_org_unit('AMER', 'Acme');
SELECT flowview.add_org_unit('DE', 'EMEA');
SELECT flowview.add_org_unit('FR', 'EMEA');
SELECT flowview.add_org_unit('US', 'AMER');
SELECT flowview.add_org_unit('Berlin', 'DE');
SELECT ancestor, descendant, depth FROM flowview.org_closure ORDER BY 1, 2;

-- errors, with their SQLSTATEs
SELECT fv_sec_err($$SELECT flowview.add_org_unit('Paris', 'Frankreich')$$);
SELECT fv_sec_err($$SELECT flowview.add_org_unit('DE', 'EMEA')$$);
SELECT fv_sec_err($$SELECT flowview.add_org_unit('', NULL)$$);
SELECT fv_sec_err($$SELECT flowview.move_org_unit('EMEA', 'Berlin')$$);
SELECT fv_sec_err($$SELECT flowview.move_org_unit('EMEA', 'EMEA')$$);
SELECT fv_sec_err($$SELECT flowview.move_org_unit('Nowhere', 'EMEA')$$);
SELECT fv_sec_err($$SELECT flowview.drop_org_unit('EMEA')$$);
SELECT fv_sec_err($$SELECT flowview.assign_role('postgres', 'Atlantis')$$);
-- plain DML by an admin is checked the same way
SELECT fv_sec_err($$UPDATE flowview.org_units SET parent = 'Berlin' WHERE unit = 'Acme'$$);
SELECT fv_sec_err($$UPDATE flowview.org_units SET unit = 'Germany' WHERE unit = 'DE'$$);
SELECT fv_sec_err($$INSERT INTO flowview.org_units VALUES ('Lyon', 'Frankreich')$$);
SELECT fv_sec_err($$DELETE FROM flowview.org_units WHERE unit = 'AMER'$$);
-- two moves in one statement that together make a cycle
SELECT fv_sec_err($$UPDATE flowview.org_units SET parent = CASE unit WHEN 'EMEA' THEN 'US' ELSE 'FR' END
                     WHERE unit IN ('EMEA', 'AMER')$$);
-- several units in one statement, children listed before their parent
INSERT INTO flowview.org_units VALUES ('Lyon', 'France-South'), ('France-South', 'FR');
SELECT ancestor, depth FROM flowview.org_closure WHERE descendant = 'Lyon' ORDER BY depth;
-- moving a subtree relinks all of it
SELECT flowview.move_org_unit('FR', 'Acme');
SELECT ancestor, depth FROM flowview.org_closure WHERE descendant = 'Lyon' ORDER BY depth;
SELECT flowview.move_org_unit('FR', 'EMEA');
DELETE FROM flowview.org_units WHERE unit IN ('Lyon', 'France-South');
-- the closure equals the transitive closure of the parent links
WITH RECURSIVE t(a, d, depth) AS (
    SELECT unit, unit, 0 FROM flowview.org_units
    UNION ALL
    SELECT o.parent, t.d, t.depth + 1 FROM t JOIN flowview.org_units o ON o.unit = t.a WHERE o.parent IS NOT NULL
)
SELECT (SELECT count(*) FROM t) AS pairs,
       NOT EXISTS (SELECT a, d, depth FROM t EXCEPT SELECT * FROM flowview.org_closure)
   AND NOT EXISTS (SELECT * FROM flowview.org_closure EXCEPT SELECT a, d, depth FROM t) AS closure_exact;

-- ---------------------------------------------------------------------------
-- Roles for the rest of the test
-- ---------------------------------------------------------------------------
CREATE ROLE fv_sec_admin LOGIN IN ROLE flowview_admin;
CREATE ROLE fv_sec_admin2 LOGIN IN ROLE flowview_admin;
CREATE ROLE fv_sec_de LOGIN;          -- analyst for DE (and Berlin)
CREATE ROLE fv_sec_emea LOGIN;        -- analyst for EMEA, through a group role
CREATE ROLE fv_sec_emea_team NOLOGIN;
GRANT fv_sec_emea_team TO fv_sec_emea;
CREATE ROLE fv_sec_nobody LOGIN;      -- no unit
CREATE ROLE fv_sec_bypass LOGIN BYPASSRLS;
CREATE ROLE fv_sec_reader LOGIN IN ROLE flowview_reader;
CREATE ROLE "fv_sec_O'Hara; DROP TABLE x" LOGIN;
SELECT flowview.assign_role('fv_sec_de', 'DE');
SELECT flowview.assign_role('fv_sec_emea_team', 'EMEA');
SELECT flowview.assign_role('"fv_sec_O''Hara; DROP TABLE x"', 'US');
SELECT m.role, m.unit FROM flowview.org_members m ORDER BY 2, 1;
-- a flowview_admin member that is no superuser maintains the hierarchy,
-- by function and by DML
SET ROLE fv_sec_admin2;
SELECT flowview.add_org_unit('Paris', 'FR');
INSERT INTO flowview.org_units VALUES ('Lyon', 'FR');
UPDATE flowview.org_units SET parent = 'Paris' WHERE unit = 'Lyon';
SELECT flowview.assign_role('fv_sec_nobody', 'Lyon');
SELECT ancestor, depth FROM flowview.org_closure WHERE descendant = 'Lyon' ORDER BY depth;
SELECT fv_sec_err($$SELECT flowview.move_org_unit('FR', 'Lyon')$$);
SELECT flowview.unassign_role('fv_sec_nobody', 'Lyon');
DELETE FROM flowview.org_units WHERE unit = 'Lyon';
SELECT flowview.drop_org_unit('Paris');
RESET ROLE;

CREATE SCHEMA fv_sec_reports AUTHORIZATION fv_sec_admin;
GRANT USAGE ON SCHEMA fv_sec_reports TO PUBLIC;
CREATE TABLE fv_sec_sales (id int PRIMARY KEY, region text NOT NULL, product text, amount numeric,
                           customer_email text);
INSERT INTO fv_sec_sales
SELECT i, (ARRAY['DE', 'FR', 'US', 'Berlin', 'EMEA', 'Elsewhere'])[1 + i % 6], 'p' || i % 3, i, 'c' || i || '@example.com'
  FROM generate_series(1, 600) i;
GRANT SELECT (id, region, product, amount) ON fv_sec_sales TO fv_sec_admin;
CREATE TABLE fv_sec_secret (id int PRIMARY KEY, code text);
ALTER TABLE fv_sec_secret REPLICA IDENTITY FULL;
INSERT INTO fv_sec_secret VALUES (1, 'x'), (2, 'y');

-- ---------------------------------------------------------------------------
-- create_view: privilege checks
-- ---------------------------------------------------------------------------
SET ROLE fv_sec_admin;
-- a column the creator cannot read
SELECT fv_sec_err($$SELECT flowview.create_view('fv_sec_reports.leak',
    'SELECT region, count(*) FILTER (WHERE customer_email LIKE ''%@example.com'') FROM fv_sec_sales GROUP BY region')$$);
-- count(*) alone over a table the creator may read nothing of (create_view
-- is refused by its own check, whose DETAIL says why)
SELECT fv_sec_err_detail($$SELECT flowview.create_view('fv_sec_reports.secret_count', 'SELECT count(*) FROM fv_sec_secret')$$);
-- a schema the creator cannot create in
SELECT fv_sec_err($$SELECT flowview.create_view('public.fv_sec_v', 'SELECT region, count(*) FROM fv_sec_sales GROUP BY region')$$);
RESET ROLE;
-- not a flowview_admin member
SET ROLE fv_sec_nobody;
SELECT fv_sec_err($$SELECT flowview.create_view('fv_sec_reports.v', 'SELECT count(*) FROM fv_sec_sales')$$);
SELECT fv_sec_err($$SELECT flowview.add_org_unit('Mars')$$);
SELECT fv_sec_err($$INSERT INTO flowview.org_units VALUES ('Mars', NULL)$$);
RESET ROLE;
-- a function owned by a non-superuser (the apply worker would run it as a superuser)
CREATE FUNCTION fv_sec_tag(text) RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT upper($1) $$;
ALTER FUNCTION fv_sec_tag(text) OWNER TO fv_sec_admin;
SET ROLE fv_sec_admin;
SELECT fv_sec_err($$SELECT flowview.create_view('fv_sec_reports.v', 'SELECT fv_sec_tag(region) AS r, count(*) FROM fv_sec_sales GROUP BY 1')$$);
RESET ROLE;
DROP FUNCTION fv_sec_tag(text);
-- REPLICA IDENTITY FULL is set by create_view only for the table's owner
SET ROLE fv_sec_admin;
SELECT fv_sec_err($$SELECT flowview.create_view('fv_sec_reports.v', 'SELECT region, count(*) FROM fv_sec_sales GROUP BY region')$$);
RESET ROLE;
ALTER TABLE fv_sec_sales REPLICA IDENTITY FULL;
-- a source whose row-level security applies to the creator
CREATE TABLE fv_sec_private (id int PRIMARY KEY, owner_name text);
ALTER TABLE fv_sec_private ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON fv_sec_private USING (owner_name = current_user);
GRANT SELECT ON fv_sec_private TO fv_sec_admin;
SET ROLE fv_sec_admin;
SELECT fv_sec_err($$SELECT flowview.create_view('fv_sec_reports.v', 'SELECT owner_name, count(*) FROM fv_sec_private GROUP BY 1')$$);

-- the view, created by a non-superuser admin, is owned by it
SELECT flowview.create_view('fv_sec_reports.sales_by_region',
    $$SELECT region, product, count(*) AS orders, sum(amount) AS revenue FROM fv_sec_sales GROUP BY region, product$$);
RESET ROLE;
SELECT CASE WHEN c.relkind = 'v' THEN c.oid::regclass::text ELSE 'its storage table' END AS relation,
       pg_get_userbyid(c.relowner) AS owner
  FROM pg_class c WHERE c.oid IN ('fv_sec_reports.sales_by_region'::regclass,
                                   flowview.storage_table('fv_sec_reports.sales_by_region'))
 ORDER BY 1;
SELECT flowview.storage_column('fv_sec_reports.sales_by_region', 'region') AS region_column,
       flowview.storage_column('fv_sec_reports.sales_by_region', 'product') AS product_column;
SELECT fv_sec_err($$SELECT flowview.storage_column('fv_sec_reports.sales_by_region', 'revenue')$$);

-- ---------------------------------------------------------------------------
-- Read access follows GRANT on the view
-- ---------------------------------------------------------------------------
SET ROLE fv_sec_de;
SELECT fv_sec_err($$SELECT * FROM fv_sec_reports.sales_by_region$$);
RESET ROLE;
SET ROLE fv_sec_admin;
GRANT SELECT ON fv_sec_reports.sales_by_region
   TO fv_sec_de, fv_sec_emea, fv_sec_nobody, fv_sec_bypass, fv_sec_reader, "fv_sec_O'Hara; DROP TABLE x";
RESET ROLE;
-- the storage table carries exactly SELECT for the view's readers
SELECT a.grantee::regrole, a.privilege_type
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.oid = flowview.storage_table('fv_sec_reports.sales_by_region') AND a.grantee <> c.relowner
 ORDER BY a.grantee::regrole::text COLLATE "C", 2;
-- before org security every reader sees every row
SET ROLE fv_sec_de;
SELECT count(*) AS rows_seen FROM fv_sec_reports.sales_by_region;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Row-level security by organisation
-- ---------------------------------------------------------------------------
SET ROLE fv_sec_admin2;    -- any flowview_admin member, not only the owner
SELECT flowview.enable_org_security('fv_sec_reports.sales_by_region', 'region');
RESET ROLE;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE oid = flowview.storage_table('fv_sec_reports.sales_by_region');
SELECT polname, polpermissive, polroles::regrole[], pg_get_expr(polqual, polrelid) AS using_expr
  FROM pg_policy WHERE polrelid = flowview.storage_table('fv_sec_reports.sales_by_region') ORDER BY 1;

-- DE sees DE and its descendant Berlin
SET ROLE fv_sec_de;
SELECT region, sum(orders) AS orders FROM fv_sec_reports.sales_by_region GROUP BY 1 ORDER BY 1;
-- EMEA (through the group role) sees EMEA, DE, Berlin, FR
SET ROLE fv_sec_emea;
SELECT region, sum(orders) AS orders FROM fv_sec_reports.sales_by_region GROUP BY 1 ORDER BY 1;
-- no unit: nothing
SET ROLE fv_sec_nobody;
SELECT count(*) AS rows_seen FROM fv_sec_reports.sales_by_region;
-- a hostile role name assigned to US
SET ROLE "fv_sec_O'Hara; DROP TABLE x";
SELECT region, sum(orders) AS orders FROM fv_sec_reports.sales_by_region GROUP BY 1 ORDER BY 1;
-- flowview_admin members, BYPASSRLS roles, the owner and superusers see everything
SET ROLE fv_sec_admin2;
SELECT fv_sec_err($$SELECT 1 FROM fv_sec_reports.sales_by_region$$);  -- needs a GRANT like anyone
RESET ROLE;
SET ROLE fv_sec_admin;
SELECT count(DISTINCT region) AS regions_seen_by_owner FROM fv_sec_reports.sales_by_region;
SET ROLE fv_sec_bypass;
SELECT count(DISTINCT region) AS regions_seen_bypassrls FROM fv_sec_reports.sales_by_region;
RESET ROLE;
SELECT count(DISTINCT region) AS regions_seen_superuser FROM fv_sec_reports.sales_by_region;
GRANT SELECT ON fv_sec_reports.sales_by_region TO fv_sec_admin2;
SET ROLE fv_sec_admin2;
SELECT count(DISTINCT region) AS regions_seen_flowview_admin FROM fv_sec_reports.sales_by_region;
RESET ROLE;

-- hierarchy changes take effect for the next query
SELECT flowview.add_org_unit('Elsewhere', 'Berlin');
SET ROLE fv_sec_de;
SELECT region, sum(orders) AS orders FROM fv_sec_reports.sales_by_region GROUP BY 1 ORDER BY 1;
RESET ROLE;
SELECT flowview.move_org_unit('DE', 'AMER');
SET ROLE fv_sec_emea;
SELECT region, sum(orders) AS orders FROM fv_sec_reports.sales_by_region GROUP BY 1 ORDER BY 1;
RESET ROLE;
SELECT flowview.move_org_unit('DE', 'EMEA');
SELECT flowview.unassign_role('fv_sec_emea_team', 'EMEA');
SET ROLE fv_sec_emea;
SELECT count(*) AS rows_seen_after_unassign FROM fv_sec_reports.sales_by_region;
RESET ROLE;
SELECT flowview.assign_role('fv_sec_emea_team', 'EMEA');

-- the apply worker writes regardless of RLS (it runs as the bootstrap superuser)
INSERT INTO fv_sec_sales VALUES (1001, 'Berlin', 'p9', 5, 'x@example.com');
SELECT flowview.wait_for_freshness('fv_sec_reports.sales_by_region', '60 s') AS fresh;
SET ROLE fv_sec_de;
SELECT region, product, orders, revenue FROM fv_sec_reports.sales_by_region WHERE product = 'p9';
RESET ROLE;

-- analysts cannot write: not through the view, not to the storage
SELECT flowview.storage_table('fv_sec_reports.sales_by_region') AS store \gset
SET ROLE fv_sec_de;
SELECT fv_sec_err($$INSERT INTO fv_sec_reports.sales_by_region VALUES ('DE', 'p1', 1, 1)$$);
SELECT fv_sec_err($$DELETE FROM fv_sec_reports.sales_by_region$$);
SELECT fv_sec_err(format('UPDATE %s SET __rows = 0', :'store')) ~ '^42501: permission denied' AS storage_write_refused;
RESET ROLE;
-- GRANT ALL on the view hands out SELECT on the storage only
SET ROLE fv_sec_admin;
GRANT ALL ON fv_sec_reports.sales_by_region TO fv_sec_de;
RESET ROLE;
SELECT a.privilege_type FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.oid = flowview.storage_table('fv_sec_reports.sales_by_region') AND a.grantee = 'fv_sec_de'::regrole;
SET ROLE fv_sec_de;
SELECT fv_sec_err($$INSERT INTO fv_sec_reports.sales_by_region VALUES ('DE', 'p1', 1, 1)$$);
RESET ROLE;
SET ROLE fv_sec_admin;
REVOKE ALL ON fv_sec_reports.sales_by_region FROM fv_sec_de;
GRANT SELECT ON fv_sec_reports.sales_by_region TO fv_sec_de;
RESET ROLE;

-- only pg_flowview puts policies on the storage: the owner cannot (nor can
-- a superuser), so what readers see is what enable_org_security and GRANT say
SET ROLE fv_sec_admin;
SELECT format('CREATE POLICY p1_for_nobody ON %s FOR SELECT TO fv_sec_nobody USING (%I = %L)',
              flowview.storage_table('fv_sec_reports.sales_by_region'),
              flowview.storage_column('fv_sec_reports.sales_by_region', 'product'), 'p1') AS create_policy \gset
SELECT regexp_replace(fv_sec_err(:'create_policy'), 'fv_store_[0-9]+', 'fv_store_N') AS owner_policy;
SELECT regexp_replace(fv_sec_err(format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY',
                      flowview.storage_table('fv_sec_reports.sales_by_region'))), 'fv_store_[0-9]+', 'fv_store_N') AS owner_rls_off;
RESET ROLE;
SELECT regexp_replace(fv_sec_err(:'create_policy'), 'fv_store_[0-9]+', 'fv_store_N') AS superuser_policy;
SET ROLE fv_sec_nobody;
SELECT region, product FROM fv_sec_reports.sales_by_region ORDER BY 1, 2;
RESET ROLE;
-- the org policies survive refresh_view (it refills the same table)
SET ROLE fv_sec_admin2;
SELECT flowview.refresh_view('fv_sec_reports.sales_by_region');
RESET ROLE;
SELECT flowview.wait_for_freshness('fv_sec_reports.sales_by_region', '60 s') AS fresh;
SELECT polname FROM pg_policy WHERE polrelid = flowview.storage_table('fv_sec_reports.sales_by_region') ORDER BY 1;
SET ROLE fv_sec_de;
SELECT count(*) AS rows_seen_after_refresh FROM fv_sec_reports.sales_by_region;
RESET ROLE;

-- disable_org_security drops the policies and row-level security
SELECT flowview.disable_org_security('fv_sec_reports.sales_by_region');
SELECT polname FROM pg_policy WHERE polrelid = flowview.storage_table('fv_sec_reports.sales_by_region');
SELECT relrowsecurity FROM pg_class WHERE oid = flowview.storage_table('fv_sec_reports.sales_by_region');
SET ROLE fv_sec_de;
SELECT count(*) AS rows_seen_without_org_security FROM fv_sec_reports.sales_by_region;
RESET ROLE;
SELECT flowview.enable_org_security('fv_sec_reports.sales_by_region', 'region');

-- enable_org_security errors
SELECT fv_sec_err($$SELECT flowview.enable_org_security('fv_sec_sales', 'region')$$);
SELECT fv_sec_err($$SELECT flowview.enable_org_security('fv_sec_reports.sales_by_region', 'no_such_column')$$);
SELECT fv_sec_err($$SELECT flowview.enable_org_security('fv_sec_reports.sales_by_region', 'revenue')$$);
SET ROLE fv_sec_admin;
SELECT flowview.create_view('fv_sec_reports.by_amount', $$SELECT amount, count(*) FROM fv_sec_sales GROUP BY amount$$) IS NOT NULL AS created;
SELECT fv_sec_err($$SELECT flowview.enable_org_security('fv_sec_reports.by_amount', 'amount')$$);
SELECT flowview.drop_view('fv_sec_reports.by_amount');
RESET ROLE;
SET ROLE fv_sec_de;
SELECT fv_sec_err($$SELECT flowview.enable_org_security('fv_sec_reports.sales_by_region', 'region')$$);
SELECT fv_sec_err($$SELECT flowview.refresh_view('fv_sec_reports.sales_by_region')$$);
SELECT fv_sec_err($$SELECT flowview.drop_view('fv_sec_reports.sales_by_region')$$);
RESET ROLE;

-- ---------------------------------------------------------------------------
-- A large view: the policy is an index condition evaluated from one
-- initplan, not a recursive query per row
-- ---------------------------------------------------------------------------
CREATE TABLE fv_sec_big (id int PRIMARY KEY, unit text NOT NULL, v int);
INSERT INTO fv_sec_big SELECT i, 'store-' || i, i % 7 FROM generate_series(1, 100000) i;
GRANT SELECT ON fv_sec_big TO fv_sec_admin;
ALTER TABLE fv_sec_big REPLICA IDENTITY FULL;
INSERT INTO flowview.org_units SELECT 'store-' || i, 'Berlin' FROM generate_series(1, 20) i;
SET ROLE fv_sec_admin;
SELECT flowview.create_view('fv_sec_reports.big', $$SELECT v, unit, count(*) AS n, sum(id) AS s FROM fv_sec_big GROUP BY v, unit$$) IS NOT NULL AS created;
SELECT flowview.enable_org_security('fv_sec_reports.big', 'unit');
GRANT SELECT ON fv_sec_reports.big TO fv_sec_de;
RESET ROLE;
SELECT count(*) AS groups FROM fv_sec_reports.big;
SELECT format('ANALYZE %s', flowview.storage_table('fv_sec_reports.big')) AS analyze_big \gset
:analyze_big;
SET ROLE fv_sec_de;
SELECT count(*) AS groups_seen, sum(n) AS rows_seen FROM fv_sec_reports.big;
-- the plan: org column unit is the second key, so it has its own index
SELECT * FROM fv_sec_explain('SELECT * FROM fv_sec_reports.big') AS plan;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Readers: metadata of the views they may read; no management functions
-- ---------------------------------------------------------------------------
-- fv_sec_reader may read sales_by_region, not big: give both statistics and
-- SLA samples, so that what the reader is not shown exists
INSERT INTO fv_sec_big VALUES (100001, 'store-1', 1);
SELECT flowview.wait_for_freshness('fv_sec_reports.big', '60 s') AS fresh;
INSERT INTO flowview.sla_samples
SELECT v, now(), interval '1 s', interval '5 s', true
  FROM unnest(ARRAY['fv_sec_reports.sales_by_region'::regclass, 'fv_sec_reports.big'::regclass]::oid[]) v;
SELECT id AS big_id FROM flowview.view_catalog WHERE view_oid = 'fv_sec_reports.big'::regclass \gset
-- (the worker's statistics entry of a view may come a moment later)
DO $$
BEGIN
    FOR i IN 1..200 LOOP
        EXIT WHEN EXISTS (SELECT FROM flowview._view_stats() s JOIN flowview.view_catalog c ON c.id = s.view_id
                           WHERE c.view_oid = 'fv_sec_reports.big'::regclass);
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT (SELECT count(*) FROM flowview._view_stats() WHERE view_id = :big_id) AS big_stats_rows,
       (SELECT count(*) FROM flowview.sla_report() WHERE view = 'fv_sec_reports.big'::regclass) AS big_sla_rows,
       (SELECT count(*) FROM flowview.anomalies(-1, 0) WHERE view = 'fv_sec_reports.big'::regclass) AS big_anomaly_rows;
SET ROLE fv_sec_reader;
SELECT view FROM flowview.views ORDER BY view::text;
SELECT view, state FROM flowview.freshness ORDER BY view::text;
SELECT count(*) > 0 AS stats_visible FROM flowview.stats;
SELECT flowview.wait_for_freshness('fv_sec_reports.sales_by_region', '60 s') AS reader_can_wait;
SELECT array_agg(view::text) AS sla_report_views FROM flowview.sla_report();
SELECT count(*) AS samples_of_other_views FROM flowview.sla_samples WHERE NOT has_table_privilege(view_oid, 'SELECT');
SELECT array_agg(view::text) AS anomalies_views FROM flowview.anomalies(-1, 0);
SELECT count(*) FILTER (WHERE view_id = :big_id) AS stats_of_big,
       count(*) FILTER (WHERE view_id <> :big_id) > 0 AS own_stats_seen
  FROM flowview._view_stats();
SELECT fv_sec_err($$SELECT flowview.storage_table('fv_sec_reports.big')$$);
SELECT fv_sec_err($$SELECT flowview.storage_column('fv_sec_reports.big', 'unit')$$);
SELECT fv_sec_err($$SELECT flowview.wait_for_freshness('fv_sec_reports.big', '1 s')$$);  -- not granted
SELECT fv_sec_err($$SELECT flowview.create_view('fv_sec_reports.r', 'SELECT count(*) FROM fv_sec_sales')$$);
SELECT fv_sec_err($$SELECT flowview.set_freshness_sla('fv_sec_reports.sales_by_region', '1 min')$$);
SELECT fv_sec_err($$SELECT flowview.pause_apply()$$);
SELECT fv_sec_err($$SELECT flowview.assign_role('fv_sec_reader', 'Acme')$$);
SELECT fv_sec_err($$SELECT * FROM flowview.org_members$$);
RESET ROLE;
SET ROLE fv_sec_nobody;
SELECT fv_sec_err($$SELECT * FROM flowview.views$$);
SELECT fv_sec_err($$SELECT flowview._visible_units()$$);
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Hostile names
-- ---------------------------------------------------------------------------
SET ROLE fv_sec_admin;
SELECT flowview.create_view('fv_sec_reports."Sales; DROP TABLE fv_sec_sales; --"',
    $$SELECT region AS "Org ""Unit""; --", count(*) FROM fv_sec_sales GROUP BY 1$$);
SELECT flowview.create_view('fv_sec_reports."' || repeat('Ü', 31) || 'x"', $$SELECT count(*) FROM fv_sec_sales$$);
SELECT fv_sec_err(format('SELECT flowview.create_view(%L, %L)', 'fv_sec_reports."' || repeat('Ü', 32) || '"',
                         'SELECT count(*) FROM fv_sec_sales'));
SELECT fv_sec_err(format('SELECT flowview.create_view(%L, %L)', 'fv_sec_reports.' || repeat('a', 64),
                         'SELECT count(*) FROM fv_sec_sales'));
SELECT flowview.enable_org_security('fv_sec_reports."Sales; DROP TABLE fv_sec_sales; --"', 'Org "Unit"; --');
GRANT SELECT ON fv_sec_reports."Sales; DROP TABLE fv_sec_sales; --" TO "fv_sec_O'Hara; DROP TABLE x";
RESET ROLE;
SELECT flowview.add_org_unit('O''Brien"; DROP TABLE fv_sec_sales; --', 'US');
SELECT flowview.add_org_unit(repeat('Ω', 100), 'O''Brien"; DROP TABLE fv_sec_sales; --');
SELECT flowview.add_org_unit('MixedCase', repeat('Ω', 100));
SELECT flowview.move_org_unit('MixedCase', 'US');
SELECT fv_sec_err($$SELECT flowview.move_org_unit('US', 'MixedCase')$$);
SELECT fv_sec_err($$SELECT flowview.drop_org_unit('O''Brien"; DROP TABLE fv_sec_sales; --')$$);
SELECT fv_sec_err($$SELECT flowview.add_org_unit('mixedcase', 'MIXEDCASE')$$);
SET ROLE "fv_sec_O'Hara; DROP TABLE x";
SELECT * FROM fv_sec_reports."Sales; DROP TABLE fv_sec_sales; --" ORDER BY 1;
RESET ROLE;
SELECT flowview.refresh_view('fv_sec_reports."Sales; DROP TABLE fv_sec_sales; --"');
SELECT flowview.drop_view('fv_sec_reports."Sales; DROP TABLE fv_sec_sales; --"');
SELECT flowview.storage_table(('fv_sec_reports."' || repeat('Ü', 31) || 'x"')::regclass) AS long_store \gset
-- the owner may drop its view with plain DROP VIEW; the storage goes too
SET ROLE fv_sec_admin;
SELECT format('DROP VIEW %s', ('fv_sec_reports."' || repeat('Ü', 31) || 'x"')::regclass) AS drop_long \gset
:drop_long;
RESET ROLE;
SELECT to_regclass(:'long_store') IS NULL AS storage_dropped,
       NOT EXISTS (SELECT FROM flowview.view_catalog c
                   WHERE NOT EXISTS (SELECT FROM pg_class WHERE oid = c.view_oid)) AS catalog_clean;
SELECT flowview.drop_org_unit('MixedCase');
SELECT flowview.drop_org_unit(repeat('Ω', 100));
SELECT flowview.drop_org_unit('O''Brien"; DROP TABLE fv_sec_sales; --');
SELECT count(*) AS sales_rows_still_there FROM fv_sec_sales;

-- ---------------------------------------------------------------------------
-- Every SECURITY DEFINER function pins search_path
-- ---------------------------------------------------------------------------
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'flowview'::regnamespace AND p.prosecdef
   AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%');
SELECT count(*) > 5 AS definers_checked FROM pg_proc
 WHERE pronamespace = 'flowview'::regnamespace AND prosecdef;

-- ---------------------------------------------------------------------------
-- Ordinary users' DDL does not need any pg_flowview privilege
-- ---------------------------------------------------------------------------
GRANT CREATE ON SCHEMA fv_sec_reports TO fv_sec_nobody;
SET ROLE fv_sec_nobody;
CREATE TABLE fv_sec_reports.scratch (a int);
DROP TABLE fv_sec_reports.scratch;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- CDC: only roles with REPLICATION may read a slot (PostgreSQL's rule)
-- ---------------------------------------------------------------------------
SELECT 'init' FROM pg_create_logical_replication_slot('fv_sec_slot', 'pg_flowview');
SET ROLE fv_sec_admin;
SELECT fv_sec_err($$SELECT count(*) FROM pg_logical_slot_get_changes('fv_sec_slot', NULL, NULL)$$);
RESET ROLE;
ALTER ROLE fv_sec_reader REPLICATION;
INSERT INTO fv_sec_sales VALUES (2001, 'DE', 'p1', 1, 'secret@example.com');
-- the mask option keeps the e-mail address out of what the consumer gets
SET ROLE fv_sec_reader;
SELECT data::jsonb -> 'after' ->> 'region' AS region,
       data::jsonb -> 'after' ->> 'customer_email'
         = encode(sha256(convert_to('s3cret' || 'secret@example.com', 'UTF8')), 'hex') AS email_is_digest,
       position('secret@' IN data) = 0 AS no_clear_text
  FROM pg_logical_slot_get_changes('fv_sec_slot', NULL, NULL, 'tables', 'public.fv_sec_sales',
                                   'mask', 'public.fv_sec_sales.customer_email', 'mask-salt', 's3cret');
RESET ROLE;
SELECT pg_drop_replication_slot('fv_sec_slot');

-- ---------------------------------------------------------------------------
-- Clean up (roles are cluster-wide)
-- ---------------------------------------------------------------------------
SELECT flowview.drop_view('fv_sec_reports.sales_by_region');
SELECT flowview.drop_view('fv_sec_reports.big');
DELETE FROM flowview.org_members;
DELETE FROM flowview.org_units WHERE unit LIKE 'store-%';
DELETE FROM flowview.org_units WHERE unit IN ('Elsewhere');
DELETE FROM flowview.org_units WHERE unit IN ('Berlin', 'US', 'FR');
DELETE FROM flowview.org_units WHERE unit IN ('DE', 'AMER');
DELETE FROM flowview.org_units WHERE unit IN ('EMEA');
DELETE FROM flowview.org_units;
SELECT count(*) AS closure_rows_left FROM flowview.org_closure;
DROP TABLE fv_sec_sales, fv_sec_big, fv_sec_private, fv_sec_secret;
DROP SCHEMA fv_sec_reports CASCADE;
DROP FUNCTION fv_sec_explain(text);
DROP OWNED BY fv_sec_admin, fv_sec_admin2, fv_sec_de, fv_sec_emea, fv_sec_emea_team, fv_sec_nobody,
              fv_sec_bypass, fv_sec_reader, "fv_sec_O'Hara; DROP TABLE x";
DROP ROLE fv_sec_admin, fv_sec_admin2, fv_sec_de, fv_sec_emea, fv_sec_emea_team, fv_sec_nobody,
          fv_sec_bypass, fv_sec_reader, "fv_sec_O'Hara; DROP TABLE x";
DROP FUNCTION fv_sec_err(text);
DROP FUNCTION fv_sec_err_detail(text);
