-- Data shapes: collations of min/max and of expressions over the batch rows,
-- nondeterministic collations (refused), long group keys and long min/max
-- values.  Each view is compared with its query (EXCEPT ALL both ways) after
-- wait_for_freshness; a comparison of two empty sets counts as a failure.
SET client_min_messages = warning;

-- rows in the view but not in the query plus the other way round, or -1 when
-- both are empty (an oracle that compares nothing proves nothing)
CREATE FUNCTION shapes_diff(v regclass, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  a bigint; b bigint; n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM (SELECT * FROM %s EXCEPT ALL %s) d', v, q) INTO a;
  EXECUTE format('SELECT count(*) FROM (%s EXCEPT ALL SELECT * FROM %s) d', q, v) INTO b;
  EXECUTE format('SELECT count(*) FROM (%s) d', q) INTO n;
  RETURN CASE WHEN n = 0 THEN -1 ELSE a + b END;
END $$;

-- 1. min/max and expressions compare in the query's collation, not the
-- database's default.  Several values reach a group in one batch (one INSERT
-- of four rows), so the batch's own min/max decides; then the extremes are
-- deleted (re-read, multiset).  "en-US-x-icu" orders a < B < d < E, the
-- database's default (C.UTF-8) B < E < a < d.
CREATE TABLE coll_src (id int, g int, t_icu text COLLATE "en-US-x-icu", t_c text COLLATE "C",
                       t_posix text COLLATE "POSIX", t text);
CREATE FUNCTION coll_query(which text) RETURNS text LANGUAGE sql AS $$
  SELECT CASE which
    WHEN 'icu' THEN 'SELECT g, min(t_icu) AS mn, max(t_icu) AS mx, count(*) AS n FROM coll_src GROUP BY g'
    WHEN 'libc' THEN 'SELECT g, min(t_c) AS mn_c, max(t_c) AS mx_c, min(t_posix) AS mn_p, max(t_posix) AS mx_p FROM coll_src GROUP BY g'
    WHEN 'explicit' THEN 'SELECT g, min(t COLLATE "en-US-x-icu") AS mn, max(t COLLATE "en-US-x-icu") AS mx FROM coll_src GROUP BY g'
    WHEN 'where' THEN 'SELECT g, count(*) AS n, max(t_icu) AS mx FROM coll_src WHERE t_icu < ''b'' GROUP BY g'
    WHEN 'upper' THEN 'SELECT upper(t_icu) AS u, count(*) AS n FROM coll_src GROUP BY 1'
  END $$;
SELECT flowview.create_view('coll_icu_rescan', coll_query('icu')) IS NOT NULL AS created;
SELECT flowview.create_view('coll_icu_multiset', coll_query('icu'), minmax => 'multiset') IS NOT NULL AS created;
SELECT flowview.create_view('coll_libc_rescan', coll_query('libc')) IS NOT NULL AS created;
SELECT flowview.create_view('coll_libc_multiset', coll_query('libc'), minmax => 'multiset') IS NOT NULL AS created;
SELECT flowview.create_view('coll_explicit_rescan', coll_query('explicit')) IS NOT NULL AS created;
SELECT flowview.create_view('coll_explicit_multiset', coll_query('explicit'), minmax => 'multiset') IS NOT NULL AS created;
SELECT flowview.create_view('coll_where', coll_query('where')) IS NOT NULL AS created;
SELECT flowview.create_view('coll_upper', coll_query('upper')) IS NOT NULL AS created;
SELECT flowview.wait_for_freshness(v, '60 s') AS fresh
  FROM unnest('{coll_icu_rescan,coll_icu_multiset,coll_libc_rescan,coll_libc_multiset,coll_explicit_rescan,coll_explicit_multiset,coll_where,coll_upper}'::regclass[]) v;
INSERT INTO coll_src SELECT i, 1, x, x, x, x FROM unnest('{B,a,d,E}'::text[]) WITH ORDINALITY u(x, i);
INSERT INTO coll_src SELECT 10 + i, 2, x, x, x, x FROM unnest('{Zebra,apple,Äpfel,zoo,straße}'::text[]) WITH ORDINALITY u(x, i);
SELECT flowview.wait_for_freshness(v, '60 s') AS fresh
  FROM unnest('{coll_icu_rescan,coll_icu_multiset,coll_libc_rescan,coll_libc_multiset,coll_explicit_rescan,coll_explicit_multiset,coll_where,coll_upper}'::regclass[]) v;
SELECT * FROM coll_icu_rescan ORDER BY g;
SELECT * FROM coll_libc_rescan ORDER BY g;
SELECT * FROM coll_upper ORDER BY u COLLATE "C";
SELECT v AS view, shapes_diff(v::regclass, coll_query(q)) AS differences
  FROM (VALUES ('coll_icu_rescan', 'icu'), ('coll_icu_multiset', 'icu'), ('coll_libc_rescan', 'libc'),
               ('coll_libc_multiset', 'libc'), ('coll_explicit_rescan', 'explicit'),
               ('coll_explicit_multiset', 'explicit'), ('coll_where', 'where'), ('coll_upper', 'upper')) x(v, q);
