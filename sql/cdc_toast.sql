-- Unchanged TOASTed values in UPDATEs, dropped columns, added columns.
CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;  -- out of line, uncompressed
SELECT 'init' FROM pg_create_logical_replication_slot('toast', 'pg_flowview');
INSERT INTO docs SELECT 1, 'v1', string_agg(md5(g::text), '') FROM generate_series(1, 100) g;  -- 3,200 bytes
SELECT length(body) AS body_length, pg_column_size(body) AS stored_size FROM docs;
SELECT count(*) FROM cdc('toast');

-- default replica identity: the unchanged value is not in the WAL -> marker
UPDATE docs SET title = 'v2' WHERE id = 1;
SELECT j->'after'->>'title' AS title, j->'after'->>'body' AS body
FROM (SELECT cdc::jsonb AS j FROM cdc('toast')) s;

-- REPLICA IDENTITY FULL: the value is taken from the old row
ALTER TABLE docs REPLICA IDENTITY FULL;
UPDATE docs SET title = 'v3' WHERE id = 1;
SELECT j->'after'->>'title' AS title,
       j->'after'->>'body' = (SELECT body FROM docs) AS after_body_complete,
       j->'before'->>'body' = (SELECT body FROM docs) AS before_body_complete
FROM (SELECT cdc::jsonb AS j FROM cdc('toast')) s;

-- an UPDATE that changes the TOASTed column carries the new value
UPDATE docs SET body = repeat('z', 5000) WHERE id = 1;
SELECT length(j->'after'->>'body') AS new_length, length(j->'before'->>'body') AS old_length
FROM (SELECT cdc::jsonb AS j FROM cdc('toast')) s;
ALTER TABLE docs REPLICA IDENTITY DEFAULT;
UPDATE docs SET body = repeat('y', 4000) WHERE id = 1;
SELECT length(j->'after'->>'body') AS new_length, j->'before' AS before
FROM (SELECT cdc::jsonb AS j FROM cdc('toast')) s;

-- dropped columns never appear; added columns do (with their default for
-- rows written before the column existed)
CREATE TABLE evolving (id int PRIMARY KEY, a int, b text, c int);
ALTER TABLE evolving REPLICA IDENTITY FULL;
INSERT INTO evolving VALUES (1, 1, 'one', 1);
ALTER TABLE evolving DROP COLUMN b;
INSERT INTO evolving VALUES (2, 2, 2);
ALTER TABLE evolving ADD COLUMN d text DEFAULT 'dflt';
UPDATE evolving SET a = 10 WHERE id = 1;
ALTER TABLE evolving DROP COLUMN c;
DELETE FROM evolving WHERE id = 2;
SELECT * FROM cdc('toast', 'tables', 'public.evolving');

SELECT pg_drop_replication_slot('toast');
