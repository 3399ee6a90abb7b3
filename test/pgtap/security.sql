-- pgTAP: securing views.  The roles and their privileges, the organisation
-- policies and what each role sees, hostile names, and that a filtered query
-- on a large view is an index scan.  Everything runs in one transaction that
-- is rolled back, so no role or object is left behind (roles are
-- cluster-wide).
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS pg_flowview;
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(67);

-- the extension's roles and what they may run
SELECT has_role('flowview_admin', 'role flowview_admin exists');
SELECT has_role('flowview_reader', 'role flowview_reader exists');
SELECT is_member_of('flowview_reader', 'flowview_admin', 'flowview_admin is a member of flowview_reader');
SELECT ok(NOT rolcanlogin AND NOT rolsuper AND NOT rolbypassrls, rolname || ' cannot log in, is no superuser, no BYPASSRLS')
  FROM pg_roles WHERE rolname IN ('flowview_admin', 'flowview_reader') ORDER BY rolname;
SELECT function_privs_are('flowview', 'create_view', ARRAY['text', 'text', 'interval', 'text', 'interval', 'interval'], 'flowview_admin',
                          ARRAY['EXECUTE'], 'flowview_admin may create views');
SELECT function_privs_are('flowview', 'create_view', ARRAY['text', 'text', 'interval', 'text', 'interval', 'interval'], 'flowview_reader',
                          ARRAY[]::text[], 'flowview_reader may not create views');
SELECT function_privs_are('flowview', 'create_view', ARRAY['text', 'text', 'interval', 'text', 'interval', 'interval'], 'public',
                          ARRAY[]::text[], 'PUBLIC may not create views');
SELECT function_privs_are('flowview', 'set_retention', ARRAY['regclass', 'interval'], 'flowview_admin',
                          ARRAY['EXECUTE'], 'flowview_admin may change retentions (of the views it owns)');
SELECT function_privs_are('flowview', 'set_retention', ARRAY['regclass', 'interval'], 'public',
                          ARRAY[]::text[], 'PUBLIC may not change retentions');
SELECT function_privs_are('flowview', '_set_retention', ARRAY['regclass', 'interval'], 'flowview_admin',
                          ARRAY[]::text[], 'flowview_admin may not call _set_retention (no owner check there)');
SELECT function_privs_are('flowview', '_storage_time', ARRAY['integer', 'text'], 'flowview_reader',
                          ARRAY['EXECUTE'], 'flowview_reader may read horizons and window clocks (flowview.views, flowview.freshness)');
SELECT function_privs_are('flowview', '_storage_time', ARRAY['integer', 'text'], 'public',
                          ARRAY[]::text[], 'PUBLIC may not read horizons and window clocks');
SELECT function_privs_are('flowview', 'create_session_view', ARRAY['text', 'regclass', 'text[]', 'text', 'interval', 'text', 'interval'],
                          'flowview_admin', ARRAY['EXECUTE'], 'flowview_admin may create session views');
SELECT function_privs_are('flowview', 'create_session_view', ARRAY['text', 'regclass', 'text[]', 'text', 'interval', 'text', 'interval'],
                          'flowview_reader', ARRAY[]::text[], 'flowview_reader may not create session views');
SELECT function_privs_are('flowview', 'drop_view', ARRAY['regclass', 'boolean'], 'public',
                          ARRAY[]::text[], 'PUBLIC may not drop views');
SELECT table_privs_are('flowview', 'late_row_log', 'flowview_reader', ARRAY[]::text[],
                       'flowview_reader may not read late rows (source rows)');
SELECT table_privs_are('flowview', 'late_row_log', 'flowview_admin', ARRAY[]::text[],
                       'flowview_admin reads late rows only through flowview.late_rows (its own views'')');
SELECT function_privs_are('flowview', '_late_rows', ARRAY['integer'], 'flowview_reader',
                          ARRAY['EXECUTE'], 'flowview_reader may count late rows (flowview.stats)');
SELECT function_privs_are('flowview', 'freshness', ARRAY[]::text[], 'flowview_reader',
                          ARRAY['EXECUTE'], 'flowview_reader may read freshness');
