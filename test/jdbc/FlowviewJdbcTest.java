/*
 * test/jdbc/FlowviewJdbcTest.java: a dashboard reading a live view through
 * the PostgreSQL JDBC driver (Debian's libpostgresql-jdbc-java), over TCP on
 * loopback with TLS, as two analysts from different branches of the
 * organisation and as an admin.
 *
 * Compiled and run by test/run-all.sh (suite "clients") against the database
 * made by test/clients/setup.sql:
 *   javac -cp /usr/share/java/postgresql.jar -d OUT FlowviewJdbcTest.java
 *   java -cp /usr/share/java/postgresql.jar:OUT FlowviewJdbcTest
 * Environment: FV_PORT, FV_DB, FV_CLIENT_PASSWORD, FV_SSL_CERT (optional:
 * the server's self-signed certificate, for a verify-full connection).
 * Prints TAP ("ok N - ...", "not ok N - ...", "1..N"); exits 1 on a failure.
 */
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

public class FlowviewJdbcTest {
    static final String VIEW = "dash.sales_hourly";

    /* what a dashboard runs */
    static final String DASHBOARD =
        "SELECT org, hour, orders, units, revenue, avg_amount, last_order_at"
        + " FROM " + VIEW + " ORDER BY org, hour";

    /*
     * What a role should see, computed by the admin from the source table and
     * the organisation (units the role belongs to and all their descendants),
     * independently of pg_flowview's catalogs; all rows when ? is true.
     */
    static final String EXPECTED =
        "WITH RECURSIVE seen(unit) AS ("
        + "  SELECT unit FROM dash.analysts WHERE role = ?"
        + "  UNION SELECT t.unit FROM dash.org_tree t JOIN seen s ON t.parent = s.unit)"
        + " SELECT org, date_trunc('hour', ts) AS hour, count(*) AS orders, sum(qty) AS units,"
        + "        sum(amount) AS revenue, avg(amount) AS avg_amount, max(ts) AS last_order_at"
        + "   FROM dash.orders WHERE ? OR org IN (SELECT unit FROM seen)"
        + "  GROUP BY 1, 2 ORDER BY 1, 2";

    static String port, db, password;
    static int testNo = 0, failures = 0;

    static void ok(boolean cond, String name) {
        testNo++;
        if (!cond) failures++;
        System.out.println((cond ? "ok " : "not ok ") + testNo + " - " + name);
    }

    static void diag(String msg) {
        for (String line : msg.split("\n")) System.out.println("# " + line);
    }

