-- Typed JSON values: every type family the plugin maps, NULLs, escaping.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE TABLE types (
    id      int PRIMARY KEY,
    i2      int2, i8 int8, f4 float4, f8 float8, n numeric, b bool,
    t       text, vc varchar(10), bp char(4),
    j       json, jb jsonb,
    ia      int[], ta text[], na numeric[], ja jsonb[],
    ts      timestamptz, d date, iv interval, u uuid, by bytea,
    dom     posint, e mood, comp pair, ip inet
);
SELECT 'init' FROM pg_create_logical_replication_slot('types', 'pg_flowview');

INSERT INTO types VALUES
 (1, -32768, 9223372036854775807, 1.5, -2.25e-300, 12345678901234567890.123456789012345678901,
  true, 'plain', 'vc', 'ab', '{"k": [1, "x"], "n": null}', '{"k": [1, "x"]}',
  '{1,2,NULL}', '{"a","b c","q\"uote",NULL}', '{1.50,NaN}', ARRAY['{"a":1}'::jsonb, 'null'],
  '2024-02-29 12:34:56.789+02', '2024-02-29', '1 day 02:03:04', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '\xdeadbeef', 7, 'happy', ROW(1, 'x'), '192.168.0.1/24');
-- non-finite floats and numerics become strings; finite ones stay numbers
INSERT INTO types (id, f4, f8, n) VALUES (2, 'NaN', 'Infinity', 'NaN'),
                                         (3, '-Infinity', 0, 'Infinity'),
                                         (4, 3.4e38, 1e-5, '-Infinity'),
                                         (5, NULL, NULL, 0.000000000000000000000000000001);
-- escaping: quotes, backslashes, control characters, non-ASCII UTF-8
INSERT INTO types (id, t, ta) VALUES
 (6, E'q"uote \\back\\slash\nnew\tline\r\x01\x1f\x7f', ARRAY[E'\b\f']),
 (7, 'grüße, 日本語, emoji 🎉', '{}');
-- multi-dimensional arrays and empty arrays
INSERT INTO types (id, ia, ta) VALUES (8, '{{1,2},{3,4}}', '{{"a"},{NULL}}'),
                                      (9, '{}', '[0:1]={x,y}');
-- all NULL
INSERT INTO types (id) VALUES (10);
SELECT * FROM cdc('types');

-- every line is valid JSON and the values round-trip with their JSON types
INSERT INTO types (id, i8, n, f8, b, jb) VALUES (11, -1, 1.10, 2.5, false, '[true]');
SELECT j->'after'->'i8' AS i8, jsonb_typeof(j->'after'->'n') AS n_type, j->'after'->>'n' AS n,
       jsonb_typeof(j->'after'->'f8') AS f8_type, j->'after'->'b' AS b, j->'after'->'jb' AS jb
FROM (SELECT data::jsonb AS j FROM pg_logical_slot_get_changes('types', NULL, NULL)) s;

SELECT pg_drop_replication_slot('types');
