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
    minmax          text NOT NULL DEFAULT 'rescan' CHECK (minmax IN ('rescan', 'multiset')),
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

CREATE FUNCTION flowview.create_view(name text, query text, freshness_sla interval DEFAULT NULL,
                                     minmax text DEFAULT 'rescan')
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

-- the apply worker's position (shared memory): see fv_applied_lsn
CREATE FUNCTION flowview._applied_lsn() RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'fv_applied_lsn' LANGUAGE C STABLE;

CREATE VIEW flowview.views AS
SELECT c.view_oid::regclass AS view,
       c.query,
       ARRAY[c.source_oid::regclass] AS sources,
       c.state,
       c.created_at,
       -- a live view reflects everything the worker applied; the catalog
       -- copy (written at most once a second) covers a stopped worker
       CASE WHEN c.state = 'live' THEN greatest(c.applied_lsn, flowview._applied_lsn())
            ELSE c.applied_lsn END AS applied_lsn,
       c.error,
       c.freshness_sla,
       c.time_zone,
       c.minmax
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
    OUT change_rate_z float8, OUT change_rate_samples bigint, OUT minmax_rereads bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fv_view_stats_sql' LANGUAGE C;

-- The apply's min/max re-reads (minmax 'rescan') go through this, to be counted.
CREATE FUNCTION flowview._reread(value anyelement) RETURNS anyelement
AS 'MODULE_PATHNAME', 'fv_reread' LANGUAGE C;

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
       coalesce(st.minmax_rereads, 0) AS minmax_rereads,
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

-- ---------------------------------------------------------------------------
-- Lineage (see README "Lineage")
-- ---------------------------------------------------------------------------

-- Column-level lineage of a live view, from its defining query: see
-- src/views/lineage.c for the rows and their transformations.
CREATE FUNCTION flowview.lineage(view regclass)
RETURNS TABLE ("column" text, source_schema text, source_table text, source_column text,
               transformation text, depth int, column_number int, direct boolean, expression text)
AS 'MODULE_PATHNAME', 'fv_lineage' LANGUAGE C STABLE STRICT;

-- Every edge source table -> live view in this database.
CREATE VIEW flowview.lineage_graph AS
SELECT sn.nspname::text AS source_schema,
       s.relname::text AS source_table,
       vn.nspname::text AS view_schema,
       v.relname::text AS view_name,
       c.source_oid::regclass AS source,
       c.view_oid::regclass AS view,
       CASE s.relkind WHEN 'p' THEN 'partitioned table' ELSE 'table' END AS source_kind,
       c.used_columns AS source_columns,
       1 AS depth,
       c.state,
       c.created_at
  FROM flowview.view_catalog c
  JOIN pg_class v ON v.oid = c.view_oid
  JOIN pg_namespace vn ON vn.oid = v.relnamespace
  JOIN pg_class s ON s.oid = c.source_oid
  JOIN pg_namespace sn ON sn.oid = s.relnamespace;

-- OpenLineage namespace of this server, postgres://host:port; host:
-- pg_flowview.openlineage_host, else the first address in listen_addresses
-- that is not a wildcard, else the address the client connected to, else
-- localhost (IPv6 addresses in brackets).
CREATE FUNCTION flowview._openlineage_namespace() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'postgres://' || CASE WHEN h LIKE '%:%' AND h NOT LIKE '[%' THEN '[' || h || ']' ELSE h END
           || ':' || current_setting('port')
      FROM (SELECT coalesce(
                nullif(current_setting('pg_flowview.openlineage_host', true), ''),
                (SELECT trim(a) FROM unnest(string_to_array(current_setting('listen_addresses'), ',')) WITH ORDINALITY l(a, n)
                  WHERE trim(a) NOT IN ('', '*', '0.0.0.0', '::') ORDER BY n LIMIT 1),
                host(inet_server_addr()),
                'localhost') AS h) x
$$;

