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
