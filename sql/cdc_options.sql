-- Every output option, and the errors for bad ones.
CREATE SCHEMA sales;
CREATE TABLE sales.orders (id int PRIMARY KEY, email text, amount numeric);
CREATE TABLE sales.order_lines (id int PRIMARY KEY, order_id int);
CREATE TABLE public.audit (id int PRIMARY KEY, note text);
CREATE TABLE public."we,ird*name" (id int PRIMARY KEY);
SELECT 'init' FROM pg_create_logical_replication_slot('opts', 'pg_flowview');

-- one transaction touching every table, replayed with different options
CREATE FUNCTION opts_workload() RETURNS void LANGUAGE sql AS $$
  INSERT INTO sales.orders VALUES (1, 'ann@example.com', 10.5);
  INSERT INTO sales.order_lines VALUES (1, 1);
  INSERT INTO public.audit VALUES (1, 'note');
  INSERT INTO public."we,ird*name" VALUES (1);
$$;

-- tables: only matching schema.table patterns (glob *)
SELECT opts_workload();
SELECT cdc FROM cdc('opts', 'tables', 'sales.orders');
TRUNCATE sales.orders, sales.order_lines, public.audit, public."we,ird*name";
SELECT count(*) FROM cdc('opts');
SELECT opts_workload();
SELECT cdc::jsonb->>'table' AS "table" FROM cdc('opts', 'tables', 'sales.*, public.aud*');
TRUNCATE sales.orders, sales.order_lines, public.audit, public."we,ird*name";
SELECT count(*) FROM cdc('opts');
-- a backslash makes ',' and '*' literal
SELECT opts_workload();
SELECT cdc::jsonb->>'table' AS "table" FROM cdc('opts', 'tables', 'public.we\,ird\*name');

-- exclude-tables: everything but the matches (and it wins over tables)
TRUNCATE sales.orders, sales.order_lines, public.audit, public."we,ird*name";
SELECT count(*) FROM cdc('opts');
SELECT opts_workload();
SELECT cdc::jsonb->>'table' AS "table" FROM cdc('opts', 'exclude-tables', '*.order_lines,public.we*');
TRUNCATE sales.orders, sales.order_lines, public.audit, public."we,ird*name";
SELECT count(*) FROM cdc('opts');
SELECT opts_workload();
SELECT cdc::jsonb->>'table' AS "table" FROM cdc('opts', 'tables', 'sales.*', 'exclude-tables', 'sales.orders');

-- mask: salted SHA-256 of the value's text, hex; NULLs stay NULL
TRUNCATE sales.orders, sales.order_lines, public.audit, public."we,ird*name";
SELECT count(*) FROM cdc('opts');
INSERT INTO sales.orders VALUES (2, 'bob@example.com', 3), (3, NULL, 4);
SELECT cdc::jsonb->'after' AS after
FROM cdc('opts', 'tables', 'sales.orders', 'mask', 'sales.orders.email,*.*.amount', 'mask-salt', 'pepper');
SELECT encode(sha256(convert_to('pepper' || 'bob@example.com', 'UTF8')), 'hex') AS expected_email,
       encode(sha256(convert_to('pepper' || '3', 'UTF8')), 'hex') AS expected_amount;
-- the salt defaults to the pg_flowview.mask_salt setting (superuser only)
SET pg_flowview.mask_salt = 'from-guc';
INSERT INTO sales.orders VALUES (4, 'bob@example.com', 5);
SELECT cdc::jsonb->'after'->>'email' = encode(sha256(convert_to('from-guc' || 'bob@example.com', 'UTF8')), 'hex') AS salted_by_guc
FROM cdc('opts', 'tables', 'sales.orders', 'mask', 'sales.orders.email');
RESET pg_flowview.mask_salt;
-- equal values mask equally, so joins on masked columns still work downstream
INSERT INTO sales.orders VALUES (5, 'same@example.com', 1), (6, 'same@example.com', 1);
SELECT count(DISTINCT cdc::jsonb->'after'->>'email') AS distinct_masked_emails
FROM cdc('opts', 'tables', 'sales.orders', 'mask', 'sales.orders.email', 'mask-salt', 's');

-- include-transaction: B and C markers around each transaction with output
BEGIN;
INSERT INTO public.audit VALUES (10, 'a'), (11, 'b');
INSERT INTO sales.orders VALUES (10, 'x', 1);
COMMIT;
SELECT * FROM cdc('opts', 'include-transaction', 'on', 'tables', 'public.audit');
-- a transaction with nothing selected has no markers either
INSERT INTO sales.orders VALUES (11, 'x', 1);
SELECT * FROM cdc('opts', 'include-transaction', 'on', 'tables', 'public.audit');

-- format=debezium: envelope before/after/source/op/ts_ms
INSERT INTO public.audit VALUES (20, 'dbz');
UPDATE public.audit SET note = 'dbz2' WHERE id = 20;
DELETE FROM public.audit WHERE id = 20;
SELECT * FROM cdc('opts', 'format', 'debezium', 'tables', 'public.audit');
INSERT INTO public.audit VALUES (21, 'dbz');
SELECT * FROM cdc('opts', 'format', 'debezium', 'tables', 'public.audit', 'include-transaction', '1');
INSERT INTO public.audit VALUES (22, 'dbz');
SELECT j->'source'->>'db' = current_database() AS db_ok,
       jsonb_typeof(j->'source'->'lsn') AS lsn_type, jsonb_typeof(j->'ts_ms') AS ts_type,
       jsonb_typeof(j->'source'->'txId') AS txid_type
FROM (SELECT data::jsonb AS j FROM pg_logical_slot_get_changes('opts', NULL, NULL, 'format', 'debezium')) s;

-- include-messages: pg_logical_emit_message passes through (off by default)
-- (a non-transactional message is decoded where it is in the WAL; the
-- transactional one's commit flushes it, so both are visible to the reads)
SELECT 'm' FROM pg_logical_emit_message(false, 'app', '\x00ff'::bytea);
SELECT 'm' FROM pg_logical_emit_message(true, 'app', 'hello "world"');
SELECT count(*) AS without_option FROM pg_logical_slot_peek_changes('opts', NULL, NULL);
SELECT * FROM cdc('opts', 'include-messages', 'true');
SELECT 'm' FROM pg_logical_emit_message(true, 'app', 'dbz');
SELECT * FROM cdc('opts', 'include-messages', 'true', 'format', 'debezium');

-- bad options: ERROR naming the option and the allowed values
SELECT * FROM cdc('opts', 'no-such-option', '1');
SELECT * FROM cdc('opts', 'format', 'xml');
SELECT * FROM cdc('opts', 'include-transaction', 'maybe');
SELECT * FROM cdc('opts', 'tables', '');
SELECT * FROM cdc('opts', 'tables', 'public.a,,public.b');
-- nothing was consumed by the failed calls
SELECT count(*) FROM pg_logical_slot_peek_changes('opts', NULL, NULL);

SELECT pg_drop_replication_slot('opts');
