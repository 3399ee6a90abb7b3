/*
 * test/odbc/flowview_odbc_test.c: a BI tool reading a live view through
 * unixODBC and psqlODBC (Debian's unixodbc, odbc-postgresql; driver
 * "PostgreSQL Unicode"), over TCP on loopback with TLS (SSLmode=require), as
 * two analysts from different branches of the organisation and as an admin.
 *
 * Compiled and run by test/run-all.sh (suite "clients") against the database
 * made by test/clients/setup.sql:
 *   cc -Wall -Wextra -Werror -o flowview_odbc_test flowview_odbc_test.c -lodbc
 * Connection: the DSN named by FV_ODBC_DSN (from an odbc.ini, see the
 * README's "Connecting dashboards"), else a DSN-less string built from
 * FV_PORT and FV_DB; the password comes from FV_CLIENT_PASSWORD.
 * Prints TAP ("ok N - ...", "not ok N - ...", "1..N"); exits 1 on a failure.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sql.h>
#include <sqlext.h>

#define VIEW "dash.sales_hourly"
#define NCOLS 7
#define MAXROWS 1000
#define ROWLEN 400

/* what a dashboard runs */
static const char *dashboard_sql =
	"SELECT org, hour, orders, units, revenue, avg_amount, last_order_at"
	" FROM " VIEW " ORDER BY org, hour";

/*
 * What a role should see, computed by the admin from the source table and the
 * organisation (the role's units and all their descendants), independently of
 * pg_flowview's catalogs; every row when the second parameter is true.
 */
static const char *expected_sql =
	"WITH RECURSIVE seen(unit) AS ("
	"  SELECT unit FROM dash.analysts WHERE role = ?"
	"  UNION SELECT t.unit FROM dash.org_tree t JOIN seen s ON t.parent = s.unit)"
	" SELECT org, date_trunc('hour', ts) AS hour, count(*) AS orders, sum(qty) AS units,"
	"        sum(amount) AS revenue, avg(amount) AS avg_amount, max(ts) AS last_order_at"
	"   FROM dash.orders WHERE ?::boolean OR org IN (SELECT unit FROM seen)"
	"  GROUP BY 1, 2 ORDER BY 1, 2";

static SQLHENV env;
static const char *port, *db, *password, *dsn;
static int test_no, failures;

typedef struct Rows
{
	int			n;
	char		row[MAXROWS][ROWLEN];
} Rows;

static void
ok(int cond, const char *fmt,...)
{
	va_list		ap;

	test_no++;
	if (!cond)
		failures++;
	printf("%s %d - ", cond ? "ok" : "not ok", test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* the first diagnostic record of a handle: SQLSTATE into state, message */
static void
diag(SQLSMALLINT type, SQLHANDLE h, char *state, char *msg, size_t msglen)
{
	SQLINTEGER	native;
	SQLSMALLINT len;
	SQLCHAR		st[6] = "", text[1024] = "";

	if (!SQL_SUCCEEDED(SQLGetDiagRec(type, h, 1, st, &native, text, sizeof(text), &len)))
		strcpy((char *) text, "(no diagnostic)");
	if (state)
		memcpy(state, st, 6);
	if (msg)
		snprintf(msg, msglen, "%s", (char *) text);
}

static void
die(SQLSMALLINT type, SQLHANDLE h, const char *what)
{
	char		state[6], msg[1024];

	diag(type, h, state, msg, sizeof(msg));
	printf("Bail out! %s: %s %s\n", what, state, msg);
	exit(2);
}

#define CHECK(rc, type, h, what) \
	do { if (!SQL_SUCCEEDED(rc)) die(type, h, what); } while (0)

/* connects as role with sslmode; returns SQL_NULL_HDBC and the error on failure */
static SQLHDBC
try_connect(const char *role, const char *pw, const char *sslmode, char *state, char *msg, size_t msglen)
{
	SQLHDBC		dbc;
	char		conn[1024];
	SQLCHAR		out[1024];
	SQLSMALLINT outlen;
	SQLRETURN	rc;

	SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc);
	if (dsn && strcmp(sslmode, "require") == 0)
		snprintf(conn, sizeof(conn), "DSN=%s;Uid=%s;Pwd={%s};", dsn, role, pw);
	else
		snprintf(conn, sizeof(conn),
				 "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=%s;Database=%s;"
				 "Uid=%s;Pwd={%s};SSLmode=%s;", port, db, role, pw, sslmode);
	rc = SQLDriverConnect(dbc, NULL, (SQLCHAR *) conn, SQL_NTS, out, sizeof(out), &outlen,
						  SQL_DRIVER_NOPROMPT);
	if (!SQL_SUCCEEDED(rc))
	{
		diag(SQL_HANDLE_DBC, dbc, state, msg, msglen);
		SQLFreeHandle(SQL_HANDLE_DBC, dbc);
		return SQL_NULL_HDBC;
	}
	return dbc;
}

static SQLHSTMT
stmt(SQLHDBC dbc)
{
	SQLHSTMT	st;

	CHECK(SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st), SQL_HANDLE_DBC, dbc, "SQLAllocHandle");
	return st;
}