SELECT function_privs_are('flowview', 'enable_org_security', ARRAY['regclass', 'name'], 'flowview_reader',
                          ARRAY[]::text[], 'flowview_reader may not change org security');
SELECT function_privs_are('flowview', 'assign_role', ARRAY['regrole', 'text'], 'flowview_admin',
                          ARRAY['EXECUTE'], 'flowview_admin may assign roles to units');
SELECT table_privs_are('flowview', 'org_units', 'flowview_admin', ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
                       'flowview_admin may edit the hierarchy with DML');
SELECT table_privs_are('flowview', 'org_closure', 'flowview_admin', ARRAY['SELECT'],
                       'the closure is maintained by triggers only');
SELECT table_privs_are('flowview', 'views', 'flowview_reader', ARRAY['SELECT'], 'flowview_reader reads flowview.views');
SELECT is((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'flowview'::regnamespace AND p.prosecdef
            AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')), 0::bigint,
          'every SECURITY DEFINER function pins search_path');
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'flowview'::regnamespace
              AND has_function_privilege('public', p.oid, 'EXECUTE')),
          ARRAY['_feed_state', '_refuse_write', '_reread', '_visible_units', 'cdc_snapshot'],
          'PUBLIC may run only what live views'' triggers, policies, changefeed functions and apply (as their owners) call, and cdc_snapshot (which checks each table''s SELECT)');
SELECT function_privs_are('flowview', 'enable_changefeed', ARRAY['regclass', 'interval'], 'flowview_admin',
                          ARRAY['EXECUTE'], 'flowview_admin may give its views changefeeds');
SELECT function_privs_are('flowview', 'enable_changefeed', ARRAY['regclass', 'interval'], 'public',
                          ARRAY[]::text[], 'PUBLIC may not give views changefeeds');
SELECT table_privs_are('flowview', 'feed_catalog', 'public', ARRAY['SELECT'],
                       'the changefeeds'' positions are readable by all (readers'' functions read them), written by pg_flowview only');
SELECT table_privs_are('flowview', 'alert_catalog', 'flowview_admin', ARRAY['SELECT'],
                       'alert rules are written only through create_alert/drop_alert');
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'flowview'::regnamespace
              AND p.proname IN ('_run_as_view_owner', '_alert_eval')
              AND (has_function_privilege('flowview_admin', p.oid, 'EXECUTE')
                   OR has_function_privilege('public', p.oid, 'EXECUTE'))), NULL,
          'nobody but the extension''s owner runs SQL as another role');
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'flowview'::regnamespace AND p.prosecdef
              AND p.proname IN ('storage_table', 'storage_column')), NULL,
          'storage_table and storage_column check the caller (SECURITY INVOKER)');
-- versioned view changes: flowview_admin members change their own views
-- (alter_view and rollback_view run as the caller, who must own the view);
-- the versions are written only by pg_flowview and readable like the catalog
SELECT function_privs_are('flowview', 'alter_view', ARRAY['regclass', 'text', 'text'], 'flowview_admin',
                          ARRAY['EXECUTE'], 'flowview_admin may alter views');
SELECT function_privs_are('flowview', 'alter_view', ARRAY['regclass', 'text', 'text'], 'flowview_reader',
                          ARRAY[]::text[], 'flowview_reader may not alter views');
SELECT function_privs_are('flowview', 'rollback_view', ARRAY['regclass'], 'public',
                          ARRAY[]::text[], 'PUBLIC may not roll views back');
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'flowview'::regnamespace AND p.prosecdef
              AND p.proname IN ('alter_view', 'rollback_view')), NULL,
          'alter_view and rollback_view check the caller (SECURITY INVOKER)');
SELECT table_privs_are('flowview', 'view_version_catalog', 'flowview_admin', ARRAY['SELECT'],
                       'view versions are written only by pg_flowview');
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'flowview.view_version_catalog'::regclass),
          'view versions have row-level security, as the catalog');

