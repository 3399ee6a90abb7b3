-- pgTAP: the CDC plugin's option errors carry SQLSTATE 22023 and say what is
-- allowed; good options are accepted; slot output is consumed only on success.
-- (autocommit: a slot cannot be created in a transaction that has written)
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS pg_flowview;
CREATE TABLE tap_t (id int PRIMARY KEY, v text);
SELECT 'init' FROM pg_create_logical_replication_slot('tap_errors', 'pg_flowview');
SELECT plan(13);

SELECT throws_ok($$SELECT * FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL, 'nope', '1')$$,
    '22023', 'option "nope" is not recognized by pg_flowview', 'unknown option');
SELECT throws_ok($$SELECT * FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL, 'format', 'avro')$$,
    '22023', 'invalid value for option "format": "avro"', 'bad format');
SELECT throws_ok($$SELECT * FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL, 'include-messages', 'sometimes')$$,
    '22023', 'invalid value for option "include-messages": "sometimes"', 'bad boolean');
SELECT throws_ok($$SELECT * FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL, 'mask', ' , ')$$,
    '22023', NULL, 'empty mask pattern');
SELECT throws_ok($$SELECT * FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL, 'exclude-tables', '')$$,
    '22023', 'option "exclude-tables" needs a value', 'empty exclude-tables');

SELECT lives_ok($$SELECT * FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL,
    'format', 'debezium', 'include-transaction', 'off', 'include-messages', 'yes',
    'tables', '*.*', 'exclude-tables', 'x.y', 'mask', 'public.tap_t.v', 'mask-salt', 's')$$,
    'every option together');
SELECT lives_ok($$SELECT * FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL, 'format', 'json', 'include-transaction', 'false')$$,
    'explicit defaults');

INSERT INTO tap_t VALUES (1, 'x');
SELECT is((SELECT count(*) FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL))::int, 1,
    'one change pending');
SELECT throws_ok($$SELECT * FROM pg_logical_slot_get_changes('tap_errors', NULL, NULL, 'format', 'bogus')$$,
    '22023', NULL, 'a failing get_changes...');
SELECT is((SELECT count(*) FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL))::int, 1,
    '...consumes nothing');
SELECT is((SELECT data::jsonb->'after' FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL)),
    '{"id": 1, "v": "x"}'::jsonb, 'the change is intact');
SELECT is((SELECT data::jsonb->>'op' FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL)),
    'c', 'op c for an insert');
SELECT is((SELECT data::jsonb->'source'->>'table' FROM pg_logical_slot_peek_changes('tap_errors', NULL, NULL, 'format', 'debezium')),
    'tap_t', 'debezium source.table');
SELECT * FROM finish();
SELECT pg_drop_replication_slot('tap_errors');
DROP TABLE tap_t;
