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

-- ==== end of privilege model ====


-- ==== bad input, crashes, memory (issue 11, part 2) ====

-- ==== end of bad input ====


-- ==== source changes and view correctness (issue 11, part 3) ====

-- Stored SQL names the source with a token; fv_with_source binds it to the
-- source's OID where it is a relation name only (never inside a string
-- constant of the user's query), and refuses a source that is no longer a
-- table.  refresh_view below is 0.1's with replace() swapped for it.
CREATE FUNCTION flowview._with_source(sql text, source oid) RETURNS text
AS 'MODULE_PATHNAME', 'fv_with_source_sql' LANGUAGE C STABLE;
REVOKE ALL ON FUNCTION flowview._with_source(text, oid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION flowview.refresh_view(name regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r flowview.view_catalog := flowview._view(name);
    o text;
BEGIN
    FOREACH o IN ARRAY r.storage_tables LOOP      -- DELETE: readers are not blocked
        EXECUTE 'DELETE FROM ' || o;
    END LOOP;
    PERFORM flowview._run(r, array(SELECT flowview._with_source(s, r.source_oid)
                                     FROM unnest(r.backfill_sql) s));
    -- the apply worker re-populates it at a batch boundary, consistently
    -- with the stream, and then keeps it live
    UPDATE flowview.view_catalog SET state = 'backfilling', error = NULL,
           snapshot_xmin = NULL, snapshot_xmax = NULL, snapshot_xip = NULL
     WHERE id = r.id;
    PERFORM flowview._start_worker();
END $$;

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
