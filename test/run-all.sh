#!/usr/bin/env bash
# test/run-all.sh: the project's test command (make test; .ci/run calls it).
#
# Installs what is missing, builds with warnings as errors, installs, starts a
# throwaway cluster (tmp_check/test, port $FV_TEST_PORT), runs every suite:
#   pg_regress   sql/*.sql against expected/*.out, in test/regress_schedule order
#   isolation    test/isolation/specs/*.spec
#   pgTAP        test/pgtap/*.sql via pg_prove
#   Perl TAP     test/tap/*.pl (PostgreSQL::Test::Cluster, own clusters)
#   clients      test/jdbc (Java, PostgreSQL JDBC) and test/odbc (C, unixODBC +
#                psqlODBC): dashboards over TCP with TLS, per-role row-level
#                security, metadata and typed columns (test/clients/setup.sql)
# then stops the cluster and prints "N passed, N failed" (one per test file).
# Exits non-zero on any failure.  FV_SUITES="regress tap" runs a subset;
# FV_TAP="011_upgrade 003_apply_crash" runs only those Perl TAP files.
set -uo pipefail
FV_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$FV_ROOT/scripts/lib.sh"

FV_TEST_PORT=${FV_TEST_PORT:-54329}
SUITES=${FV_SUITES:-regress isolation pgtap tap clients}

fv_ensure_packages postgresql-15-pgtap libipc-run-perl libtap-parser-sourcehandler-pgtap-perl prometheus-postgres-exporter pgbouncer
PGXS_DIR=$(cd "$(dirname "$("$FV_PG_CONFIG" --pgxs)")/.." && pwd)
fv_build_install

passed=0
failed=0
failures=()
details=() # one line per failed file, printed again at the very end

# record SUITE PASSED FAILED
record() {
	passed=$((passed + $2))
	failed=$((failed + $3))
	[ "$3" -gt 0 ] && failures+=("$1")
	fv_log "$1: $2 passed, $3 failed"
}

fv_log "start test cluster on port $FV_TEST_PORT"
fv_cluster_start test "$FV_TEST_PORT"
trap 'fv_cluster_stop test' EXIT
OUT="$FV_CLUSTER_DIR/out"
mkdir -p "$OUT"

# pg_regress-style summary: "All N tests passed." / "M of N tests failed."
count_regress() {
	local log=$1 nums
	nums=$(grep -oE 'All [0-9]+ tests passed' "$log" | grep -oE '[0-9]+' | head -1)
	if [ -n "$nums" ]; then
		echo "$nums 0"
		return
	fi
	nums=$(grep -oE '[0-9]+ of [0-9]+ tests failed' "$log" | head -1 | grep -oE '[0-9]+' | tr '\n' ' ')
	if [ -n "$nums" ]; then
		set -- $nums
		echo "$(($2 - $1)) $1"
	else
		echo "0 1"
	fi
}

run_regress() {
	fv_log "pg_regress"
	"$PGXS_DIR/test/regress/pg_regress" --inputdir="$FV_ROOT" --outputdir="$OUT/regress" \
		--bindir="$FV_PGBIN" --host="$FV_SOCK" --port="$FV_TEST_PORT" --user="$FV_PGUSER" \
		--dbname=fv_regress --schedule="$FV_ROOT/test/regress_schedule" 2>&1 | tee "$OUT/regress.log"
	[ -f "$OUT/regress/regression.diffs" ] && head -c 20000 "$OUT/regress/regression.diffs"
	read -r p f < <(count_regress "$OUT/regress.log")
	record pg_regress "$p" "$f"
	while IFS= read -r l; do details+=("pg_regress: $l"); done < <(grep -E 'FAILED|failed \(ignored\)' "$OUT/regress.log" || true)
	diff_head pg_regress "$OUT/regress/regression.diffs"
}

# diff_head SUITE DIFFS: the first lines of a failed run's diffs, for the
# summary at the end (a CI log may only keep its last lines).
diff_head() {
	local l
	[ -f "$2" ] || return 0
	while IFS= read -r l; do details+=("$1 diff: $l"); done < <(head -n 60 "$2")
}

