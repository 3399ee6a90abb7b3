-- Masking a TOASTed column: an UPDATE that leaves a large masked value
-- unchanged carries it as an on-disk TOAST pointer, which the plugin takes
-- from the old row (REPLICA IDENTITY FULL).  The value must be masked there
-- too, in "after" as in "before": the digest, never the value itself.
CREATE TABLE secret_docs (id int PRIMARY KEY, title text, secret text);
ALTER TABLE secret_docs REPLICA IDENTITY FULL;
ALTER TABLE secret_docs ALTER COLUMN secret SET STORAGE EXTERNAL;  -- out of line, uncompressed
SELECT 'init' FROM pg_create_logical_replication_slot('toast_mask', 'pg_flowview');
-- 4,096 bytes of md5 hex: incompressible enough to be TOASTed either way
INSERT INTO secret_docs SELECT 1, 'v1', string_agg(md5('s' || g), '') FROM generate_series(1, 128) g;
SELECT length(secret) AS secret_length, pg_column_size(secret) > 2000 AS stored_out_of_line,
       (SELECT reltoastrelid <> 0 FROM pg_class WHERE relname = 'secret_docs') AS has_toast
FROM secret_docs;
SELECT count(*) FROM cdc('toast_mask');

-- the UPDATE does not touch secret: the new row holds a TOAST pointer
UPDATE secret_docs SET title = 'v2' WHERE id = 1;
SELECT j->>'op' AS op,
       j->'after'->>'title' AS title,
       j->'after'->>'secret' = encode(sha256(convert_to('pepper' || (SELECT secret FROM secret_docs), 'UTF8')), 'hex')
         AS after_secret_masked,
       j->'before'->>'secret' = encode(sha256(convert_to('pepper' || (SELECT secret FROM secret_docs), 'UTF8')), 'hex')
         AS before_secret_masked,
       strpos(j::text, md5('s1')) = 0 AS value_not_in_output,
       length(j->'after'->>'secret') AS after_secret_length
FROM (SELECT cdc::jsonb AS j
      FROM cdc('toast_mask', 'tables', 'public.secret_docs', 'mask', 'public.secret_docs.secret',
               'mask-salt', 'pepper')) s;

-- the Debezium envelope goes through the same path
UPDATE secret_docs SET title = 'v3' WHERE id = 1;
SELECT j->'payload'->'after'->>'secret' = encode(sha256(convert_to('pepper' || (SELECT secret FROM secret_docs), 'UTF8')), 'hex')
         OR j->'after'->>'secret' = encode(sha256(convert_to('pepper' || (SELECT secret FROM secret_docs), 'UTF8')), 'hex')
         AS after_secret_masked,
       strpos(j::text, md5('s1')) = 0 AS value_not_in_output
FROM (SELECT cdc::jsonb AS j
      FROM cdc('toast_mask', 'tables', 'public.secret_docs', 'mask', 'public.secret_docs.secret',
               'mask-salt', 'pepper', 'format', 'debezium')) s;

SELECT pg_drop_replication_slot('toast_mask');
DROP TABLE secret_docs;
