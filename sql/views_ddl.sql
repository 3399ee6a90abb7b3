-- DDL on sources and writes to views: refused with errors naming the view;
-- ADD COLUMN and unrelated changes keep views working; CASCADE cleans up.
CREATE TABLE inv (id int PRIMARY KEY, sku text, qty int, note text, spare int);
INSERT INTO inv SELECT i, 'sku' || (i % 4), i, 'n', 0 FROM generate_series(1, 40) i;
SELECT flowview.create_view('inv_by_sku', $$SELECT sku, sum(qty) AS qty, count(*) AS n FROM inv GROUP BY sku$$) IS NOT NULL AS created;
SELECT flowview.wait_for_freshness('inv_by_sku', '60 s') AS fresh;

-- nobody writes to a live view
INSERT INTO inv_by_sku VALUES ('x', 1, 1);
UPDATE inv_by_sku SET qty = 0;
DELETE FROM inv_by_sku;

-- the source and the columns the view reads cannot be dropped or retyped
DROP TABLE inv;
ALTER TABLE inv DROP COLUMN qty;
ALTER TABLE inv ALTER COLUMN qty TYPE bigint;
ALTER TABLE inv RENAME COLUMN sku TO item;
ALTER TABLE inv RENAME TO inventory;

-- other DDL keeps the view working
-- (inv_range's min/max re-reads name the source: its plans were made
-- before the rename, by a batch with removed rows)
SELECT flowview.create_view('inv_range', $$SELECT sku, min(qty) AS low, max(qty) AS high FROM inventory GROUP BY sku$$) IS NOT NULL AS created;
SELECT flowview.wait_for_freshness('inv_range', '60 s') AS fresh;
ALTER TABLE inventory RENAME TO inv_old;
DELETE FROM inv_old WHERE id = 40;
SELECT flowview.wait_for_freshness('inv_range', '60 s') AS fresh;
ALTER TABLE inv_old RENAME TO inventory;
ALTER TABLE inventory ADD COLUMN added int DEFAULT 7;
ALTER TABLE inventory DROP COLUMN note;
ALTER TABLE inventory ALTER COLUMN spare TYPE bigint;
ALTER TABLE inventory RENAME COLUMN spare TO spare2;
INSERT INTO inventory (id, sku, qty) VALUES (100, 'sku1', 1000), (101, 'new', 1);
UPDATE inventory SET sku = 'sku2' WHERE id = 1;
DELETE FROM inventory WHERE id = 2;
SELECT flowview.wait_for_freshness('inv_by_sku', '60 s') AS fresh;
SELECT (SELECT count(*) FROM (SELECT * FROM inv_by_sku EXCEPT ALL SELECT sku, sum(qty), count(*) FROM inventory GROUP BY sku) a)
     + (SELECT count(*) FROM (SELECT sku, sum(qty), count(*) FROM inventory GROUP BY sku EXCEPT ALL SELECT * FROM inv_by_sku) b) AS differences;
SELECT * FROM inv_by_sku ORDER BY sku;
SELECT (SELECT count(*) FROM (SELECT * FROM inv_range EXCEPT ALL SELECT sku, min(qty), max(qty) FROM inventory GROUP BY sku) a)
     + (SELECT count(*) FROM (SELECT sku, min(qty), max(qty) FROM inventory GROUP BY sku EXCEPT ALL SELECT * FROM inv_range) b) AS differences;
SELECT view, state, error FROM flowview.views WHERE view::text IN ('inv_by_sku', 'inv_range') ORDER BY 1;
-- refresh after the rename recomputes from the renamed table
SELECT flowview.refresh_view('inv_by_sku');
SELECT flowview.wait_for_freshness('inv_by_sku', '60 s') AS fresh;
SELECT count(*) AS groups FROM inv_by_sku;

-- CASCADE drops the view, its storage and its catalog entry
DROP TABLE inventory CASCADE;
SELECT count(*) AS catalog_rows FROM flowview.view_catalog WHERE view_oid = 0 OR NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = view_oid);
SELECT count(*) AS views_left FROM flowview.views WHERE view::text = 'inv_by_sku';
