-- What the storage holds: after deletes and updates that empty groups, a
-- view's storage table (flowview.storage_table) holds exactly the groups of
-- its query's source rows, none with zero rows (the user-facing view hides
-- such rows, so only the storage shows them); multiset tables hold no value
-- with count 0.  Both minmax modes, a HAVING view (its storage keeps every
-- group, the view shows those passing HAVING), NULL group keys.
CREATE TABLE zs (id int PRIMARY KEY, g text, h int, v int);
INSERT INTO zs SELECT i, 'g' || (i % 10), i % 3, i FROM generate_series(1, 300) i;
INSERT INTO zs VALUES (1001, NULL, NULL, 1), (1002, NULL, 1, 2);
SELECT flowview.create_view('zv_rescan', $$SELECT g, h, count(*) AS n, sum(v) AS s, min(v) AS mn, max(v) AS mx FROM zs GROUP BY g, h$$);
SELECT flowview.create_view('zv_multi', $$SELECT g, h, count(*) AS n, min(v) AS mn, max(v) AS mx FROM zs GROUP BY g, h$$, minmax => 'multiset');
SELECT flowview.create_view('zv_having', $$SELECT g, sum(v) AS s FROM zs GROUP BY g HAVING count(*) > 20$$);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;

-- storage_groups(view, keys): a report of the storage against the source:
-- groups in the storage but not among the source's (zombies), the other way
-- round (missing), rows with __rows <> the source's count, and multiset
-- values with a count of 0; the number of groups when all is well.
CREATE FUNCTION storage_report(v regclass, keys text) RETURNS TABLE (problem text, n bigint)
LANGUAGE plpgsql AS $$
DECLARE st regclass := flowview.storage_table(v); gk text; t text;
BEGIN
  SELECT string_agg('g' || o, ', ' ORDER BY o) INTO gk
    FROM generate_series(1, array_length(string_to_array(keys, ','), 1)) o;
  RETURN QUERY EXECUTE format('SELECT ''storage groups'', count(*) FROM %s', st);
  RETURN QUERY EXECUTE format('SELECT ''source groups'', count(*) FROM (SELECT DISTINCT %s FROM zs) x', keys);
  RETURN QUERY EXECUTE format('SELECT ''empty groups in storage'', count(*) FROM %s WHERE __rows = 0', st);
  RETURN QUERY EXECUTE format('SELECT ''zombie or wrong count'', count(*) FROM (SELECT %s, __rows FROM %s EXCEPT ALL SELECT %s, count(*) FROM zs GROUP BY %s) x',
                              gk, st, keys, keys);
  RETURN QUERY EXECUTE format('SELECT ''missing or wrong count'', count(*) FROM (SELECT %s, count(*) FROM zs GROUP BY %s EXCEPT ALL SELECT %s, __rows FROM %s) x',
                              keys, keys, gk, st);
  FOR t IN SELECT unnest(storage_tables) FROM flowview.view_catalog WHERE view_oid = v
           AND array_length(storage_tables, 1) > 1 LOOP
    CONTINUE WHEN t::regclass = st;
    RETURN QUERY EXECUTE format('SELECT ''multiset values with count 0'', count(*) FROM %s WHERE n = 0', t);
  END LOOP;
END $$;
CREATE FUNCTION storage_reports() RETURNS TABLE (view text, problem text, n bigint) LANGUAGE sql AS $$
  SELECT 'zv_rescan', r.* FROM storage_report('zv_rescan', 'g, h') r
  UNION ALL SELECT 'zv_multi', r.* FROM storage_report('zv_multi', 'g, h') r
  UNION ALL SELECT 'zv_having', r.* FROM storage_report('zv_having', 'g') r
$$;
SELECT * FROM storage_reports();

-- delete whole groups, one transaction each and several in one
DELETE FROM zs WHERE g = 'g1';
DELETE FROM zs WHERE g = 'g2' AND h = 0;
BEGIN;
DELETE FROM zs WHERE g = 'g3';
DELETE FROM zs WHERE g = 'g4' AND h = 2;
COMMIT;
-- NULL keys emptied
DELETE FROM zs WHERE id IN (1001, 1002);
-- updates that move every row out of a group
UPDATE zs SET g = 'g6' WHERE g = 'g5';
UPDATE zs SET h = 0 WHERE g = 'g7' AND h = 1;
-- a group born and emptied in one transaction, and one across two
BEGIN;
INSERT INTO zs VALUES (2001, 'transient', 1, 5), (2002, 'transient', 1, 6);
DELETE FROM zs WHERE g = 'transient';
COMMIT;
INSERT INTO zs VALUES (2003, 'brief', 2, 7);
DELETE FROM zs WHERE id = 2003;
-- a HAVING group that drops below its threshold but keeps rows
DELETE FROM zs WHERE g = 'g8' AND id % 3 <> 0;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT * FROM storage_reports();
SELECT count(*) AS having_groups_shown FROM zv_having;

-- empty the table row by row: the storage of grouped views ends empty
DELETE FROM zs;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT * FROM storage_reports();
SELECT view, state FROM flowview.views WHERE view::text LIKE 'zv\_%' ORDER BY 1;
SELECT flowview.drop_view(v) FROM unnest(ARRAY['zv_rescan', 'zv_multi', 'zv_having']) v;
DROP TABLE zs;
