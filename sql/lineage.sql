-- Lineage: flowview.lineage (each output column's source columns and how it
-- derives from them), flowview.lineage_graph (source -> view edges) and
-- flowview.openlineage (an OpenLineage 2-0-2 RunEvent).  The RunEvent's
-- required fields and facets are also checked by test/pgtap/lineage.sql.
CREATE SCHEMA lin;
CREATE TABLE lin.orders (id int PRIMARY KEY, region text, status text, amount numeric, qty int,
                         created_at timestamptz);
INSERT INTO lin.orders SELECT i, 'r' || (i % 3), CASE WHEN i % 2 = 0 THEN 'paid' ELSE 'open' END, i, i % 5,
                              timestamptz '2024-01-01 00:00+00' + i * interval '7 min'
                         FROM generate_series(1, 100) i;
-- a partitioned source
CREATE TABLE lin.events (id int, kind text, at timestamptz, ms int, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE lin.events_2024 PARTITION OF lin.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO lin.events SELECT i, 'k' || (i % 2), timestamptz '2024-03-01 00:00+00' + i * interval '1 min', i * 10
                         FROM generate_series(1, 50) i;

SET client_min_messages = warning;
-- group keys (a column, date_trunc), every aggregate, FILTER, WHERE, HAVING, aliases
SELECT flowview.create_view('lin.sales', $$
    SELECT region AS area, date_trunc('hour', created_at) AS hour,
           count(*) AS orders, count(qty) AS with_qty, sum(amount) AS revenue, avg(amount) AS mean,
           min(amount) AS smallest, max(amount * qty) AS biggest_line,
           count(*) FILTER (WHERE qty > 2) AS big_orders, sum(amount) FILTER (WHERE region <> 'r0') AS elsewhere
      FROM lin.orders
     WHERE status = 'paid'
     GROUP BY region, 2
    HAVING sum(amount) > 10$$) IS NOT NULL AS created;
-- a partitioned source, date_bin, a FROM alias with qualified columns, a key not in the output
SELECT flowview.create_view('lin.event_buckets', $$
    SELECT date_bin('5 minutes', e.at, timestamptz '2024-01-01 00:00+00') AS bucket, avg(e.ms) AS avg_ms
      FROM lin.events e GROUP BY e.kind, 1$$) IS NOT NULL AS created;
-- no GROUP BY: count(*) reads no column
SELECT flowview.create_view('lin.totals', $$SELECT count(*) AS n, sum(ms) AS total_ms FROM lin.events$$) IS NOT NULL AS created;
-- other key expressions: a cast, a function, an operator; count(1)
SELECT flowview.create_view('lin.shapes', $$
    SELECT created_at::date AS day, lower(region) AS r, qty / 2 AS half, count(1) AS c
      FROM lin.orders WHERE region IS NOT NULL GROUP BY 1, 2, 3$$) IS NOT NULL AS created;
RESET client_min_messages;
-- (a second wait starts the apply worker again should the first one have
-- looked at the catalog before create_view committed, and exited)
SELECT flowview.wait_for_freshness(NULL, '10 s') OR flowview.wait_for_freshness(NULL, '60 s') AS fresh;

-- flowview.lineage: its columns, then each view's rows
SELECT p.proname, pg_get_function_result(p.oid) FROM pg_proc p
 WHERE p.pronamespace = 'flowview'::regnamespace AND p.proname = 'lineage';
SELECT "column", source_schema, source_table, source_column, transformation, depth, column_number, direct, expression
  FROM flowview.lineage('lin.sales');
SELECT "column", source_schema, source_table, source_column, transformation, depth, direct, expression
  FROM flowview.lineage('lin.event_buckets');
SELECT "column", source_schema, source_table, source_column, transformation, direct, expression
  FROM flowview.lineage('lin.totals');
SELECT "column", source_column, transformation, direct, expression FROM flowview.lineage('lin.shapes');

-- which view columns depend on a source column (impact analysis)
SELECT "column", string_agg(transformation, ', ' ORDER BY transformation) AS how
  FROM flowview.lineage('lin.sales') WHERE source_column = 'qty' GROUP BY "column" ORDER BY 1;

-- the lineage follows a renamed and moved source, and any search_path
CREATE SCHEMA lin_moved;
ALTER TABLE lin.events RENAME TO happenings;
ALTER TABLE lin.happenings SET SCHEMA lin_moved;
CREATE TABLE lin.events (id int, kind text, at timestamptz, ms int);   -- a decoy under the old name
SET search_path = lin;
SELECT DISTINCT source_schema, source_table FROM flowview.lineage('lin.event_buckets');
SELECT count(*) AS rows_same FROM flowview.lineage('lin.event_buckets') WHERE source_table = 'happenings';
RESET search_path;
DROP TABLE lin.events;
ALTER TABLE lin_moved.happenings SET SCHEMA lin;
ALTER TABLE lin.happenings RENAME TO events;
DROP SCHEMA lin_moved;

-- names in the query resolve through the caller's search_path, then the source's schema
CREATE FUNCTION lin.tens(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 / 10 * 10';
CREATE SCHEMA lin_fn;
CREATE FUNCTION lin_fn.hundreds(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 / 100 * 100';
SET search_path = lin, lin_fn;
SET client_min_messages = warning;
SELECT flowview.create_view('lin.by_tens', 'SELECT tens(qty) AS t, hundreds(qty) AS h, count(*) AS n FROM orders GROUP BY 1, 2')
       IS NOT NULL AS created;
RESET client_min_messages;
SET search_path = lin_fn;
SELECT "column", source_column, transformation, expression FROM flowview.lineage('lin.by_tens') WHERE direct;
RESET search_path;
SELECT "column", source_column, transformation FROM flowview.lineage('lin.by_tens') WHERE direct;  -- hundreds() is not found
SELECT flowview.drop_view('lin.by_tens');
DROP SCHEMA lin_fn CASCADE;

-- bad input
SELECT * FROM flowview.lineage('lin.orders');            -- a table: 42809
SELECT * FROM flowview.lineage('lin.orders_nope');       -- no such relation: 42P01

SELECT count(*) FROM flowview.lineage(NULL);             -- NULL: no rows
\set VERBOSITY sqlstate
SELECT * FROM flowview.lineage('lin.orders');
SELECT * FROM flowview.lineage('lin.orders_nope');
SELECT flowview.openlineage('lin.orders');
\set VERBOSITY default

-- flowview.lineage_graph: one edge per source -> view
SELECT source_schema, source_table, view_schema, view_name, source, view, source_kind, source_columns, depth, state
  FROM flowview.lineage_graph WHERE view_schema = 'lin' ORDER BY view_name;
\d flowview.lineage_graph

-- flowview.openlineage: the RunEvent
SELECT jsonb_object_keys(flowview.openlineage('lin.sales')) AS key ORDER BY 1;
WITH e AS (SELECT flowview.openlineage('lin.sales') AS doc)
SELECT doc->>'eventType' AS event_type,
       doc->>'schemaURL' AS schema_url,
       doc->>'producer' AS producer,
       doc->>'eventTime' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS iso_8601_utc,
       (doc->>'eventTime')::timestamptz BETWEEN now() - interval '1 s' AND now() + interval '1 s' AS event_time_now,
       doc#>>'{run,runId}' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS run_id_uuid_v8,
       doc#>>'{job,namespace}' = 'postgres://' || split_part(current_setting('listen_addresses'), ',', 1)
                                 || ':' || current_setting('port') AS namespace_from_listen_addresses,
       doc#>>'{job,name}' = current_database() || '.lin.sales' AS job_name,
       jsonb_array_length(doc->'inputs') AS inputs,
       doc#>>'{inputs,0,name}' = current_database() || '.lin.orders' AS input_name,
       doc#>>'{inputs,0,namespace}' = doc#>>'{job,namespace}' AS input_namespace,
       jsonb_array_length(doc->'outputs') AS outputs,
       doc#>>'{outputs,0,name}' = current_database() || '.lin.sales' AS output_name
  FROM e;
-- the run id is stable per view, and differs between views
SELECT flowview.openlineage('lin.sales')#>'{run,runId}' = flowview.openlineage('lin.sales')#>'{run,runId}' AS stable,
       flowview.openlineage('lin.sales')#>'{run,runId}' <> flowview.openlineage('lin.totals')#>'{run,runId}' AS per_view;
-- job facets, the input's schema facet
SELECT jsonb_pretty((flowview.openlineage('lin.totals')->'job') - 'namespace' - 'name');
SELECT jsonb_pretty(flowview.openlineage('lin.totals')#>'{inputs,0,facets}');
-- the output's schema facet: the view's columns and types
SELECT jsonb_pretty(flowview.openlineage('lin.sales')#>'{outputs,0,facets,schema}');
-- columnLineage: every output column; input fields with their transformations
SELECT jsonb_pretty(jsonb_set(flowview.openlineage('lin.sales')#>'{outputs,0,facets,columnLineage}',
                              '{fields}', '{}') );
SELECT f.key AS output_column, i->>'field' AS field, i->>'name' = current_database() || '.lin.orders' AS input_name,
       i->>'namespace' = flowview.openlineage('lin.sales')#>>'{job,namespace}' AS input_namespace,
       (SELECT string_agg(format('%s/%s (%s)', t->>'type', t->>'subtype', t->>'description'), '; ')
          FROM jsonb_array_elements(i->'transformations') t) AS transformations
  FROM jsonb_each(flowview.openlineage('lin.sales')#>'{outputs,0,facets,columnLineage,fields}') f,
       jsonb_array_elements(f.value->'inputFields') i
 ORDER BY (SELECT attnum FROM pg_attribute WHERE attrelid = 'lin.sales'::regclass AND attname = f.key), 2;
-- count(*) without WHERE: an output column with no input field
SELECT jsonb_pretty(jsonb_path_query_first(flowview.openlineage('lin.totals'),
           '$.outputs[0].facets.columnLineage.fields ? (@.total_ms.inputFields[*].name == $n && @.total_ms.inputFields[*].namespace == $ns)',
           jsonb_build_object('n', current_database() || '.lin.events', 'ns', flowview._openlineage_namespace()))
         #- '{total_ms,inputFields,0,name}' #- '{total_ms,inputFields,0,namespace}');
-- one input field per lineage row's (column, source column)
SELECT (SELECT count(*) FROM jsonb_each(flowview.openlineage('lin.sales')#>'{outputs,0,facets,columnLineage,fields}') f,
                             jsonb_array_elements(f.value->'inputFields'))
     = (SELECT count(DISTINCT ("column", source_column)) FROM flowview.lineage('lin.sales') WHERE source_column IS NOT NULL)
       AS fields_match_lineage;

-- eventType follows the view's state: backfilling START, live RUNNING, error FAIL (with errorMessage)
BEGIN;
UPDATE flowview.view_catalog SET state = 'error', error = 'something broke' WHERE view_oid = 'lin.totals'::regclass;
SELECT flowview.openlineage('lin.totals')->>'eventType' AS error_event,
       jsonb_pretty(flowview.openlineage('lin.totals')#>'{run,facets}') AS run_facets;
UPDATE flowview.view_catalog SET state = 'backfilling', error = NULL WHERE view_oid = 'lin.totals'::regclass;
SELECT flowview.openlineage('lin.totals')->>'eventType' AS backfilling_event;
ROLLBACK;
SELECT flowview.openlineage('lin.totals')->>'eventType' AS live_event;

-- the namespace's host: pg_flowview.openlineage_host (IPv6 addresses bracketed)
SET pg_flowview.openlineage_host = 'db.example.com';
SELECT flowview.openlineage('lin.sales')#>>'{job,namespace}' = 'postgres://db.example.com:' || current_setting('port') AS host_from_guc,
       flowview.openlineage('lin.sales')#>>'{outputs,0,namespace}' = 'postgres://db.example.com:' || current_setting('port') AS dataset_namespace;
SET pg_flowview.openlineage_host = '::1';
SELECT flowview.openlineage('lin.sales')#>>'{job,namespace}' = 'postgres://[::1]:' || current_setting('port') AS ipv6_bracketed;
RESET pg_flowview.openlineage_host;

-- bad input
SELECT flowview.openlineage('lin.orders');
SELECT flowview.openlineage(NULL);

-- lineage goes with the view
SELECT flowview.drop_view('lin.shapes');
SELECT count(*) FROM flowview.lineage_graph WHERE view_schema = 'lin';
SELECT * FROM flowview.lineage('lin.shapes');
