-- Changefeeds: flowview.enable_changefeed gives a live view a change log
-- and a typed function <view>_changes(cursor): a snapshot with its cursor,
-- then the changes after a cursor (insert, update, delete, old values), or
-- 'resync'.  Checked here: the changes of inserts, updates that move rows
-- between groups, deletes and NULL keys; a global view and a rollup; the
-- resync answers (refresh, TRUNCATE, a future or malformed cursor); keep;
-- readers' privileges and organisation security (a digest of the units in
-- the cursor); what is refused; disable and drop.
\set VERBOSITY default
CREATE TABLE fd_orders (id int PRIMARY KEY, region text, amount numeric);
ALTER TABLE fd_orders REPLICA IDENTITY FULL;
INSERT INTO fd_orders VALUES (1, 'eu', 10), (2, 'us', 20), (3, NULL, 5), (4, 'eu', 1);
SELECT flowview.create_view('fd_region', $$SELECT region, count(*) AS n, sum(amount) AS total, max(amount) AS top FROM fd_orders GROUP BY region$$);
SELECT flowview.create_view('fd_all', $$SELECT count(*) AS n, sum(amount) AS total FROM fd_orders$$);
SELECT flowview.wait_for_freshness();

-- a feed starts once the worker has seen it (within 250 ms)
CREATE FUNCTION fd_wait_started() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 200 LOOP
        IF NOT EXISTS (SELECT FROM flowview.feed_catalog WHERE reset_position = 0) THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
        PERFORM pg_stat_clear_snapshot();
    END LOOP;
    RETURN false;
END $$;

SELECT flowview.enable_changefeed('fd_region');
SELECT flowview.enable_changefeed('fd_all', interval '10 minutes');
SELECT fd_wait_started();
SELECT view, changes_function, channel, keep, key_columns FROM flowview.changefeeds ORDER BY view::text;
-- the function's columns: cursor, op, the view's, old_ for each non-key one
SELECT pg_get_function_result('fd_region_changes(text)'::regprocedure);

-- a snapshot: one 'snapshot' row and the view's rows as inserts, one cursor
CREATE TEMP TABLE fd_snap AS SELECT * FROM fd_region_changes(NULL);
SELECT op, region, n, total, top, old_n FROM fd_snap ORDER BY op DESC, region;
SELECT count(DISTINCT cursor) AS cursors FROM fd_snap;
SELECT cursor AS c0 FROM fd_snap LIMIT 1 \gset
SELECT cursor AS g0 FROM fd_all_changes() LIMIT 1 \gset

-- inserts, an update moving a row between groups, a delete emptying the
-- NULL group, a new group, in one transaction (the worker may apply several
-- transactions in one batch or in several: the changes would differ; TAP
-- 200 checks replays of many transactions against the view)
BEGIN;
INSERT INTO fd_orders VALUES (5, 'asia', 3), (6, 'eu', 30);
UPDATE fd_orders SET region = 'eu' WHERE id = 2;
DELETE FROM fd_orders WHERE region IS NULL;
INSERT INTO fd_orders VALUES (7, NULL, 8);
COMMIT;
SELECT flowview.wait_for_freshness();
CREATE TEMP TABLE fd_got AS SELECT * FROM fd_region_changes(:'c0');
-- per group, in apply order: what the reader learns
SELECT op, region, n, total, top, old_n, old_total, old_top FROM fd_got ORDER BY region NULLS FIRST, cursor::bigint, op;
-- every change is after the snapshot's cursor, in order
SELECT bool_and(cursor::bigint > :'c0'::bigint) AS after_c0 FROM fd_got;
SELECT op FROM fd_got WHERE op IN ('snapshot', 'resync');
-- replaying snapshot + changes gives the view: each group's last image
CREATE TEMP VIEW fd_replay AS
SELECT region, n, total, top FROM (
  SELECT DISTINCT ON (region) region, op, n, total, top FROM (
    SELECT region, op, n, total, top, 0::bigint AS c FROM fd_snap WHERE op = 'insert'
    UNION ALL SELECT region, op, n, total, top, cursor::bigint FROM fd_got) x
  ORDER BY region, c DESC) last
 WHERE op <> 'delete';
SELECT count(*) AS differing FROM ((TABLE fd_region EXCEPT ALL TABLE fd_replay)
                                   UNION ALL (TABLE fd_replay EXCEPT ALL TABLE fd_region)) d;
