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