-- hierarchy and roles
CREATE ROLE fv_tap_sec_admin IN ROLE flowview_admin;
CREATE ROLE fv_tap_sec_north;
CREATE ROLE fv_tap_sec_south;
CREATE ROLE "fv_tap_sec_Mixed'Case; --";
SELECT lives_ok($$SELECT flowview.add_org_unit('fv_tap_root')$$, 'add a root unit');
SELECT lives_ok($$SELECT flowview.add_org_unit('fv_tap_north', 'fv_tap_root')$$, 'add a child');
SELECT lives_ok($$SELECT flowview.add_org_unit('fv_tap_south', 'fv_tap_root')$$, 'add another child');
SELECT lives_ok($$SELECT flowview.add_org_unit('fv_tap_north_1', 'fv_tap_north')$$, 'add a grandchild');
SELECT throws_ok($$SELECT flowview.move_org_unit('fv_tap_root', 'fv_tap_north_1')$$, '23514', NULL,
                 'a cycle through a function: check_violation');
SELECT throws_ok($$UPDATE flowview.org_units SET parent = 'fv_tap_north_1' WHERE unit = 'fv_tap_north'$$, '23514', NULL,
                 'a cycle through DML: check_violation');
SELECT throws_ok($$SELECT flowview.add_org_unit('x', 'fv_tap_nowhere')$$, '42704', NULL,
                 'an unknown parent: undefined_object');
SELECT throws_ok($$SELECT flowview.drop_org_unit('fv_tap_north')$$, '2BP01', NULL,
                 'a unit with children cannot be dropped');
SELECT lives_ok($$SELECT flowview.add_org_unit(E'fv_tap_O''Neil"; DROP TABLE fv_tap_sales; --', 'fv_tap_south')$$,
                'a unit name with quotes and a semicolon');
SELECT lives_ok(format('SELECT flowview.add_org_unit(%L, %L)', repeat('ü', 300), 'fv_tap_south'),
                'a 300-character unit name');
SELECT results_eq($$SELECT ancestor, depth FROM flowview.org_closure WHERE descendant = 'fv_tap_north_1' ORDER BY depth$$,
                  $$VALUES ('fv_tap_north_1'::text, 0), ('fv_tap_north', 1), ('fv_tap_root', 2)$$,
                  'the closure lists a unit''s ancestors with their depth');
SELECT flowview.assign_role('fv_tap_sec_north', 'fv_tap_north');
SELECT flowview.assign_role('fv_tap_sec_south', 'fv_tap_south');
SELECT flowview.assign_role('"fv_tap_sec_Mixed''Case; --"', E'fv_tap_O''Neil"; DROP TABLE fv_tap_sales; --');

-- a live view, created by a non-superuser admin
CREATE TABLE fv_tap_sales (id int PRIMARY KEY, unit text NOT NULL, amount numeric);
INSERT INTO fv_tap_sales
SELECT i, (ARRAY['fv_tap_root', 'fv_tap_north', 'fv_tap_south', 'fv_tap_north_1',
                 E'fv_tap_O''Neil"; DROP TABLE fv_tap_sales; --', repeat('ü', 300)])[1 + i % 6], i
  FROM generate_series(1, 60) i;
GRANT SELECT ON fv_tap_sales TO fv_tap_sec_admin;
ALTER TABLE fv_tap_sales REPLICA IDENTITY FULL;  -- create_view may set it only for the owner
GRANT CREATE ON SCHEMA public TO fv_tap_sec_admin;
SET LOCAL ROLE fv_tap_sec_admin;
SELECT isnt(flowview.create_view('public."Sales ""by unit""; --"',
                                 $$SELECT unit AS "Org ""Unit""", count(*) AS n, sum(amount) AS total FROM fv_tap_sales GROUP BY 1$$),
            NULL, 'create_view with a hostile view name and column name');
GRANT SELECT ON public."Sales ""by unit""; --" TO fv_tap_sec_north, fv_tap_sec_south, "fv_tap_sec_Mixed'Case; --";
SELECT lives_ok($$SELECT flowview.enable_org_security('public."Sales ""by unit""; --"', 'Org "Unit"')$$,
                'enable_org_security on the hostile column');
RESET ROLE;
SELECT is((SELECT array_agg(polname::text ORDER BY polname) FROM pg_policy
            WHERE polrelid = flowview.storage_table('public."Sales ""by unit""; --"')),
          ARRAY['flowview_org', 'flowview_org_admin'], 'the storage table has the two org policies');
