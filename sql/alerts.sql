-- Alert rules on live data: create_alert / drop_alert / flowview.alerts,
-- rejected rules (with their SQLSTATEs), events after wait_for_freshness and
-- the once-per-episode rule (HAVING, NULL keys, views without GROUP BY,
-- TRUNCATE, conditions that fail at run time, evaluation as the rule's
-- owner).  The NOTIFY payloads a listening session receives are in the Perl
-- TAP test 006_alerts_notify.
CREATE TABLE al_orders (id serial PRIMARY KEY, region text, ts timestamptz, amount numeric);
CREATE TABLE al_logins (id serial PRIMARY KEY, username text, ts timestamptz, ok boolean);
SELECT flowview.create_view('al_per_minute',
    $$SELECT region, date_trunc('minute', ts) AS minute, count(*) AS orders, sum(amount) AS revenue
        FROM al_orders GROUP BY 1, 2$$) IS NOT NULL AS created;
SELECT flowview.create_view('al_login_failures',
    $$SELECT username, date_trunc('minute', ts) AS minute, count(*) FILTER (WHERE NOT ok) AS failures
        FROM al_logins GROUP BY 1, 2$$) IS NOT NULL AS created;
SELECT flowview.create_view('al_small', $$SELECT region, count(*) AS n FROM al_orders GROUP BY region HAVING count(*) < 5$$)
    IS NOT NULL AS created;
SELECT flowview.create_view('al_total', $$SELECT count(*) AS n FROM al_orders$$) IS NOT NULL AS created;
SELECT flowview.create_view('al_nokey', $$SELECT count(*) AS n FROM al_orders GROUP BY region$$) IS NOT NULL AS created;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;

-- the API
\df flowview.create_alert
\df flowview.drop_alert
\d flowview.alerts
\d flowview.alert_events
SELECT flowview.create_alert('order burst', 'al_per_minute', 'orders > 3');
SELECT flowview.create_alert('suspicious logins', 'al_login_failures', 'failures >= 5', channel => 'security');
-- hostile names are data, never SQL
SELECT flowview.create_alert('Robert''); DROP TABLE al_orders; --', 'al_small', 'n >= 3',
                             channel => 'Mixed "Case"; chan');
SELECT flowview.create_alert(repeat('x', 255), 'al_total', 'n >= 1000');
SELECT flowview.create_alert('total', 'al_total', 'n >= 7');
-- conditions are stored checked and deparsed
SELECT flowview.create_alert('recent', 'al_per_minute', E'minute > now() - interval \'1 hour\' -- a comment\n AND revenue::float8 > 1e6');
SELECT name, view, condition, channel, owner, firing_groups, events, last_fired_at, last_error
  FROM flowview.alerts ORDER BY name;