static void
exec(SQLHDBC dbc, const char *sql)
{
	SQLHSTMT	st = stmt(dbc);

	CHECK(SQLExecDirect(st, (SQLCHAR *) sql, SQL_NTS), SQL_HANDLE_STMT, st, sql);
	SQLFreeHandle(SQL_HANDLE_STMT, st);
}

static SQLHDBC
connect_role(const char *role)
{
	char		state[6], msg[1024];
	SQLHDBC		dbc = try_connect(role, password, "require", state, msg, sizeof(msg));

	if (dbc == SQL_NULL_HDBC)
	{
		printf("Bail out! connect as %s: %s %s\n", role, state, msg);
		exit(2);
	}
	exec(dbc, "SET TimeZone = 'UTC'");
	return dbc;
}

/* first column of the first row as text ("" for no row or NULL) */
static void
scalar(SQLHDBC dbc, const char *sql, char *buf, size_t len)
{
	SQLHSTMT	st = stmt(dbc);
	SQLLEN		ind;

	buf[0] = '\0';
	CHECK(SQLExecDirect(st, (SQLCHAR *) sql, SQL_NTS), SQL_HANDLE_STMT, st, sql);
	if (SQL_SUCCEEDED(SQLFetch(st)) &&
		(!SQL_SUCCEEDED(SQLGetData(st, 1, SQL_C_CHAR, buf, len, &ind)) || ind == SQL_NULL_DATA))
		buf[0] = '\0';
	SQLFreeHandle(SQL_HANDLE_STMT, st);
}

/* a numeric's text without trailing zeros in its fraction: 57.8650 -> 57.865 */
static void
canon_numeric(char *s)
{
	char	   *end;

	if (strchr(s, '.') == NULL)
		return;
	end = s + strlen(s) - 1;
	while (*end == '0')
		*end-- = '\0';
	if (*end == '.')
		*end = '\0';
}

static void
fmt_ts(const SQL_TIMESTAMP_STRUCT *t, SQLLEN ind, char *buf, size_t len)
{
	if (ind == SQL_NULL_DATA)
		snprintf(buf, len, "null");
	else
		snprintf(buf, len, "%04d-%02u-%02u %02u:%02u:%02u.%09lu", t->year, t->month, t->day,
				 t->hour, t->minute, t->second, (unsigned long) t->fraction);
}

/*
 * Fetches a dashboard-shaped result the way a BI tool reads typed columns:
 * text as SQL_C_CHAR, timestamptz as SQL_C_TYPE_TIMESTAMP, int8 as
 * SQL_C_SBIGINT, numeric as SQL_C_CHAR (exact) and canonicalised.
 */