-- the extremes go (re-reads, multisets), new ones come in the same batch
BEGIN;
DELETE FROM coll_src WHERE t IN ('a', 'E', 'apple', 'zoo');
INSERT INTO coll_src VALUES (20, 1, 'c', 'c', 'c', 'c'), (21, 1, 'D', 'D', 'D', 'D'), (22, 2, 'Apple', 'Apple', 'Apple', 'Apple');
COMMIT;
UPDATE coll_src SET t_icu = 'b', t_c = 'b', t_posix = 'b', t = 'b' WHERE t = 'B';
SELECT flowview.wait_for_freshness(v, '60 s') AS fresh
  FROM unnest('{coll_icu_rescan,coll_icu_multiset,coll_libc_rescan,coll_libc_multiset,coll_explicit_rescan,coll_explicit_multiset,coll_where,coll_upper}'::regclass[]) v;
SELECT * FROM coll_icu_multiset ORDER BY g;
SELECT v AS view, shapes_diff(v::regclass, coll_query(q)) AS differences
  FROM (VALUES ('coll_icu_rescan', 'icu'), ('coll_icu_multiset', 'icu'), ('coll_libc_rescan', 'libc'),
               ('coll_libc_multiset', 'libc'), ('coll_explicit_rescan', 'explicit'),
               ('coll_explicit_multiset', 'explicit'), ('coll_where', 'where'), ('coll_upper', 'upper')) x(v, q);
SELECT view, state FROM flowview.views WHERE view::text LIKE 'coll%' ORDER BY view::text;

-- 2. nondeterministic collations: refused where equal-but-different values
-- would have to be one group or one extreme; fine in WHERE
CREATE COLLATION shapes_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE ci_src (region text COLLATE shapes_ci, name text COLLATE shapes_ci, qty int);
\set VERBOSITY default
SELECT flowview.create_view('ci_v', 'SELECT region, count(*) FROM ci_src GROUP BY region');
SELECT flowview.create_view('ci_v', 'SELECT lower(region) AS r, count(*) FROM ci_src GROUP BY 1');
SELECT flowview.create_view('ci_v', 'SELECT qty, max(name) FROM ci_src GROUP BY qty', minmax => 'multiset');
SELECT flowview.create_view('ci_v', 'SELECT count(*) FROM ci_src HAVING min(name) > ''a''');
SELECT flowview.create_view('ci_v', 'SELECT qty, count(DISTINCT name) FROM ci_src GROUP BY qty');
\set VERBOSITY terse
-- a deterministic collation on the expression is fine, and so is a
-- nondeterministic comparison in WHERE (its result does not depend on which
-- of the equal values is shown)
SELECT flowview.create_view('ci_ok', $$SELECT region COLLATE "C" AS region, count(*) AS n, max(name COLLATE "C") AS mx
                                      FROM ci_src WHERE region <> 'SOUTH' GROUP BY 1$$) IS NOT NULL AS created;
INSERT INTO ci_src VALUES ('North', 'x', 1), ('NORTH', 'Y', 2), ('north', 'z', 3), ('south', 'a', 4), ('East', 'b', 5);
SELECT flowview.wait_for_freshness('ci_ok', '60 s') AS fresh;
SELECT * FROM ci_ok ORDER BY 1;
SELECT shapes_diff('ci_ok', $$SELECT region COLLATE "C" AS region, count(*) AS n, max(name COLLATE "C") AS mx
                             FROM ci_src WHERE region <> 'SOUTH' GROUP BY 1$$) AS differences;

-- 3. long values: group keys and multiset values longer than a btree index
-- entry can hold (about 2.7 kB, after compression: md5 digits do not
-- compress) are indexed by their hash, and equal hashes of different keys
-- stay apart: arrays hash their elements only, so '{1,2,3,4}',
-- '{{1,2},{3,4}}' and '[0:3]={1,2,3,4}' are three groups with one hash.
CREATE FUNCTION shapes_long(i int, n int DEFAULT 100) RETURNS text LANGUAGE sql IMMUTABLE AS
  $$SELECT string_agg(md5(i::text || '-' || j), '') FROM generate_series(1, n) j$$;
CREATE TABLE long_src (id int, g text, h int, v int, t text, a int[]);
INSERT INTO long_src SELECT i, shapes_long(i % 3), i % 2, i, shapes_long(100 + i), ARRAY[i % 2, 1] FROM generate_series(1, 12) i;
INSERT INTO long_src VALUES (50, NULL, 1, 50, 'short', NULL), (51, NULL, NULL, 51, shapes_long(51, 200), '{}');
CREATE FUNCTION long_query(which text) RETURNS text LANGUAGE sql AS $$
  SELECT CASE which
    WHEN 'keys' THEN 'SELECT g, h, count(*) AS n, sum(v) AS s, min(v) AS lo, max(t) AS hi FROM long_src GROUP BY g, h'
    WHEN 'values' THEN 'SELECT h, min(t) AS lo, max(t) AS hi, count(t) AS n FROM long_src GROUP BY h'
    WHEN 'global' THEN 'SELECT min(t) AS lo, max(t) AS hi, count(*) AS n FROM long_src'
    WHEN 'arrays' THEN 'SELECT a, count(*) AS n, min(v) AS lo, max(a) AS hi FROM long_src GROUP BY a'
    WHEN 'timestamptz' THEN 'SELECT g, to_timestamp(v % 3) AS ts, count(*) AS n, max(v) AS hi FROM long_src GROUP BY 1, 2'
    WHEN 'array_values' THEN 'SELECT h, min(a) AS lo, max(a) AS hi, count(a) AS n FROM long_src GROUP BY h'
  END $$;