-- OpenLineage dataset name: database.schema.table
CREATE FUNCTION flowview._openlineage_name(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT current_database() || '.' || n.nspname || '.' || c.relname
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = rel
$$;

-- OpenLineage schema dataset facet of a relation: its columns and types
CREATE FUNCTION flowview._openlineage_schema_facet(rel regclass, producer text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
               '_producer', producer,
               '_schemaURL', 'https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet',
               'fields', coalesce(jsonb_agg(jsonb_build_object(
                                     'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod))
                                     ORDER BY a.attnum), '[]'))
      FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- The OpenLineage 2-0-2 RunEvent of a live view: job = the view's
-- maintenance, input = its source, output = the view with the schema and
-- columnLineage facets (from flowview.lineage).  See README "Lineage".
CREATE FUNCTION flowview.openlineage(view regclass) RETURNS jsonb
LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog := flowview._view(view);
    ns text := flowview._openlineage_namespace();
    producer text := 'urn:pg_flowview:' || (SELECT extversion FROM pg_extension WHERE extname = 'pg_flowview');
    facet_url text := 'https://openlineage.io/spec/facets/';
    source_name text := flowview._openlineage_name(r.source_oid::regclass);
    h text := md5(format('pg_flowview:%s:%s:%s', (SELECT oid FROM pg_database WHERE datname = current_database()),
                         r.id, r.created_at));
    run_facets jsonb := '{}';
BEGIN
    IF r.state = 'error' THEN
        run_facets := jsonb_build_object('errorMessage', jsonb_build_object(
            '_producer', producer,
            '_schemaURL', facet_url || '1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet',
            'message', coalesce(r.error, 'error'),
            'programmingLanguage', 'SQL'));
    END IF;
    RETURN jsonb_build_object(
        'eventType', CASE r.state WHEN 'live' THEN 'RUNNING' WHEN 'backfilling' THEN 'START' ELSE 'FAIL' END,
        'eventTime', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'producer', producer,
        'schemaURL', 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
        -- one run per view, from its creation until it is dropped: a UUID
        -- (version 8, RFC 9562) derived from the database, view id and creation time
        'run', jsonb_build_object(
            'runId', (substr(h, 1, 12) || '8' || substr(h, 14, 3)
                      || substr('89ab', ('x' || substr(h, 17, 1))::bit(4)::int % 4 + 1, 1)
                      || substr(h, 18))::uuid,
            'facets', run_facets),
        'job', jsonb_build_object(
            'namespace', ns,
            'name', flowview._openlineage_name(view),
            'facets', jsonb_build_object(
                'jobType', jsonb_build_object(
                    '_producer', producer,
                    '_schemaURL', facet_url || '2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet',
                    'processingType', 'STREAMING',
                    'integration', 'PG_FLOWVIEW',
                    'jobType', 'LIVE_VIEW'),
                'sql', jsonb_build_object(
                    '_producer', producer,
                    '_schemaURL', facet_url || '1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet',
                    'query', r.query,
                    'dialect', 'postgres'))),
        'inputs', jsonb_build_array(jsonb_build_object(
            'namespace', ns,
            'name', source_name,
            'facets', jsonb_build_object(
                'schema', flowview._openlineage_schema_facet(r.source_oid::regclass, producer)))),
        'outputs', jsonb_build_array(jsonb_build_object(
            'namespace', ns,
            'name', flowview._openlineage_name(view),
            'facets', jsonb_build_object(
                'schema', flowview._openlineage_schema_facet(view, producer),
                'columnLineage', jsonb_build_object(
                    '_producer', producer,
                    '_schemaURL', facet_url || '1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet',
                    'fields', (
                        -- per output column, one input field per source column
                        -- it derives from, with each way it does
                        WITH l AS (
                            SELECT l.*, l.ordinality AS ord FROM flowview.lineage(view) WITH ORDINALITY l
                        ), f AS (
                            SELECT l."column", l.column_number, min(l.ord) AS ord,
                                   jsonb_build_object(
                                       'namespace', ns,
                                       'name', source_name,
                                       'field', l.source_column,
                                       'transformations', jsonb_agg(jsonb_build_object(
                                           'type', CASE WHEN l.direct THEN 'DIRECT' ELSE 'INDIRECT' END,
                                           'subtype', CASE WHEN l.transformation = 'group key' THEN 'IDENTITY'
                                                           WHEN l.transformation LIKE 'expression:%' THEN 'TRANSFORMATION'
                                                           WHEN l.transformation LIKE 'aggregate:%' THEN 'AGGREGATION'
                                                           WHEN l.transformation = 'filter' THEN 'FILTER'
                                                           ELSE 'GROUP_BY' END,
                                           'description', l.transformation || ': ' || l.expression,
                                           'masking', false) ORDER BY l.ord)) AS field
                              FROM l
                             WHERE l.source_column IS NOT NULL
                             GROUP BY l."column", l.column_number, l.source_column
                        )
                        SELECT coalesce(jsonb_object_agg(a.attname, jsonb_build_object(
                                   'inputFields', coalesce((SELECT jsonb_agg(f.field ORDER BY f.ord)
                                                              FROM f WHERE f.column_number = a.attnum), '[]'))), '{}')
                          FROM pg_attribute a
                         WHERE a.attrelid = view AND a.attnum > 0 AND NOT a.attisdropped))))));
END $$;
-- Securing views (see README "Securing views"): the organisational
-- hierarchy, row-level security by organisation, roles and privileges.
-- Keep this section last: it sets the privileges of everything above.
-- ---------------------------------------------------------------------------

-- Roles are cluster-wide: created once (by the first CREATE EXTENSION in the
-- cluster), kept by DROP EXTENSION.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'flowview_reader') THEN
        CREATE ROLE flowview_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'flowview_admin') THEN
        CREATE ROLE flowview_admin NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('flowview_admin', 'flowview_reader', 'MEMBER') THEN
        GRANT flowview_reader TO flowview_admin;
    END IF;