static void
fetch_rows(SQLHSTMT st, Rows *rows)
{
	rows->n = 0;
	while (SQL_SUCCEEDED(SQLFetch(st)))
	{
		char		org[64], hour[40], rev[64], avg[64], last[40];
		SQL_TIMESTAMP_STRUCT t;
		SQLBIGINT	orders, units;
		SQLLEN		ind;

		CHECK(SQLGetData(st, 1, SQL_C_CHAR, org, sizeof(org), &ind), SQL_HANDLE_STMT, st, "org");
		CHECK(SQLGetData(st, 2, SQL_C_TYPE_TIMESTAMP, &t, sizeof(t), &ind), SQL_HANDLE_STMT, st, "hour");
		fmt_ts(&t, ind, hour, sizeof(hour));
		CHECK(SQLGetData(st, 3, SQL_C_SBIGINT, &orders, 0, &ind), SQL_HANDLE_STMT, st, "orders");
		CHECK(SQLGetData(st, 4, SQL_C_SBIGINT, &units, 0, &ind), SQL_HANDLE_STMT, st, "units");
		CHECK(SQLGetData(st, 5, SQL_C_CHAR, rev, sizeof(rev), &ind), SQL_HANDLE_STMT, st, "revenue");
		canon_numeric(rev);
		CHECK(SQLGetData(st, 6, SQL_C_CHAR, avg, sizeof(avg), &ind), SQL_HANDLE_STMT, st, "avg_amount");
		canon_numeric(avg);
		CHECK(SQLGetData(st, 7, SQL_C_TYPE_TIMESTAMP, &t, sizeof(t), &ind), SQL_HANDLE_STMT, st, "last");
		fmt_ts(&t, ind, last, sizeof(last));
		if (rows->n < MAXROWS)
			snprintf(rows->row[rows->n], ROWLEN, "%s | %s | %lld | %lld | %s | %s | %s", org, hour,
					 (long long) orders, (long long) units, rev, avg, last);
		rows->n++;
	}
}

/*
 * The changefeed of the view, as alice reads it after cursor: each row
 * "op | org | hour | orders | old_orders" into out (count in *n), the
 * columns' SQL types checked as a BI tool sees them.
 */
static void
feed(SQLHDBC dbc, const char *cursor, char out[][ROWLEN], int *n, int *typed)
{
	SQLHSTMT	st = stmt(dbc);
	char		sql[256];
	SQLSMALLINT type4, type5, type10, namelen, digits, nullable;
	SQLULEN		size;
	SQLCHAR		name[64];

	snprintf(sql, sizeof(sql), "SELECT cursor, op, org, hour, orders, units, revenue, avg_amount,"
			 " last_order_at, old_orders FROM dash.sales_hourly_changes('%s')", cursor);
	CHECK(SQLExecDirect(st, (SQLCHAR *) sql, SQL_NTS), SQL_HANDLE_STMT, st, sql);
	SQLDescribeCol(st, 4, name, sizeof(name), &namelen, &type4, &size, &digits, &nullable);
	SQLDescribeCol(st, 5, name, sizeof(name), &namelen, &type5, &size, &digits, &nullable);
	SQLDescribeCol(st, 10, name, sizeof(name), &namelen, &type10, &size, &digits, &nullable);
	*typed = type4 == SQL_TYPE_TIMESTAMP && type5 == SQL_BIGINT && type10 == SQL_BIGINT;
	*n = 0;
	while (SQL_SUCCEEDED(SQLFetch(st)))
	{
		char		op[16], org[64], hour[40], old[32];
		SQL_TIMESTAMP_STRUCT t;
		SQLBIGINT	orders, old_orders;
		SQLLEN		ind, oind, hind;

		CHECK(SQLGetData(st, 2, SQL_C_CHAR, op, sizeof(op), &ind), SQL_HANDLE_STMT, st, "op");
		CHECK(SQLGetData(st, 3, SQL_C_CHAR, org, sizeof(org), &ind), SQL_HANDLE_STMT, st, "org");
		CHECK(SQLGetData(st, 4, SQL_C_TYPE_TIMESTAMP, &t, sizeof(t), &hind), SQL_HANDLE_STMT, st, "hour");
		fmt_ts(&t, hind, hour, sizeof(hour));
		CHECK(SQLGetData(st, 5, SQL_C_SBIGINT, &orders, 0, &ind), SQL_HANDLE_STMT, st, "orders");
		CHECK(SQLGetData(st, 10, SQL_C_SBIGINT, &old_orders, 0, &oind), SQL_HANDLE_STMT, st, "old_orders");
		if (oind == SQL_NULL_DATA)
			snprintf(old, sizeof(old), "null");
		else
			snprintf(old, sizeof(old), "%lld", (long long) old_orders);
		if (*n < MAXROWS)
			snprintf(out[*n], ROWLEN, "%s | %s | %s | %lld | %s", op, org, hour, (long long) orders, old);
		(*n)++;
	}
	SQLFreeHandle(SQL_HANDLE_STMT, st);
}