run_isolation() {
	local tests
	tests=$(cd "$FV_ROOT/test/isolation/specs" 2>/dev/null && ls *.spec 2>/dev/null | sed 's/\.spec$//' | sort)
	[ -n "$tests" ] || return 0
	fv_log "isolation"
	"$PGXS_DIR/test/isolation/pg_isolation_regress" --inputdir="$FV_ROOT/test/isolation" \
		--outputdir="$OUT/isolation" --bindir="$FV_PGBIN" --host="$FV_SOCK" \
		--port="$FV_TEST_PORT" --user="$FV_PGUSER" --dbname=fv_isolation $tests 2>&1 | tee "$OUT/isolation.log"
	[ -f "$OUT/isolation/regression.diffs" ] && head -c 20000 "$OUT/isolation/regression.diffs"
	read -r p f < <(count_regress "$OUT/isolation.log")
	record isolation "$p" "$f"
	while IFS= read -r l; do details+=("isolation: $l"); done < <(grep -E 'FAILED|failed \(ignored\)' "$OUT/isolation.log" || true)
	diff_head isolation "$OUT/isolation/regression.diffs"
}

# prove / pg_prove summary: "Files=N, Tests=M"; each failed file has a
# "(Wstat: ...)" line in the Test Summary Report.
count_prove() {
	local log=$1 files bad
	files=$(grep -oE '^Files=[0-9]+' "$log" | grep -oE '[0-9]+' || true)
	bad=$(grep -cE '\(Wstat: ' "$log" || true)
	[ -n "$files" ] || files=0
	[ -n "$bad" ] || bad=0
	if [ "$files" = 0 ]; then echo "0 1"; else echo "$((files - bad)) $bad"; fi
}

# failed_files SUITE LOG: keep prove's "Test Summary Report" lines (the
# failed file and its failed test numbers) for the summary at the end, as
# a CI log may only keep its last lines.
failed_files() {
	local l
	while IFS= read -r l; do details+=("$1: $l"); done < <(
		sed -n '/^Test Summary Report/,/^Files=/p' "$2" | grep -vE '^(Test Summary Report|-+|Files=)'
		grep -A2 -E '^[[:space:]]*#[[:space:]]+Failed test' "$2" | head -30)
}