END $$;

-- The hierarchy: a forest of units.  Units cannot be renamed; a unit with
-- children cannot be dropped.
CREATE TABLE flowview.org_units (
    unit    text PRIMARY KEY CHECK (unit <> ''),
    parent  text REFERENCES flowview.org_units (unit)
);
CREATE INDEX ON flowview.org_units (parent);

-- Which roles belong to which units.  A role sees its units' rows, and so
-- does every role that has its privileges (members with INHERIT).
CREATE TABLE flowview.org_members (
    role    regrole NOT NULL,
    unit    text NOT NULL REFERENCES flowview.org_units (unit) ON DELETE CASCADE,
    PRIMARY KEY (role, unit)
);
CREATE INDEX ON flowview.org_members (unit);

-- Ancestor/descendant pairs of the hierarchy, each unit its own ancestor at
-- depth 0; maintained by triggers on org_units (flowview._org_closure).
CREATE TABLE flowview.org_closure (
    ancestor    text NOT NULL REFERENCES flowview.org_units (unit) ON DELETE CASCADE,
    descendant  text NOT NULL REFERENCES flowview.org_units (unit) ON DELETE CASCADE,
    depth       int NOT NULL CHECK (depth >= 0),
    PRIMARY KEY (ancestor, descendant)
);
CREATE INDEX ON flowview.org_closure (descendant);

-- One row, updated by every hierarchy change: serialises them (a concurrent
-- change waits; under REPEATABLE READ it fails with 40001), so two moves can
-- never make a cycle together.
CREATE TABLE flowview.org_version (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    version  bigint NOT NULL
);
INSERT INTO flowview.org_version VALUES (true, 0);

CREATE FUNCTION flowview._org_units_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.unit IS DISTINCT FROM OLD.unit THEN
        RAISE EXCEPTION 'org units cannot be renamed'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Add a unit with the new name, move the children and role assignments to it, and drop the old one.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER org_units_check BEFORE UPDATE OF unit ON flowview.org_units
    FOR EACH ROW EXECUTE FUNCTION flowview._org_units_check();

