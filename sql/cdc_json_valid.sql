-- The whole stream is valid JSON, line by line, in both formats, with every
-- kind of change and hostile text (every ASCII control character, quotes,
-- backslashes, multi-byte UTF-8).
CREATE TABLE stress (id int PRIMARY KEY, t text, ta text[], j jsonb, n numeric, f float8, big text);
SELECT 'init' FROM pg_create_logical_replication_slot('valid', 'pg_flowview');
INSERT INTO stress
SELECT g, chr(g % 127 + 1) || '"\' || chr((g * 7) % 127 + 1) || 'ä€😀',
       ARRAY[chr(g % 31 + 1), NULL, '\"'], jsonb_build_object('k', chr(g % 31 + 1)),
       g / 7.0, CASE WHEN g % 10 = 0 THEN 'NaN'::float8 ELSE g * 1.5 END,
       CASE WHEN g % 50 = 0 THEN repeat(md5(g::text), 100) END
FROM generate_series(1, 1000) g;
UPDATE stress SET n = -n, t = t || E'\n' WHERE id % 3 = 0;
DELETE FROM stress WHERE id % 5 = 0;
BEGIN; SAVEPOINT a; UPDATE stress SET f = 0; ROLLBACK TO a; UPDATE stress SET j = NULL WHERE id < 10; COMMIT;
SELECT 'm' FROM pg_logical_emit_message(true, E'p\t"', E'c\x01\\');
TRUNCATE stress;
INSERT INTO types SELECT g, g, g, g, g, g FROM generate_series(100, 120) g;

SELECT count(*) AS json_lines,
       count(DISTINCT data::jsonb->>'op') AS ops,
       bool_and(data::jsonb ?& CASE WHEN data::jsonb->>'op' IN ('c', 'u', 'd', 't')
                   THEN ARRAY['op', 'schema', 'table', 'before', 'after', 'xid', 'lsn', 'commit_lsn', 'commit_time']
                   ELSE ARRAY['op'] END) AS required_fields
FROM pg_logical_slot_peek_changes('valid', NULL, NULL, 'include-transaction', 'on', 'include-messages', 'on');
SELECT count(*) AS debezium_lines,
       bool_and(data::jsonb ?& ARRAY['op'] OR data::jsonb ? 'status') AS shaped
FROM pg_logical_slot_peek_changes('valid', NULL, NULL, 'format', 'debezium', 'include-transaction', 'on', 'include-messages', 'on');
-- commit_time is ISO 8601 (UTC) and parses as timestamptz close to now
SELECT bool_and((data::jsonb->>'commit_time')::timestamptz BETWEEN now() - interval '1 hour' AND now() + interval '1 minute') AS times_ok,
       bool_and(data::jsonb->>'commit_time' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$') AS iso_8601
FROM pg_logical_slot_peek_changes('valid', NULL, NULL) WHERE data::jsonb->>'op' <> 'm';
-- the text values round-trip exactly through JSON
SELECT count(*) AS rows_checked,
       bool_and(data::jsonb->'after'->>'t' = chr(id % 127 + 1) || '"\' || chr((id * 7) % 127 + 1) || 'ä€😀') AS text_roundtrip
FROM (SELECT data, (data::jsonb->'after'->>'id')::int AS id
      FROM pg_logical_slot_peek_changes('valid', NULL, NULL, 'tables', 'public.stress')
      WHERE data::jsonb->>'op' = 'c') s;
SELECT pg_drop_replication_slot('valid');
