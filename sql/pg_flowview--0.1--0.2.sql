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

-- Every statement run for a live view runs as the view's owner (the owner
-- of its storage), every alert condition as its rule's owner, inside a
-- security-restricted operation with search_path = pg_catalog, pg_temp:
-- see src/views/runas.c.  These two run SQL that way; only the functions
-- below (as the extension's owner) call them.
CREATE FUNCTION flowview._run_as_view_owner(view_id int, time_zone text, statements text[]) RETURNS void
AS 'MODULE_PATHNAME', 'fv_run_as_view_owner' LANGUAGE C;
CREATE FUNCTION flowview._alert_eval(owner oid, query text, keys jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'fv_alert_eval' LANGUAGE C;
REVOKE ALL ON FUNCTION flowview._run_as_view_owner(int, text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION flowview._alert_eval(oid, text, jsonb) FROM PUBLIC;

-- The apply's min/max re-reads call this as the view's owner, who may be
-- any role: a pass-through that counts in the calling backend only.
GRANT EXECUTE ON FUNCTION flowview._reread(anyelement) TO PUBLIC;

CREATE OR REPLACE FUNCTION flowview.refresh_view(name regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog := flowview._view(name);
BEGIN
    -- as the view's owner; DELETE, not TRUNCATE: readers are not blocked
    PERFORM flowview._run_as_view_owner(r.id, r.time_zone,
        array(SELECT 'DELETE FROM ' || o FROM unnest(r.storage_tables) o)
        || array(SELECT flowview._with_source(s, r.source_oid)   -- defined below
                   FROM unnest(r.backfill_sql) s));
    -- the apply worker re-populates it at a batch boundary, consistently
    -- with the stream, and then keeps it live
    UPDATE flowview.view_catalog SET state = 'backfilling', error = NULL,
           snapshot_xmin = NULL, snapshot_xmax = NULL, snapshot_xip = NULL
     WHERE id = r.id;
    PERFORM flowview._start_worker();
END $$;

-- Alert rules are written only through create_alert/drop_alert: the row's
-- owner is always the role that called create_alert, its condition always
-- the one checked and deparsed by flowview._alert_condition.
CREATE FUNCTION flowview._add_alert(name text, view regclass, condition text, channel text) RETURNS void
AS 'MODULE_PATHNAME', 'fv_add_alert' LANGUAGE C;
CREATE FUNCTION flowview._drop_alert(alert_id int) RETURNS void
AS 'MODULE_PATHNAME', 'fv_drop_alert' LANGUAGE C;
REVOKE ALL ON FUNCTION flowview._add_alert(text, regclass, text, text), flowview._drop_alert(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview._add_alert(text, regclass, text, text), flowview._drop_alert(int)
    TO flowview_admin;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON flowview.alert_catalog FROM flowview_admin;
REVOKE USAGE ON SEQUENCE flowview.alert_catalog_id_seq FROM flowview_admin;

CREATE OR REPLACE FUNCTION flowview.create_alert(name text, view regclass, condition text,
                                                 channel text DEFAULT 'flowview_alert')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog;
BEGIN
    IF name IS NULL OR view IS NULL OR condition IS NULL OR channel IS NULL THEN
        RAISE EXCEPTION 'create_alert needs a name, a view, a condition and a channel'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF name = '' OR length(name) > 255 THEN
        RAISE EXCEPTION 'an alert name must have 1 to 255 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF channel = '' OR octet_length(channel) > 63 THEN
        RAISE EXCEPTION 'invalid notification channel name "%"', channel
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A channel is an identifier of 1 to 63 bytes, as LISTEN takes it.';
    END IF;
    r := flowview._view(view);
    IF NOT pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = view), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of live view %', view
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF r.changed_groups_sql IS NULL THEN
        RAISE EXCEPTION 'live view % cannot have alerts', view
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'A GROUP BY key of the view is not among its output columns, so its rows cannot name their group.',
                  HINT = 'Recreate the view with every GROUP BY key in the select list.';
    END IF;
    IF EXISTS (SELECT FROM flowview.alert_catalog a WHERE a.name = create_alert.name) THEN
        RAISE EXCEPTION 'alert "%" already exists', name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Drop it first with flowview.drop_alert(), or choose another name.';
    END IF;
    PERFORM flowview._add_alert(name, view, condition, channel);
END $$;

CREATE OR REPLACE FUNCTION flowview.drop_alert(name text, if_exists boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a flowview.alert_catalog;
BEGIN
    SELECT * INTO a FROM flowview.alert_catalog c WHERE c.name = drop_alert.name;
    IF NOT FOUND THEN
        IF if_exists THEN
            RAISE NOTICE 'alert "%" does not exist, skipping', name;
            RETURN;
        END IF;
        RAISE EXCEPTION 'alert "%" does not exist', name
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT name FROM flowview.alerts lists the alerts.';
    END IF;
    PERFORM flowview._drop_alert(a.id);   -- checks ownership; its state and events follow
END $$;

-- As in 0.1, but the condition is evaluated by flowview._alert_eval as the
-- rule's owner in a security-restricted, read-only operation (0.1 switched
-- with set_config('role'), which the condition's functions could undo).
CREATE OR REPLACE FUNCTION flowview._fire_alerts(v regclass, groups jsonb, truncated boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    a flowview.alert_catalog;
    keys jsonb;
    key_eq text;
    key_match text;
    key_present text;
    res jsonb;
    fired bigint;
BEGIN
    FOR a IN SELECT * FROM flowview.alert_catalog c WHERE c.view_oid = v ORDER BY c.id LOOP
        keys := coalesce(groups, '[]');
        IF truncated THEN
            keys := keys || coalesce((SELECT jsonb_agg(s.group_key) FROM flowview.alert_state s
                                       WHERE s.alert_id = a.id), '[]');
        END IF;
        CONTINUE WHEN jsonb_array_length(keys) = 0;
        SELECT coalesce(string_agg(format('v.%1$I = (g.rec).%1$I', n), ' AND '), 'true'),
               coalesce(string_agg(format('(v.%1$I = (g.rec).%1$I OR (v.%1$I IS NULL AND (g.rec).%1$I IS NULL))', n), ' AND '), 'true'),
               coalesce(string_agg(format('(g.rec).%1$I IS NOT NULL', n), ' AND '), 'true')
          INTO key_eq, key_match, key_present FROM jsonb_object_keys(keys->0) n;
        BEGIN
            res := flowview._alert_eval(a.owner, format($q$
                WITH g (key, rec) AS (
                    SELECT d.key, jsonb_populate_record(NULL::%1$s, d.key)
                      FROM (SELECT DISTINCT e.key FROM jsonb_array_elements($1) AS e(key)) d
                )
                SELECT jsonb_agg(jsonb_build_object('key', x.key, 'values', x.vals, 'hit', coalesce(x.hit, false)))
                  FROM (SELECT g.key, r.vals, r.hit FROM g
                          LEFT JOIN LATERAL (SELECT to_jsonb(v) AS vals, (%2$s) AS hit
                                               FROM %1$s AS v WHERE %3$s) r ON true
                         WHERE %5$s
                        UNION ALL
                        SELECT g.key, r.vals, r.hit FROM g
                          LEFT JOIN LATERAL (SELECT to_jsonb(v) AS vals, (%2$s) AS hit
                                               FROM %1$s AS v WHERE %4$s) r ON true
                         WHERE NOT (%5$s)) x$q$,
                v, a.condition, key_eq, key_match, key_present), keys);

            WITH r AS (
                SELECT * FROM jsonb_to_recordset(res) AS x(key jsonb, "values" jsonb, hit boolean)
            ), ended AS (
                DELETE FROM flowview.alert_state s USING r
                 WHERE s.alert_id = a.id AND s.group_key = r.key AND NOT r.hit
                RETURNING s.event_id
            ), closed AS (
                UPDATE flowview.alert_events e SET ended_at = clock_timestamp()
                  FROM ended WHERE e.id = ended.event_id
            ), started AS (
                INSERT INTO flowview.alert_events (alert_id, alert, view, group_key, group_values, fired_at)
                SELECT a.id, a.name, v, r.key, r."values", clock_timestamp()
                  FROM r
                 WHERE r.hit
                   AND NOT EXISTS (SELECT FROM flowview.alert_state s
                                    WHERE s.alert_id = a.id AND s.group_key = r.key)
                RETURNING *
            ), opened AS (
                INSERT INTO flowview.alert_state (alert_id, group_key, event_id)
                SELECT alert_id, group_key, id FROM started
            )
            SELECT count(pg_notify(a.channel, flowview._alert_payload(st.id, st.alert, st.view,
                                                                      st.group_key, st.group_values,
                                                                      st.fired_at)))
              INTO fired
              FROM started st;

            IF a.last_error IS NOT NULL THEN
                UPDATE flowview.alert_catalog SET last_error = NULL, last_error_at = NULL WHERE id = a.id;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            UPDATE flowview.alert_catalog SET last_error = SQLERRM, last_error_at = clock_timestamp()
             WHERE id = a.id;
            RAISE WARNING 'pg_flowview: alert "%" on live view % could not be evaluated: %', a.name, v, SQLERRM;
        END;
    END LOOP;
END $$;

-- Where a view's data is, only for roles that may SELECT from it: the C
-- functions check the caller, so they must run as the caller.
ALTER FUNCTION flowview.storage_table(regclass) SECURITY INVOKER;
ALTER FUNCTION flowview.storage_column(regclass, name) SECURITY INVOKER;

-- Run after every GRANT/REVOKE in the database: a view whose storage cannot
-- be found or synced is skipped with a WARNING, never failing the GRANT.
CREATE OR REPLACE FUNCTION flowview._sync_grants(only_view oid DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v record;
    t record;
    g record;
BEGIN
    IF current_setting('flowview.syncing_grants', true) = 'on' THEN
        RETURN;   -- our own GRANT/REVOKE below
    END IF;
    PERFORM set_config('flowview.syncing_grants', 'on', true);
    FOR v IN SELECT c.id, cl.oid, cl.relowner,
                    array(SELECT a.grantee FROM aclexplode(coalesce(cl.relacl, acldefault('r', cl.relowner))) a
                           WHERE a.privilege_type = 'SELECT') AS readers
               FROM flowview.view_catalog c JOIN pg_class cl ON cl.oid = c.view_oid
              WHERE only_view IS NULL OR c.view_oid = only_view
    LOOP
        BEGIN
            FOR t IN SELECT x.oid, x.relowner, x.relacl FROM pg_class x
                      WHERE x.oid IN (to_regclass(format('flowview.fv_out_%s', v.id)),
                                      to_regclass(format('flowview.fv_store_%s', v.id)))
            LOOP
                FOR g IN SELECT a.grantee, a.privilege_type
                           FROM aclexplode(coalesce(t.relacl, acldefault('r', t.relowner))) a
                          WHERE a.grantee <> t.relowner
                            AND NOT (a.privilege_type = 'SELECT' AND a.grantee = ANY (v.readers))
                LOOP
                    EXECUTE format('REVOKE %s ON %s FROM %s', g.privilege_type, t.oid::regclass,
                                   CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END);
                END LOOP;
                FOR g IN SELECT r AS grantee FROM unnest(v.readers) r
                          WHERE r <> t.relowner
                            AND NOT EXISTS (SELECT FROM aclexplode(coalesce(t.relacl, acldefault('r', t.relowner))) a
                                             WHERE a.grantee = r AND a.privilege_type = 'SELECT')
                LOOP
                    EXECUTE format('GRANT SELECT ON %s TO %s', t.oid::regclass,
                                   CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END);
                END LOOP;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg_flowview: could not pass the readers of live view % on to its storage: %',
                          v.oid::regclass, SQLERRM;
        END;
    END LOOP;
    PERFORM set_config('flowview.syncing_grants', 'off', true);
END $$;

-- Storage takes no triggers or rules from now on (src/views/storage_guard.c)
-- and the apply runs as the owner, who is exempt from its row-level
-- security unless forced: remove what 0.1 let owners add.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT t.tgname, t.tgrelid::regclass AS rel FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
              WHERE c.relnamespace = 'flowview'::regnamespace AND c.relname ~ '^fv_(store|out)_[0-9]'
                AND NOT t.tgisinternal
    LOOP
        RAISE NOTICE 'dropping trigger % on live view storage %', quote_ident(r.tgname), r.rel;
        EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.rel);
    END LOOP;
    FOR r IN SELECT w.rulename, w.ev_class::regclass AS rel FROM pg_rewrite w JOIN pg_class c ON c.oid = w.ev_class
              WHERE c.relnamespace = 'flowview'::regnamespace AND c.relname ~ '^fv_(store|out)_[0-9]'
                AND w.rulename <> '_RETURN'
    LOOP
        RAISE NOTICE 'dropping rule % on live view storage %', quote_ident(r.rulename), r.rel;
        EXECUTE format('DROP RULE %I ON %s', r.rulename, r.rel);
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c
              WHERE c.relnamespace = 'flowview'::regnamespace AND c.relname ~ '^fv_store_[0-9]'
                AND c.relforcerowsecurity
    LOOP
        EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', r.rel);
    END LOOP;
END $$;

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

-- Stored SQL names the source with a token; fv_with_source binds it to the
-- source's OID where it is a relation name only (never inside a string
-- constant of the user's query), and refuses a source that is no longer a
-- table.  refresh_view (privilege section above) uses it.
CREATE FUNCTION flowview._with_source(sql text, source oid) RETURNS text
AS 'MODULE_PATHNAME', 'fv_with_source_sql' LANGUAGE C STABLE;
REVOKE ALL ON FUNCTION flowview._with_source(text, oid) FROM PUBLIC;

-- Sources keep REPLICA IDENTITY FULL: 0.1's trigger function covered the
-- members of partition trees only (pg_partition_tree gives nothing for a
-- plain table), so a plain source set back to DEFAULT stayed so.  Now every
-- source table and partition, with a NOTICE.
CREATE OR REPLACE FUNCTION flowview._on_new_partition() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT DISTINCT t.relid::regclass AS part, s.source_oid::regclass AS source
          FROM (SELECT DISTINCT source_oid FROM flowview.view_catalog) s,
               LATERAL (SELECT relid FROM pg_partition_tree(s.source_oid)
                        UNION SELECT s.source_oid) t
          JOIN pg_class c ON c.oid = t.relid
         WHERE c.relkind = 'r' AND c.relreplident <> 'f'
         ORDER BY 1
    LOOP
        RAISE NOTICE 'setting REPLICA IDENTITY FULL on table %', r.part
            USING DETAIL = format('It is %s the source of a live view, whose worker subtracts old row versions.',
                                  CASE WHEN r.part = r.source THEN 'the table itself,' ELSE 'a partition of ' || r.source::text || ',' END);
        EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', r.part);
    END LOOP;
END $$;

-- ==== end of source changes ====


-- ==== data shapes: keys, collations, min/max (issue 11, part 3) ====

-- ==== end of data shapes ====
