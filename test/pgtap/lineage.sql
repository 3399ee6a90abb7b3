-- pgTAP: the lineage functions exist with their signatures and SQLSTATEs,
-- and flowview.openlineage() returns a RunEvent with every field the
-- OpenLineage 2-0-2 spec requires (RunEvent: eventTime, producer, schemaURL,
-- run.runId, job.namespace, job.name; datasets: namespace, name; facets:
-- _producer, _schemaURL; columnLineage: fields.*.inputFields[*] with
-- namespace, name, field and transformations of type DIRECT or INDIRECT),
-- checked with jsonb path expressions.
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS pg_flowview;
CREATE TABLE tap_l (id int PRIMARY KEY, shop text, paid boolean, price numeric, at timestamptz);
INSERT INTO tap_l SELECT i, 's' || (i % 3), i % 2 = 0, i, timestamptz '2024-01-01' + i * interval '1 h'
  FROM generate_series(1, 30) i;
SET client_min_messages = warning;
SELECT flowview.create_view('tap_lv', $$SELECT shop, date_trunc('day', at) AS day, count(*) AS n,
    sum(price) FILTER (WHERE paid) AS paid_total FROM tap_l WHERE price > 0 GROUP BY 1, 2$$) IS NULL;
RESET client_min_messages;
-- (a second wait starts the apply worker again should the first one have
-- looked at the catalog before create_view committed, and exited)
SELECT flowview.wait_for_freshness(NULL, '10 s') OR flowview.wait_for_freshness(NULL, '60 s');
CREATE TEMP TABLE ev AS SELECT flowview.openlineage('tap_lv') AS doc;
SELECT plan(37);

-- the functions and their errors
SELECT has_function('flowview', 'lineage', ARRAY['regclass'], 'lineage(regclass)');
SELECT has_view('flowview', 'lineage_graph', 'flowview.lineage_graph view');
SELECT has_function('flowview', 'openlineage', ARRAY['regclass'], 'openlineage(regclass)');
SELECT function_returns('flowview', 'openlineage', ARRAY['regclass'], 'jsonb', 'openlineage returns jsonb');
SELECT columns_are('flowview', 'lineage_graph',
    ARRAY['source_schema', 'source_table', 'view_schema', 'view_name', 'source', 'view', 'source_kind',
          'source_columns', 'depth', 'state', 'created_at'], 'lineage_graph columns');
SELECT throws_ok($$SELECT * FROM flowview.lineage('tap_l')$$, '42809', NULL,
    'lineage of a plain table: wrong_object_type');
SELECT throws_ok($$SELECT * FROM flowview.lineage('tap_no_such_view')$$, '42P01', NULL,
    'lineage of a missing relation: undefined_table');
SELECT throws_ok($$SELECT flowview.openlineage('tap_l')$$, '42809', NULL,
    'openlineage of a plain table: wrong_object_type');
SELECT is((SELECT count(*) FROM flowview.lineage(NULL)), 0::bigint, 'lineage(NULL): no rows');
SELECT is(flowview.openlineage(NULL), NULL, 'openlineage(NULL) is NULL');

-- lineage rows
SELECT set_eq($$SELECT "column", source_column, transformation FROM flowview.lineage('tap_lv') WHERE direct$$,
    $$VALUES ('shop', 'shop', 'group key'), ('day', 'at', 'expression: date_trunc'),
             ('n', NULL, 'aggregate: count(*)'), ('paid_total', 'price', 'aggregate: sum')$$,
    'direct lineage: group key, expression, aggregates (count(*) without a column)');
SELECT set_eq($$SELECT "column", source_column FROM flowview.lineage('tap_lv') WHERE transformation = 'filter'$$,
    $$VALUES ('shop', 'price'), ('day', 'price'), ('n', 'price'), ('paid_total', 'price'), ('paid_total', 'paid')$$,
    'filters: WHERE for every column, FILTER for its aggregate');
SELECT is((SELECT bool_and(depth = 1) FROM flowview.lineage('tap_lv')), true, 'depth 1: live views read tables');
SELECT is((SELECT count(*) FROM flowview.lineage_graph WHERE view = 'tap_lv'::regclass AND source = 'tap_l'::regclass),
    1::bigint, 'lineage_graph: the edge tap_l -> tap_lv');