-- the global view: one group, updates only
SELECT op, n, total, old_n, old_total FROM fd_all_changes(:'g0') ORDER BY cursor::bigint;
-- nothing after the newest cursor
SELECT cursor AS c1 FROM fd_got ORDER BY cursor::bigint DESC LIMIT 1 \gset
SELECT count(*) AS nothing_new FROM fd_region_changes(:'c1');
-- an update that changes nothing visible (same group, same values) logs nothing
UPDATE fd_orders SET amount = amount WHERE id = 5;
SELECT flowview.wait_for_freshness();
SELECT count(*) AS still_nothing FROM fd_region_changes(:'c1');

-- resync: a cursor from the future, one from before a refresh, a TRUNCATE
SELECT op FROM fd_region_changes('999999999');
SELECT flowview.refresh_view('fd_region');
SELECT flowview.wait_for_freshness();
SELECT op, region FROM fd_region_changes(:'c1');
SELECT cursor AS c2 FROM fd_region_changes() LIMIT 1 \gset
TRUNCATE fd_orders;
INSERT INTO fd_orders VALUES (10, 'eu', 1);
SELECT flowview.wait_for_freshness();
SELECT op, region FROM fd_region_changes(:'c2');
-- malformed cursors
SELECT * FROM fd_region_changes('x');
SELECT * FROM fd_region_changes('12.zz');
SELECT * FROM fd_region_changes('');

-- keep: enable again sets it; must be positive; NULLs refused
SELECT flowview.enable_changefeed('fd_region', interval '2 hours');
SELECT keep FROM flowview.changefeeds WHERE view = 'fd_region'::regclass;
SELECT flowview.enable_changefeed('fd_region', interval '0');
SELECT flowview.enable_changefeed('fd_region', interval '-1 hour');
SELECT flowview.enable_changefeed(NULL);
SELECT flowview.enable_changefeed('fd_region', NULL);
SELECT flowview.disable_changefeed(NULL);

-- refused: not a live view, a window, a session view, a hidden key, a
-- column named op, a function of that name, changing the definition
SELECT flowview.enable_changefeed('fd_orders');
SELECT flowview.enable_changefeed('flowview.views');
CREATE TABLE fd_ev (id int PRIMARY KEY, usr text, ts timestamptz, region text);
ALTER TABLE fd_ev REPLICA IDENTITY FULL;
SELECT flowview.create_view('fd_recent', $$SELECT region, count(*) AS n FROM fd_ev WHERE ts > now() - interval '1 hour' GROUP BY region$$);
SELECT flowview.create_session_view('fd_sessions', 'fd_ev', '{usr}', 'ts', interval '5 minutes');
SELECT flowview.create_view('fd_hidden', $$SELECT count(*) AS n FROM fd_ev GROUP BY region$$);
SELECT flowview.create_view('fd_opcol', $$SELECT region AS op, count(*) AS n FROM fd_ev GROUP BY region$$);
SELECT flowview.create_view('fd_taken', $$SELECT region, count(*) AS n FROM fd_ev GROUP BY region$$);
CREATE FUNCTION fd_taken_changes(after text) RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT flowview.wait_for_freshness();
SELECT flowview.enable_changefeed('fd_recent');
SELECT flowview.enable_changefeed('fd_sessions');
SELECT flowview.enable_changefeed('fd_hidden');
SELECT flowview.enable_changefeed('fd_opcol');
SELECT flowview.enable_changefeed('fd_taken');
SELECT flowview.alter_view('fd_region', $$SELECT region, count(*) AS n FROM fd_orders GROUP BY region$$);

-- a rollup over a view has a feed of its own
SELECT flowview.create_view('fd_zone', $$SELECT region IS NULL AS unknown, sum(n) AS n FROM fd_region GROUP BY 1$$);
-- (a cursor taken before the view is live resyncs once it is: wait)
SELECT flowview.wait_for_freshness();
SELECT flowview.enable_changefeed('fd_zone');
SELECT fd_wait_started();
SELECT cursor AS z0 FROM fd_zone_changes() LIMIT 1 \gset
INSERT INTO fd_orders VALUES (11, NULL, 2), (12, 'us', 2);
SELECT flowview.wait_for_freshness();
SELECT op, unknown, n, old_n FROM fd_zone_changes(:'z0') ORDER BY unknown;