SELECT flowview.create_view('long_keys_rescan', long_query('keys')) IS NOT NULL AS created;
SELECT flowview.create_view('long_keys_multiset', long_query('keys'), minmax => 'multiset') IS NOT NULL AS created;
SELECT flowview.create_view('long_values_multiset', long_query('values'), minmax => 'multiset') IS NOT NULL AS created;
SELECT flowview.create_view('long_global_multiset', long_query('global'), minmax => 'multiset') IS NOT NULL AS created;
SELECT flowview.create_view('long_arrays_rescan', long_query('arrays')) IS NOT NULL AS created;
SELECT flowview.create_view('long_arrays_multiset', long_query('arrays'), minmax => 'multiset') IS NOT NULL AS created;
SELECT flowview.create_view('long_array_values_multiset', long_query('array_values'), minmax => 'multiset') IS NOT NULL AS created;
-- timestamptz is hashed by timestamp's function: through the record hash
SELECT flowview.create_view('long_timestamptz', long_query('timestamptz')) IS NOT NULL AS created;
-- short keys keep a unique index on the keys; long ones get a hash index
SELECT c.view_oid::regclass::text AS view, regexp_replace(t.name, '^flowview\.fv_store_\d+', 'storage') AS storage_table,
       i.indisunique AS unique_index, pg_get_indexdef(i.indexrelid) LIKE '%extended(%' AS by_hash
  FROM flowview.view_catalog c, unnest(c.storage_tables) t(name)
  JOIN pg_index i ON i.indrelid = t.name::regclass AND i.indpred IS NULL
 WHERE c.view_oid::regclass::text LIKE 'long%' OR c.view_oid = 'coll_icu_multiset'::regclass
 ORDER BY 1, 2, 3, 4;
CREATE FUNCTION long_check() RETURNS TABLE (view text, fresh bool, not_error bool, differences bigint) LANGUAGE sql AS $$
  SELECT v, flowview.wait_for_freshness(v::regclass, '60 s'),
         (SELECT s.state <> 'error' FROM flowview.views s WHERE s.view = v::regclass),
         shapes_diff(v::regclass, long_query(q))
    FROM (VALUES ('long_keys_rescan', 'keys'), ('long_keys_multiset', 'keys'), ('long_values_multiset', 'values'),
                 ('long_global_multiset', 'global'), ('long_arrays_rescan', 'arrays'),
                 ('long_arrays_multiset', 'arrays'), ('long_array_values_multiset', 'array_values'),
                 ('long_timestamptz', 'timestamptz')) x(v, q) $$;
SELECT * FROM long_check();
-- one batch: new long groups, colliding arrays, long values in and out
BEGIN;
INSERT INTO long_src SELECT 100 + i, shapes_long(i % 5), i % 3, i, shapes_long(200 + i, 150), ARRAY[1,2,3,4] FROM generate_series(1, 10) i;
INSERT INTO long_src VALUES (120, shapes_long(7), 0, 120, shapes_long(300), '{{1,2},{3,4}}'),
                            (121, shapes_long(7), 0, 121, shapes_long(301), '[0:3]={1,2,3,4}'),
                            (122, NULL, 0, 122, shapes_long(302), '[0:3]={1,2,3,4}');
DELETE FROM long_src WHERE id IN (1, 2);
COMMIT;
SELECT * FROM long_check();
-- groups emptied, extremes removed, rows moving between long groups and
-- between colliding arrays
UPDATE long_src SET g = shapes_long(4), a = '{{1,2},{3,4}}' WHERE id IN (101, 102, 103);
UPDATE long_src SET t = shapes_long(999, 120) WHERE id % 4 = 0;
DELETE FROM long_src WHERE g = shapes_long(0) OR t = (SELECT max(t) FROM long_src);
DELETE FROM long_src WHERE a = '[0:3]={1,2,3,4}';
SELECT * FROM long_check();
DELETE FROM long_src WHERE a = '{1,2,3,4}' AND h = 0;
UPDATE long_src SET a = '[0:3]={1,2,3,4}' WHERE id = 120;
SELECT * FROM long_check();
SELECT h, lo, hi, n FROM long_array_values_multiset ORDER BY h;
SELECT a, n FROM long_arrays_multiset WHERE a::text LIKE '%1,2%' ORDER BY a::text;
SELECT count(*) AS groups, min(length(g)) AS shortest_key FROM long_keys_rescan WHERE g IS NOT NULL;
-- refresh_view recomputes with long keys too
SELECT flowview.refresh_view('long_keys_multiset');
SELECT * FROM long_check();