-- After an insert or a change of parent of unit u (row by row, once the
-- statement's rows are all in place, so several units in one statement are
-- fine): refuse a cycle; relink u's subtree below u's new ancestors.
CREATE FUNCTION flowview._org_closure() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cyclic boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.parent IS NOT DISTINCT FROM OLD.parent THEN
        RETURN NULL;
    END IF;
    UPDATE flowview.org_version SET version = version + 1;
    -- u's ancestors, following parent links from the table itself
    WITH RECURSIVE up(unit) AS (
        SELECT NEW.parent WHERE NEW.parent IS NOT NULL
        UNION ALL
        SELECT o.parent FROM up JOIN flowview.org_units o ON o.unit = up.unit
         WHERE o.parent IS NOT NULL
    ) CYCLE unit SET is_cycle USING path
    SELECT coalesce(bool_or(unit = NEW.unit OR is_cycle), false) INTO cyclic FROM up;
    IF cyclic THEN
        RAISE EXCEPTION 'org unit % cannot be placed under %: that would make a cycle',
                        quote_literal(NEW.unit), quote_literal(NEW.parent)
            USING ERRCODE = 'check_violation',
                  DETAIL = format('%L is %L itself or one of its descendants.', NEW.parent, NEW.unit);
    END IF;
    -- forget the old links of the subtree to units outside it
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM flowview.org_closure c
         WHERE c.descendant IN (SELECT s.descendant FROM flowview.org_closure s WHERE s.ancestor = NEW.unit)
           AND c.ancestor NOT IN (SELECT s.descendant FROM flowview.org_closure s WHERE s.ancestor = NEW.unit);
    END IF;
    -- (ancestor or self of u) x (u or its descendants), from the table
    INSERT INTO flowview.org_closure (ancestor, descendant, depth)
    WITH RECURSIVE up(unit, depth) AS (
        SELECT NEW.unit, 0
        UNION ALL
        SELECT o.parent, up.depth + 1 FROM up JOIN flowview.org_units o ON o.unit = up.unit
         WHERE o.parent IS NOT NULL
    ), down(unit, depth) AS (
        SELECT NEW.unit, 0
        UNION ALL
        SELECT o.unit, down.depth + 1 FROM down JOIN flowview.org_units o ON o.parent = down.unit
    )
    SELECT up.unit, down.unit, up.depth + down.depth FROM up, down
    ON CONFLICT (ancestor, descendant) DO UPDATE SET depth = excluded.depth;
    RETURN NULL;
END $$;
CREATE TRIGGER org_closure AFTER INSERT OR UPDATE OF parent ON flowview.org_units
    FOR EACH ROW EXECUTE FUNCTION flowview._org_closure();

