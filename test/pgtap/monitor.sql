-- pgTAP: the freshness/monitoring functions exist with their signatures,
-- their errors carry the right SQLSTATEs, and the definitions hold on a
-- fresh view (staleness ~0 and SLA met; lag not negative; stats counters).
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS pg_flowview;
CREATE TABLE tap_m (id int PRIMARY KEY, g int);
INSERT INTO tap_m SELECT i, i % 4 FROM generate_series(1, 20) i;
SELECT flowview.create_view('tap_mv', $$SELECT g, count(*) FROM tap_m GROUP BY g$$, freshness_sla => '1 min') IS NULL;
SELECT flowview.wait_for_freshness(NULL, '60 s');
INSERT INTO tap_m VALUES (21, 1);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT plan(20);

SELECT has_function('flowview', 'freshness', ARRAY[]::text[], 'freshness()');
SELECT has_view('flowview', 'freshness', 'flowview.freshness view');
SELECT has_view('flowview', 'stats', 'flowview.stats view');
SELECT has_function('flowview', 'set_freshness_sla', ARRAY['regclass', 'interval'], 'set_freshness_sla(regclass, interval)');
SELECT has_function('flowview', 'sla_report', ARRAY['timestamp with time zone'], 'sla_report(timestamptz)');
SELECT has_function('flowview', 'anomalies', ARRAY['double precision', 'integer'], 'anomalies(float8, int)');
SELECT has_function('flowview', 'pause_apply', ARRAY[]::text[], 'pause_apply()');
SELECT has_function('flowview', 'resume_apply', ARRAY[]::text[], 'resume_apply()');
SELECT has_table('flowview', 'sla_samples', 'SLA history table');

SELECT throws_ok($$SELECT flowview.set_freshness_sla('tap_m', '1 s')$$, '42809', NULL,
    'set_freshness_sla on a plain table: wrong_object_type');
SELECT throws_ok($$SELECT flowview.set_freshness_sla('tap_mv', '0 s')$$, '22023', NULL,
    'a zero SLA: invalid_parameter_value');
SELECT throws_ok($$SELECT flowview.create_view('tap_bad', 'SELECT count(*) FROM tap_m', '-5 min')$$, '22023',
    'freshness SLA must be positive', 'create_view with a negative SLA');

SELECT is((SELECT staleness < interval '1 s' FROM flowview.freshness WHERE view = 'tap_mv'::regclass), true,
    'a fresh view: staleness below a second');
SELECT is((SELECT sla_met FROM flowview.freshness WHERE view = 'tap_mv'::regclass), true, 'a fresh view meets its SLA');
SELECT cmp_ok((SELECT lag_bytes FROM flowview.freshness WHERE view = 'tap_mv'::regclass), '>=', 0::numeric,
    'lag_bytes is not negative');
SELECT lives_ok($$SELECT flowview.set_freshness_sla('tap_mv', NULL)$$, 'removing the SLA');
SELECT is((SELECT sla_met FROM flowview.freshness WHERE view = 'tap_mv'::regclass), NULL, 'no SLA: sla_met is NULL');
SELECT is((SELECT rows_applied >= 1 AND batches >= 1 FROM flowview.stats WHERE view = 'tap_mv'::regclass), true,
    'stats count the applied insert');
SELECT is((SELECT count(*) FROM flowview.anomalies()), 0::bigint, 'no anomalies on a quiet database');
SELECT is((SELECT slot_name::text FROM flowview.stats WHERE view = 'tap_mv'::regclass),
    'pg_flowview_' || (SELECT oid FROM pg_database WHERE datname = current_database()), 'stats name the slot');

SELECT * FROM finish();
SELECT flowview.drop_view('tap_mv');
