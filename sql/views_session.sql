-- Session windows: flowview.create_session_view.  Per key, rows closer
-- than the gap form a session; a row between two sessions merges them, a
-- deleted row splits one, an updated one moves between sessions and keys;
-- NULL keys form their own sessions, NULL times none; an empty key is one
-- stream; a timestamp without time zone.  Each view equal to its defining
-- query (flowview.views.query) after each step and after a seeded random
-- workload; refresh, drop, and the refusals.
\set VERBOSITY default
SET timezone = 'UTC';
CREATE TABLE se_clicks (id int PRIMARY KEY, usr text, dev text, ts timestamptz, amount int);
CREATE TABLE se_local (id int PRIMARY KEY, usr text, ts timestamp, amount int);
INSERT INTO se_clicks VALUES
  (1, 'ann', 'web', '2026-01-01 10:00:00+00', 5),
  (2, 'ann', 'web', '2026-01-01 10:03:00+00', 7),
  (3, 'ann', 'app', '2026-01-01 10:11:00+00', 1),    -- a new session: 8 minutes later
  (4, 'bob', 'web', '2026-01-01 10:01:00+00', 4),
  (5, NULL, 'web', '2026-01-01 10:02:00+00', 2),
  (6, 'bob', 'app', NULL, 9);                         -- no time: in no session
INSERT INTO se_local SELECT i, 'u' || (i % 2), timestamp '2026-01-01 00:00' + i * interval '4 minutes', i FROM generate_series(1, 12) i;
SELECT flowview.create_session_view('se_user', 'se_clicks', '{usr}', 'ts', interval '5 minutes',
                                    'count(*) AS clicks, sum(amount) AS spent, max(amount) AS top');
SELECT flowview.create_session_view('se_user_dev', 'se_clicks', '{usr,dev}', 'ts', interval '90 seconds',
                                    'count(*) AS n, min(amount) AS lo, avg(amount) AS mean, max(dev) AS last_dev');
SELECT flowview.create_session_view('se_all', 'se_clicks', '{}', 'ts', interval '10 minutes', 'count(*) AS n');
SELECT flowview.create_session_view('se_local_user', 'se_local', '{usr}', 'ts', interval '6 minutes', 'sum(amount) AS s');
CREATE FUNCTION se_diff() RETURNS TABLE (name text, side text, row_text text) LANGUAGE plpgsql AS $$
DECLARE
  v record;
BEGIN
  FOR v IN SELECT view::text AS name, query FROM flowview.views WHERE view::text LIKE 'se\_%' ORDER BY 1 LOOP
    RETURN QUERY EXECUTE format('SELECT %L, ''view only'', x::text FROM (SELECT * FROM %s EXCEPT ALL %s) x', v.name, v.name, v.query);
    RETURN QUERY EXECUTE format('SELECT %L, ''query only'', x::text FROM (%s EXCEPT ALL SELECT * FROM %s) x', v.name, v.query, v.name);
  END LOOP;
END $$;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT view, state FROM flowview.views WHERE view::text LIKE 'se\_%' ORDER BY 1;
\d se_user
SELECT * FROM se_user ORDER BY usr, session_start;
SELECT * FROM se_all ORDER BY session_start;
SELECT * FROM se_diff() ORDER BY 1, 2, 3;

-- a row between ann's two sessions (10:00-10:03 and 10:11), less than 5
-- minutes from both, merges them; one exactly 5 minutes after a session
-- starts a new one
INSERT INTO se_clicks VALUES (7, 'ann', 'web', '2026-01-01 10:07:00+00', 3);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT * FROM se_user WHERE usr = 'ann' ORDER BY session_start;
INSERT INTO se_clicks VALUES (8, 'ann', 'app', '2026-01-01 10:16:00+00', 3);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT * FROM se_user WHERE usr = 'ann' ORDER BY session_start;
SELECT * FROM se_diff() ORDER BY 1, 2, 3;
-- deleting the middle row splits it again
DELETE FROM se_clicks WHERE id = 7;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT * FROM se_user WHERE usr = 'ann' ORDER BY session_start;
-- a row moved in time and to another key; a NULL key's session grows; a
-- row gets a time and joins a session
UPDATE se_clicks SET ts = '2026-01-01 10:12:00+00' WHERE id = 8;
UPDATE se_clicks SET usr = 'bob' WHERE id = 2;
INSERT INTO se_clicks VALUES (9, NULL, 'app', '2026-01-01 10:05:00+00', 6);
UPDATE se_clicks SET ts = '2026-01-01 10:04:00+00' WHERE id = 6;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT * FROM se_user ORDER BY usr, session_start;
SELECT * FROM se_diff() ORDER BY 1, 2, 3;
-- the time column without time zone
UPDATE se_local SET ts = ts + interval '30 minutes' WHERE id = 6;
DELETE FROM se_local WHERE id = 9;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT * FROM se_local_user ORDER BY usr, session_start;

-- a seeded workload: 40 transactions of inserts, moves and deletes
SELECT setseed(0.42);
CREATE PROCEDURE se_work(n int) LANGUAGE plpgsql AS $$
DECLARE
  i int;
  j int;
  nid int;