CREATE FUNCTION flowview._org_unit_must_exist(u text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF u IS NULL THEN
        RAISE EXCEPTION 'org unit must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM flowview.org_units o WHERE o.unit = u) THEN
        RAISE EXCEPTION 'org unit % does not exist', quote_literal(u)
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT unit, parent FROM flowview.org_units lists the units.';
    END IF;
END $$;

CREATE FUNCTION flowview.add_org_unit(unit text, parent text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF unit IS NULL OR unit = '' THEN
        RAISE EXCEPTION 'org unit name must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF parent IS NOT NULL THEN
        PERFORM flowview._org_unit_must_exist(parent);
    END IF;
    IF EXISTS (SELECT FROM flowview.org_units o WHERE o.unit = add_org_unit.unit) THEN
        RAISE EXCEPTION 'org unit % already exists', quote_literal(unit)
            USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO flowview.org_units (unit, parent) VALUES (add_org_unit.unit, add_org_unit.parent);
END $$;

-- new_parent NULL: the unit becomes a root
CREATE FUNCTION flowview.move_org_unit(unit text, new_parent text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM flowview._org_unit_must_exist(unit);
    IF new_parent IS NOT NULL THEN
        PERFORM flowview._org_unit_must_exist(new_parent);
    END IF;
    UPDATE flowview.org_units o SET parent = new_parent WHERE o.unit = move_org_unit.unit;
END $$;

CREATE FUNCTION flowview.drop_org_unit(unit text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    children text;
BEGIN
    PERFORM flowview._org_unit_must_exist(unit);
    SELECT string_agg(quote_literal(o.unit), ', ' ORDER BY o.unit) INTO children
      FROM flowview.org_units o WHERE o.parent = drop_org_unit.unit;
    IF children IS NOT NULL THEN
        RAISE EXCEPTION 'org unit % has child units', quote_literal(unit)
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = 'Children: ' || children || '.',
                  HINT = 'Move the children (flowview.move_org_unit) or drop them first.';
    END IF;
    -- its role assignments and closure rows go with it (ON DELETE CASCADE)
    DELETE FROM flowview.org_units o WHERE o.unit = drop_org_unit.unit;
END $$;

CREATE FUNCTION flowview.assign_role(role regrole, unit text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM flowview._org_unit_must_exist(unit);
    INSERT INTO flowview.org_members (role, unit) VALUES (assign_role.role, assign_role.unit)
        ON CONFLICT DO NOTHING;
END $$;

CREATE FUNCTION flowview.unassign_role(role regrole, unit text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM flowview._org_unit_must_exist(unit);
    DELETE FROM flowview.org_members m WHERE m.role = unassign_role.role AND m.unit = unassign_role.unit;
END $$;

-- The units whose rows the current role may see: the units assigned to it
-- or to a role whose privileges it has, and all their descendants.  Called
-- (once per query, as an initplan) by the policies of enable_org_security;
-- reads the hierarchy as the extension's owner, so analysts need no access
-- to it.  See src/views/security.c.
CREATE FUNCTION flowview._visible_units() RETURNS text[]
AS 'MODULE_PATHNAME', 'fv_visible_units'
LANGUAGE C STABLE PARALLEL RESTRICTED;

-- Row-level security by organisation on a live view: see README.
CREATE FUNCTION flowview.enable_org_security(view regclass, org_column name) RETURNS void
AS 'MODULE_PATHNAME', 'fv_enable_org_security'
LANGUAGE C;

CREATE FUNCTION flowview.disable_org_security(view regclass) RETURNS void
AS 'MODULE_PATHNAME', 'fv_disable_org_security'
LANGUAGE C;

-- Where a live view's data is: the table an analyst's query reads (RLS
-- policies go on it), and the storage column behind an output column.
CREATE FUNCTION flowview.storage_table(view regclass) RETURNS regclass
AS 'MODULE_PATHNAME', 'fv_storage_table'
LANGUAGE C STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION flowview.storage_column(view regclass, column_name name) RETURNS name
AS 'MODULE_PATHNAME', 'fv_storage_column'
LANGUAGE C STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Read access follows the user-facing view: whoever may SELECT from it gets
-- SELECT on its flowview.fv_out_ID and flowview.fv_store_ID (the view is
-- security_invoker, so the reader's own privileges and RLS apply to those),
-- and nobody else gets any privilege on them.  Run after every GRANT and
-- REVOKE (event trigger below) and by create_view.
CREATE FUNCTION flowview._sync_grants(only_view oid DEFAULT NULL) RETURNS void
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
        FOR t IN SELECT x.oid, x.relowner, x.relacl FROM pg_class x
                  WHERE x.oid IN (format('flowview.fv_out_%s', v.id)::regclass,
                                  format('flowview.fv_store_%s', v.id)::regclass)
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
    END LOOP;
    PERFORM set_config('flowview.syncing_grants', 'off', true);
END $$;

CREATE FUNCTION flowview._on_grant() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM flowview._sync_grants(NULL);
END $$;
CREATE EVENT TRIGGER flowview_on_grant ON ddl_command_end WHEN TAG IN ('GRANT', 'REVOKE')
    EXECUTE FUNCTION flowview._on_grant();

-- Sources keep REPLICA IDENTITY FULL (the worker subtracts old row
-- versions): partitions created or attached under a source after
-- create_view get it at the end of the command that made them one, and a
-- source set back to another identity gets FULL again; with a NOTICE.
-- (Creating or attaching a partition needs ownership of the source.)
CREATE FUNCTION flowview._on_new_partition() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT DISTINCT t.relid::regclass AS part, s.source_oid::regclass AS source
          FROM (SELECT DISTINCT source_oid FROM flowview.view_catalog) s,
               LATERAL pg_partition_tree(s.source_oid) t
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
CREATE EVENT TRIGGER flowview_on_new_partition ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION flowview._on_new_partition();

-- Functions that change pg_flowview's catalog or storage on behalf of
-- flowview_admin members run as the extension's owner (search_path pinned
-- above); EXECUTE is granted below.  _on_drop runs whenever anyone drops
-- anything, so it must not depend on the dropper's privileges.
ALTER FUNCTION flowview._on_drop() SECURITY DEFINER;
ALTER FUNCTION flowview.drop_view(regclass) SECURITY DEFINER;
ALTER FUNCTION flowview.refresh_view(regclass) SECURITY DEFINER;
ALTER FUNCTION flowview.set_freshness_sla(regclass, interval) SECURITY DEFINER;
ALTER FUNCTION flowview.enable_org_security(regclass, name) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION flowview.disable_org_security(regclass) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Catalog rows and SLA samples are visible to readers only for the views
-- they may read.
ALTER TABLE flowview.view_catalog ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON flowview.view_catalog FOR SELECT
    USING (pg_catalog.pg_has_role('flowview_admin', 'USAGE')
           OR pg_catalog.has_table_privilege(view_oid, 'SELECT'));
ALTER TABLE flowview.sla_samples ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON flowview.sla_samples FOR SELECT
    USING (pg_catalog.pg_has_role('flowview_admin', 'USAGE')
           OR pg_catalog.has_table_privilege(view_oid, 'SELECT'));
ALTER VIEW flowview.views SET (security_invoker = true);
ALTER VIEW flowview.freshness SET (security_invoker = true);
ALTER VIEW flowview.stats SET (security_invoker = true);
ALTER VIEW flowview.lineage_graph SET (security_invoker = true);

-- Privileges.  Nothing in the schema is usable by PUBLIC except what the
-- policies and triggers on live views call.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA flowview FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview._visible_units() TO PUBLIC;
GRANT EXECUTE ON FUNCTION flowview._refuse_write() TO PUBLIC;

GRANT USAGE ON SCHEMA flowview TO flowview_reader;
GRANT SELECT ON flowview.view_catalog, flowview.views, flowview.freshness, flowview.stats,
                flowview.sla_samples, flowview.lineage_graph TO flowview_reader;
GRANT EXECUTE ON FUNCTION
    flowview.wait_for_freshness(regclass, interval),
    flowview.freshness(),
    flowview._pipeline(pg_lsn),
    flowview._view_stats(),
    flowview.anomalies(float8, int),
    flowview.sla_report(timestamptz),
    flowview.storage_table(regclass),
    flowview.storage_column(regclass, name),
    flowview.lineage(regclass),
    flowview.openlineage(regclass),
    flowview._openlineage_namespace(),
    flowview._openlineage_name(regclass),
    flowview._openlineage_schema_facet(regclass, text),
    flowview._applied_lsn(),
    flowview._view(regclass)
  TO flowview_reader;

-- flowview_admin is a member of flowview_reader and has its privileges.
GRANT EXECUTE ON FUNCTION
    flowview.create_view(text, text, interval, text),
    flowview.drop_view(regclass),
    flowview.refresh_view(regclass),
    flowview.set_freshness_sla(regclass, interval),
    flowview.pause_apply(),
    flowview.resume_apply(),
    flowview._set_paused(boolean),
    flowview.add_org_unit(text, text),
    flowview.move_org_unit(text, text),
    flowview.drop_org_unit(text),
    flowview.assign_role(regrole, text),
    flowview.unassign_role(regrole, text),
    flowview._org_unit_must_exist(text),
    flowview.enable_org_security(regclass, name),
    flowview.disable_org_security(regclass),
    flowview.create_alert(text, regclass, text, text),
    flowview.drop_alert(text, boolean),
    flowview._alert_condition(regclass, text)
  TO flowview_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON flowview.org_units, flowview.org_members TO flowview_admin;
GRANT SELECT ON flowview.org_closure TO flowview_admin;
-- alert rules: created (as the caller, who must own the view) and dropped by
-- flowview_admin members; events and state are written by the apply worker
GRANT SELECT, INSERT, DELETE ON flowview.alert_catalog TO flowview_admin;
GRANT USAGE ON SEQUENCE flowview.alert_catalog_id_seq TO flowview_admin;
GRANT SELECT ON flowview.alerts, flowview.alert_events TO flowview_admin;
