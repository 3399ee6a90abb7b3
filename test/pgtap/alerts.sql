-- pgTAP: alert rules.  The functions, view and tables exist with their
-- signatures; bad rules are refused with the right SQLSTATE and leave
-- nothing behind; a rule fires once per episode (events in
-- flowview.alert_events after wait_for_freshness); drop_alert and drop_view
-- remove rules, state and events.
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS pg_flowview;
CREATE TABLE tap_al (id serial PRIMARY KEY, k text, v int);
SELECT flowview.create_view('tap_al_v', $$SELECT k, count(*) AS n, sum(v) AS total FROM tap_al GROUP BY k$$) IS NULL;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT plan(35);

SELECT has_function('flowview', 'create_alert', ARRAY['text', 'regclass', 'text', 'text', 'boolean'],
    'create_alert(text, regclass, text, text, boolean)');
SELECT has_function('flowview', 'drop_alert', ARRAY['text', 'boolean'], 'drop_alert(text, boolean)');
SELECT has_view('flowview', 'alerts', 'flowview.alerts view');
SELECT has_table('flowview', 'alert_events', 'flowview.alert_events table');
SELECT columns_are('flowview', 'alerts', ARRAY['name', 'view', 'condition', 'channel', 'owner', 'created_at',
    'firing_groups', 'events', 'last_fired_at', 'last_error', 'last_error_at'], 'flowview.alerts columns');
SELECT columns_are('flowview', 'alert_events', ARRAY['id', 'alert_id', 'alert', 'view', 'group_key', 'group_values',
    'fired_at', 'ended_at'], 'flowview.alert_events columns');

-- refused rules
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_al_v', 'n +')$$, '42601', NULL, 'syntax error: 42601');
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_al_v', 'true) OR (true')$$, '42601', NULL,
    'unbalanced parenthesis: 42601');
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_al_v', 'true; SELECT 1')$$, '42601',
    'an alert condition must be a single expression', 'two statements: 42601');
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_al_v', 'true FROM pg_class')$$, '42601',
    'an alert condition must be a single expression', 'a FROM clause: 42601');
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_al_v', 'nope > 1')$$, '42703', NULL, 'unknown column: 42703');
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_al_v', 'n')$$, '42804',
    'argument of an alert condition must be type boolean, not type bigint', 'not boolean: 42804');
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_al_v', 'n > (SELECT 1)')$$, '0A000',
    'subqueries are not allowed in an alert condition', 'subquery: 0A000');
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_al_v', 'random() < n')$$, '0A000',
    'volatile functions are not allowed in an alert condition', 'volatile function: 0A000');
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_al_v', 'sum(n) > 1')$$, '0A000',
    'aggregate functions are not allowed in an alert condition', 'aggregate: 0A000');
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_al', 'true')$$, '42809', NULL, 'not a live view: 42809');
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_no_such', 'true')$$, '42P01', NULL, 'unknown view: 42P01');
SELECT throws_ok($$SELECT flowview.create_alert('b', 'tap_al_v', 'true', repeat('c', 64))$$, '22023', NULL,
    'channel name too long: 22023');
SELECT throws_ok($$SELECT flowview.create_alert(NULL, 'tap_al_v', 'true')$$, '22004', NULL, 'NULL name: 22004');
SELECT throws_ok($$SELECT flowview.drop_alert('tap no such')$$, '42704', 'alert "tap no such" does not exist',
    'dropping an unknown alert: 42704');
SELECT is((SELECT count(*) FROM flowview.alerts WHERE name = 'b'), 0::bigint, 'refused rules leave nothing');

-- a rule, its duplicate, hostile names
SELECT lives_ok($$SELECT flowview.create_alert('tap "big"; k', 'tap_al_v', 'total >= 100', 'tap "Chan"')$$,
    'create_alert with quotes and semicolons in the names');
SELECT throws_ok($$SELECT flowview.create_alert('tap "big"; k', 'tap_al_v', 'n > 1')$$, '42710',
    'alert "tap "big"; k" already exists', 'duplicate name: 42710');
SELECT is((SELECT condition FROM flowview.alerts WHERE name = 'tap "big"; k'), '(total >= 100)',
    'the condition is kept deparsed');
SELECT is((SELECT channel FROM flowview.alerts WHERE name = 'tap "big"; k'), 'tap "Chan"', 'the channel as given');

-- once per episode
SELECT pg_sleep(1);  -- the worker rereads its rules every 250 ms
INSERT INTO tap_al (k, v) VALUES ('a', 60), ('b', 10);
SELECT flowview.wait_for_freshness(NULL, '60 s');
INSERT INTO tap_al (k, v) VALUES ('a', 50);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT is((SELECT array_agg(group_key ORDER BY id) FROM flowview.alert_events WHERE alert = 'tap "big"; k'),
    ARRAY['{"k": "a"}'::jsonb], 'a group that starts satisfying the condition fires');
INSERT INTO tap_al (k, v) VALUES ('a', 1);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT is((SELECT count(*) FROM flowview.alert_events WHERE alert = 'tap "big"; k'), 1::bigint,
    'still satisfying: no second event');
DELETE FROM tap_al WHERE k = 'a' AND v = 60;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT is((SELECT ended_at IS NOT NULL FROM flowview.alert_events WHERE alert = 'tap "big"; k'), true,
    'falling below ends the episode');
INSERT INTO tap_al (k, v) VALUES ('a', 70);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT is((SELECT count(*) FROM flowview.alert_events WHERE alert = 'tap "big"; k'), 2::bigint,
    'satisfying again: one more event');
SELECT is((SELECT group_values FROM flowview.alert_events WHERE alert = 'tap "big"; k' ORDER BY id DESC LIMIT 1),
    '{"k": "a", "n": 3, "total": 121}'::jsonb, 'the event carries the group''s row');

-- payloads: at most 8000 bytes, without the values beyond
SELECT is(flowview._alert_payload(7, 'a', 'tap_al_v', '{"k": "x"}', '{"k": "x", "n": 1}', '2026-11-30 10:00:00+00')::jsonb
              - 'fired_at',
          '{"alert": "a", "view": "public.tap_al_v", "group_key": {"k": "x"}, "values": {"k": "x", "n": 1}, "event_id": 7}'::jsonb,
          'the payload''s keys');
SELECT is(flowview._alert_payload(7, 'a', 'tap_al_v', '{"k": "x"}', jsonb_build_object('k', repeat('x', 9000)), now())::jsonb
              ->> 'values_omitted', 'true', 'a payload over 8000 bytes omits the values');

-- drop_alert; drop_view takes the view's rules along
SELECT lives_ok($$SELECT flowview.drop_alert('tap "big"; k')$$, 'drop_alert');
SELECT is((SELECT count(*) FROM flowview.alert_events WHERE alert = 'tap "big"; k'), 0::bigint,
    'drop_alert removes its events');
SELECT flowview.create_alert('tap gone with the view', 'tap_al_v', 'n > 100');
SELECT flowview.drop_view('tap_al_v');
SELECT is((SELECT count(*) FROM flowview.alerts WHERE name = 'tap gone with the view'), 0::bigint,
    'drop_view removes the view''s rules');

SELECT * FROM finish();
DROP TABLE tap_al;