-- the CDC stream: views => its changes under the view's name and columns
-- (JSON and Debezium), never the storage, its log or their bookkeeping;
-- alone, views gives only views.  The worker commits asynchronously: wait
-- until its WAL is flushed.
SELECT 'slot' FROM pg_create_logical_replication_slot('fd_cdc', 'pg_flowview');
INSERT INTO fd_orders VALUES (20, 'asia', 1), (21, 'mars', 2);
SELECT flowview.wait_for_freshness();
DELETE FROM fd_orders WHERE region = 'mars';
SELECT flowview.wait_for_freshness();
CREATE FUNCTION fd_cdc_rows(n int, VARIADIC opts text[]) RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 200 LOOP
        EXIT WHEN (SELECT count(*) FROM pg_logical_slot_peek_changes('fd_cdc', NULL, NULL, VARIADIC opts)) >= n;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN QUERY SELECT data::jsonb FROM pg_logical_slot_peek_changes('fd_cdc', NULL, NULL, VARIADIC opts);
END $$;
SELECT j->>'op' AS op, j->>'schema' AS schema, j->>'table' AS "table", j->'before' AS before, j->'after' AS after
  FROM fd_cdc_rows(5, 'views', 'public.fd_region,public.fd_zone') j
 ORDER BY (j->>'commit_lsn')::pg_lsn, 3, 1, (j->'after')::text, (j->'before')::text;
SELECT j->>'op' AS op, j->'source'->>'table' AS "table", j->'before'->>'n' AS before_n, j->'after'->>'n' AS after_n
  FROM fd_cdc_rows(7, 'views', 'public.fd_*', 'format', 'debezium') j
 ORDER BY (j->'source'->>'txId')::bigint, 2, 1, (j->'after')::text, (j->'before')::text;
SELECT DISTINCT j->>'table' AS "table" FROM fd_cdc_rows(3, 'views', 'public.fd_region', 'tables', 'public.*') j ORDER BY 1;
SELECT count(*) AS no_view_without_views FROM fd_cdc_rows(0, 'format', 'json') j WHERE j->>'table' = 'fd_region';
SELECT count(*) AS no_storage_with_views FROM fd_cdc_rows(0, 'views', '*') j WHERE j->>'schema' = 'flowview';
SELECT * FROM pg_logical_slot_peek_changes('fd_cdc', NULL, NULL, 'views', '');
SELECT pg_drop_replication_slot('fd_cdc');
DROP FUNCTION fd_cdc_rows(int, text[]);

-- readers: SELECT on the view passes on to the log; others get 42501
CREATE ROLE fd_reader;
CREATE ROLE fd_stranger;
GRANT flowview_reader TO fd_reader, fd_stranger;
GRANT SELECT ON fd_region TO fd_reader;
SELECT cursor AS c3 FROM fd_region_changes() LIMIT 1 \gset
INSERT INTO fd_orders VALUES (13, 'asia', 4);
SELECT flowview.wait_for_freshness();
SET ROLE fd_reader;
SELECT op, region, n FROM fd_region_changes(:'c3');
SELECT count(*) > 0 AS reader_snapshot FROM fd_region_changes(NULL);
SET ROLE fd_stranger;
SELECT op FROM fd_region_changes(:'c3');
SELECT op FROM fd_region_changes(NULL);
RESET ROLE;
SET ROLE fd_reader;
SELECT flowview.enable_changefeed('fd_all');
RESET ROLE;

-- organisation security: the log filtered as the view; a digest of the
-- reader's units in its cursor, so a change of units says resync
SELECT flowview.add_org_unit('fd_world');
SELECT flowview.add_org_unit('fd_eu_unit', 'fd_world');
CREATE TABLE fd_sales (id int PRIMARY KEY, unit text, amount numeric);
ALTER TABLE fd_sales REPLICA IDENTITY FULL;
SELECT flowview.add_org_unit('eu', 'fd_world');
SELECT flowview.add_org_unit('us', 'fd_world');
INSERT INTO fd_sales VALUES (1, 'eu', 1), (2, 'us', 2);
SELECT flowview.create_view('fd_by_unit', $$SELECT unit, count(*) AS n, sum(amount) AS total FROM fd_sales GROUP BY unit$$);
SELECT flowview.wait_for_freshness();
SELECT flowview.enable_changefeed('fd_by_unit');
SELECT flowview.enable_org_security('fd_by_unit', 'unit');
SELECT fd_wait_started();
GRANT SELECT ON fd_by_unit TO fd_reader;
SELECT flowview.assign_role('fd_reader', 'eu');
SET ROLE fd_reader;
SELECT op, unit, n FROM fd_by_unit_changes(NULL) ORDER BY op DESC, unit;
SELECT cursor AS e0 FROM fd_by_unit_changes(NULL) LIMIT 1 \gset
RESET ROLE;
SELECT :'e0' ~ '^[0-9]+\.[0-9a-f]{8}$' AS cursor_has_digest;
INSERT INTO fd_sales VALUES (3, 'eu', 10), (4, 'us', 20);
SELECT flowview.wait_for_freshness();
SET ROLE fd_reader;
SELECT op, unit, n, total, old_total FROM fd_by_unit_changes(:'e0');
RESET ROLE;
-- the reader gains a unit: its next read says resync, the new snapshot has it
SELECT flowview.assign_role('fd_reader', 'us');
SET ROLE fd_reader;
SELECT op FROM fd_by_unit_changes(:'e0');
SELECT op, unit, n FROM fd_by_unit_changes(NULL) ORDER BY op DESC, unit;
RESET ROLE;
-- a forged digest is no better
SELECT op FROM fd_by_unit_changes(split_part(:'e0', '.', 1) || '.00000000');
SELECT flowview.disable_org_security('fd_by_unit');
SELECT count(*) AS log_policies FROM pg_policy WHERE polrelid = (SELECT format('flowview.fv_store_%s_f', id)::regclass
                                                                    FROM flowview.view_catalog WHERE view_oid = 'fd_by_unit'::regclass);