SELECT is((SELECT relrowsecurity AND NOT relforcerowsecurity FROM pg_class
            WHERE oid = flowview.storage_table('public."Sales ""by unit""; --"')), true,
          'RLS enabled, not forced (the owner and the apply worker are not filtered)');

-- what each role sees
SET LOCAL ROLE fv_tap_sec_north;
SELECT set_eq($$SELECT "Org ""Unit""" FROM public."Sales ""by unit""; --"$$,
              ARRAY['fv_tap_north', 'fv_tap_north_1'], 'north sees its unit and its descendant');
RESET ROLE;
SET LOCAL ROLE fv_tap_sec_south;
SELECT set_eq($$SELECT "Org ""Unit""" FROM public."Sales ""by unit""; --"$$,
              ARRAY['fv_tap_south', E'fv_tap_O''Neil"; DROP TABLE fv_tap_sales; --', repeat('ü', 300)],
              'south sees its subtree, hostile and long names included');
RESET ROLE;
SET LOCAL ROLE "fv_tap_sec_Mixed'Case; --";
SELECT set_eq($$SELECT "Org ""Unit""" FROM public."Sales ""by unit""; --"$$,
              ARRAY[E'fv_tap_O''Neil"; DROP TABLE fv_tap_sales; --'], 'a hostile role name sees its hostile unit');
RESET ROLE;
SET LOCAL ROLE fv_tap_sec_admin;
SELECT is((SELECT count(*) FROM public."Sales ""by unit""; --"), 6::bigint, 'the owner sees every group');
RESET ROLE;
SELECT flowview.move_org_unit('fv_tap_north_1', 'fv_tap_south');
SET LOCAL ROLE fv_tap_sec_north;
SELECT set_eq($$SELECT "Org ""Unit""" FROM public."Sales ""by unit""; --"$$, ARRAY['fv_tap_north'],
              'a move takes effect for the next query');
SELECT throws_ok($$INSERT INTO public."Sales ""by unit""; --" VALUES ('fv_tap_north', 1, 1)$$, '42501', NULL,
                 'an analyst cannot write to the view');
SELECT throws_ok($$SELECT flowview.refresh_view('public."Sales ""by unit""; --"')$$, '42501', NULL,
                 'an analyst cannot refresh the view');
RESET ROLE;
SELECT throws_ok($$SELECT flowview.enable_org_security('public."Sales ""by unit""; --"', 'total')$$, '22023', NULL,
                 'the org column must be a GROUP BY key');

-- a large view: the policy is an index condition fed by one initplan
CREATE TABLE fv_tap_big (id int PRIMARY KEY, unit text NOT NULL);
INSERT INTO fv_tap_big SELECT i, 'fv_tap_store_' || i FROM generate_series(1, 100000) i;
INSERT INTO flowview.org_units SELECT 'fv_tap_store_' || i, 'fv_tap_north' FROM generate_series(1, 10) i;
SELECT isnt(flowview.create_view('fv_tap_big_v', $$SELECT unit, count(*) FROM fv_tap_big GROUP BY unit$$), NULL,
            'a view with 100,000 groups');
SELECT flowview.enable_org_security('fv_tap_big_v', 'unit');
GRANT SELECT ON fv_tap_big_v TO fv_tap_sec_north;
SELECT format('ANALYZE %s', flowview.storage_table('fv_tap_big_v')) AS analyze_big \gset
:analyze_big;
CREATE FUNCTION pg_temp.plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    l text;
    r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN ' || q LOOP
        r := r || l || E'\n';
    END LOOP;
    RETURN r;
END $$;
SET LOCAL ROLE fv_tap_sec_north;
SELECT is((SELECT count(*) FROM fv_tap_big_v), 10::bigint, 'north sees its 10 stores of 100,000');
SELECT matches(pg_temp.plan('SELECT * FROM fv_tap_big_v'), 'Index (Only )?Scan using fv_store_\d+_g1_idx',
               'the analyst''s query is an index scan of the storage');
SELECT matches(pg_temp.plan('SELECT * FROM fv_tap_big_v'), 'InitPlan 1',
               'the visible units are computed once (an initplan)');
SELECT doesnt_match(pg_temp.plan('SELECT * FROM fv_tap_big_v'), 'Seq Scan',
                    'no sequential scan of the storage');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
