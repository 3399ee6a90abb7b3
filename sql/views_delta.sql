-- The incremental algebra: flowview._apply_delta applies a delta table
-- (old row versions with __sign -1, new ones with +1) exactly as the apply
-- worker does.  Here a trigger fills the delta table, so every statement of a
-- seeded random workload (inserts, updates moving rows between groups, NULL
-- group keys, deletes of the current min/max, rollbacks) is applied
-- incrementally; after each round every view must equal its query.
SET timezone = 'UTC';
CREATE TABLE events (id int PRIMARY KEY, grp text, bucket timestamptz, v int, amt numeric, flag bool);
CREATE TEMP TABLE fv_delta_src (LIKE events);
ALTER TABLE fv_delta_src ADD COLUMN __sign int;
DO $$ BEGIN EXECUTE format('ALTER TABLE fv_delta_src RENAME TO %I', 'fv_delta_' || 'events'::regclass::oid); END $$;

CREATE FUNCTION capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    EXECUTE format('INSERT INTO pg_temp.%I SELECT ($1).*, -1', 'fv_delta_' || TG_RELID) USING OLD;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    EXECUTE format('INSERT INTO pg_temp.%I SELECT ($1).*, 1', 'fv_delta_' || TG_RELID) USING NEW;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON events FOR EACH ROW EXECUTE FUNCTION capture();

INSERT INTO events SELECT g, (ARRAY['a', 'b', 'c', NULL])[g % 4 + 1], '2024-01-01'::timestamptz + (g % 5) * interval '1 hour',
                          CASE WHEN g % 7 = 0 THEN NULL ELSE g % 11 END, g * 0.5, g % 2 = 0
FROM generate_series(1, 60) g;

CREATE TABLE defs (name text PRIMARY KEY, q text);
INSERT INTO defs VALUES
 ('d_full',   $$SELECT grp, date_trunc('hour', bucket) AS hour, count(*) AS n, count(v) AS nv, sum(v) AS sv, sum(amt) AS sa, avg(v) AS av, min(v) AS mn, max(amt) AS mx FROM events GROUP BY 1, 2$$),
 ('d_filter', $$SELECT grp, count(*) FILTER (WHERE flag) AS nf, sum(v) FILTER (WHERE v > 5) AS big, min(v) FILTER (WHERE flag) AS mnf FROM events WHERE v IS DISTINCT FROM 3 GROUP BY grp$$),
 ('d_having', $$SELECT v, count(*) AS n FROM events GROUP BY v HAVING count(*) > 3 AND max(amt) > 10$$),
 ('d_global', $$SELECT count(*) AS n, sum(v) AS s, min(amt) AS mn, max(v) AS mx, avg(amt) AS av FROM events WHERE flag$$);
SELECT name, flowview.create_view(name, q) IS NOT NULL AS created FROM defs ORDER BY name;
-- (create_view populated the views from the table; the trigger's rows so far are already counted)

DO $$ BEGIN EXECUTE format('TRUNCATE pg_temp.%I', 'fv_delta_' || 'events'::regclass::oid); END $$;

CREATE FUNCTION apply_all() RETURNS void LANGUAGE plpgsql AS $$
DECLARE d record;
BEGIN
  FOR d IN SELECT name FROM defs ORDER BY name LOOP
    PERFORM flowview._apply_delta(d.name::regclass);
  END LOOP;
  EXECUTE format('TRUNCATE pg_temp.%I', 'fv_delta_' || 'events'::regclass::oid);
END $$;

-- rows in the view but not in its query, and the other way round
CREATE FUNCTION differences() RETURNS TABLE (view text, side text, row_text text) LANGUAGE plpgsql AS $$
DECLARE d record;
BEGIN
  FOR d IN SELECT name, q FROM defs ORDER BY name LOOP
    RETURN QUERY EXECUTE format('SELECT %L, ''view only'', x::text FROM (SELECT * FROM %I EXCEPT ALL %s) x', d.name, d.name, d.q);
    RETURN QUERY EXECUTE format('SELECT %L, ''query only'', x::text FROM (%s EXCEPT ALL SELECT * FROM %I) x', d.name, d.q, d.name);
  END LOOP;
END $$;
SELECT * FROM differences();

-- one round of random statements, applied incrementally after each statement batch
CREATE FUNCTION random_round(n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE i int; k int; r float8;
BEGIN
  FOR i IN 1 .. n LOOP
    r := random();
    k := 1 + floor(random() * 80)::int;
    BEGIN
      IF r < 0.3 THEN
        INSERT INTO events VALUES (k, (ARRAY['a', 'b', 'c', NULL])[1 + floor(random() * 4)::int],
                                   '2024-01-01'::timestamptz + floor(random() * 5) * interval '1 hour',
                                   CASE WHEN random() < 0.15 THEN NULL ELSE floor(random() * 12)::int END,
                                   round((random() * 40)::numeric, 2), random() < 0.5)
        ON CONFLICT (id) DO NOTHING;
      ELSIF r < 0.55 THEN       -- move rows between groups, NULL keys included
        UPDATE events SET grp = (ARRAY['a', 'b', 'c', NULL])[1 + floor(random() * 4)::int], flag = NOT flag WHERE id = k;
      ELSIF r < 0.7 THEN        -- change aggregated values, to and from NULL
        UPDATE events SET v = CASE WHEN random() < 0.2 THEN NULL ELSE floor(random() * 12)::int END, amt = amt + 1 WHERE id % 9 = k % 9;
      ELSIF r < 0.8 THEN        -- delete the current extreme of a group
        DELETE FROM events WHERE id = (SELECT id FROM events ORDER BY v DESC NULLS LAST, amt DESC LIMIT 1);
      ELSIF r < 0.9 THEN
        DELETE FROM events WHERE id = k;
      ELSE                      -- a subtransaction that rolls back changes nothing
        BEGIN
          DELETE FROM events WHERE id % 3 = 0;
          RAISE EXCEPTION 'roll back';
        EXCEPTION WHEN raise_exception THEN NULL;
        END;
      END IF;
    END;
    IF random() < 0.3 THEN
      PERFORM apply_all();
    END IF;
  END LOOP;
  PERFORM apply_all();
END $$;

SELECT setseed(0.42);
SELECT random_round(300);
SELECT * FROM differences();
SELECT random_round(300);
SELECT * FROM differences();
-- empty the table row by row: groups disappear, the global row stays
DELETE FROM events;
SELECT apply_all();
SELECT * FROM differences();
SELECT * FROM d_global;
SELECT count(*) AS groups_left FROM d_full;