SELECT op FROM fd_by_unit_changes(:'e0');

-- keep: changes older than it are deleted, and a cursor before them resyncs
CREATE TABLE fd_k (id int PRIMARY KEY, region text);
ALTER TABLE fd_k REPLICA IDENTITY FULL;
SELECT flowview.create_view('fd_kept', $$SELECT region, count(*) AS n FROM fd_k GROUP BY region$$);
SELECT flowview.wait_for_freshness();
SELECT flowview.enable_changefeed('fd_kept', interval '1 second');
SELECT fd_wait_started();
SELECT cursor AS k0 FROM fd_kept_changes() LIMIT 1 \gset
INSERT INTO fd_k VALUES (1, 'eu');
SELECT flowview.wait_for_freshness();
SELECT op, region, n FROM fd_kept_changes(:'k0');
SELECT cursor AS k1 FROM fd_kept_changes(:'k0') \gset
SELECT pg_sleep(1.5);
INSERT INTO fd_k VALUES (2, 'eu');
SELECT flowview.wait_for_freshness();
SELECT op FROM fd_kept_changes(:'k0');
SELECT op, region, n FROM fd_kept_changes(:'k1');
SELECT oldest_cursor >= :'k1'::bigint AS trimmed FROM flowview.changefeeds WHERE view = 'fd_kept'::regclass;

-- disable drops the function and the log; again is nothing; drop_view
-- takes both with the view
SELECT format('flowview.fv_store_%s_f', id) AS fd_log FROM flowview.view_catalog WHERE view_oid = 'fd_all'::regclass \gset
SELECT flowview.disable_changefeed('fd_all');
SELECT flowview.disable_changefeed('fd_all');
SELECT to_regprocedure('fd_all_changes(text)') IS NULL AS function_gone, to_regclass(:'fd_log') IS NULL AS log_gone,
       NOT EXISTS (SELECT FROM flowview.changefeeds WHERE view = 'fd_all'::regclass) AS catalog_gone;
SELECT format('flowview.fv_store_%s_f', id) AS fd_log FROM flowview.view_catalog WHERE view_oid = 'fd_zone'::regclass \gset
SELECT flowview.drop_view('fd_zone');
SELECT to_regprocedure('fd_zone_changes(text)') IS NULL AS function_gone, to_regclass(:'fd_log') IS NULL AS log_gone;
-- the log is pg_flowview's: its owner cannot change it
DO $$ BEGIN
    EXECUTE format('ALTER TABLE %s ADD COLUMN x int', (SELECT format('flowview.fv_store_%s_f', id) FROM flowview.view_catalog
                                                        WHERE view_oid = 'fd_region'::regclass));
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'ALTER TABLE of the change log: % (%)', SQLSTATE, regexp_replace(SQLERRM, 'fv_store_[0-9]+_f', 'fv_store_N_f');
END $$;

DROP VIEW fd_replay;
DROP VIEW fd_kept;
DROP TABLE fd_k;
DROP VIEW fd_region, fd_all, fd_by_unit, fd_recent, fd_sessions, fd_hidden, fd_opcol, fd_taken;
DROP FUNCTION fd_taken_changes(text);
DROP TABLE fd_orders, fd_ev, fd_sales;
SELECT flowview.unassign_role('fd_reader', 'eu');
SELECT flowview.unassign_role('fd_reader', 'us');
SELECT flowview.drop_org_unit('eu');
SELECT flowview.drop_org_unit('us');
SELECT flowview.drop_org_unit('fd_eu_unit');
SELECT flowview.drop_org_unit('fd_world');
DROP ROLE fd_reader, fd_stranger;
DROP FUNCTION fd_wait_started();
