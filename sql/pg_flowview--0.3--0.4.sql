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

-- Retention (create_view(..., retain => interval), issue 14): groups whose
-- time key is older than the horizon (now() - retain, moved forward by the
-- worker about once a second with retain_sql, run as the view's owner) are
-- removed and their rows no longer applied.  The horizon is in
-- flowview.fv_store_ID_h, which the view's statements read;
-- flowview.views.retain_horizon reads it there (_storage_time).  NULL
-- without a retention.
ALTER TABLE flowview.view_catalog
	ADD COLUMN retain interval,
	ADD COLUMN retain_sql text[];

-- the one value the worker keeps beside view id's storage: what = 'h', its
-- retention's horizon (flowview.fv_store_ID_h, column h); 't', its sliding
-- window's clock (fv_store_ID_t, column t); 'w', its watermark
-- (fv_store_ID_w, column w).  Its storage's owner may read
-- them; views' readers through this function, for the catalog rows they see.
CREATE FUNCTION flowview._storage_time(view_id int, what text) RETURNS timestamptz
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v timestamptz;
BEGIN
    IF what NOT IN ('h', 't', 'w') THEN
        RAISE EXCEPTION 'what must be ''h'', ''t'' or ''w'', not %', what USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(format('flowview.fv_store_%s_%s', view_id, what)) IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT %I FROM flowview.fv_store_%s_%s', what, view_id, what) INTO v;
    RETURN v;
END $$;
REVOKE ALL ON FUNCTION flowview._storage_time(int, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview._storage_time(int, text) TO flowview_reader;

-- Sliding windows (WHERE ts > now() - interval '15 minutes', issue 14): the
-- view is its query with now() read as the window clock, the one value in
-- flowview.fv_store_ID_t; the worker advances it every quarter second in an
-- exact batch: window_sql finds the source's rows that enter or leave the
-- window, advance_sql (the apply statements without the window's conditions
-- on the batch's rows) applies them.  NULL without a sliding window.
ALTER TABLE flowview.view_catalog
	ADD COLUMN window_sql text,
	ADD COLUMN advance_sql text[];

-- Watermarks (create_view(..., allowed_lateness), see "watermarks and late
-- data" below): the lateness, and the statement that finds a batch's rows
-- of closed windows.  NULL without a watermark.
ALTER TABLE flowview.view_catalog
	ADD COLUMN allowed_lateness interval,
	ADD COLUMN late_sql text,
	ADD COLUMN closed_groups_sql text;

-- flowview.freshness: window_lag, how far a sliding window's clock trails
-- now() (NULL for other views)
CREATE OR REPLACE VIEW flowview.freshness WITH (security_invoker = true) AS
SELECT f.*,
       (SELECT now() - flowview._storage_time(c.id, 't') FROM flowview.view_catalog c
         WHERE c.view_oid = f.view AND c.window_sql IS NOT NULL) AS window_lag
  FROM flowview.freshness() f;

-- Hopping windows (issue 14): the starts of the windows of length size,
-- starting at origin + k * slide, that contain ts, for a live view's FROM:
--   FROM orders o, flowview.hop(o.ts, interval '10 minutes', interval '1 minute') AS w(start)
-- size and slide in hours, minutes and seconds (no days or months: those
-- depend on the time zone, and hop() is immutable); at most 10,000 windows
-- per row.
CREATE FUNCTION flowview.hop(ts timestamptz, size interval, slide interval,
                             origin timestamptz DEFAULT '2000-01-01 00:00:00+00')
RETURNS SETOF timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last timestamptz;
    n bigint;
BEGIN
    IF size <= interval '0' OR slide <= interval '0' THEN
        RAISE EXCEPTION 'hop() needs a positive size and slide, not % and %', size, slide
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF extract(month FROM size) <> 0 OR extract(day FROM size) <> 0
       OR extract(month FROM slide) <> 0 OR extract(day FROM slide) <> 0 THEN
        RAISE EXCEPTION 'hop() takes sizes and slides in hours, minutes and seconds, not % and %', size, slide
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Write interval ''24 hours'' for a day.';
    END IF;
    n := ceil(extract(epoch FROM size) / extract(epoch FROM slide));
    IF n > 10000 THEN
        RAISE EXCEPTION 'hop() would put each row in % windows (size % / slide %), more than 10,000', n, size, slide
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    last := date_bin(slide, ts, origin);      -- the last window starting at or before ts
    RETURN QUERY SELECT last - k * slide FROM generate_series(0, n) k WHERE last - k * slide > ts - size;
END $$;
REVOKE ALL ON FUNCTION flowview.hop(timestamptz, interval, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview.hop(timestamptz, interval, interval, timestamptz) TO flowview_reader;

DROP FUNCTION flowview.create_view(text, text, interval, text);
CREATE FUNCTION flowview.create_view(name text, query text, freshness_sla interval DEFAULT NULL,
                                     minmax text DEFAULT NULL, retain interval DEFAULT NULL,
                                     allowed_lateness interval DEFAULT NULL)
RETURNS regclass
AS 'MODULE_PATHNAME', 'fv_create_view'
LANGUAGE C;
REVOKE ALL ON FUNCTION flowview.create_view(text, text, interval, text, interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview.create_view(text, text, interval, text, interval, interval) TO flowview_admin;

-- set_retention: a view created with retain gets another one, or none
-- (NULL).  A shorter one takes effect at the worker's next tick (the horizon
-- only moves forward); a longer one, or none, brings back groups that had
-- expired: the horizon moves back and the view is recomputed as
-- refresh_view does.  The worker reads retain_sql from the catalog at each
-- tick, so it never moves the horizon by a retention no longer set.
-- set_retention (C: fv_set_retention) checks that the caller owns the view,
-- then runs _set_retention as the extension's owner.
CREATE FUNCTION flowview.set_retention(view regclass, retain interval) RETURNS void
AS 'MODULE_PATHNAME', 'fv_set_retention' LANGUAGE C;
CREATE FUNCTION flowview._set_retention(view regclass, retain interval) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog := flowview._view(view);
    h timestamptz;
BEGIN
    IF retain IS NOT NULL AND retain <= interval '0' THEN
        RAISE EXCEPTION 'retain must be positive, not %', retain USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF r.retain_sql IS NULL THEN
        RAISE EXCEPTION 'live view % was created without a retention', view
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A retention filters every statement of a view from its creation.',
                  HINT = 'Create the view again with flowview.create_view(..., retain => ...).';
    END IF;
    IF EXISTS (SELECT FROM flowview.view_version_catalog v WHERE v.view_oid = r.view_oid AND v.pending) THEN
        RAISE EXCEPTION 'cannot change the retention of live view % while a change of its definition is pending', view
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Wait until flowview.views.pending_version is NULL.';
    END IF;
    UPDATE flowview.view_catalog c
       SET retain = _set_retention.retain,
           retain_sql = CASE WHEN _set_retention.retain IS NULL THEN c.retain_sql ELSE
               ARRAY(SELECT regexp_replace(u.s, '''[^'']*''::pg_catalog\.interval',
                                           quote_literal(_set_retention.retain::text) || '::pg_catalog.interval', 'g')
                       FROM unnest(c.retain_sql) WITH ORDINALITY u(s, o) ORDER BY u.o) END
     WHERE c.id = r.id;
    IF retain IS NOT NULL AND r.retain IS NOT NULL AND retain <= r.retain THEN
        RETURN;                 -- shorter: the next tick moves the horizon on
    END IF;
    -- longer, or none: expired groups come back
    h := CASE WHEN retain IS NULL THEN '-infinity' ELSE now() - retain END;
    EXECUTE format('UPDATE flowview.fv_store_%s_h SET h = $1', r.id) USING h;
    PERFORM flowview.refresh_view(view);
END $$;
REVOKE ALL ON FUNCTION flowview.set_retention(regclass, interval), flowview._set_retention(regclass, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview.set_retention(regclass, interval) TO flowview_admin;

-- flowview.views: a join view's sources are its tables, not its join relation
CREATE OR REPLACE VIEW flowview.views WITH (security_invoker = true) AS
SELECT c.view_oid::regclass AS view,
       c.query,
       coalesce(c.join_sources, ARRAY[c.source_oid::regclass]) AS sources,
       c.state,
       c.created_at,
       CASE WHEN c.state = 'live' THEN greatest(c.applied_lsn, flowview._applied_lsn())
            ELSE c.applied_lsn END AS applied_lsn,
       c.error,
       c.freshness_sla,
       c.time_zone,
       c.minmax,
       CASE WHEN c.state <> 'error' THEN flowview._worker_problem() END AS worker_problem,
       coalesce((SELECT v.version FROM flowview.view_version_catalog v
                  WHERE v.view_oid = c.view_oid AND v.current), 1) AS version,
       p.version AS pending_version,
       CASE WHEN p.version IS NULL THEN NULL
            WHEN pc.state = 'live' THEN 'catching up'
            ELSE pc.state END AS pending_state,
       c.retain,
       CASE WHEN c.retain IS NOT NULL THEN flowview._storage_time(c.id, 'h') END AS retain_horizon,
       CASE WHEN c.window_sql IS NOT NULL THEN flowview._storage_time(c.id, 't') END AS window_clock,
       c.allowed_lateness,
       CASE WHEN c.late_sql IS NOT NULL THEN flowview._storage_time(c.id, 'w') END AS watermark
  FROM flowview.view_catalog c
  LEFT JOIN flowview.view_version_catalog p ON p.view_oid = c.view_oid AND p.pending
  LEFT JOIN flowview.view_catalog pc ON pc.id = p.catalog_id
 WHERE NOT EXISTS (SELECT FROM flowview.view_version_catalog x WHERE x.pending AND x.catalog_id = c.id);

-- OpenLineage: a join view's tables are its inputs, each with its own
-- columns in columnLineage; the join conditions are INDIRECT/JOIN
CREATE OR REPLACE FUNCTION flowview.openlineage(view regclass) RETURNS jsonb
LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog := flowview._view(view);
    ns text := flowview._openlineage_namespace();
    producer text := 'urn:pg_flowview:' || (SELECT extversion FROM pg_extension WHERE extname = 'pg_flowview');
    facet_url text := 'https://openlineage.io/spec/facets/';
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
        -- a join view: one input per table
        'inputs', (SELECT jsonb_agg(jsonb_build_object(
            'namespace', ns,
            'name', flowview._openlineage_name(s.t),
            'facets', jsonb_build_object(
                'schema', flowview._openlineage_schema_facet(s.t, producer))) ORDER BY s.n)
            FROM unnest(coalesce(r.join_sources, ARRAY[r.source_oid::regclass])) WITH ORDINALITY s(t, n)),
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
                                       'name', flowview._openlineage_name(format('%I.%I', l.source_schema, l.source_table)::regclass),
                                       'field', l.source_column,
                                       'transformations', jsonb_agg(jsonb_build_object(
                                           'type', CASE WHEN l.direct THEN 'DIRECT' ELSE 'INDIRECT' END,
                                           'subtype', CASE WHEN l.transformation = 'group key' THEN 'IDENTITY'
                                                           WHEN l.transformation LIKE 'expression:%' THEN 'TRANSFORMATION'
                                                           WHEN l.transformation LIKE 'aggregate:%' THEN 'AGGREGATION'
                                                           WHEN l.transformation = 'filter' THEN 'FILTER'
                                                           WHEN l.transformation = 'join' THEN 'JOIN'
                                                           ELSE 'GROUP_BY' END,
                                           'description', l.transformation || ': ' || l.expression,
                                           'masking', false) ORDER BY l.ord)) AS field
                              FROM l
                             WHERE l.source_column IS NOT NULL
                             GROUP BY l."column", l.column_number, l.source_schema, l.source_table, l.source_column
                        )
                        SELECT coalesce(jsonb_object_agg(a.attname, jsonb_build_object(
                                   'inputFields', coalesce((SELECT jsonb_agg(f.field ORDER BY f.ord)
                                                              FROM f WHERE f.column_number = a.attnum), '[]'))), '{}')
                          FROM pg_attribute a
                         WHERE a.attrelid = view AND a.attnum > 0 AND NOT a.attisdropped))))));
END $$;

-- flowview.lineage_graph: one edge per table of a join view, with the
-- columns it reads of that table; a rollup's edge comes from the live view
-- it reads (source_kind 'live view')
CREATE OR REPLACE VIEW flowview.lineage_graph WITH (security_invoker = true) AS
SELECT sn.nspname::text AS source_schema,
       s.relname::text AS source_table,
       vn.nspname::text AS view_schema,
       v.relname::text AS view_name,
       t.source AS source,
       c.view_oid::regclass AS view,
       CASE s.relkind WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'live view' ELSE 'table' END AS source_kind,
       CASE WHEN c.join_sources IS NULL THEN c.used_columns
            ELSE c.join_source_columns[t.n]::text[] END AS source_columns,
       1 AS depth,
       c.state,
       c.created_at
  FROM flowview.view_catalog c
  CROSS JOIN LATERAL unnest(coalesce(c.join_sources, ARRAY[c.source_oid::regclass])) WITH ORDINALITY t(source, n)
  JOIN pg_class v ON v.oid = c.view_oid
  JOIN pg_namespace vn ON vn.oid = v.relnamespace
  JOIN pg_class s ON s.oid = t.source
  JOIN pg_namespace sn ON sn.oid = s.relnamespace;

-- Sources keep REPLICA IDENTITY FULL: the tables of join views too
CREATE OR REPLACE FUNCTION flowview._on_new_partition() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT DISTINCT t.relid::regclass AS part, s.source::regclass AS source
          FROM (SELECT source_oid AS source FROM flowview.view_catalog WHERE join_sources IS NULL
                UNION SELECT unnest(join_sources)::oid FROM flowview.view_catalog) s,
               LATERAL (SELECT relid FROM pg_partition_tree(s.source)
                        UNION SELECT s.source) t
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

-- ==== former OIDs of replaced views ====

-- A change of columns (alter_view, rollback_view) replaces the user-facing
-- view: the apply worker's swap drops it and creates it again under the
-- same name, with a new OID (src/views/versions.c).  A caller may still
-- hold the old one: a regclass argument is resolved when the statement is
-- parsed, and the swap may commit before the function reads the catalog.
-- former_oids lists the OIDs the view had before such swaps, so
-- wait_for_freshness, alter_view and rollback_view follow an old OID to the
-- view (only while no relation has that OID).  Runtime state: a restore
-- binds the view to new OIDs and starts the list afresh.
ALTER TABLE flowview.view_catalog ADD COLUMN former_oids oid[];

-- _catalog_row of 0.3, and a restored row forgets the dumped database's
-- former OIDs (they may name anything, or nothing, here)
CREATE OR REPLACE FUNCTION flowview._catalog_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.view_oid IS DISTINCT FROM OLD.view_oid THEN NEW.view_rel := NEW.view_oid; END IF;
        IF NEW.source_oid IS DISTINCT FROM OLD.source_oid THEN NEW.source_rel := NEW.source_oid; END IF;
        RETURN NEW;
    END IF;
    IF NEW.view_rel IS NULL OR NEW.source_rel IS NULL THEN
        NEW.view_rel := NEW.view_oid;
        NEW.source_rel := NEW.source_oid;
        RETURN NEW;
    END IF;
    IF NEW.view_oid = NEW.view_rel AND NEW.source_oid = NEW.source_rel
       AND EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = NEW.view_oid
                      AND d.refclassid = 'pg_class'::regclass AND d.refobjid = NEW.source_oid) THEN
        RETURN NEW;       -- a copy of a bound row, not a restore
    END IF;
    PERFORM flowview._restore_bind(NEW.id, NEW.view_rel, NEW.source_rel, NEW.used_columns);
    NEW.view_oid := NEW.view_rel;
    NEW.source_oid := NEW.source_rel;
    NEW.former_oids := NULL;
    NEW.state := 'backfilling';
    NEW.error := NULL;
    NEW.applied_lsn := NULL;
    NEW.sla_breached := false;
    NEW.snapshot_xmin := NULL;
    NEW.snapshot_xmax := NULL;
    NEW.snapshot_xip := NULL;
    RETURN NEW;
END $$;

-- ==== end of former OIDs ====

-- ==== min/max re-reads of groups with a NULL key (a repair) ====

-- Views with minmax 'rescan' and two or more group keys, created by 0.2 or
-- later, re-read a group's min/max with "CASE WHEN NOT __fv_s.g1 IS NOT
-- NULL AND __fv_s.g2 IS NOT NULL ... THEN <NULL-matching read>": the NOT
-- bound to g1 alone, so a group whose first key is set and a later one NULL
-- was read with plain equality, which finds no row, and its min/max became
-- NULL once a transaction removed its extreme.  The library now negates the
-- whole condition; the stored statements of existing views are repaired
-- here (the worker drops kept plans whose statements changed), and the views
-- are recomputed as refresh_view does: their storage may hold such NULLs
-- already, and a batch the worker applies before it rereads its catalog
-- still runs the old statements.
UPDATE flowview.view_catalog
   SET apply_sql = ARRAY(SELECT regexp_replace(u.s, 'NOT (__fv_s\.g1 IS NOT NULL(?: AND __fv_s\.g[0-9]+ IS NOT NULL)+)',
                                               'NOT (\1)', 'g')
                           FROM unnest(apply_sql) WITH ORDINALITY u(s, o) ORDER BY u.o),
       state = CASE WHEN state = 'error' THEN state ELSE 'backfilling' END,
       snapshot_xmin = CASE WHEN state = 'error' THEN snapshot_xmin END,
       snapshot_xmax = CASE WHEN state = 'error' THEN snapshot_xmax END,
       snapshot_xip = CASE WHEN state = 'error' THEN snapshot_xip END
 WHERE EXISTS (SELECT FROM unnest(apply_sql) u(s) WHERE u.s ~ 'NOT __fv_s\.g1 IS NOT NULL AND');

-- ==== end of the repair ====

-- ==== rollups: live views over live views (issue 14, part 5) ====

-- A rollup reads another live view U (its source_oid is U's user-facing
-- view); upstream_keys names U's group key columns, by which the worker
-- finds U's changed groups in each batch and hands their rows before and
-- after to the rollup in the same transaction (src/worker/apply.c).  An
-- empty array for a U without GROUP BY; NULL for a view over tables.
ALTER TABLE flowview.view_catalog ADD COLUMN upstream_keys text[];

-- drop_view(view, cascade): a live view read by other live views is dropped
-- only with cascade => true, which drops those live views first (and the
-- ones over them).  Nothing else is cascaded: another object that depends on
-- the view (a plain view over it, which may be another role's) still makes
-- the DROP fail, as DROP VIEW without CASCADE does; this function runs with
-- the extension owner's rights and must not drop what its caller could not.
DROP FUNCTION flowview.drop_view(regclass);
CREATE FUNCTION flowview.drop_view(name regclass, "cascade" boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog := flowview._view(name);
    over text;
    d regclass;
BEGIN
    IF "cascade" IS NULL THEN
        RAISE EXCEPTION 'cascade must be true or false, not NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT string_agg(c.view_oid::regclass::text, ', ' ORDER BY c.id) INTO over
      FROM flowview.view_catalog c WHERE c.source_oid = r.view_oid AND c.upstream_keys IS NOT NULL;
    IF over IS NOT NULL AND NOT "cascade" THEN
        RAISE EXCEPTION 'cannot drop live view % because other live views read it', name
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = format('Live views over it: %s.', over),
                  HINT = 'Drop them first, or use flowview.drop_view(view, cascade => true) to drop them too.';
    END IF;
    FOR d IN SELECT c.view_oid FROM flowview.view_catalog c
              WHERE c.source_oid = r.view_oid AND c.upstream_keys IS NOT NULL ORDER BY c.id LOOP
        PERFORM flowview.drop_view(d, true);
    END LOOP;
    -- the sql_drop event trigger (flowview._on_drop) removes storage and catalog entries
    EXECUTE format('DROP VIEW %s', name);
END $$;
REVOKE ALL ON FUNCTION flowview.drop_view(regclass, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview.drop_view(regclass, boolean) TO flowview_admin;

-- refresh_view of a view read by rollups recomputes them too, after it and
-- in the same transaction, so that the levels never disagree.  It first
-- waits for the worker's apply transaction writing the storage, if any,
-- to end (and the worker then waits for it): a batch whose statements ran
-- half before and half after the recomputation would leave the view
-- inconsistent with the rollups over it until both are populated again.
CREATE OR REPLACE FUNCTION flowview.refresh_view(name regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog := flowview._view(name);
    d regclass;
BEGIN
    -- as the view's owner; DELETE, not TRUNCATE: readers are not blocked
    PERFORM flowview._run_as_view_owner(r.id, r.time_zone,
        array(SELECT 'LOCK TABLE ' || o || ' IN SHARE ROW EXCLUSIVE MODE' FROM unnest(r.storage_tables) o)
        || array(SELECT 'DELETE FROM ' || o FROM unnest(r.storage_tables) o)
        || array(SELECT flowview._with_source(s, r.source_oid)
                   FROM unnest(r.backfill_sql) s));
    -- the apply worker re-populates it at a batch boundary, consistently
    -- with the stream, and then keeps it live
    UPDATE flowview.view_catalog SET state = 'backfilling', error = NULL,
           snapshot_xmin = NULL, snapshot_xmax = NULL, snapshot_xip = NULL
     WHERE id = r.id;
    -- a watermark's late rows are in the view again (see "watermarks" below)
    DELETE FROM flowview.late_row_log WHERE view_id = r.id;
    -- its changefeed's readers resync (see "changefeeds" below): now, not
    -- only once the worker has populated it again
    UPDATE flowview.feed_catalog f SET reset_position = nextval('flowview.feed_positions')
     WHERE f.view_id = r.id AND f.reset_position <> 0;
    FOR d IN SELECT c.view_oid FROM flowview.view_catalog c
              WHERE c.source_oid = r.view_oid AND c.upstream_keys IS NOT NULL ORDER BY c.id LOOP
        PERFORM flowview.refresh_view(d);
    END LOOP;
    PERFORM flowview._start_worker();
END $$;

-- ==== end of rollups ====

-- ==== watermarks and late data (issue 14, part 4) ====

-- create_view(..., allowed_lateness): the view's watermark W (in
-- flowview.fv_store_ID_w) is the latest event time of the rows it has
-- received less allowed_lateness, never moving back; windows ending at or
-- before W are closed: rows (and old row versions) of a closed window are
-- not applied, late_sql (run as the view's owner) hands them to the worker,
-- which records them in flowview.late_row_log in the same transaction.
-- (view_catalog.allowed_lateness and late_sql: added with the sliding
-- windows' columns above, which flowview.views reads)

CREATE TABLE flowview.late_row_log (
    id          bigserial PRIMARY KEY,
    view_id     int NOT NULL REFERENCES flowview.view_catalog (id) ON DELETE CASCADE,
    row_data    jsonb NOT NULL,          -- the source row (the columns the views of its table read)
    sign        int NOT NULL,            -- 1: a row (version) arriving, -1: one leaving (DELETE, UPDATE's old version)
    event_time  timestamptz,
    xid         bigint NOT NULL,         -- its transaction
    watermark   timestamptz NOT NULL,    -- the view's watermark when it arrived
    lsn         pg_lsn NOT NULL,         -- the end of the batch that brought it
    recorded_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON flowview.late_row_log (view_id, id);
REVOKE ALL ON flowview.late_row_log FROM PUBLIC;

-- the dead-letter table as users read it, with the view's name: the rows
-- are source rows, so each view's only for its owner (who could read those
-- columns to create it) and the owner's members; superusers see all.  Read
-- with the extension owner's rights (the log has no grants), filtered.
CREATE VIEW flowview.late_rows WITH (security_barrier = true) AS
SELECT l.id, c.view_oid::regclass AS view, l.row_data, l.sign, l.event_time, l.watermark, l.xid, l.lsn, l.recorded_at
  FROM flowview.late_row_log l
  JOIN flowview.view_catalog c ON c.id = l.view_id
  JOIN pg_catalog.pg_class k ON k.oid = c.view_oid
 WHERE pg_catalog.pg_has_role(current_user, k.relowner, 'USAGE');
REVOKE ALL ON flowview.late_rows FROM PUBLIC;
GRANT SELECT ON flowview.late_rows TO flowview_admin;

-- late rows of a view, for flowview.stats (whose readers may not read the log)
CREATE FUNCTION flowview._late_rows(view_id int) RETURNS bigint
LANGUAGE sql STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*) FROM flowview.late_row_log l WHERE l.view_id = $1
$$;
REVOKE ALL ON FUNCTION flowview._late_rows(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview._late_rows(int) TO flowview_reader;

-- flowview.stats: late_rows added
CREATE OR REPLACE VIEW flowview.stats WITH (security_invoker = true) AS
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
       pg_wal_lsn_diff(pos.lsn, s.confirmed_flush_lsn) AS slot_lag_bytes,
       pg_wal_lsn_diff(pos.lsn, s.restart_lsn) AS wal_retained_bytes,
       s.wal_status AS slot_wal_status,
       rs.spill_txns, rs.spill_count, rs.spill_bytes,
       CASE WHEN c.late_sql IS NOT NULL THEN flowview._late_rows(c.id) ELSE 0 END AS late_rows
  FROM flowview.view_catalog c
  CROSS JOIN (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                          ELSE pg_current_wal_insert_lsn() END AS lsn) pos
  LEFT JOIN flowview._view_stats() st ON st.view_id = c.id
  LEFT JOIN pg_replication_slots s
         ON s.slot_name = 'pg_flowview_' || (SELECT oid FROM pg_database WHERE datname = current_database())
  LEFT JOIN pg_stat_replication_slots rs ON rs.slot_name = s.slot_name;

-- Alerts when a window closes: create_alert(..., on_close => true) on a
-- view with a watermark is evaluated once per group, when the watermark
-- passes the end of its window (the groups from closed_groups_sql, run by
-- the worker after the batch that moved the watermark), with the group's
-- final values; a hit is an event that starts and ends at once (no state:
-- a closed window does not change).  Other rules are evaluated on the
-- groups a batch changes, as before.
ALTER TABLE flowview.alert_catalog ADD COLUMN on_close boolean NOT NULL DEFAULT false;

DROP FUNCTION flowview._add_alert(text, regclass, text, text);
CREATE FUNCTION flowview._add_alert(name text, view regclass, condition text, channel text,
                                    on_close boolean DEFAULT false) RETURNS void
AS 'MODULE_PATHNAME', 'fv_add_alert' LANGUAGE C;
REVOKE ALL ON FUNCTION flowview._add_alert(text, regclass, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview._add_alert(text, regclass, text, text, boolean) TO flowview_admin;

DROP FUNCTION flowview.create_alert(text, regclass, text, text);
CREATE FUNCTION flowview.create_alert(name text, view regclass, condition text,
                                      channel text DEFAULT 'flowview_alert', on_close boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog;
BEGIN
    IF name IS NULL OR view IS NULL OR condition IS NULL OR channel IS NULL OR on_close IS NULL THEN
        RAISE EXCEPTION 'create_alert needs a name, a view, a condition, a channel and on_close'
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
    IF on_close AND r.closed_groups_sql IS NULL THEN
        RAISE EXCEPTION 'live view % has no windows that close', view
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Alerts on closing need a view with a watermark, created with allowed_lateness.';
    END IF;
    IF EXISTS (SELECT FROM flowview.alert_catalog a WHERE a.name = create_alert.name) THEN
        RAISE EXCEPTION 'alert "%" already exists', name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Drop it first with flowview.drop_alert(), or choose another name.';
    END IF;
    PERFORM flowview._add_alert(name, view, condition, channel, on_close);
END $$;
REVOKE ALL ON FUNCTION flowview.create_alert(text, regclass, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview.create_alert(text, regclass, text, text, boolean) TO flowview_admin;

-- _fire_alerts(closing): the rules on closing for the groups whose window
-- just closed, the others for the groups a batch changed
DROP FUNCTION flowview._fire_alerts(regclass, jsonb, boolean);
CREATE FUNCTION flowview._fire_alerts(v regclass, groups jsonb, truncated boolean DEFAULT false,
                                      closing boolean DEFAULT false)
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
    FOR a IN SELECT * FROM flowview.alert_catalog c WHERE c.view_oid = v AND c.on_close = closing ORDER BY c.id LOOP
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

            IF closing THEN
                -- a closed window is final: an event that starts and ends at once
                WITH r AS (
                    SELECT * FROM jsonb_to_recordset(res) AS x(key jsonb, "values" jsonb, hit boolean)
                ), started AS (
                    INSERT INTO flowview.alert_events (alert_id, alert, view, group_key, group_values, fired_at, ended_at)
                    SELECT a.id, a.name, v, r.key, r."values", t.at, t.at
                      FROM r, (SELECT clock_timestamp() AS at) t WHERE r.hit
                    RETURNING *
                )
                SELECT count(pg_notify(a.channel, flowview._alert_payload(st.id, st.alert, st.view,
                                                                          st.group_key, st.group_values,
                                                                          st.fired_at)))
                  INTO fired
                  FROM started st;
            ELSE
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
            END IF;

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
REVOKE EXECUTE ON FUNCTION flowview._fire_alerts(regclass, jsonb, boolean, boolean) FROM PUBLIC;

-- ==== end of watermarks ====

-- ==== session windows (issue 14, part 3) ====

-- flowview.create_session_view (src/views/session.c): per key, rows closer
-- than gap in event time form a session; the view has one row per session
-- (the key, session_start, session_end, the aggregates).  Its defining
-- query (view_catalog.query) is the standard SQL with window functions; the
-- worker applies a batch by recomputing, per key it touches, the sessions
-- within reach of its rows.  session_gap marks such views (NULL otherwise).
ALTER TABLE flowview.view_catalog ADD COLUMN session_gap interval;
CREATE FUNCTION flowview.create_session_view(name text, source regclass, key text[], event_time text,
                                             gap interval, aggregates text DEFAULT 'count(*) AS n',
                                             freshness_sla interval DEFAULT NULL)
RETURNS regclass
AS 'MODULE_PATHNAME', 'fv_create_session_view'
LANGUAGE C;
REVOKE ALL ON FUNCTION flowview.create_session_view(text, regclass, text[], text, interval, text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview.create_session_view(text, regclass, text[], text, interval, text, interval) TO flowview_admin;

-- ==== end of session windows ====

-- ==== changefeeds (issue 15) ====
-- flowview.enable_changefeed(view, keep) gives a live view a log of the
-- changes each batch makes to its rows, flowview.fv_store_ID_f (one row
-- per changed group: position, operation, the row after, the old values of
-- its non-key columns), and a function <view>_changes(after text) beside
-- the view that returns a snapshot with its cursor (after => NULL) or the
-- changes after a cursor, typed as the view's columns.  Positions come
-- from one sequence, taken by the apply worker once per batch, so they
-- grow in commit order; a source transaction's changes share one.  See
-- src/views/feed.c and README "Changefeeds".
CREATE SEQUENCE flowview.feed_positions;
CREATE TABLE flowview.feed_catalog (
    view_id          int PRIMARY KEY REFERENCES flowview.view_catalog (id) ON DELETE CASCADE,
    changes_function regprocedure NOT NULL,
    channel          text NOT NULL,           -- NOTIFY channel; the payload is the new position
    keep             interval NOT NULL CHECK (keep > interval '0'),
    key_columns      text[] NOT NULL,         -- the view's columns naming a group
    feed_position    bigint NOT NULL DEFAULT 0,   -- the last batch that changed the view
    reset_position   bigint NOT NULL DEFAULT 0,   -- cursors before it must resync
    trimmed_position bigint NOT NULL DEFAULT 0    -- changes up to it are gone (keep)
);
SELECT pg_catalog.pg_extension_config_dump('flowview.feed_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('flowview.feed_positions', '');
-- the positions say nothing about any row; every reader's function reads them
GRANT SELECT ON flowview.feed_catalog TO PUBLIC;

-- A view that becomes live again (populated, refreshed, recomputed,
-- restored) starts its feed afresh: earlier cursors resync.  ALWAYS: the
-- worker, which makes that change, runs as a replica.
CREATE FUNCTION flowview._feed_reset() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- (a feed not started yet is started by the worker: src/worker/sources.c)
    UPDATE flowview.feed_catalog f SET reset_position = nextval('flowview.feed_positions')
     WHERE f.view_id = NEW.id AND f.reset_position <> 0;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION flowview._feed_reset() FROM PUBLIC;
CREATE TRIGGER feed_reset AFTER UPDATE OF state ON flowview.view_catalog
    FOR EACH ROW WHEN (NEW.state = 'live' AND OLD.state IS DISTINCT FROM 'live')
    EXECUTE FUNCTION flowview._feed_reset();
ALTER TABLE flowview.view_catalog ENABLE ALWAYS TRIGGER feed_reset;

CREATE FUNCTION flowview.enable_changefeed(view regclass, keep interval DEFAULT '1 hour')
RETURNS regprocedure
AS 'MODULE_PATHNAME', 'fv_enable_changefeed' LANGUAGE C;
CREATE FUNCTION flowview.disable_changefeed(view regclass) RETURNS void
AS 'MODULE_PATHNAME', 'fv_disable_changefeed' LANGUAGE C;
REVOKE ALL ON FUNCTION flowview.enable_changefeed(regclass, interval), flowview.disable_changefeed(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowview.enable_changefeed(regclass, interval), flowview.disable_changefeed(regclass) TO flowview_admin;

-- Where a reader's cursor stands, for <view>_changes (as the reader: the
-- units it may see are part of its cursor under organisation security, so
-- a reader whose units changed is told to resync).  status: 'snapshot'
-- (after IS NULL), 'changes' (read the log after pos) or 'resync'; token:
-- the cursor to hand out (pos, and '.' and the units' digest when the view
-- has organisation security); suffix: that digest part.
CREATE FUNCTION flowview._feed_state(view_id int, after text,
                                     OUT status text, OUT pos bigint, OUT token text, OUT suffix text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f flowview.feed_catalog;
    cur bigint;
    digest text := '';
    a bigint;
BEGIN
    SELECT * INTO f FROM flowview.feed_catalog c WHERE c.view_id = _feed_state.view_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'live view % has no changefeed', view_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT flowview.enable_changefeed(view) starts one.';
    END IF;
    IF EXISTS (SELECT FROM pg_policy p WHERE p.polname = 'flowview_org'
                  AND p.polrelid = to_regclass(format('flowview.fv_store_%s', view_id))) THEN
        digest := '.' || left(md5(coalesce(array_to_string(ARRAY(SELECT u FROM unnest(flowview._visible_units()) u
                                                                     ORDER BY u), E'\x01'), '')
                                  || pg_has_role('flowview_admin', 'USAGE')::text), 8);
    END IF;
    cur := greatest(f.feed_position, f.reset_position);
    suffix := digest;
    IF after IS NULL THEN
        status := 'snapshot';
        pos := cur;
    ELSIF after !~ '^[0-9]{1,18}(\.[0-9a-f]{8})?$' THEN
        RAISE EXCEPTION 'invalid changefeed cursor: %', after
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the cursor column of a row this function returned, or NULL for a snapshot.';
    ELSE
        a := split_part(after, '.', 1)::bigint;
        IF a < f.reset_position OR a < f.trimmed_position OR a > cur
           OR coalesce(substr(after, length(split_part(after, '.', 1)) + 1), '') <> digest THEN
            status := 'resync';
            pos := cur;
        ELSE
            status := 'changes';
            pos := a;
        END IF;
    END IF;
    token := pos::text || digest;
END $$;
GRANT EXECUTE ON FUNCTION flowview._feed_state(int, text) TO PUBLIC;

-- Each live view with a changefeed (rows the current role may see, as
-- flowview.views).
CREATE VIEW flowview.changefeeds WITH (security_invoker = true) AS
SELECT c.view_oid::regclass AS view,
       f.changes_function,
       f.channel,
       f.keep,
       f.key_columns,
       greatest(f.feed_position, f.reset_position) AS feed_position,
       greatest(f.reset_position, f.trimmed_position) AS oldest_cursor
  FROM flowview.feed_catalog f JOIN flowview.view_catalog c ON c.id = f.view_id;
GRANT SELECT ON flowview.changefeeds TO flowview_reader;

-- readers of a view get SELECT on its change log too
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
                                      to_regclass(format('flowview.fv_store_%s', v.id)),
                                      to_regclass(format('flowview.fv_store_%s_f', v.id)))
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

-- ==== end of changefeeds ====

-- ==== the CDC stream: a consumer's initial snapshot (issue 15, part 4) ====
-- The rows of the tables a slot of the pg_flowview plugin streams, with the
-- plugin's options, as op "r" lines in its format, read as the caller under
-- its transaction's snapshot (REPEATABLE READ, imported from the slot's
-- creation): see README "Initial snapshot".  Each table's SELECT privilege
-- is checked, so any role may call it.
CREATE FUNCTION flowview.cdc_snapshot(options text[] DEFAULT '{}') RETURNS SETOF text
AS 'MODULE_PATHNAME', 'fv_cdc_snapshot' LANGUAGE C STRICT;