-- rejected rules: a clear error with the right SQLSTATE, nothing created
\set SHOW_CONTEXT never
SELECT flowview.create_alert('bad', 'al_per_minute', 'orders + 1');
SELECT flowview.create_alert('bad', 'al_per_minute', 'nope > 1');
SELECT flowview.create_alert('bad', 'al_per_minute', 'orders >');
SELECT flowview.create_alert('bad', 'al_per_minute', 'true; DROP TABLE al_orders');
SELECT flowview.create_alert('bad', 'al_nokey', 'n > 1');
\set SHOW_CONTEXT errors
CREATE FUNCTION al_try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT q, al_try(q) FROM (VALUES
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'orders + 1')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'region')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'nope > 1')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'al_orders.amount > 1')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', '')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'orders > 1)')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'true) FROM pg_authid WHERE (true')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'true FROM pg_authid')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'true UNION SELECT false')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'true, false')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'orders > 1 AS x')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'orders > $1')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'orders > (SELECT 1)')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'EXISTS (SELECT FROM pg_authid)')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'random() > 0.5')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'minute < clock_timestamp()')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'count(*) > 1')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'row_number() OVER () > 1')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'generate_series(1, orders) > 1')$$),
    ($$SELECT flowview.create_alert('bad', 'al_orders', 'true')$$),
    ($$SELECT flowview.create_alert('bad', 'no_such_view', 'true')$$),
    ($$SELECT flowview.create_alert('bad', 'al_nokey', 'n > 1')$$),
    ($$SELECT flowview.create_alert('order burst', 'al_per_minute', 'orders > 5')$$),
    ($$SELECT flowview.create_alert('', 'al_per_minute', 'true')$$),
    ($$SELECT flowview.create_alert(repeat('x', 256), 'al_per_minute', 'true')$$),
    ($$SELECT flowview.create_alert(NULL, 'al_per_minute', 'true')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', NULL)$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'true', '')$$),
    ($$SELECT flowview.create_alert('bad', 'al_per_minute', 'true', repeat('c', 64))$$),
    ($$SELECT flowview.drop_alert('no such alert')$$),
    ($$SELECT flowview.drop_alert('no such alert', if_exists => true)$$)
) t(q);
SELECT count(*) AS rules FROM flowview.alerts;
SELECT flowview.drop_alert('recent');
SELECT flowview.drop_alert(repeat('x', 255));
SELECT name FROM flowview.alerts ORDER BY name;

-- the worker rereads its rules every 250 ms
SELECT pg_sleep(1);

-- an order burst: a group that starts satisfying the condition fires once
INSERT INTO al_orders (region, ts, amount) SELECT 'eu', '2026-11-30 10:00:10+00', 10 FROM generate_series(1, 3);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT count(*) AS events FROM flowview.alert_events WHERE alert = 'order burst';    -- 3 orders: none
INSERT INTO al_orders (region, ts, amount) VALUES ('eu', '2026-11-30 10:00:20+00', 10);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT id, alert, view, group_key, group_values, ended_at IS NOT NULL AS ended
  FROM flowview.alert_events WHERE alert = 'order burst' ORDER BY id;
-- still bursting: nothing new
INSERT INTO al_orders (region, ts, amount) SELECT 'eu', '2026-11-30 10:00:30+00', 10 FROM generate_series(1, 2);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT count(*) AS events, count(*) FILTER (WHERE ended_at IS NULL) AS open
  FROM flowview.alert_events WHERE alert = 'order burst';
SELECT name, firing_groups, events FROM flowview.alerts WHERE name = 'order burst';
-- falls below: the episode ends (no event); bursts again: one more
DELETE FROM al_orders WHERE id IN (SELECT id FROM al_orders WHERE region = 'eu' ORDER BY id LIMIT 3);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT id, group_values->'orders' AS orders, ended_at IS NOT NULL AS ended
  FROM flowview.alert_events WHERE alert = 'order burst' ORDER BY id;
SELECT name, firing_groups, events FROM flowview.alerts WHERE name = 'order burst';
INSERT INTO al_orders (region, ts, amount) VALUES ('eu', '2026-11-30 10:00:40+00', 10);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT id, group_values->'orders' AS orders, ended_at IS NOT NULL AS ended
  FROM flowview.alert_events WHERE alert = 'order burst' ORDER BY id;
-- another minute, another group; a NULL region is an ordinary group
INSERT INTO al_orders (region, ts, amount)
SELECT r, '2026-11-30 10:01:00+00', 1 FROM generate_series(1, 4), (VALUES ('eu'), (NULL)) v(r);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT id, group_key, group_values->'orders' AS orders, ended_at IS NOT NULL AS ended
  FROM flowview.alert_events WHERE alert = 'order burst' ORDER BY id;
-- a group that disappears ends its episode
DELETE FROM al_orders WHERE region IS NULL;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT id, group_key, ended_at IS NOT NULL AS ended
  FROM flowview.alert_events WHERE alert = 'order burst' ORDER BY id;

-- suspicious logins: failures, not attempts
INSERT INTO al_logins (username, ts, ok)
SELECT u, '2026-11-30 10:00:05+00', ok FROM generate_series(1, 5), (VALUES ('alice', true), ('mallory', false)) v(u, ok);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT alert, group_key, group_values FROM flowview.alert_events WHERE alert = 'suspicious logins' ORDER BY id;

-- HAVING: the condition holds on the view's visible rows; a group HAVING
-- hides does not satisfy it.  al_small (HAVING count(*) < 5, rule n >= 3)
-- saw the orders above: eu reached 3 (fired), 6 (hidden: ended), 3 (fired),
-- 8 (hidden: ended); the NULL region reached 4 (fired) and disappeared.
SELECT * FROM al_small ORDER BY region;
SELECT id, group_key, group_values, ended_at IS NOT NULL AS ended
  FROM flowview.alert_events WHERE view = 'al_small'::regclass ORDER BY id;
-- eu down to 4: visible again, fires
DELETE FROM al_orders WHERE id = (SELECT min(id) FROM al_orders WHERE region = 'eu');
DELETE FROM al_orders WHERE id = (SELECT min(id) FROM al_orders WHERE region = 'eu');
DELETE FROM al_orders WHERE id = (SELECT min(id) FROM al_orders WHERE region = 'eu');
DELETE FROM al_orders WHERE id = (SELECT min(id) FROM al_orders WHERE region = 'eu');
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT * FROM al_small ORDER BY region;
SELECT id, alert, group_key, group_values, ended_at IS NOT NULL AS ended
  FROM flowview.alert_events WHERE view = 'al_small'::regclass ORDER BY id;

-- a view without GROUP BY: one group, key {}
SELECT n FROM al_total;
SELECT alert, group_key, group_values, ended_at IS NOT NULL AS ended
  FROM flowview.alert_events WHERE alert = 'total' ORDER BY id;

-- TRUNCATE empties the views: every open episode of their rules ends
TRUNCATE al_orders;
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT name, firing_groups FROM flowview.alerts ORDER BY name;
SELECT count(*) FILTER (WHERE ended_at IS NULL) AS open FROM flowview.alert_events WHERE view <> 'al_login_failures'::regclass;
INSERT INTO al_orders (region, ts, amount) SELECT 'eu', '2026-11-30 10:00:00+00', 10 FROM generate_series(1, 4);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT alert, group_key, ended_at IS NOT NULL AS ended
  FROM flowview.alert_events WHERE alert = 'order burst' ORDER BY id DESC LIMIT 1;

-- a condition that fails at run time: the rule is skipped (WARNING in the
-- server log, last_error), the view and the other rules go on
SELECT flowview.create_alert('divide', 'al_total', '100 / (n - 5) > 0');
SELECT pg_sleep(1);
INSERT INTO al_orders (region, ts, amount) VALUES ('us', '2026-11-30 11:00:00+00', 1);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT name, last_error, last_error_at IS NOT NULL AS failed_at FROM flowview.alerts WHERE name = 'divide';
SELECT view, state FROM flowview.views WHERE view = 'al_total'::regclass;
INSERT INTO al_orders (region, ts, amount) VALUES ('us', '2026-11-30 11:00:00+00', 1);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT name, last_error, events FROM flowview.alerts WHERE name = 'divide';

-- rules are created by flowview_admin members on views they own, and
-- evaluated as the role that created them
CREATE ROLE al_owner IN ROLE flowview_admin;
ALTER VIEW al_per_minute OWNER TO al_owner;
GRANT SELECT ON al_per_minute TO al_owner;   -- read grants follow the view to its storage
SET ROLE al_owner;
SELECT al_try($$SELECT flowview.create_alert('not mine', 'al_total', 'true')$$);
SELECT flowview.create_alert('as owner', 'al_per_minute', 'orders >= 1 AND current_user = ''al_owner''');
SELECT name, owner FROM flowview.alerts WHERE name = 'as owner';
RESET ROLE;
CREATE ROLE al_other;
SET ROLE al_other;
SELECT al_try($$SELECT flowview.create_alert('not admin', 'al_total', 'true')$$);
RESET ROLE;
SELECT pg_sleep(1);
INSERT INTO al_orders (region, ts, amount) VALUES ('asia', '2026-11-30 12:00:00+00', 1);
SELECT flowview.wait_for_freshness(NULL, '60 s') AS fresh;
SELECT alert, group_key FROM flowview.alert_events WHERE alert = 'as owner';
SET ROLE al_owner;
SELECT flowview.drop_alert('as owner');
RESET ROLE;
REVOKE SELECT ON al_per_minute FROM al_owner;
ALTER VIEW al_per_minute OWNER TO CURRENT_USER;
DROP ROLE al_owner, al_other;

-- drop_alert removes the rule, its state and its events; drop_view (and
-- DROP TABLE ... CASCADE of the source) removes the view's rules
SELECT flowview.drop_alert('total');
SELECT count(*) AS events_left FROM flowview.alert_events WHERE alert = 'total';
SELECT flowview.drop_view('al_small');
SELECT name FROM flowview.alerts ORDER BY name;
DROP TABLE al_orders CASCADE;
DROP TABLE al_logins CASCADE;
SELECT count(*) AS rules, (SELECT count(*) FROM flowview.alert_events) AS events,
       (SELECT count(*) FROM flowview.alert_state) AS states
  FROM flowview.alerts;
DROP FUNCTION al_try(text);