static void
dashboard(SQLHDBC dbc, Rows *rows)
{
	SQLHSTMT	st = stmt(dbc);

	CHECK(SQLExecDirect(st, (SQLCHAR *) dashboard_sql, SQL_NTS), SQL_HANDLE_STMT, st, "dashboard");
	fetch_rows(st, rows);
	SQLFreeHandle(SQL_HANDLE_STMT, st);
}

static void
expected(SQLHDBC admin, const char *role, int all, Rows *rows)
{
	SQLHSTMT	st = stmt(admin);
	char		rolebuf[64], allbuf[8];
	SQLLEN		rolelen = SQL_NTS, alllen = SQL_NTS;

	snprintf(rolebuf, sizeof(rolebuf), "%s", role);
	snprintf(allbuf, sizeof(allbuf), "%s", all ? "true" : "false");
	CHECK(SQLPrepare(st, (SQLCHAR *) expected_sql, SQL_NTS), SQL_HANDLE_STMT, st, "prepare expected");
	CHECK(SQLBindParameter(st, 1, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 63, 0, rolebuf,
						   sizeof(rolebuf), &rolelen), SQL_HANDLE_STMT, st, "bind role");
	CHECK(SQLBindParameter(st, 2, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 5, 0, allbuf,
						   sizeof(allbuf), &alllen), SQL_HANDLE_STMT, st, "bind all");
	CHECK(SQLExecute(st), SQL_HANDLE_STMT, st, "expected");
	fetch_rows(st, rows);
	SQLFreeHandle(SQL_HANDLE_STMT, st);
}

static int
same_rows(const Rows *a, const Rows *b)
{
	if (a->n != b->n)
		return 0;
	for (int i = 0; i < a->n && i < MAXROWS; i++)
		if (strcmp(a->row[i], b->row[i]) != 0)
			return 0;
	return 1;
}

static void
compare(const char *who, const Rows *got, const Rows *want)
{
	int			same = same_rows(got, want);

	ok(same && want->n > 0, "%s sees exactly its rows (%d rows, expected %d)", who, got->n, want->n);
	if (!same)
	{
		for (int i = 0; i < got->n && i < MAXROWS && i < 5; i++)
			printf("#   got:  %s\n", got->row[i]);
		for (int i = 0; i < want->n && i < MAXROWS && i < 5; i++)
			printf("#   want: %s\n", want->row[i]);
	}
}

/* the distinct orgs of sorted rows, "a,b,c" */
static void
orgs(const Rows *rows, char *buf, size_t len)
{
	char		last[64] = "";

	buf[0] = '\0';
	for (int i = 0; i < rows->n && i < MAXROWS; i++)
	{
		char		org[64];
		size_t		k = strcspn(rows->row[i], " ");

		snprintf(org, sizeof(org), "%.*s", (int) k, rows->row[i]);
		if (strcmp(org, last) != 0)
		{
			if (buf[0])
				strncat(buf, ",", len - strlen(buf) - 1);
			strncat(buf, org, len - strlen(buf) - 1);
			strcpy(last, org);
		}
	}
}

/* runs sql, which must fail; returns its SQLSTATE in state ("" if it succeeded) */
static void
fails_with(SQLHDBC dbc, const char *sql, char *state)
{
	SQLHSTMT	st = stmt(dbc);
	char		msg[1024];

	state[0] = '\0';
	if (!SQL_SUCCEEDED(SQLExecDirect(st, (SQLCHAR *) sql, SQL_NTS)))
	{
		diag(SQL_HANDLE_STMT, st, state, msg, sizeof(msg));
		printf("# %s -> %s: %s\n", sql, state, strtok(msg, "\n"));
	}
	SQLFreeHandle(SQL_HANDLE_STMT, st);
}

