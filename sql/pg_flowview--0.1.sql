/* pg_flowview 0.1: the extension's SQL objects. */
\echo Use "CREATE EXTENSION pg_flowview" to load this file. \quit

-- The schema belongs to the extension: DROP EXTENSION removes it.
CREATE SCHEMA flowview;

-- Refuse to install on a server that cannot run pg_flowview; the error names
-- the setting to change.
CREATE FUNCTION flowview._check_server_settings() RETURNS void
    AS 'MODULE_PATHNAME', 'fv_check_server_settings'
    LANGUAGE C STRICT;
SELECT flowview._check_server_settings();

-- ---------------------------------------------------------------------------
-- Live views: catalog
-- ---------------------------------------------------------------------------

CREATE SEQUENCE flowview.view_catalog_id_seq;

-- One row per live view.  The SQL that maintains the view is generated once,
-- by create_view, and kept here (see src/views/create.c).
CREATE TABLE flowview.view_catalog (
    id              int PRIMARY KEY,
    view_oid        oid NOT NULL UNIQUE,       -- the user-facing view
    source_oid      oid NOT NULL,              -- the source table
    query           text NOT NULL,             -- as given to create_view
    time_zone       text NOT NULL,             -- pinned at creation
    state           text NOT NULL CHECK (state IN ('backfilling', 'live', 'error')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    applied_lsn     pg_lsn,
    error           text,
    freshness_sla   interval,
    storage_tables  text[] NOT NULL,           -- emptied before a backfill
    objects         text[] NOT NULL,           -- dropped with the view, in order
    backfill_sql    text[] NOT NULL,           -- recompute the storage from the source
    apply_sql       text[] NOT NULL,           -- apply the batch's rows (flowview_delta)
    used_columns    text[] NOT NULL,           -- source columns the query reads
    changed_groups_sql text,                   -- groups a batch changed, as jsonb (alerts)
    sla_breached    boolean NOT NULL DEFAULT false, -- in a breach episode (flowview._sla_tick)
    -- the apply worker's backfill snapshot: decoded transactions it saw are skipped
    snapshot_xmin   bigint,
    snapshot_xmax   bigint,
    snapshot_xip    bigint[]
);

-- ---------------------------------------------------------------------------
-- Live views: functions
-- ---------------------------------------------------------------------------

CREATE FUNCTION flowview._forget_stats(view_id int) RETURNS void
AS 'MODULE_PATHNAME', 'fv_forget_stats' LANGUAGE C STRICT;

CREATE FUNCTION flowview._start_worker() RETURNS void
AS 'MODULE_PATHNAME', 'fv_start_worker' LANGUAGE C;

-- Live views are written only by pg_flowview.
CREATE FUNCTION flowview._refuse_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'cannot % live view %', lower(TG_OP), format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME)
        USING ERRCODE = 'feature_not_supported',
              DETAIL = 'A live view is maintained by pg_flowview from its source table.',
              HINT = 'Change the source table; the view follows.';
END $$;

CREATE FUNCTION flowview.create_view(name text, query text, freshness_sla interval DEFAULT NULL)
RETURNS regclass
AS 'MODULE_PATHNAME', 'fv_create_view'
LANGUAGE C;

-- the catalog row of a live view, or an error saying it is not one
CREATE FUNCTION flowview._view(v regclass) RETURNS flowview.view_catalog
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog;
BEGIN
    SELECT * INTO r FROM flowview.view_catalog c WHERE c.view_oid = v;
    IF NOT FOUND THEN
        RAISE EXCEPTION '"%" is not a live view', v
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'SELECT view FROM flowview.views lists the live views.';
    END IF;
    RETURN r;
END $$;