run_pgtap() {
	ls "$FV_ROOT"/test/pgtap/*.sql >/dev/null 2>&1 || return 0
	fv_log "pgTAP"
	fv_psql -d postgres -c "DROP DATABASE IF EXISTS fv_tap" -c "CREATE DATABASE fv_tap"
	fv_psql -d fv_tap -c "CREATE EXTENSION pgtap"
	pg_prove -h "$FV_SOCK" -p "$FV_TEST_PORT" -U "$FV_PGUSER" -d fv_tap \
		"$FV_ROOT"/test/pgtap/*.sql 2>&1 | tee "$OUT/pgtap.log"
	read -r p f < <(count_prove "$OUT/pgtap.log")
	record pgTAP "$p" "$f"
	failed_files pgTAP "$OUT/pgtap.log"
}

# Perl TAP tests make their own clusters, so they run as postgres, from a
# copy of test/tap that postgres can read whatever the checkout's permissions.
run_tap() {
	ls "$FV_ROOT"/test/tap/*.pl >/dev/null 2>&1 || return 0
	fv_log "Perl TAP"
	local dir="$FV_CLUSTER_DIR/tap"
	rm -rf "$dir" && mkdir -p "$dir/t"
	if [ -n "${FV_TAP:-}" ]; then
		for t in $FV_TAP; do cp "$FV_ROOT/test/tap/$t.pl" "$dir/t/"; done
	else
		cp "$FV_ROOT"/test/tap/*.pl "$dir/t/"
	fi
	cp "$FV_ROOT"/test/tap/*.pm "$dir/" 2>/dev/null || true
	cp -r "$FV_ROOT/contrib" "$dir/" # 110 runs postgres_exporter with contrib/postgres_exporter/flowview.yaml
	chown -R "$FV_PGUSER" "$dir"
	(cd "$dir" && fv_as_pg env PATH="$FV_PGBIN:$PATH" TESTDIR="$dir" \
		PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" PGPORT= PGHOST= PGUSER= \
		PERL5LIB="$PGXS_DIR/test/perl:$dir" \
		prove --timer ${PROVE_FLAGS:-} t/*.pl) 2>&1 | tee "$OUT/tap.log"
	read -r p f < <(count_prove "$OUT/tap.log")
	record "Perl TAP" "$p" "$f"
	failed_files "Perl TAP" "$OUT/tap.log"
	if [ "$f" -gt 0 ]; then
		for l in "$dir"/tmp_check/log/regress_log_*; do
			[ -f "$l" ] && { echo "---- $l (tail)"; tail -40 "$l"; }
		done
	fi
}

# JDBC and ODBC clients connect over TCP to 127.0.0.1 with TLS
# (sslmode=require) and scram-sha-256 as the roles of test/clients/setup.sql;
# each program is one test file.
run_clients() {
	local dir="$FV_CLUSTER_DIR/clients" pw p f jdk=
	fv_log "clients (JDBC, ODBC)"
	command -v javac >/dev/null 2>&1 || jdk=default-jdk-headless
	fv_ensure_packages $jdk libpostgresql-jdbc-java unixodbc unixodbc-dev odbc-postgresql
	rm -rf "$dir" && mkdir -p "$dir/jdbc"
	pw=$(openssl rand -hex 16)
	export FV_PORT="$FV_TEST_PORT" FV_DB=fv_clients FV_CLIENT_PASSWORD="$pw" FV_SSL_CERT
	fv_psql -d postgres -c "CREATE DATABASE fv_clients"
	if ! fv_psql -d fv_clients -v pw="$pw" -f "$FV_ROOT/test/clients/setup.sql" >"$dir/setup.log" 2>&1; then
		cat "$dir/setup.log"
		record clients 0 2
		return
	fi
	p=0 f=0

	# JDBC: Debian's driver, the machine's JDK
	if javac -Xlint:all -Werror -cp /usr/share/java/postgresql.jar -d "$dir/jdbc" \
		"$FV_ROOT/test/jdbc/FlowviewJdbcTest.java" 2>&1 | tee "$dir/javac.log" &&
		java -cp "/usr/share/java/postgresql.jar:$dir/jdbc" FlowviewJdbcTest 2>&1 | tee "$dir/jdbc.log"; then
		p=$((p + 1))
	else
		f=$((f + 1))
	fi

	# ODBC: psqlODBC through unixODBC, connecting by a DSN of a generated odbc.ini
	cat >"$dir/odbc.ini" <<-EOF
		[fv_clients]
		Description = pg_flowview test dashboards
		Driver      = PostgreSQL Unicode
		Servername  = 127.0.0.1
		Port        = $FV_TEST_PORT
		Database    = fv_clients
		SSLmode     = require
	EOF
	if cc -Wall -Wextra -Werror -o "$dir/flowview_odbc_test" "$FV_ROOT/test/odbc/flowview_odbc_test.c" -lodbc \
		2>&1 | tee "$dir/cc.log" &&
		ODBCINI="$dir/odbc.ini" FV_ODBC_DSN=fv_clients "$dir/flowview_odbc_test" 2>&1 | tee "$dir/odbc.log"; then
		p=$((p + 1))
	else
		f=$((f + 1))
	fi
	unset FV_CLIENT_PASSWORD
	record clients "$p" "$f"
}

for s in $SUITES; do
	"run_$s"
done

fv_cluster_stop test
trap - EXIT
[ ${#failures[@]} -gt 0 ] && fv_log "failed suites: ${failures[*]}"
for d in "${details[@]}"; do echo "   $d"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