    static String url(String sslmode, String extra) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + db + "?sslmode=" + sslmode + extra;
    }

    static Connection connect(String role) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", role);
        p.setProperty("password", password);
        p.setProperty("ApplicationName", "flowview-jdbc-test");
        Connection c = DriverManager.getConnection(url("require", ""), p);
        try (Statement st = c.createStatement()) {
            st.execute("SET TimeZone = 'UTC'");
        }
        return c;
    }

    static String scalar(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    static String dec(BigDecimal d) {
        return d == null ? "null" : d.stripTrailingZeros().toPlainString();
    }

    static String ts(ResultSet rs, int col) throws SQLException {
        OffsetDateTime t = rs.getObject(col, OffsetDateTime.class);
        return t == null ? "null" : t.toInstant().toString();
    }

    /* the rows of a dashboard-shaped result, values made comparable */
    static List<String> rows(ResultSet rs) throws SQLException {
        List<String> out = new ArrayList<>();
        while (rs.next()) {
            out.add(rs.getString(1) + " | " + ts(rs, 2) + " | " + rs.getLong(3) + " | "
                    + rs.getLong(4) + " | " + dec(rs.getBigDecimal(5)) + " | "
                    + dec(rs.getBigDecimal(6)) + " | " + ts(rs, 7));
        }
        return out;
    }

    static List<String> dashboard(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(DASHBOARD)) {
            return rows(rs);
        }
    }

    static List<String> expected(Connection admin, String role, boolean all) throws SQLException {
        try (PreparedStatement ps = admin.prepareStatement(EXPECTED)) {
            ps.setString(1, role);
            ps.setBoolean(2, all);
            try (ResultSet rs = ps.executeQuery()) {
                return rows(rs);
            }
        }
    }

    static TreeSet<String> orgs(List<String> rows) {
        TreeSet<String> s = new TreeSet<>();
        for (String r : rows) s.add(r.substring(0, r.indexOf(" | ")));
        return s;
    }

    static void compare(String who, List<String> got, List<String> want) {
        boolean same = got.equals(want);
        ok(same && !want.isEmpty(), who + " sees exactly its rows (" + got.size() + " rows, expected "
           + want.size() + ")");
        if (!same) {
            List<String> extra = new ArrayList<>(got);
            extra.removeAll(want);
            List<String> missing = new ArrayList<>(want);
            missing.removeAll(got);
            diag("unexpected rows: " + extra.subList(0, Math.min(5, extra.size())));
            diag("missing rows: " + missing.subList(0, Math.min(5, missing.size())));
        }
    }

    /* runs sql, which must fail; returns its SQLSTATE (null if it succeeded) */
    static String failsWith(Connection c, String sql) {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
            return null;
        } catch (SQLException e) {
            diag(sql + " -> " + e.getSQLState() + ": " + e.getMessage().split("\n")[0]);
            return e.getSQLState();
        }
    }

    /* ---- the changefeed: dash.sales_hourly_changes(cursor) ---- */
    static final String FEED = "SELECT cursor, op, org, hour, orders, units, revenue, avg_amount, last_order_at,"
        + " old_orders FROM dash.sales_hourly_changes(?)";

    /* a feed read: rows "op | org | hour | orders | old_orders"; cursor[0] moves to the last row's */
    static List<String> feed(Connection c, String[] cursor) throws SQLException {
        List<String> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(FEED)) {
            ps.setString(1, cursor[0]);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    cursor[0] = rs.getString(1);
                    out.add(rs.getString(2) + " | " + rs.getString(3) + " | " + ts(rs, 4) + " | "
                            + rs.getObject(5) + " | " + rs.getObject(10));
                }
            }
        }
        return out;
    }

    /* a snapshot, taken again until the worker has started the feed (its next read is not 'resync') */
    static String feedStart(Connection c) throws Exception {
        for (int i = 0; i < 50; i++) {
            String[] cur = {null};
            feed(c, cur);
            String[] probe = {cur[0]};
            List<String> next = feed(c, probe);
            if (next.isEmpty() || !next.get(0).startsWith("resync")) return cur[0];
            Thread.sleep(100);
        }
        throw new SQLException("the changefeed did not start");
    }

    public static void main(String[] args) throws Exception {
        port = System.getenv().getOrDefault("FV_PORT", "54329");
        db = System.getenv().getOrDefault("FV_DB", "fv_clients");
        password = System.getenv("FV_CLIENT_PASSWORD");
        if (password == null) {
            System.err.println("FV_CLIENT_PASSWORD is not set");
            System.exit(2);
        }
        Class.forName("org.postgresql.Driver");
        diag("driver " + new org.postgresql.Driver().getMajorVersion() + "."
             + new org.postgresql.Driver().getMinorVersion() + ", " + url("require", ""));

        Map<String, Connection> conns = new LinkedHashMap<>();
        for (String role : new String[] {"dash_admin", "dash_alice", "dash_bob"})
            conns.put(role, connect(role));
        Connection admin = conns.get("dash_admin");
        Connection alice = conns.get("dash_alice");
        Connection bob = conns.get("dash_bob");

        /* TLS */
        for (Map.Entry<String, Connection> e : conns.entrySet()) {
            String who = e.getKey();
            ok(who.equals(scalar(e.getValue(), "SELECT current_user")), who + " is logged in as itself");
            ok("t".equals(scalar(e.getValue(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")),
               who + "'s connection uses TLS (pg_stat_ssl), "
               + scalar(e.getValue(), "SELECT version || ' ' || cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()"));
        }
        try {
            Properties p = new Properties();
            p.setProperty("user", "dash_alice");
            p.setProperty("password", password);
            DriverManager.getConnection(url("disable", ""), p).close();
            ok(false, "a connection without TLS is refused");
        } catch (SQLException e) {
            diag("sslmode=disable -> " + e.getSQLState() + ": " + e.getMessage().split("\n")[0]);
            ok("28000".equals(e.getSQLState()), "a connection without TLS is refused (28000)");
        }
        try {
            Properties p = new Properties();
            p.setProperty("user", "dash_alice");
            p.setProperty("password", password + "x");
            DriverManager.getConnection(url("require", ""), p).close();
            ok(false, "a wrong password is refused");
        } catch (SQLException e) {
            ok("28P01".equals(e.getSQLState()), "a wrong password is refused (28P01)");
        }
        String cert = System.getenv("FV_SSL_CERT");
        if (cert != null && !cert.isEmpty()) {
            Properties p = new Properties();
            p.setProperty("user", "dash_bob");
            p.setProperty("password", password);
            try (Connection c = DriverManager.getConnection(url("verify-full", "&sslrootcert=" + cert), p)) {
                ok("t".equals(scalar(c, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")),
                   "sslmode=verify-full with the server's certificate as sslrootcert");
            }
        }

        /* each role sees exactly its part of the organisation */
        List<String> adminRows = dashboard(admin);
        List<String> aliceRows = dashboard(alice);
        List<String> bobRows = dashboard(bob);
        compare("dash_admin (flowview_admin)", adminRows, expected(admin, "dash_admin", true));
        compare("dash_alice (emea)", aliceRows, expected(admin, "dash_alice", false));
        compare("dash_bob (amer-us)", bobRows, expected(admin, "dash_bob", false));
        ok(orgs(adminRows).equals(new TreeSet<>(Arrays.asList(
               "acme", "amer", "amer-ca", "amer-us", "emea", "emea-de", "emea-fr"))),
           "dash_admin sees every unit: " + orgs(adminRows));
        ok(orgs(aliceRows).equals(new TreeSet<>(Arrays.asList("emea", "emea-de", "emea-fr"))),
           "dash_alice sees emea and its descendants: " + orgs(aliceRows));
        ok(orgs(bobRows).equals(new TreeSet<>(Arrays.asList("amer-us"))),
           "dash_bob sees amer-us only: " + orgs(bobRows));

        /* the view is live: new orders show up for the right analysts */
        try (Statement st = admin.createStatement()) {
            st.executeUpdate("INSERT INTO dash.orders (org, ts, qty, amount) VALUES"
                + " ('emea-fr', '2026-11-05 10:15:00+00', 2, 19.90),"
                + " ('emea-fr', '2026-11-05 10:45:30+00', 1, 5.05),"
                + " ('amer-us', '2026-11-05 10:20:00+00', 3, 7.10),"
                + " ('amer-ca', '2026-11-05 10:20:00+00', 4, 8.00),"
                + " ('emea',    '2026-11-02 00:30:00+00', 1, 1.00)");
        }
        ok("t".equals(scalar(admin, "SELECT flowview.wait_for_freshness('" + VIEW + "', '30 s')")),
           "wait_for_freshness after new orders");
        List<String> aliceNow = dashboard(alice);
        List<String> bobNow = dashboard(bob);
        compare("after new orders, dash_admin", dashboard(admin), expected(admin, "dash_admin", true));
        compare("after new orders, dash_alice", aliceNow, expected(admin, "dash_alice", false));
        compare("after new orders, dash_bob", bobNow, expected(admin, "dash_bob", false));
        ok(aliceNow.size() == aliceRows.size() + 1 && bobNow.size() == bobRows.size() + 1,
           "each analyst got exactly one new group (the new hour of its branch)");

        /* hierarchy changes apply to the next query, on open connections */
        scalar(admin, "SELECT flowview.assign_role('dash_bob', 'amer-ca')");
        ok(orgs(dashboard(bob)).equals(new TreeSet<>(Arrays.asList("amer-ca", "amer-us"))),
           "after assign_role(dash_bob, amer-ca), dash_bob's next query sees amer-ca too");
        scalar(admin, "SELECT flowview.unassign_role('dash_bob', 'amer-ca')");
        ok(dashboard(bob).equals(bobNow), "after unassign_role, dash_bob sees amer-us only again");

        /* a dashboard may show how fresh its data is */
        ok("live".equals(scalar(alice, "SELECT state FROM flowview.freshness WHERE view = '" + VIEW
                                + "'::regclass")),
           "dash_alice reads the view's state in flowview.freshness");

        /* what a BI tool reads: DatabaseMetaData, as an analyst */
        DatabaseMetaData md = alice.getMetaData();
        try (ResultSet rs = md.getTables(null, "dash", "sales_hourly", null)) {
            boolean found = rs.next();
            ok(found && "VIEW".equals(rs.getString("TABLE_TYPE")),
               "DatabaseMetaData.getTables lists dash.sales_hourly as a VIEW");
        }
        String[][] want = {
            {"org", "text"}, {"hour", "timestamptz"}, {"orders", "int8"}, {"units", "int8"},
            {"revenue", "numeric"}, {"avg_amount", "numeric"}, {"last_order_at", "timestamptz"}};
        List<String> gotCols = new ArrayList<>(), wantCols = new ArrayList<>();
        for (String[] w : want) wantCols.add(w[0] + ":" + w[1]);
        boolean typesOk = true;
        try (ResultSet rs = md.getColumns(null, "dash", "sales_hourly", null)) {
            while (rs.next()) {
                String name = rs.getString("COLUMN_NAME"), type = rs.getString("TYPE_NAME");
                int jdbcType = rs.getInt("DATA_TYPE");
                gotCols.add(name + ":" + type);
                switch (type) {
                    case "int8": typesOk &= jdbcType == Types.BIGINT; break;
                    case "numeric": typesOk &= jdbcType == Types.NUMERIC; break;
                    case "timestamptz":
                        typesOk &= jdbcType == Types.TIMESTAMP || jdbcType == Types.TIMESTAMP_WITH_TIMEZONE;
                        break;
                    case "text": typesOk &= jdbcType == Types.VARCHAR; break;
                    default: typesOk = false;
                }
            }
        }
        ok(gotCols.equals(wantCols), "DatabaseMetaData.getColumns: " + gotCols);
        ok(typesOk, "getColumns DATA_TYPE: BIGINT for int8, NUMERIC for numeric, TIMESTAMP for timestamptz");
        try (Statement st = alice.createStatement(); ResultSet rs = st.executeQuery(DASHBOARD)) {
            ResultSetMetaData rmd = rs.getMetaData();
            List<String> cols = new ArrayList<>();
            for (int i = 1; i <= rmd.getColumnCount(); i++)
                cols.add(rmd.getColumnName(i) + ":" + rmd.getColumnTypeName(i));
            ok(cols.equals(wantCols), "ResultSetMetaData of the dashboard query: " + cols);
            ok(rs.next() && rs.getObject(3) instanceof Long && rs.getObject(5) instanceof BigDecimal
               && rs.getObject(2, OffsetDateTime.class) != null,
               "values read as Long (int8), BigDecimal (numeric), OffsetDateTime (timestamptz)");
        }

        /* the changefeed: a snapshot with its cursor, NOTIFY with only the new
           position, then the changes each analyst may see, typed like the view */
        String aliceCursor = feedStart(alice), bobCursor = feedStart(bob);
        List<String> snap = feed(alice, new String[] {null});
        ok(snap.size() == dashboard(alice).size() + 1 && snap.get(0).startsWith("snapshot | null")
           && snap.subList(1, snap.size()).stream().allMatch(r -> r.startsWith("insert | emea")),
           "dash_alice's snapshot: a 'snapshot' row and her " + (snap.size() - 1) + " rows as inserts");
        try (Statement st = alice.createStatement()) {
            st.execute("LISTEN sales_hourly_changes");
        }
        try (Statement st = bob.createStatement()) {
            st.execute("LISTEN sales_hourly_changes");
        }
        PGConnection alicePg = alice.unwrap(PGConnection.class);
        long committed;
        try (Statement st = admin.createStatement()) {
            st.executeUpdate("INSERT INTO dash.orders (org, ts, qty, amount) VALUES ('emea-de', '2026-11-06 08:05:00+00', 2, 12.50)");
            committed = System.nanoTime();     /* autocommit: the insert has committed */
        }
        PGNotification[] got = alicePg.getNotifications(5000);
        long pushMs = (System.nanoTime() - committed) / 1000000;
        ok(got != null && got.length >= 1 && "sales_hourly_changes".equals(got[0].getName())
           && got[0].getParameter().matches("[0-9]+"),
           "dash_alice is notified on channel sales_hourly_changes, the payload only a position: "
           + (got == null || got.length == 0 ? "none" : got[0].getParameter()));
        diag("commit to notification: " + pushMs + " ms");
        ok(pushMs < 2000, "the notification arrives " + pushMs + " ms after the commit (under 2 s on a loaded CI machine)");
        List<String> aliceChanges = feed(alice, new String[] {aliceCursor});
        ok(aliceChanges.equals(Arrays.asList("insert | emea-de | 2026-11-06T08:00:00Z | 1 | null")),
           "dash_alice reads exactly the changed group: " + aliceChanges);
        PGNotification[] bobGot = bob.unwrap(PGConnection.class).getNotifications(5000);
        List<String> bobChanges = feed(bob, new String[] {bobCursor});
        ok(bobGot != null && bobGot.length >= 1 && bobChanges.isEmpty(),
           "dash_bob (amer-us) is notified too but reads no change: " + bobChanges);
        try (Statement st = admin.createStatement()) {
            st.executeUpdate("INSERT INTO dash.orders (org, ts, qty, amount) VALUES ('emea-de', '2026-11-06 08:40:00+00', 1, 2.50)");
        }
        ok("t".equals(scalar(admin, "SELECT flowview.wait_for_freshness('" + VIEW + "', '30 s')")), "wait_for_freshness");
        String[] cur = {aliceCursor};
        List<String> both = feed(alice, cur);
        ok(both.equals(Arrays.asList("insert | emea-de | 2026-11-06T08:00:00Z | 1 | null",
                                     "update | emea-de | 2026-11-06T08:00:00Z | 2 | 1")),
           "the second order is an update with the old count: " + both);
        ok(feed(alice, cur).isEmpty(), "nothing after the last cursor");
        try (PreparedStatement ps = alice.prepareStatement(FEED)) {
            ps.setString(1, cur[0]);
            ResultSetMetaData rmd = ps.getMetaData();
            List<String> cols = new ArrayList<>();
            for (int i = 1; i <= rmd.getColumnCount(); i++)
                cols.add(rmd.getColumnName(i) + ":" + rmd.getColumnTypeName(i));
            ok(cols.equals(Arrays.asList("cursor:text", "op:text", "org:text", "hour:timestamptz", "orders:int8",
                                         "units:int8", "revenue:numeric", "avg_amount:numeric",
                                         "last_order_at:timestamptz", "old_orders:int8")),
               "the feed's columns are typed as the view's: " + cols);
        }

        /* analysts cannot write, nor step around the policy */
        String store = scalar(admin,
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            + " WHERE n.nspname = 'flowview' AND c.relname ~ '^fv_store_[0-9]+$'");
        String[] writes = {
            "INSERT INTO " + VIEW + " (org, hour, orders) VALUES ('emea', now(), 1)",
            "UPDATE " + VIEW + " SET orders = orders + 1",
            "DELETE FROM " + VIEW,
            "DELETE FROM " + store,
            "INSERT INTO dash.orders (org, ts, qty, amount) VALUES ('emea', now(), 1, 1)"};
        for (String w : writes) {
            String state = failsWith(alice, w);
            ok("42501".equals(state), "dash_alice: " + w.split(" \\(")[0] + " fails with 42501 (got " + state + ")");
        }
        String state = failsWith(admin, "UPDATE " + VIEW + " SET orders = orders + 1");
        ok("0A000".equals(state), "dash_admin (the view's owner): UPDATE of the live view fails with 0A000 (got "
           + state + ")");
        try (Statement st = bob.createStatement()) {
            st.execute("SET row_security = off");
        }
        state = failsWith(bob, "SELECT count(*) FROM " + VIEW);
        ok("42501".equals(state), "dash_bob with row_security = off is refused, not shown everything (got "
           + state + ")");

        for (Connection c : conns.values()) c.close();
        System.out.println("1.." + testNo);
        if (failures > 0) {
            System.out.println("# " + failures + " of " + testNo + " failed");
            System.exit(1);
        }
    }
}