BEGIN
  FOR i IN 1 .. n LOOP
    FOR j IN 1 .. 1 + (random() * 6)::int LOOP
      SELECT coalesce(max(id), 0) + 1 INTO nid FROM se_clicks;
      CASE (random() * 5)::int
        WHEN 0, 1 THEN
          INSERT INTO se_clicks VALUES (nid, (ARRAY['ann', 'bob', 'cy', NULL])[1 + (random() * 3)::int],
                                        (ARRAY['web', 'app'])[1 + (random())::int],
                                        CASE WHEN random() < 0.05 THEN NULL
                                             ELSE timestamptz '2026-01-01 09:00:00+00' + (random() * 180)::int * interval '1 minute' END,
                                        (random() * 20)::int);
        WHEN 2 THEN
          UPDATE se_clicks SET ts = ts + ((random() * 20)::int - 10) * interval '1 minute'
           WHERE id = (SELECT id FROM se_clicks ORDER BY random() LIMIT 1);
        WHEN 3 THEN
          UPDATE se_clicks SET usr = (ARRAY['ann', 'bob', 'cy', NULL])[1 + (random() * 3)::int], amount = amount + 1
           WHERE id = (SELECT id FROM se_clicks ORDER BY random() LIMIT 1);
        ELSE
          DELETE FROM se_clicks WHERE id = (SELECT id FROM se_clicks ORDER BY random() LIMIT 1);
      END CASE;
    END LOOP;
    COMMIT;
  END LOOP;
END $$;
CALL se_work(40);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT count(*) > 10 AS many_sessions FROM se_user;
SELECT * FROM se_diff() ORDER BY 1, 2, 3;
CALL se_work(40);
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT * FROM se_diff() ORDER BY 1, 2, 3;
-- TRUNCATE empties them; refresh_view recomputes
TRUNCATE se_local;
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT count(*) AS after_truncate FROM se_local_user;
SELECT flowview.refresh_view('se_user');
SELECT flowview.wait_for_freshness(NULL, '60 s');
SELECT * FROM se_diff() ORDER BY 1, 2, 3;

-- refused
\set ON_ERROR_STOP 0
SELECT flowview.create_session_view(NULL, 'se_clicks', '{usr}', 'ts', interval '5 minutes', 'count(*) AS n');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'ts', NULL, 'count(*) AS n');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'ts', interval '0', 'count(*) AS n');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr,NULL}', 'ts', interval '5 minutes', 'count(*) AS n');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{nope}', 'ts', interval '5 minutes', 'count(*) AS n');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'amount', interval '5 minutes', 'count(*) AS n');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'nope', interval '5 minutes', 'count(*) AS n');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'ts', interval '5 minutes', 'count(*)');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'ts', interval '5 minutes', 'amount + 1 AS a');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'ts', interval '5 minutes', 'string_agg(dev, '','') AS d');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'ts', interval '5 minutes', 'count(DISTINCT dev) AS d');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'ts', interval '5 minutes', 'sum(nope) AS d');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'ts', interval '5 minutes', 'sum(amount * 2) AS d');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'ts', interval '5 minutes', 'count(*) AS n FROM pg_class');
SELECT flowview.create_session_view('se_bad', 'se_clicks', '{usr}', 'ts', interval '5 minutes', 'count(*) AS n; DROP TABLE se_local');
SELECT flowview.create_session_view('se_bad', 'se_user', '{usr}', 'session_start', interval '5 minutes', 'count(*) AS n');
SELECT flowview.create_session_view('se_bad', 'pg_class', '{}', 'relname', interval '5 minutes', 'count(*) AS n');
SELECT flowview.create_view('se_bad', $$SELECT usr, count(*) FROM se_user GROUP BY usr$$);
SELECT flowview.alter_view('se_user', $$SELECT usr, count(*) FROM se_clicks GROUP BY usr$$);
SELECT * FROM flowview.lineage('se_user');
\set VERBOSITY terse
SELECT flowview.openlineage('se_user') IS NOT NULL;
\set VERBOSITY default
-- the other functions that take a live view: a clear error or an answer
SELECT flowview.enable_org_security('se_user', 'usr');
SELECT flowview.create_alert('se_alert', 'se_user', 'clicks > 3');
SELECT flowview.set_retention('se_user', interval '1 day');
SELECT flowview.storage_column('se_user', 'usr');
\set ON_ERROR_STOP 1
SELECT flowview.disable_org_security('se_user');
SELECT flowview.storage_table('se_user') IS NOT NULL AS has_storage;
SELECT flowview.set_freshness_sla('se_user', interval '1 minute');
SELECT view, freshness_sla FROM flowview.views WHERE view = 'se_user'::regclass;
SELECT count(*) AS refused_left_nothing FROM flowview.views WHERE view::text LIKE 'se\_bad%';
SELECT to_regclass('se_local') IS NOT NULL AS se_local_still_there;
-- dropping
SELECT flowview.drop_view(v) FROM (SELECT view AS v FROM flowview.views WHERE view::text LIKE 'se\_%' ORDER BY view::text) x;
DROP PROCEDURE se_work(int);
DROP FUNCTION se_diff();
DROP TABLE se_clicks, se_local;