/* SQLDescribeCol and SQLColAttribute of the dashboard query, as a BI tool reads them */
static void
check_described_types(SQLHDBC dbc)
{
	static const struct
	{
		const char *name,
				   *type_name;
		SQLSMALLINT sql_type;
	}			want[NCOLS] = {
		{"org", "text", SQL_WLONGVARCHAR},
		{"hour", "timestamptz", SQL_TYPE_TIMESTAMP},
		{"orders", "int8", SQL_BIGINT},
		{"units", "int8", SQL_BIGINT},
		{"revenue", "numeric", SQL_NUMERIC},
		{"avg_amount", "numeric", SQL_NUMERIC},
		{"last_order_at", "timestamptz", SQL_TYPE_TIMESTAMP},
	};
	SQLHSTMT	st = stmt(dbc);
	SQLSMALLINT ncols;

	CHECK(SQLExecDirect(st, (SQLCHAR *) dashboard_sql, SQL_NTS), SQL_HANDLE_STMT, st, "dashboard");
	CHECK(SQLNumResultCols(st, &ncols), SQL_HANDLE_STMT, st, "SQLNumResultCols");
	ok(ncols == NCOLS, "the dashboard query has %d columns", (int) ncols);
	for (int i = 0; i < NCOLS && i < ncols; i++)
	{
		SQLCHAR		name[64], tname[64];
		SQLSMALLINT namelen, type, digits, nullable, tlen;
		SQLULEN		size;
		SQLLEN		dummy;
		int			type_ok;

		CHECK(SQLDescribeCol(st, i + 1, name, sizeof(name), &namelen, &type, &size, &digits, &nullable),
			  SQL_HANDLE_STMT, st, "SQLDescribeCol");
		CHECK(SQLColAttribute(st, i + 1, SQL_DESC_TYPE_NAME, tname, sizeof(tname), &tlen, &dummy),
			  SQL_HANDLE_STMT, st, "SQLColAttribute");
		/* text may be described as long or not, wide or not, by driver settings */
		if (want[i].sql_type == SQL_WLONGVARCHAR)
			type_ok = type == SQL_WLONGVARCHAR || type == SQL_WVARCHAR ||
				type == SQL_LONGVARCHAR || type == SQL_VARCHAR;
		else
			type_ok = type == want[i].sql_type;
		ok(strcmp((char *) name, want[i].name) == 0 && type_ok &&
		   strcmp((char *) tname, want[i].type_name) == 0,
		   "column %d: %s, SQL type %d, type name %s (want %s, %d, %s)", i + 1, (char *) name,
		   (int) type, (char *) tname, want[i].name, (int) want[i].sql_type, want[i].type_name);
	}
	SQLFreeHandle(SQL_HANDLE_STMT, st);
}

/* SQLTables and SQLColumns: what a BI tool's schema browser lists */
static void
check_catalog(SQLHDBC dbc)
{
	static const char *want = "org:text,hour:timestamptz,orders:int8,units:int8,"
		"revenue:numeric,avg_amount:numeric,last_order_at:timestamptz";
	SQLHSTMT	st = stmt(dbc);
	char		got[512] = "", type[32] = "";
	SQLLEN		ind;
	int			found = 0;

	CHECK(SQLTables(st, NULL, 0, (SQLCHAR *) "dash", SQL_NTS, (SQLCHAR *) "sales_hourly", SQL_NTS,
					(SQLCHAR *) "VIEW", SQL_NTS), SQL_HANDLE_STMT, st, "SQLTables");
	if (SQL_SUCCEEDED(SQLFetch(st)))
	{
		found = 1;
		SQLGetData(st, 4, SQL_C_CHAR, type, sizeof(type), &ind);
	}
	ok(found && strcmp(type, "VIEW") == 0, "SQLTables lists dash.sales_hourly as a VIEW (%s)", type);
	SQLFreeHandle(SQL_HANDLE_STMT, st);

	st = stmt(dbc);
	CHECK(SQLColumns(st, NULL, 0, (SQLCHAR *) "dash", SQL_NTS, (SQLCHAR *) "sales_hourly", SQL_NTS,
					 NULL, 0), SQL_HANDLE_STMT, st, "SQLColumns");
	while (SQL_SUCCEEDED(SQLFetch(st)))
	{
		char		name[64], tname[64];

		SQLGetData(st, 4, SQL_C_CHAR, name, sizeof(name), &ind);
		SQLGetData(st, 6, SQL_C_CHAR, tname, sizeof(tname), &ind);
		if (got[0])
			strncat(got, ",", sizeof(got) - strlen(got) - 1);
		strncat(got, name, sizeof(got) - strlen(got) - 1);
		strncat(got, ":", sizeof(got) - strlen(got) - 1);
		strncat(got, tname, sizeof(got) - strlen(got) - 1);
	}
	ok(strcmp(got, want) == 0, "SQLColumns: %s", got);
	SQLFreeHandle(SQL_HANDLE_STMT, st);
}

