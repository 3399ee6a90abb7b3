-- Sources: a partitioned table (changes arrive per partition and count for
-- the parent, also rows moving between partitions); two-phase commit (applied
-- at COMMIT PREPARED, never at PREPARE or ROLLBACK PREPARED).
CREATE TABLE readings (id int, site text, day date, val numeric, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE readings_jan PARTITION OF readings FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE readings_feb PARTITION OF readings FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
INSERT INTO readings SELECT g, 's' || (g % 3), DATE '2024-01-01' + (g % 50), g FROM generate_series(1, 60) g;
SELECT flowview.create_view('site_stats', $$SELECT site, count(*) AS n, sum(val) AS total, max(day) AS last_day FROM readings GROUP BY site$$) IS NOT NULL AS created;
SELECT relname, relreplident FROM pg_class WHERE relname LIKE 'readings%' AND relkind IN ('r', 'p') ORDER BY 1;
INSERT INTO readings VALUES (100, 's1', '2024-02-10', 5), (101, 's9', '2024-01-10', 1);
UPDATE readings SET day = '2024-02-20' WHERE id = 1;     -- moves to another partition
DELETE FROM readings WHERE id = 2;
SELECT flowview.wait_for_freshness('site_stats', '60 s') AS fresh;
SELECT (SELECT count(*) FROM (SELECT * FROM site_stats EXCEPT ALL SELECT site, count(*), sum(val), max(day) FROM readings GROUP BY site) a)
     + (SELECT count(*) FROM (SELECT site, count(*), sum(val), max(day) FROM readings GROUP BY site EXCEPT ALL SELECT * FROM site_stats) b) AS differences;
SELECT * FROM site_stats ORDER BY site;

-- partitions created or attached later get REPLICA IDENTITY FULL too
CREATE TABLE readings_mar PARTITION OF readings FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
CREATE TABLE readings_apr (id int, site text, day date, val numeric, PRIMARY KEY (id, day));
ALTER TABLE readings ATTACH PARTITION readings_apr FOR VALUES FROM ('2024-04-01') TO ('2024-05-01');
ALTER TABLE readings_jan REPLICA IDENTITY DEFAULT;   -- set back at once
SELECT relname, relreplident FROM pg_class WHERE relname LIKE 'readings%' AND relkind IN ('r', 'p') ORDER BY 1;
INSERT INTO readings VALUES (300, 's1', '2024-03-03', 30), (301, 's2', '2024-04-04', 40), (302, 's2', '2024-04-05', 50);
UPDATE readings SET val = val + 1, site = 's0' WHERE id IN (300, 301);
UPDATE readings SET day = '2024-03-30' WHERE id = 302;   -- from April to March
DELETE FROM readings WHERE id = 300;
SELECT flowview.wait_for_freshness('site_stats', '60 s') AS fresh;
SELECT (SELECT count(*) FROM (SELECT * FROM site_stats EXCEPT ALL SELECT site, count(*), sum(val), max(day) FROM readings GROUP BY site) a)
     + (SELECT count(*) FROM (SELECT site, count(*), sum(val), max(day) FROM readings GROUP BY site EXCEPT ALL SELECT * FROM site_stats) b) AS differences;
SELECT state FROM flowview.views WHERE view = 'site_stats'::regclass;

-- two-phase commit
BEGIN;
INSERT INTO readings VALUES (200, 's2pc', '2024-01-05', 7);
PREPARE TRANSACTION 'fv_views_2pc';
SELECT flowview.wait_for_freshness('site_stats', '60 s') AS fresh;
SELECT count(*) AS s2pc_rows_before_commit FROM site_stats WHERE site = 's2pc';
COMMIT PREPARED 'fv_views_2pc';
SELECT flowview.wait_for_freshness('site_stats', '60 s') AS fresh;
SELECT * FROM site_stats WHERE site = 's2pc';
BEGIN;
INSERT INTO readings VALUES (201, 'never', '2024-01-05', 7);
PREPARE TRANSACTION 'fv_views_2pc_rollback';
ROLLBACK PREPARED 'fv_views_2pc_rollback';
SELECT flowview.wait_for_freshness('site_stats', '60 s') AS fresh;
SELECT count(*) AS rolled_back_rows FROM site_stats WHERE site = 'never';
SELECT flowview.drop_view('site_stats');