-- run statements with the view's pinned time zone, restoring the caller's
CREATE FUNCTION flowview._run(r flowview.view_catalog, statements text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old_tz text := current_setting('TimeZone');
    s text;
BEGIN
    PERFORM set_config('TimeZone', r.time_zone, true);
    FOREACH s IN ARRAY statements LOOP
        EXECUTE s;
    END LOOP;
    PERFORM set_config('TimeZone', old_tz, true);
END $$;

CREATE FUNCTION flowview.drop_view(name regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog := flowview._view(name);
BEGIN
    -- the sql_drop event trigger (flowview._on_drop) removes storage and catalog entry
    EXECUTE format('DROP VIEW %s', name);
END $$;

CREATE FUNCTION flowview.refresh_view(name regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog := flowview._view(name);
    o text;
BEGIN
    FOREACH o IN ARRAY r.storage_tables LOOP      -- DELETE: readers are not blocked
        EXECUTE 'DELETE FROM ' || o;
    END LOOP;
    PERFORM flowview._run(r, array(SELECT replace(s, '__flowview_source__', r.source_oid::regclass::text)
                                     FROM unnest(r.backfill_sql) s));
    -- the apply worker re-populates it at a batch boundary, consistently
    -- with the stream, and then keeps it live
    UPDATE flowview.view_catalog SET state = 'backfilling', error = NULL,
           snapshot_xmin = NULL, snapshot_xmax = NULL, snapshot_xip = NULL
     WHERE id = r.id;
    PERFORM flowview._start_worker();
END $$;

-- DROP ... CASCADE of a source (or DROP VIEW of a live view): remove what
-- belonged to the dropped views.
CREATE FUNCTION flowview._on_drop() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog;
    o text;
BEGIN
    FOR r IN SELECT c.* FROM flowview.view_catalog c
              WHERE c.view_oid IN (SELECT objid FROM pg_event_trigger_dropped_objects()
                                    WHERE classid = 'pg_class'::regclass AND objsubid = 0)
    LOOP
        FOREACH o IN ARRAY r.objects LOOP
            EXECUTE 'DROP ' || regexp_replace(o, '^(VIEW|TABLE) ', '\1 IF EXISTS ');
        END LOOP;
        DELETE FROM flowview.view_catalog WHERE id = r.id;
        PERFORM flowview._forget_stats(r.id);
    END LOOP;
END $$;
CREATE EVENT TRIGGER flowview_on_drop ON sql_drop EXECUTE FUNCTION flowview._on_drop();

CREATE FUNCTION flowview.wait_for_freshness(name regclass DEFAULT NULL, timeout interval DEFAULT '30 s')
RETURNS boolean
AS 'MODULE_PATHNAME', 'fv_wait_for_freshness'
LANGUAGE C;

CREATE VIEW flowview.views AS
SELECT c.view_oid::regclass AS view,
       c.query,
       ARRAY[c.source_oid::regclass] AS sources,
       c.state,
       c.created_at,
       c.applied_lsn,
       c.error,
       c.freshness_sla,
       c.time_zone
  FROM flowview.view_catalog c;

-- ---------------------------------------------------------------------------
-- Freshness, SLAs and pipeline monitoring (see README "Freshness and SLAs",
-- "Monitoring the pipeline")
-- ---------------------------------------------------------------------------

-- Hold / release this database's apply worker (maintenance, tests).
CREATE FUNCTION flowview._set_paused(pause boolean) RETURNS void
AS 'MODULE_PATHNAME', 'fv_set_paused' LANGUAGE C STRICT;

CREATE FUNCTION flowview.pause_apply() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT flowview._set_paused(true) $$;

CREATE FUNCTION flowview.resume_apply() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT flowview._set_paused(false) $$;

CREATE FUNCTION flowview.set_freshness_sla(name regclass, sla interval) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog := flowview._view(name);
BEGIN
    IF sla IS NOT NULL AND sla <= interval '0' THEN
        RAISE EXCEPTION 'freshness SLA must be positive, not %', sla
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE flowview.view_catalog SET freshness_sla = sla,
           sla_breached = CASE WHEN sla IS NULL THEN false ELSE sla_breached END
     WHERE id = r.id;
END $$;

-- This database's apply worker: see fv_pipeline in src/worker/monitor.c.
CREATE FUNCTION flowview._pipeline(fallback_lsn pg_lsn,
    OUT running boolean, OUT paused boolean, OUT applied_lsn pg_lsn,
    OUT last_batch_at timestamptz, OUT oldest_pending_commit timestamptz)
AS 'MODULE_PATHNAME', 'fv_pipeline' LANGUAGE C;

CREATE FUNCTION flowview.freshness()
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
           CASE WHEN slot.wal_status = 'lost' THEN 'the replication slot was invalidated: run flowview.refresh_view()'
                WHEN slot.retained > pg_size_bytes(current_setting('pg_flowview.max_retained_wal'))
                THEN format('the replication slot retains %s of WAL, more than pg_flowview.max_retained_wal (%s)',
                            pg_size_pretty(slot.retained), current_setting('pg_flowview.max_retained_wal'))
           END
      FROM flowview.view_catalog c
      CROSS JOIN p
      LEFT JOIN slot ON true
      LEFT JOIN flowview._view_stats() st ON st.view_id = c.id
$$;

-- Per-view counters in shared memory: see fv_view_stats_sql.
CREATE FUNCTION flowview._view_stats(
    OUT view_id int, OUT rows_decoded bigint, OUT rows_applied bigint, OUT groups_touched bigint,
    OUT batches bigint, OUT errors bigint, OUT apply_ms float8, OUT applied_commit_time timestamptz,
    OUT latency_p50_ms float8, OUT latency_p95_ms float8, OUT latency_p99_ms float8,
    OUT latency_samples bigint, OUT last_trace_id text, OUT last_trace_at timestamptz,
    OUT change_rate float8, OUT change_rate_mean float8, OUT change_rate_stddev float8,
    OUT change_rate_z float8, OUT change_rate_samples bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fv_view_stats_sql' LANGUAGE C;

CREATE VIEW flowview.freshness AS SELECT * FROM flowview.freshness();

CREATE VIEW flowview.stats AS
SELECT c.view_oid::regclass AS view,
       c.state,
       coalesce(st.rows_decoded, 0) AS rows_decoded,
       coalesce(st.rows_applied, 0) AS rows_applied,
       coalesce(st.groups_touched, 0) AS groups_touched,
       coalesce(st.batches, 0) AS batches,
       coalesce(st.errors, 0) AS errors,
       coalesce(st.apply_ms, 0) AS apply_ms,
       st.latency_p50_ms, st.latency_p95_ms, st.latency_p99_ms,
       coalesce(st.latency_samples, 0) AS latency_samples,
       st.last_trace_id, st.last_trace_at,
       st.change_rate,
       s.slot_name,
       s.confirmed_flush_lsn AS slot_confirmed_flush_lsn,
       s.restart_lsn AS slot_restart_lsn,
       pg_wal_lsn_diff(pg_current_wal_insert_lsn(), s.confirmed_flush_lsn) AS slot_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_insert_lsn(), s.restart_lsn) AS wal_retained_bytes,
       s.wal_status AS slot_wal_status,
       rs.spill_txns, rs.spill_count, rs.spill_bytes
  FROM flowview.view_catalog c
  LEFT JOIN flowview._view_stats() st ON st.view_id = c.id
  LEFT JOIN pg_replication_slots s
         ON s.slot_name = 'pg_flowview_' || (SELECT oid FROM pg_database WHERE datname = current_database())
  LEFT JOIN pg_stat_replication_slots rs ON rs.slot_name = s.slot_name;

-- Views whose change rate is far from its exponentially weighted mean.
CREATE FUNCTION flowview.anomalies(z_threshold float8 DEFAULT 3, min_samples int DEFAULT 30)
RETURNS TABLE (view regclass, change_rate float8, mean_rate float8, stddev_rate float8,
               z_score float8, kind text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.view_oid::regclass, st.change_rate, st.change_rate_mean, st.change_rate_stddev,
           st.change_rate_z,
           CASE WHEN st.change_rate = 0 THEN 'stopped'
                WHEN st.change_rate_z < 0 THEN 'drop' ELSE 'spike' END
      FROM flowview._view_stats() st
      JOIN flowview.view_catalog c ON c.id = st.view_id
     WHERE st.change_rate_samples >= min_samples
       AND abs(st.change_rate_z) >= z_threshold
$$;

-- SLA history: one sample per view with an SLA per pg_flowview.sla_sample_interval.
CREATE TABLE flowview.sla_samples (
    view_oid      oid NOT NULL,
    sampled_at    timestamptz NOT NULL,
    staleness     interval,
    freshness_sla interval NOT NULL,
    sla_met       boolean
);
CREATE INDEX ON flowview.sla_samples (sampled_at);
CREATE INDEX ON flowview.sla_samples (view_oid, sampled_at);

-- Called by the apply worker each tick: sample, announce breaches and
-- recoveries once per episode (NOTIFY flowview_sla), drop old samples.
CREATE FUNCTION flowview._sla_tick(retention interval) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f record;
    breached boolean;
BEGIN
    FOR f IN SELECT fr.*, c.id, c.sla_breached
               FROM flowview.freshness() fr
               JOIN flowview.view_catalog c ON c.view_oid = fr.view
              WHERE fr.freshness_sla IS NOT NULL
    LOOP
        INSERT INTO flowview.sla_samples VALUES (f.view, clock_timestamp(), f.staleness, f.freshness_sla, f.sla_met);
        IF f.sla_met IS NULL THEN
            CONTINUE;
        END IF;
        breached := NOT f.sla_met;
        IF breached IS DISTINCT FROM f.sla_breached THEN
            UPDATE flowview.view_catalog SET sla_breached = breached WHERE id = f.id;
            PERFORM pg_notify('flowview_sla', json_build_object(
                'view', f.view::text,
                'event', CASE WHEN breached THEN 'breach' ELSE 'recovery' END,
                'staleness', f.staleness::text,
                'sla', f.freshness_sla::text,
                'state', f.state,
                'at', clock_timestamp())::text);
        END IF;
    END LOOP;
    DELETE FROM flowview.sla_samples WHERE sampled_at < clock_timestamp() - retention;
END $$;

-- Per view since a time: share of samples within SLA, worst staleness and
-- the breach episodes (runs of samples not within SLA) as a jsonb array.
CREATE FUNCTION flowview.sla_report(since timestamptz DEFAULT now() - interval '1 day')
RETURNS TABLE (view regclass, samples bigint, within_sla float8, worst_staleness interval,
               breaches bigint, episodes jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH s AS (
        SELECT v.*, sum(CASE WHEN v.sla_met IS DISTINCT FROM prev_met THEN 1 ELSE 0 END)
                        OVER (PARTITION BY v.view_oid ORDER BY v.sampled_at) AS run
          FROM (SELECT x.*, lag(x.sla_met) OVER (PARTITION BY x.view_oid ORDER BY x.sampled_at) AS prev_met,
                       lead(x.sampled_at) OVER (PARTITION BY x.view_oid ORDER BY x.sampled_at) AS next_at
                  FROM flowview.sla_samples x
                 WHERE x.sampled_at >= since AND x.sla_met IS NOT NULL) v
    ), ep AS (
        -- an episode ends at the first sample within SLA again (NULL: ongoing)
        SELECT view_oid, min(sampled_at) AS started,
               CASE WHEN bool_or(next_at IS NULL) THEN NULL ELSE max(next_at) END AS ended,
               max(staleness) AS worst
          FROM s WHERE NOT sla_met
         GROUP BY view_oid, run
    )
    SELECT s.view_oid::regclass,
           count(*),
           avg(CASE WHEN s.sla_met THEN 1.0 ELSE 0.0 END)::float8,
           max(s.staleness),
           (SELECT count(*) FROM ep WHERE ep.view_oid = s.view_oid),
           coalesce((SELECT jsonb_agg(jsonb_build_object('start', ep.started, 'end', ep.ended,
                                                         'worst', ep.worst::text) ORDER BY ep.started)
                       FROM ep WHERE ep.view_oid = s.view_oid), '[]'::jsonb)
      FROM s
     GROUP BY s.view_oid
$$;

-- ---------------------------------------------------------------------------
-- Alert rules on live data (see README "Alerts on live data")
-- ---------------------------------------------------------------------------

-- One row per rule.  condition is the deparsed form flowview._alert_condition
-- returns (one expression over the view's columns, names outside pg_catalog
-- qualified): the only condition text the worker ever runs.  The rules of a
-- view go with it (drop_view, DROP ... CASCADE, DROP EXTENSION).
CREATE TABLE flowview.alert_catalog (
    id            serial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    view_oid      oid NOT NULL REFERENCES flowview.view_catalog (view_oid) ON DELETE CASCADE,
    condition     text NOT NULL,
    channel       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    owner         oid NOT NULL,             -- the role the condition is evaluated as
    last_error    text,                     -- the last evaluation error (NULL once it works again)
    last_error_at timestamptz
);
CREATE INDEX ON flowview.alert_catalog (view_oid);

-- Groups currently satisfying their rule's condition (an open episode).
CREATE TABLE flowview.alert_state (
    alert_id  int NOT NULL REFERENCES flowview.alert_catalog (id) ON DELETE CASCADE,
    group_key jsonb NOT NULL,
    event_id  bigint NOT NULL,
    PRIMARY KEY (alert_id, group_key)
);

-- One row per firing: a group that started satisfying a rule.
CREATE TABLE flowview.alert_events (
    id           bigserial PRIMARY KEY,
    alert_id     int NOT NULL REFERENCES flowview.alert_catalog (id) ON DELETE CASCADE,
    alert        text NOT NULL,
    view         regclass NOT NULL,
    group_key    jsonb NOT NULL,            -- {group key column: value}
    group_values jsonb,                     -- the group's row of the view when it fired
    fired_at     timestamptz NOT NULL,
    ended_at     timestamptz                -- when it stopped satisfying the condition (NULL: still does)
);
CREATE INDEX ON flowview.alert_events (alert_id, fired_at);

-- The condition, checked and deparsed: see src/views/alert.c.
CREATE FUNCTION flowview._alert_condition(v regclass, condition text) RETURNS text
AS 'MODULE_PATHNAME', 'fv_alert_condition' LANGUAGE C STRICT;

CREATE FUNCTION flowview.create_alert(name text, view regclass, condition text,
                                      channel text DEFAULT 'flowview_alert')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog;
    cond text;
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
    cond := flowview._alert_condition(view, condition);
    INSERT INTO flowview.alert_catalog (name, view_oid, condition, channel, owner)
    VALUES (name, view, cond, channel, (SELECT oid FROM pg_roles WHERE rolname = current_user));
END $$;

CREATE FUNCTION flowview.drop_alert(name text, if_exists boolean DEFAULT false) RETURNS void
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
    IF NOT pg_has_role(current_user, a.owner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of alert "%"', name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM flowview.alert_catalog WHERE id = a.id;   -- its state and events follow
END $$;

CREATE VIEW flowview.alerts AS
SELECT a.name,
       a.view_oid::regclass AS view,
       a.condition,
       a.channel,
       a.owner::regrole AS owner,
       a.created_at,
       (SELECT count(*) FROM flowview.alert_state s WHERE s.alert_id = a.id) AS firing_groups,
       (SELECT count(*) FROM flowview.alert_events e WHERE e.alert_id = a.id) AS events,
       (SELECT max(e.fired_at) FROM flowview.alert_events e WHERE e.alert_id = a.id) AS last_fired_at,
       a.last_error,
       a.last_error_at
  FROM flowview.alert_catalog a;

-- Called by the apply worker, inside the batch's transaction, after view v
-- (which has rules) was applied.  groups: the groups the batch changed, a
-- jsonb array of objects {group key column: value} (view_catalog.
-- changed_groups_sql; NULL when none); truncated: a TRUNCATE of the source
-- emptied the view in this batch, so the rules' open episodes are checked
-- too.  Per rule, each group is looked up in the view (its visible rows: a
-- group HAVING hides, or that no longer exists, does not satisfy the
-- condition) and the condition is evaluated as the rule's owner.  A group
-- that starts satisfying it gets an event, a state row and a NOTIFY on the
-- rule's channel; one that stops closes its event.  A rule whose evaluation
-- fails is skipped with a WARNING and its error kept in alert_catalog: an
-- alert never puts its view in state error.
-- (jit off: the lookups are many small index scans, which JIT compilation,
-- triggered by their summed cost, only slows down.)
CREATE FUNCTION flowview._fire_alerts(v regclass, groups jsonb, truncated boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    a flowview.alert_catalog;
    keys jsonb;
    key_eq text;
    key_match text;
    key_present text;
    owner_name text;
    as_owner boolean;
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
        -- every object has the view's group key columns (none for a view
        -- without GROUP BY); a NULL key is an ordinary group, but only
        -- equality finds a group through the storage's index: groups
        -- without NULL keys are looked up with it, the others without
        SELECT coalesce(string_agg(format('v.%1$I = (g.rec).%1$I', n), ' AND '), 'true'),
               coalesce(string_agg(format('(v.%1$I = (g.rec).%1$I OR (v.%1$I IS NULL AND (g.rec).%1$I IS NULL))', n), ' AND '), 'true'),
               coalesce(string_agg(format('(g.rec).%1$I IS NOT NULL', n), ' AND '), 'true')
          INTO key_eq, key_match, key_present FROM jsonb_object_keys(keys->0) n;
        BEGIN
            SELECT r.rolname INTO owner_name FROM pg_roles r WHERE r.oid = a.owner;
            IF owner_name IS NULL THEN
                RAISE EXCEPTION 'the owner (role %) of alert "%" no longer exists', a.owner, a.name;
            END IF;
            as_owner := owner_name <> current_user;
            IF as_owner THEN
                PERFORM set_config('role', owner_name, true);
            END IF;
            EXECUTE format($q$
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
                v, a.condition, key_eq, key_match, key_present)
              INTO res USING keys;
            IF as_owner THEN
                PERFORM set_config('role', 'none', true);
            END IF;

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
            -- the subtransaction rolled back whatever the rule did, role included
            UPDATE flowview.alert_catalog SET last_error = SQLERRM, last_error_at = clock_timestamp()
             WHERE id = a.id;
            RAISE WARNING 'pg_flowview: alert "%" on live view % could not be evaluated: %', a.name, v, SQLERRM;
        END;
    END LOOP;
END $$;

-- only the apply worker (a superuser) fires alerts
REVOKE EXECUTE ON FUNCTION flowview._fire_alerts(regclass, jsonb, boolean) FROM PUBLIC;

-- The NOTIFY payload of a firing (at most 8000 bytes: beyond, without the
-- values, which stay in flowview.alert_events).
CREATE FUNCTION flowview._alert_payload(event_id bigint, alert text, view regclass, group_key jsonb,
                                        group_values jsonb, fired_at timestamptz)
RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p text := jsonb_build_object('alert', alert, 'view', view::text, 'group_key', group_key,
                                 'values', group_values, 'event_id', event_id, 'fired_at', fired_at)::text;
BEGIN
    IF octet_length(p) >= 8000 THEN
        p := jsonb_build_object('alert', alert, 'view', view::text, 'group_key', group_key,
                                'values', NULL, 'values_omitted', true,
                                'event_id', event_id, 'fired_at', fired_at)::text;
    END IF;
    RETURN p;
END $$;
