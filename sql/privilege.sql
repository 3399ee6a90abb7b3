-- Nobody gains privileges through pg_flowview (issue 11, part 1).  An
-- attacker that is a flowview_admin member (it may create views and alerts)
-- tries every way the apply worker or refresh_view could run its code as a
-- superuser.  After each attempt: the attempt failed with a clear error, and
-- the attacker is still no superuser.  What needs a worker restart (a
-- database-wide search_path) is in test/tap/020_privilege_worker.pl.
SET client_min_messages = warning;

CREATE FUNCTION fv_priv_err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'fv_(store|out)_[0-9]+', 'fv_\1_N', 'g');
END $$;
GRANT EXECUTE ON FUNCTION fv_priv_err(text) TO PUBLIC;
CREATE FUNCTION fv_priv_is_superuser() RETURNS boolean LANGUAGE sql AS
    $$ SELECT rolsuper FROM pg_roles WHERE rolname = 'fv_priv_attacker' $$;

CREATE ROLE fv_priv_attacker LOGIN IN ROLE flowview_admin;
CREATE SCHEMA fv_priv AUTHORIZATION fv_priv_attacker;
CREATE SCHEMA fv_priv_evil AUTHORIZATION fv_priv_attacker;
CREATE TABLE fv_priv.src (id int PRIMARY KEY, g text, amount numeric);
ALTER TABLE fv_priv.src OWNER TO fv_priv_attacker;
ALTER TABLE fv_priv.src REPLICA IDENTITY FULL;
INSERT INTO fv_priv.src SELECT i, 'g' || i % 3, i FROM generate_series(1, 30) i;