-- RunEvent: required fields and constants
SELECT ok(jsonb_path_exists(doc, '$.eventTime ? (@.type() == "string")'), 'eventTime') FROM ev;
SELECT ok(jsonb_path_exists(doc, '$.producer ? (@.type() == "string")'), 'producer') FROM ev;
SELECT is(doc->>'schemaURL', 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent', 'schemaURL') FROM ev;
SELECT ok(jsonb_path_exists(doc, '$.run.runId ? (@ like_regex "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")'),
    'run.runId is a UUID') FROM ev;
SELECT ok(jsonb_path_exists(doc, '$.job.namespace ? (@ starts with "postgres://")'), 'job.namespace postgres://...') FROM ev;
SELECT is(doc#>>'{job,name}', current_database() || '.public.tap_lv', 'job.name database.schema.view') FROM ev;
SELECT ok(jsonb_path_exists(doc, '$.eventType ? (@ == "START" || @ == "RUNNING" || @ == "COMPLETE" || @ == "ABORT" || @ == "FAIL" || @ == "OTHER")'),
    'eventType from the spec''s enum') FROM ev;
SELECT is(doc->>'eventType', 'RUNNING', 'a live view: RUNNING') FROM ev;
SELECT ok(jsonb_path_exists(doc, '$.eventTime ? (@.datetime("YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"").type() == "timestamp without time zone")'),
    'eventTime is ISO 8601 (UTC)') FROM ev;

-- datasets: namespace and name; one input (the source), one output (the view)
SELECT is(jsonb_path_query_array(doc, '$.inputs[*].name'), jsonb_build_array(current_database() || '.public.tap_l'),
    'inputs: the source, database.schema.table') FROM ev;
SELECT is(jsonb_path_query_array(doc, '$.outputs[*].name'), jsonb_build_array(current_database() || '.public.tap_lv'),
    'outputs: the view') FROM ev;
SELECT ok(NOT jsonb_path_exists(doc, '$.inputs[*] ? (!exists(@.namespace) || !exists(@.name))')
          AND NOT jsonb_path_exists(doc, '$.outputs[*] ? (!exists(@.namespace) || !exists(@.name))'),
    'every dataset has namespace and name') FROM ev;
SELECT ok(NOT jsonb_path_exists(doc, '$.*[*].namespace ? (@ != $ns)', jsonb_build_object('ns', doc#>'{job,namespace}')),
    'datasets share the job''s namespace') FROM ev;

-- facets: every one has _producer and _schemaURL
SELECT ok(jsonb_path_exists(doc, '$.outputs[0].facets.schema') AND jsonb_path_exists(doc, '$.outputs[0].facets.columnLineage'),
    'output facets schema and columnLineage') FROM ev;
SELECT ok(NOT jsonb_path_exists(doc, '$.**.facets.* ? (!exists(@._producer) || !exists(@._schemaURL))'),
    'every facet has _producer and _schemaURL') FROM ev;
SELECT is(doc#>>'{outputs,0,facets,columnLineage,_schemaURL}',
    'https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet',
    'columnLineage facet schema') FROM ev;

-- the schema facet: the view's columns with types
SELECT is(jsonb_path_query_array(doc, '$.outputs[0].facets.schema.fields[*].name'),
    '["shop", "day", "n", "paid_total"]'::jsonb, 'schema facet: the view''s columns in order') FROM ev;
SELECT ok(NOT jsonb_path_exists(doc, '$.outputs[0].facets.schema.fields[*] ? (!exists(@.name) || !exists(@.type))'),
    'schema facet: every field has name and type') FROM ev;

-- the columnLineage facet
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(doc#>'{outputs,0,facets,columnLineage,fields}') k),
    ARRAY['day', 'n', 'paid_total', 'shop'], 'columnLineage: a field per output column') FROM ev;
SELECT ok(NOT jsonb_path_exists(doc, '$.outputs[0].facets.columnLineage.fields.* ? (!exists(@.inputFields))')
          AND NOT jsonb_path_exists(doc, '$.outputs[0].facets.columnLineage.fields.*.inputFields[*] ? (!exists(@.namespace) || !exists(@.name) || !exists(@.field))'),
    'columnLineage: inputFields with namespace, name, field') FROM ev;
SELECT ok(NOT jsonb_path_exists(doc, '$.outputs[0].facets.columnLineage.fields.*.inputFields[*].transformations[*] ? (!(@.type == "DIRECT" || @.type == "INDIRECT"))')
          AND NOT jsonb_path_exists(doc, '$.outputs[0].facets.columnLineage.fields.*.inputFields[*].transformations[*] ? (!(@.subtype == "IDENTITY" || @.subtype == "TRANSFORMATION" || @.subtype == "AGGREGATION" || @.subtype == "FILTER" || @.subtype == "GROUP_BY"))'),
    'transformations: type DIRECT|INDIRECT, subtype from the spec') FROM ev;
SELECT is(jsonb_path_query_array(doc, '$.outputs[0].facets.columnLineage.fields.paid_total.inputFields[*] ? (@.field == "price").transformations[*].subtype'),
    '["AGGREGATION", "FILTER"]'::jsonb, 'paid_total: sum of price (DIRECT) and WHERE price > 0 (INDIRECT)') FROM ev;
SELECT is(jsonb_path_query_array(doc, '$.outputs[0].facets.columnLineage.fields.shop.inputFields[*] ? (@.field == "shop").transformations[*].type'),
    '["DIRECT"]'::jsonb, 'shop: DIRECT IDENTITY of shop') FROM ev;

SELECT * FROM finish();
