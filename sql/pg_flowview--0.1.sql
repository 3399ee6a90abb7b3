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

-- Alert rules (flowview.create_alert): checked by the apply worker after each
-- batch, on the groups the batch changed, by flowview._fire_alerts().
CREATE TABLE flowview.alert_catalog (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    view_oid    oid NOT NULL,
    condition   text NOT NULL,
    channel     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Called by the apply worker, inside the batch's transaction, after a view
-- with alert rules was applied; groups: the changed groups, a jsonb array of
-- objects {group key output column: value}.
CREATE FUNCTION flowview._fire_alerts(v regclass, groups jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN;  -- rules are evaluated here (alerts)
END $$;

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
                'schema', jsonb_build_object(
                    '_producer', producer,
                    '_schemaURL', facet_url || '1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet',
                    'fields', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                          'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod))
                                          ORDER BY a.attnum), '[]')
                                 FROM pg_attribute a
                                WHERE a.attrelid = r.source_oid AND a.attnum > 0 AND NOT a.attisdropped))))),
        'outputs', jsonb_build_array(jsonb_build_object(
            'namespace', ns,
            'name', flowview._openlineage_name(view),
            'facets', jsonb_build_object(
                'schema', jsonb_build_object(
                    '_producer', producer,
                    '_schemaURL', facet_url || '1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet',
                    'fields', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                          'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod))
                                          ORDER BY a.attnum), '[]')
                                 FROM pg_attribute a
                                WHERE a.attrelid = view AND a.attnum > 0 AND NOT a.attisdropped)),
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