/* one row's typed values, read the ways BI tools do */
static void
check_typed_values(SQLHDBC dbc)
{
	SQLHSTMT	st = stmt(dbc);
	SQLBIGINT	orders;
	double		rev_double;
	char		rev_text[64], check[64];
	SQL_TIMESTAMP_STRUCT hour;
	SQL_NUMERIC_STRUCT rev_num;
	SQLLEN		ind;
	int			good = 1;

	CHECK(SQLExecDirect(st, (SQLCHAR *) "SELECT orders, revenue, revenue, revenue, hour,"
						" to_char(hour, 'YYYY-MM-DD HH24:MI:SS'), orders::text FROM " VIEW
						" ORDER BY org, hour LIMIT 1", SQL_NTS), SQL_HANDLE_STMT, st, "typed");
	CHECK(SQLFetch(st), SQL_HANDLE_STMT, st, "fetch typed");
	good &= SQL_SUCCEEDED(SQLGetData(st, 1, SQL_C_SBIGINT, &orders, 0, &ind));
	good &= SQL_SUCCEEDED(SQLGetData(st, 2, SQL_C_DOUBLE, &rev_double, 0, &ind));
	good &= SQL_SUCCEEDED(SQLGetData(st, 3, SQL_C_CHAR, rev_text, sizeof(rev_text), &ind));
	good &= SQL_SUCCEEDED(SQLGetData(st, 4, SQL_C_NUMERIC, &rev_num, sizeof(rev_num), &ind));
	good &= SQL_SUCCEEDED(SQLGetData(st, 5, SQL_C_TYPE_TIMESTAMP, &hour, sizeof(hour), &ind));
	ok(good, "int8 as SQL_C_SBIGINT, numeric as SQL_C_DOUBLE/SQL_C_CHAR/SQL_C_NUMERIC, timestamptz as "
	   "SQL_C_TYPE_TIMESTAMP");
	ok(rev_double > 0 && rev_double == strtod(rev_text, NULL) && rev_num.sign == 1,
	   "numeric revenue %s read as double %.2f", rev_text, rev_double);
	SQLGetData(st, 6, SQL_C_CHAR, check, sizeof(check), &ind);
	{
		char		mine[40];

		snprintf(mine, sizeof(mine), "%04d-%02u-%02u %02u:%02u:%02u", hour.year, hour.month, hour.day,
				 hour.hour, hour.minute, hour.second);
		ok(strcmp(mine, check) == 0, "timestamptz hour read as a timestamp struct: %s (server: %s)",
		   mine, check);
	}
	SQLGetData(st, 7, SQL_C_CHAR, check, sizeof(check), &ind);
	ok(orders == atoll(check) && orders > 0, "int8 orders read as %lld", (long long) orders);
	SQLFreeHandle(SQL_HANDLE_STMT, st);
}