-- a helper a DBA installed (owned by a superuser, so views may use it),
-- labelled immutable, that runs SQL it is given
CREATE FUNCTION fv_priv_exec(sql text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE sql; END $$;
CREATE FUNCTION fv_priv_run_if(cond boolean, sql text) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
    IF cond THEN
        PERFORM public.fv_priv_exec(sql);
    END IF;
    RETURN true;
END $$;
GRANT EXECUTE ON FUNCTION fv_priv_exec(text), fv_priv_run_if(boolean, text) TO fv_priv_attacker;

SET ROLE fv_priv_attacker;
SELECT flowview.create_view('fv_priv.v', $$SELECT g, count(*) AS n, sum(amount) AS total FROM fv_priv.src GROUP BY g$$)
    IS NOT NULL AS created;
SELECT flowview.storage_table('fv_priv.v') AS store \gset
SELECT pg_get_userbyid(relowner) AS storage_owner FROM pg_class WHERE oid = :'store'::regclass;
RESET ROLE;
SELECT flowview.wait_for_freshness('fv_priv.v', '60 s') AS fresh;

-- the trigger function the attacker would have the worker run
SET ROLE fv_priv_attacker;
CREATE FUNCTION fv_priv.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    ALTER ROLE fv_priv_attacker SUPERUSER;
    RETURN NEW;
END $$;

-- ---------------------------------------------------------------------------
-- 1. Triggers, rules, policies and ALTER on storage: refused for everyone
-- ---------------------------------------------------------------------------
SELECT fv_priv_err(format('CREATE TRIGGER t BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION fv_priv.escalate()', :'store')) AS before_insert_row;
SELECT fv_priv_err(format('CREATE TRIGGER t BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION fv_priv.escalate()', :'store')) AS before_update_row;
SELECT fv_priv_err(format('CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION fv_priv.escalate()', :'store')) AS after_row;
SELECT fv_priv_err(format('CREATE TRIGGER t AFTER DELETE ON %s FOR EACH STATEMENT EXECUTE FUNCTION fv_priv.escalate()', :'store')) AS after_statement;
SELECT fv_priv_err(format('CREATE TRIGGER t BEFORE TRUNCATE ON %s EXECUTE FUNCTION fv_priv.escalate()', :'store')) AS truncate_trigger;
SELECT fv_priv_err(format('CREATE CONSTRAINT TRIGGER t AFTER INSERT ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fv_priv.escalate()', :'store')) AS constraint_trigger;
SELECT fv_priv_err(format('CREATE TRIGGER t INSTEAD OF INSERT ON %s FOR EACH ROW EXECUTE FUNCTION fv_priv.escalate()',
                          replace(:'store', 'fv_store_', 'fv_out_'))) AS instead_of_on_out;
SELECT fv_priv_err(format('CREATE RULE r AS ON INSERT TO %s DO ALSO SELECT fv_priv_exec(%L)', :'store',
                          'ALTER ROLE fv_priv_attacker SUPERUSER')) AS rule_on_insert;
SELECT fv_priv_err(format('CREATE RULE r AS ON UPDATE TO %s WHERE fv_priv_run_if(true, %L) DO INSTEAD NOTHING', :'store',
                          'ALTER ROLE fv_priv_attacker SUPERUSER')) AS rule_with_condition;
SELECT fv_priv_err(format('CREATE POLICY p ON %s USING (true)', :'store')) AS policy;
SELECT fv_priv_err(format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', :'store')) AS force_rls;
SELECT fv_priv_err(format('ALTER TABLE %s ENABLE ALWAYS TRIGGER t', :'store')) AS enable_always;
SELECT fv_priv_err(format('ALTER TABLE %s ENABLE REPLICA RULE r', :'store')) AS enable_replica_rule;
SELECT fv_priv_err(format('ALTER TABLE %s RENAME TO stolen', :'store')) AS rename;
SELECT fv_priv_err(format('ALTER TABLE %s OWNER TO fv_priv_attacker', :'store')) AS owner_to;
SELECT fv_priv_err(format('ALTER TABLE %s ADD COLUMN x int DEFAULT 1', :'store')) AS add_column;
SELECT fv_priv_err(format('CREATE INDEX ON %s ((fv_priv_run_if(true, %L)))', :'store',
                          'ALTER ROLE fv_priv_attacker SUPERUSER')) AS index_expression;
SELECT fv_priv_err(format('CREATE OR REPLACE VIEW %s AS SELECT 1', replace(:'store', 'fv_store_', 'fv_out_'))) AS replace_out_view;
-- the "owner changes to storage" attack: SET SCHEMA would break every GRANT
SELECT fv_priv_err(format('ALTER TABLE %s SET SCHEMA fv_priv_evil', :'store')) AS set_schema;
RESET ROLE;
-- not even a superuser
SELECT fv_priv_err(format('CREATE TRIGGER t BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION fv_priv.escalate()', :'store')) AS superuser_trigger;
SELECT fv_priv_err(format('ALTER TABLE %s SET SCHEMA fv_priv_evil', :'store')) AS superuser_set_schema;
SELECT fv_priv_err(format('DROP INDEX %s', (SELECT indexrelid::regclass FROM pg_index WHERE indrelid = :'store'::regclass))) AS drop_index;
SELECT count(*) AS storage_triggers FROM pg_trigger WHERE tgrelid = :'store'::regclass;
SELECT relnamespace::regnamespace AS storage_schema FROM pg_class WHERE oid = :'store'::regclass;
-- GRANT and REVOKE keep working, a superuser's included, and reach the storage
CREATE ROLE fv_priv_reader;
GRANT SELECT ON fv_priv.v TO fv_priv_reader;
SELECT has_table_privilege('fv_priv_reader', :'store', 'SELECT') AS reader_reaches_storage;
REVOKE SELECT ON fv_priv.v FROM fv_priv_reader;
-- _sync_grants, run for every GRANT/REVOKE in the database, never fails one:
-- a catalog entry whose storage cannot be found (made up here) is skipped
CREATE VIEW fv_priv_plain AS SELECT 1 AS one;
INSERT INTO flowview.view_catalog (id, view_oid, source_oid, query, time_zone, state, storage_tables,
                                   objects, backfill_sql, apply_sql, used_columns)
VALUES (-1, 'fv_priv_plain'::regclass, 'fv_priv.src'::regclass, 'SELECT 1', 'UTC', 'error', '{}', '{}', '{}', '{}', '{}');
SELECT fv_priv_err('GRANT SELECT ON fv_priv_plain TO fv_priv_reader') AS grant_with_broken_entry;
DELETE FROM flowview.view_catalog WHERE id = -1;
DROP VIEW fv_priv_plain;
-- the worker still applies, and nothing fired
INSERT INTO fv_priv.src VALUES (100, 'g1', 1000);
SELECT flowview.wait_for_freshness('fv_priv.v', '60 s') AS fresh;
SELECT g, n, total FROM fv_priv.v WHERE g = 'g1';
SELECT fv_priv_is_superuser() AS attacker_is_superuser;

-- ---------------------------------------------------------------------------
-- 2. Functions in a view's WHERE and FILTER run as the view's owner
-- ---------------------------------------------------------------------------
SET ROLE fv_priv_attacker;
-- create_view fills the view as its creator (a row that triggers the payload exists)
SELECT fv_priv_err($$SELECT flowview.create_view('fv_priv.v_now', 'SELECT g, count(*) AS n FROM fv_priv.src
                     WHERE fv_priv_run_if(id = 1, ''ALTER ROLE fv_priv_attacker SUPERUSER'') GROUP BY g')$$) AS create_with_payload;
SELECT fv_priv_is_superuser() AS attacker_is_superuser;
SELECT flowview.create_view('fv_priv.v_where',
    $$SELECT g, count(*) AS n FROM fv_priv.src
       WHERE fv_priv_run_if(id = 999, 'ALTER ROLE fv_priv_attacker SUPERUSER') GROUP BY g$$) IS NOT NULL AS created;
SELECT flowview.create_view('fv_priv.v_filter',
    $$SELECT g, count(*) FILTER (WHERE fv_priv_run_if(id = 998, 'ALTER ROLE fv_priv_attacker SUPERUSER')) AS n
        FROM fv_priv.src GROUP BY g$$) IS NOT NULL AS created;
RESET ROLE;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
-- the rows that trigger the payload: the worker applies them as the owner
INSERT INTO fv_priv.src VALUES (999, 'g1', 1), (998, 'g2', 1);
SELECT flowview.wait_for_freshness(NULL, '5 s') AS fresh;
SELECT view, state, regexp_replace(error, 'fv_(store|out)_[0-9]+', 'fv_\1_N', 'g') AS error
  FROM flowview.views WHERE view::text IN ('fv_priv.v_where', 'fv_priv.v_filter') ORDER BY view::text;
SELECT fv_priv_is_superuser() AS attacker_is_superuser;
-- refresh_view runs them as the owner too (not as the extension's owner)
SET ROLE fv_priv_attacker;
SELECT fv_priv_err($$SELECT flowview.refresh_view('fv_priv.v_where')$$) AS refresh_where;
RESET ROLE;
SELECT fv_priv_is_superuser() AS attacker_is_superuser;
SELECT flowview.drop_view('fv_priv.v_where');
SELECT flowview.drop_view('fv_priv.v_filter');
DELETE FROM fv_priv.src WHERE id IN (998, 999);

-- ---------------------------------------------------------------------------
-- 3. Alert rules: conditions run as the rule's owner; no forged rules
-- ---------------------------------------------------------------------------
SET ROLE fv_priv_attacker;
CREATE FUNCTION fv_priv.set_role_and_escalate() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET ROLE %I', (SELECT rolname FROM pg_roles WHERE oid = 10));
    ALTER ROLE fv_priv_attacker SUPERUSER;
    RETURN true;
END $$;
CREATE FUNCTION fv_priv.reset_role_and_escalate() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RESET ROLE;
    ALTER ROLE fv_priv_attacker SUPERUSER;
    RETURN true;
END $$;
CREATE FUNCTION fv_priv.set_config_and_escalate() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('role', 'none', true);
    ALTER ROLE fv_priv_attacker SUPERUSER;
    RETURN true;
END $$;
-- immutable wrappers, so that create_alert accepts them
CREATE FUNCTION fv_priv.cond1(bigint) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS
    $$ BEGIN RETURN fv_priv.set_role_and_escalate(); END $$;
CREATE FUNCTION fv_priv.cond2(bigint) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS
    $$ BEGIN RETURN fv_priv.reset_role_and_escalate(); END $$;
CREATE FUNCTION fv_priv.cond3(bigint) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS
    $$ BEGIN RETURN fv_priv.set_config_and_escalate(); END $$;
SELECT flowview.create_alert('fv_priv_set_role', 'fv_priv.v', 'fv_priv.cond1(n)');
SELECT flowview.create_alert('fv_priv_reset_role', 'fv_priv.v', 'fv_priv.cond2(n)');
SELECT flowview.create_alert('fv_priv_set_config', 'fv_priv.v', 'fv_priv.cond3(n)');
-- a condition only evaluates: it cannot write, not even to its owner's tables
CREATE TABLE fv_priv.log (at timestamptz);
CREATE FUNCTION fv_priv.write_log() RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO fv_priv.log VALUES (now()); RETURN true; END $$;
CREATE FUNCTION fv_priv.cond4(bigint) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS
    $$ BEGIN RETURN fv_priv.write_log(); END $$;
SELECT flowview.create_alert('fv_priv_write', 'fv_priv.v', 'fv_priv.cond4(n)');
-- forging a rule (any view, an unchecked condition, owner = the bootstrap superuser)
SELECT fv_priv_err($$INSERT INTO flowview.alert_catalog (name, view_oid, condition, channel, owner)
                     VALUES ('forged', 'fv_priv.v'::regclass, 'fv_priv.set_role_and_escalate()', 'x', 10)$$) AS forged_rule;
SELECT fv_priv_err($$UPDATE flowview.alert_catalog SET owner = 10$$) AS forged_owner;
SELECT fv_priv_err($$DELETE FROM flowview.alert_catalog$$) AS delete_rules;
SELECT fv_priv_err($$SELECT flowview._alert_eval(10, 'SELECT fv_priv.set_role_and_escalate()::text::jsonb', '[]')$$) AS run_as_other;
SELECT fv_priv_err($$SELECT flowview._run_as_view_owner(1, 'UTC', ARRAY['ALTER ROLE fv_priv_attacker SUPERUSER'])$$) AS run_as_owner;
RESET ROLE;
-- another admin cannot drop the attacker's rules, nor add one in its name
CREATE ROLE fv_priv_admin2 IN ROLE flowview_admin;
GRANT USAGE ON SCHEMA fv_priv TO fv_priv_admin2;
SET ROLE fv_priv_admin2;
SELECT fv_priv_err($$SELECT flowview.drop_alert('fv_priv_set_role')$$) AS drop_others_rule;
SELECT fv_priv_err($$SELECT flowview._add_alert('x', 'fv_priv.v', 'n > 1', 'c')$$) AS add_on_others_view;
RESET ROLE;
-- the worker rereads its rules every 250 ms
SELECT pg_sleep(1);
INSERT INTO fv_priv.src VALUES (101, 'g2', 5);
SELECT flowview.wait_for_freshness('fv_priv.v', '60 s') AS fresh;
SELECT name, owner, events,
       coalesce(last_error, 'no error') AS outcome
  FROM flowview.alerts WHERE name LIKE 'fv_priv%' ORDER BY name;
SELECT fv_priv_is_superuser() AS attacker_is_superuser;
SET ROLE fv_priv_attacker;
SELECT flowview.drop_alert('fv_priv_set_role');
SELECT flowview.drop_alert('fv_priv_reset_role');
SELECT flowview.drop_alert('fv_priv_set_config');
SELECT flowview.drop_alert('fv_priv_write');
SELECT count(*) AS rows_written_by_condition FROM fv_priv.log;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 4. refresh_view with a shadowing operator in the caller's search_path
-- ---------------------------------------------------------------------------
CREATE FUNCTION public.fv_priv_numeric_add(numeric, numeric) RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.fv_priv_exec('ALTER ROLE fv_priv_attacker SUPERUSER');
    RETURN $1 OPERATOR(pg_catalog.+) $2;
END $$;
CREATE OPERATOR public.+ (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = public.fv_priv_numeric_add);
SET search_path = public, pg_catalog;
SELECT flowview.refresh_view('fv_priv.v');
SELECT flowview.wait_for_freshness('fv_priv.v', '60 s') AS fresh;
RESET search_path;
SELECT g, n, total FROM fv_priv.v ORDER BY g;
SELECT fv_priv_is_superuser() AS attacker_is_superuser;
DROP OPERATOR public.+ (numeric, numeric);
DROP FUNCTION public.fv_priv_numeric_add(numeric, numeric);

-- ---------------------------------------------------------------------------
-- Clean up
-- ---------------------------------------------------------------------------
SELECT flowview.drop_view('fv_priv.v');
DROP SCHEMA fv_priv CASCADE;
DROP SCHEMA fv_priv_evil;
DROP FUNCTION fv_priv_run_if(boolean, text), fv_priv_exec(text), fv_priv_is_superuser(), fv_priv_err(text);
DROP ROLE fv_priv_attacker, fv_priv_admin2, fv_priv_reader;
