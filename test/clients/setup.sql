-- test/clients/setup.sql: the database the JDBC and ODBC suites query
-- (run by test/run-all.sh, suite "clients", as postgres over the socket,
-- in database fv_clients; psql variable pw is the roles' password).
--
-- A shop with orders from the units of an organisation, a live view that
-- dashboards read, organisational row-level security on it, and three login
-- roles that connect over TCP with TLS and scram-sha-256:
--   dash_admin   member of flowview_admin: creates the view, sees every row
--   dash_alice   analyst of unit emea    (sees emea, emea-fr, emea-de)
--   dash_bob     analyst of unit amer-us (sees amer-us only)
-- The hierarchy and the analysts' units are also kept as plain data
-- (dash.org_tree, dash.analysts) so that the clients can compute what each
-- analyst should see from the source table alone.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET TimeZone = 'UTC';

CREATE EXTENSION pg_flowview;

CREATE ROLE dash_admin LOGIN PASSWORD :'pw';
CREATE ROLE dash_alice LOGIN PASSWORD :'pw';
CREATE ROLE dash_bob LOGIN PASSWORD :'pw';
GRANT flowview_admin TO dash_admin;
GRANT flowview_reader TO dash_alice, dash_bob;

CREATE SCHEMA dash;
GRANT USAGE ON SCHEMA dash TO dash_alice, dash_bob;
GRANT USAGE, CREATE ON SCHEMA dash TO dash_admin;

CREATE TABLE dash.org_tree (
    unit   text PRIMARY KEY,
    parent text REFERENCES dash.org_tree,
    depth  int NOT NULL
);
INSERT INTO dash.org_tree VALUES
    ('acme', NULL, 0),
    ('emea', 'acme', 1), ('amer', 'acme', 1),
    ('emea-fr', 'emea', 2), ('emea-de', 'emea', 2),
    ('amer-us', 'amer', 2), ('amer-ca', 'amer', 2);

CREATE TABLE dash.analysts (role name, unit text REFERENCES dash.org_tree);
INSERT INTO dash.analysts VALUES ('dash_alice', 'emea'), ('dash_bob', 'amer-us');

CREATE TABLE dash.orders (
    id     bigserial PRIMARY KEY,
    org    text NOT NULL,
    ts     timestamptz NOT NULL,
    qty    int NOT NULL,
    amount numeric(12,2) NOT NULL
);
-- 3,000 orders over ~35 hours, every unit (the root acme too) gets some
INSERT INTO dash.orders (org, ts, qty, amount)
SELECT (ARRAY['acme', 'emea', 'amer', 'emea-fr', 'emea-de', 'amer-us', 'amer-ca'])[1 + i % 7],
       timestamptz '2026-11-02 00:00:00+00' + i * interval '41 seconds' + (i % 13) * interval '1 ms',
       1 + i % 5,
       (i % 97) * 1.25 + 0.99
  FROM generate_series(1, 3000) AS i;

-- create_view sets REPLICA IDENTITY FULL itself only for the table's owner
ALTER TABLE dash.orders REPLICA IDENTITY FULL;
GRANT SELECT ON dash.org_tree, dash.analysts TO dash_admin;
GRANT SELECT, INSERT ON dash.orders TO dash_admin;
GRANT USAGE ON SEQUENCE dash.orders_id_seq TO dash_admin;

-- the hierarchy, through the extension's API
SELECT flowview.add_org_unit(unit, parent) FROM dash.org_tree ORDER BY depth, unit;
SELECT flowview.assign_role(role::regrole, unit) FROM dash.analysts;

-- the admin creates the dashboard's live view and lets the analysts read it
SET ROLE dash_admin;
SELECT flowview.create_view('dash.sales_hourly',
    $$SELECT org, date_trunc('hour', ts) AS hour,
             count(*) AS orders, sum(qty) AS units, sum(amount) AS revenue,
             avg(amount) AS avg_amount, max(ts) AS last_order_at
        FROM dash.orders GROUP BY 1, 2$$);
SELECT flowview.enable_org_security('dash.sales_hourly', 'org');
GRANT SELECT ON dash.sales_hourly TO dash_alice, dash_bob;
-- its changefeed: dash.sales_hourly_changes(cursor), NOTIFY sales_hourly_changes
SELECT flowview.enable_changefeed('dash.sales_hourly');
RESET ROLE;

DO $$
BEGIN
    IF NOT flowview.wait_for_freshness('dash.sales_hourly', '60 s') THEN
        RAISE EXCEPTION 'dash.sales_hourly is not live after 60 s';
    END IF;
END $$;