int
main(void)
{
	static Rows got,
				want;
	static const char *roles[] = {"dash_admin", "dash_alice", "dash_bob"};
	SQLHDBC		conns[3];
	char		buf[1024],
				state[6],
				msg[1024],
				cursor[64];
	SQLHDBC		admin,
				alice,
				bob,
				c;
	int			alice_before,
				bob_before;

	port = getenv("FV_PORT") ? getenv("FV_PORT") : "54329";
	db = getenv("FV_DB") ? getenv("FV_DB") : "fv_clients";
	password = getenv("FV_CLIENT_PASSWORD");
	dsn = getenv("FV_ODBC_DSN");
	if (password == NULL)
	{
		fprintf(stderr, "FV_CLIENT_PASSWORD is not set\n");
		return 2;
	}
	SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env);
	SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER) SQL_OV_ODBC3, 0);
	printf("# %s\n", dsn ? "DSN from odbc.ini" : "DSN-less connection string");

	for (int i = 0; i < 3; i++)
		conns[i] = connect_role(roles[i]);
	admin = conns[0];
	alice = conns[1];
	bob = conns[2];

	/* TLS */
	for (int i = 0; i < 3; i++)
	{
		scalar(conns[i], "SELECT current_user", buf, sizeof(buf));
		ok(strcmp(buf, roles[i]) == 0, "%s is logged in as itself", roles[i]);
		scalar(conns[i], "SELECT CASE WHEN ssl THEN version || ' ' || cipher ELSE 'no' END"
			   " FROM pg_stat_ssl WHERE pid = pg_backend_pid()", buf, sizeof(buf));
		ok(strncmp(buf, "TLS", 3) == 0, "%s's connection uses TLS (pg_stat_ssl): %s", roles[i], buf);
	}
	c = try_connect("dash_alice", password, "disable", state, msg, sizeof(msg));
	ok(c == SQL_NULL_HDBC && strstr(msg, "no encryption") != NULL,
	   "a connection without TLS is refused: %s", c ? "connected" : strtok(msg, "\n"));
	if (c)
		SQLFreeHandle(SQL_HANDLE_DBC, c);
	if (getenv("FV_SSL_CERT") && getenv("FV_SSL_CERT")[0])
	{
		/* verify-full, trusting the server's self-signed certificate (libpq option via Pqopt) */
		char		conn[1024];
		SQLCHAR		out[1024];
		SQLSMALLINT outlen;

		SQLAllocHandle(SQL_HANDLE_DBC, env, &c);
		snprintf(conn, sizeof(conn),
				 "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=%s;Database=%s;Uid=dash_bob;Pwd={%s};"
				 "SSLmode=verify-full;Pqopt={sslrootcert=%s};", port, db, password, getenv("FV_SSL_CERT"));
		if (SQL_SUCCEEDED(SQLDriverConnect(c, NULL, (SQLCHAR *) conn, SQL_NTS, out, sizeof(out), &outlen,
										   SQL_DRIVER_NOPROMPT)))
		{
			scalar(c, "SELECT ssl::int FROM pg_stat_ssl WHERE pid = pg_backend_pid()", buf, sizeof(buf));
			SQLDisconnect(c);
		}
		else
		{
			diag(SQL_HANDLE_DBC, c, state, msg, sizeof(msg));
			snprintf(buf, sizeof(buf), "%s %s", state, strtok(msg, "\n"));
		}
		ok(strcmp(buf, "1") == 0, "SSLmode=verify-full with Pqopt={sslrootcert=...}: %s",
		   strcmp(buf, "1") == 0 ? "TLS" : buf);
		SQLFreeHandle(SQL_HANDLE_DBC, c);
	}

	/* each role sees exactly its part of the organisation */
	dashboard(admin, &got);
	expected(admin, "dash_admin", 1, &want);
	compare("dash_admin (flowview_admin)", &got, &want);
	orgs(&got, buf, sizeof(buf));
	ok(strcmp(buf, "acme,amer,amer-ca,amer-us,emea,emea-de,emea-fr") == 0, "dash_admin sees every unit: %s", buf);

	dashboard(alice, &got);
	alice_before = got.n;
	expected(admin, "dash_alice", 0, &want);
	compare("dash_alice (emea)", &got, &want);
	orgs(&got, buf, sizeof(buf));
	ok(strcmp(buf, "emea,emea-de,emea-fr") == 0, "dash_alice sees emea and its descendants: %s", buf);

	dashboard(bob, &got);
	bob_before = got.n;
	expected(admin, "dash_bob", 0, &want);
	compare("dash_bob (amer-us)", &got, &want);
	orgs(&got, buf, sizeof(buf));
	ok(strcmp(buf, "amer-us") == 0, "dash_bob sees amer-us only: %s", buf);

	/* live: new orders reach the right analysts (a new hour for each branch) */
	scalar(alice, "SELECT cursor FROM dash.sales_hourly_changes(NULL) LIMIT 1", cursor, sizeof(cursor));
	exec(admin, "INSERT INTO dash.orders (org, ts, qty, amount) VALUES"
		 " ('emea-de', '2026-11-06 09:05:00+00', 2, 11.50),"
		 " ('amer-us', '2026-11-06 09:10:00+00', 1, 3.25),"
		 " ('acme', '2026-11-06 09:10:00+00', 1, 99.99)");
	scalar(admin, "SELECT flowview.wait_for_freshness('" VIEW "', '30 s')::int", buf, sizeof(buf));
	ok(strcmp(buf, "1") == 0, "wait_for_freshness after new orders");
	dashboard(alice, &got);
	expected(admin, "dash_alice", 0, &want);
	compare("after new orders, dash_alice", &got, &want);
	ok(got.n == alice_before + 1, "dash_alice got one new group");
	dashboard(bob, &got);
	expected(admin, "dash_bob", 0, &want);
	compare("after new orders, dash_bob", &got, &want);
	ok(got.n == bob_before + 1, "dash_bob got one new group");
	/* ... and the changefeed from the cursor alice had: exactly her new group */
	{
		char		changes[MAXROWS][ROWLEN];
		int			n, typed;

		feed(alice, cursor, changes, &n, &typed);
		ok(n == 1 && strcmp(changes[0], "insert | emea-de | 2026-11-06 09:00:00.000000000 | 1 | null") == 0,
		   "dash_alice's changefeed after her cursor: %d change(s), %s", n, n > 0 ? changes[0] : "none");
		ok(typed, "the changefeed's hour is SQL_TYPE_TIMESTAMP, orders and old_orders SQL_BIGINT");
	}

	/* what a BI tool reads */
	check_described_types(alice);
	check_catalog(alice);
	check_typed_values(bob);

	/* analysts cannot write, nor step around the policy */
	{
		static const char *writes[] = {
			"INSERT INTO " VIEW " (org, hour, orders) VALUES ('emea', now(), 1)",
			"UPDATE " VIEW " SET orders = orders + 1",
			"DELETE FROM " VIEW,
		};
		char		store[128];

		for (int i = 0; i < 3; i++)
		{
			fails_with(bob, writes[i], state);
			ok(strcmp(state, "42501") == 0, "dash_bob: %s fails with 42501 (got %s)", writes[i], state);
		}
		scalar(admin, "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c"
			   " JOIN pg_namespace n ON n.oid = c.relnamespace"
			   " WHERE n.nspname = 'flowview' AND c.relname ~ '^fv_store_[0-9]+$'", store, sizeof(store));
		snprintf(buf, sizeof(buf), "UPDATE %s SET g1 = 'amer-us'", store);
		fails_with(alice, buf, state);
		ok(strcmp(state, "42501") == 0, "dash_alice: UPDATE of the view's storage fails with 42501 (got %s)",
		   state);
		exec(alice, "SET row_security = off");
		fails_with(alice, "SELECT count(*) FROM " VIEW, state);
		ok(strcmp(state, "42501") == 0,
		   "dash_alice with row_security = off is refused, not shown everything (got %s)", state);
	}

	for (int i = 0; i < 3; i++)
	{
		SQLDisconnect(conns[i]);
		SQLFreeHandle(SQL_HANDLE_DBC, conns[i]);
	}
	SQLFreeHandle(SQL_HANDLE_ENV, env);
	printf("1..%d\n", test_no);
	if (failures)
		printf("# %d of %d failed\n", failures, test_no);
	return failures ? 1 : 0;
}
