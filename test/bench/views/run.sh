#!/usr/bin/env bash
# test/bench/views/run.sh: what live views cost the writers, how fast the
# apply worker applies, and how fresh views are.  Each figure is printed with
# its baseline, measured on the same cluster in the same run.
#
#   bash test/bench/views/run.sh        (as root; installs what is missing)
#
# 1. write overhead: pgbench, 4 clients, single-row INSERTs into a source
#    feeding 3 live views vs an identical REPLICA IDENTITY FULL table with no
#    views; rounds alternate; medians.                    target ratio >= 0.95
# 2. catching up: with the worker paused, one FV_BENCH_BIG_ROWS-row
#    transaction, and separately FV_BENCH_SMALL_XACTS single-row
#    transactions, are written; rows/s = rows / (time from resume_apply until
#    wait_for_freshness returns); baseline: wal2json (format-version 2)
#    decoding the same WAL range with pg_logical_slot_peek_changes.  Each with
#    the default recompute_backlog and with 0 (decode only).  target >= 3x
#    Also timed: the "decode floor", pg_flowview's plugin decoding the same
#    WAL and writing nothing (exclude-tables=*.*): what any consumer of
#    PostgreSQL's reorder buffer pays before doing anything with a change.
# 3. freshness: at ~1,000 and ~5,000 TPS (FV_BENCH_FRESH_RATES) of
#    background inserts, a probe procedure (one connection) commits a row
#    and polls every ms until its view shows it; p50/p95/p99 of
#    commit-to-visible, the apply worker's CPU (utime + stime from /proc)
#    meanwhile, and the worker's own histogram.
#                    target at 1,000 TPS p50 <= 5 ms, p99 <= 15 ms; at 5,000 p99 <= 50 ms
# 4. joins, writers: as 1, on a table "orders" (random existing customer_id,
#    an index on it) feeding the three views of part 1 plus a join view
#    (orders JOIN customers, 10,000 customers: revenue per region per
#    minute), vs an identical table with no views; and, in the same rounds,
#    a third identical table feeding the same join query as a pg_ivm IMMV
#    (trigger-based, synchronous) when pg_ivm is installed in this PostgreSQL
#    (pg_config --pkglibdir/--sharedir); else that line says why it was
#    skipped.  pg_ivm refuses the stable date_trunc(text, timestamptz), so the
#    IMMV buckets o.ts AT TIME ZONE 'UTC' (the immutable equivalent at a
#    pinned zone).  pg_ivm is preloaded (shared_preload_libraries, as its
#    README requires) only when part 4 runs and it is installed;
#    FV_BENCH_PGIVM=off skips it.                          target ratio >= 0.95
# 5. joins, dimension fan-out: in a database of its own, 1,000,000 orders
#    and then, in another, 10,000,000 (FV_BENCH_FANOUT_ORDERS, a list) of
#    10,000 customers, customer 1 holding 100,000 of them
#    (FV_BENCH_FANOUT_HOT), a join view revenue per region per minute;
#    customer 1 changes region (one-row UPDATE): time from the UPDATE's
#    commit until wait_for_freshness returns, vs REFRESH MATERIALIZED VIEW of
#    the same query on the same data; FV_BENCH_FANOUT_ROUNDS (3) each, medians.
#    Also the apply worker's peak memory during the fan-out (/proc: peak
#    RssAnon sampled every 10 ms, and VmHWM, which counts the shared buffers
#    it touched, reset with clear_refs before each fan-out).  target >= 20x
#    The apply's work is the customer's 100,000 orders at every size; the
#    refresh's is the whole table: the two sizes show how the ratio grows.
# 6. retention, idle: in a database of its own, 1,000,000 rows of the last
#    7 days (FV_BENCH_RETAIN_ROWS), a view of counts and sums per region and
#    minute with retain => '7 days' (about 200,000 groups, a minute's groups
#    leaving each minute) and no writes: the apply worker's CPU (utime +
#    stime from /proc) over FV_BENCH_IDLE_SECONDS (30), against the same
#    database with the view created without retain, in the same run (the
#    worker's idle loop itself: its naptime, catalog rereads, monitoring).
#    target: the expiry under 1% of a core
# 7. sliding windows, in a database of their own: (a) idle: 1,000,000 rows
#    (FV_BENCH_WINDOW_ROWS) spread over the last 15 minutes, a view of
#    counts, sums and max per region WHERE ts > now() - interval '15
#    minutes' (an index on ts; max kept as a multiset, the default for
#    windows), no writes (so about 1,100 rows a second age out of the
#    window): the apply worker's CPU over FV_BENCH_IDLE_SECONDS, against the
#    same view without the window condition, same database; and a window
#    view of counts, sums and averages only.
#                                   target: the expiry under 1% of a core
#    (b) writers: as 1, a table feeding part 1's three views plus that
#    window view, vs a table with no views, alternating rounds, medians.
#                                                        target ratio >= 0.95
# 8. rollups: writers as 1, a table feeding a 15-minute sliding window
#    view and a three-level rollup (a view per region and minute, one per
#    hour over it, one per day over that), vs a table with no views,
#    alternating rounds, medians; the day view is then compared with its
#    query composed over the table.                    target ratio >= 0.95
# 9. writers, a second workload: as 1, a table with a customer (10,000),
#    feeding revenue per region and minute with avg, count/min/max per
#    customer, and a global count/sum, vs a table with no views, alternating
#    rounds, medians.                                    target ratio >= 0.95
# 10. idle and unrelated work: FV_BENCH_IDLE_DBS (10) databases with a live
#    view each and no writes: their apply workers' CPU over
#    FV_BENCH_IDLE_SECONDS; then, while database postgres takes pgbench at
#    full speed on a table without views, their CPU and the writers' TPS
#    against rounds in which those databases have no view (no worker),
#    alternating, medians.        target: an idle worker costs nothing measurable
# 11. many views: FV_BENCH_VIEW_COUNTS (1 10 50) live views on one table
#    (different group keys, aggregates and filters): for each count, the
#    writers as 1 against a table without views, the worker's CPU while they
#    write and per change, its peak private memory.  target ratio >= 0.90 with 50
# 12. memory: a 2,000,000-row transaction touching 1,000,000 groups of a
#    view (count, sum, max): the worker's peak private memory (RssAnon,
#    sampled every 10 ms) while it applies it.          target < 256 MB
# FV_BENCH_PARTS="1 3" runs some of the parts (default: all twelve).
# The cluster runs with fsync = on (durable commits, as in production);
# FV_BENCH_CONF adds one postgresql.conf line (e.g. "pg_flowview.naptime = 10ms").
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FV_ROOT=$(cd "$BENCH_DIR/../../.." && pwd)
. "$FV_ROOT/scripts/lib.sh"

PORT=${FV_BENCH_PORT:-54370}
ROUNDS=${FV_BENCH_ROUNDS:-5}
SECS=${FV_BENCH_SECONDS:-12}
BIG=${FV_BENCH_BIG_ROWS:-1000000}
SMALL=${FV_BENCH_SMALL_XACTS:-1000000}
PROBES=${FV_BENCH_PROBES:-200}
FRESH_RATES=${FV_BENCH_FRESH_RATES:-1000 5000}
PGBENCH=$FV_PGBIN/pgbench
WORK=$(mktemp -d)
chmod 755 "$WORK"

FANOUT_ORDERS=${FV_BENCH_FANOUT_ORDERS:-1000000 10000000}
FANOUT_HOT=${FV_BENCH_FANOUT_HOT:-100000}
FANOUT_ROUNDS=${FV_BENCH_FANOUT_ROUNDS:-3}
RETAIN_ROWS=${FV_BENCH_RETAIN_ROWS:-1000000}
IDLE=${FV_BENCH_IDLE_SECONDS:-30}
WINDOW_ROWS=${FV_BENCH_WINDOW_ROWS:-1000000}
IDLE_DBS=${FV_BENCH_IDLE_DBS:-10}
VIEW_COUNTS=${FV_BENCH_VIEW_COUNTS:-1 10 50}
PARTS=${FV_BENCH_PARTS:-1 2 3 4 5 6 7 8 9 10 11 12}
want() { [[ " $PARTS " == *" $1 "* ]]; }

cleanup() { rm -f "$WORK/sampling"; fv_cluster_remove views_bench || true; rm -rf "$WORK"; }
trap cleanup EXIT

fv_ensure_packages
fv_build_install
# pg_ivm (part 4's third column) is used only if it is already installed in
# this PostgreSQL: the benchmark does not build or vendor it.
ivm_skip=
if ! want 4; then
	ivm_skip="part 4 not run"
elif [ "${FV_BENCH_PGIVM:-on}" = off ]; then
	ivm_skip="FV_BENCH_PGIVM=off"
elif [ ! -f "$("$FV_PG_CONFIG" --pkglibdir)/pg_ivm.so" ] || [ ! -f "$("$FV_PG_CONFIG" --sharedir)/extension/pg_ivm.control" ]; then
	ivm_skip="pg_ivm is not installed in $("$FV_PG_CONFIG" --pkglibdir) (build it from https://github.com/sraoss/pg_ivm with make PG_CONFIG=$FV_PG_CONFIG install)"
fi
if [ -z "$ivm_skip" ]; then
	fv_cluster_start views_bench "$PORT" "fsync = on" "shared_preload_libraries = 'pg_flowview, pg_ivm'" "${FV_BENCH_CONF:-}"
else
	fv_cluster_start views_bench "$PORT" "fsync = on" "${FV_BENCH_CONF:-}"
fi
q() { fv_psql -d postgres -At -c "$1"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
pct() { sort -g "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p/100+0.999); if (i<1) i=1; printf "%.1f", a[i]}'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# rss_sampler PID FILE: in the background, the peak RssAnon (kB) of PID,
# written to FILE once rss_sampler_end removes $WORK/sampling
rss_sampler() {
	touch "$WORK/sampling"
	(max=0; while [ -e "$WORK/sampling" ]; do v=$(awk '/^RssAnon:/ {print $2}' "/proc/$1/status" 2>/dev/null); [ "${v:-0}" -gt "$max" ] && max=$v; sleep 0.01; done; echo "$max" >"$2") &
	sampler=$!
}
rss_sampler_end() { rm -f "$WORK/sampling"; wait "$sampler"; }
# tps_median FILE TABLE: the median TPS of TABLE's rounds in FILE (writer_rounds)
tps_median() { awk -v t="$2" '$1 == t {print $2}' "$1" | median; }
# ins_files TEMPLATE TABLE...: $WORK/ins_TABLE.sql, the statement TEMPLATE with TABLE replaced
ins_files() { local tmpl=$1 t; shift; for t; do echo "${tmpl//TABLE/$t}" >"$WORK/ins_$t.sql"; done; }
INS_REGION="INSERT INTO TABLE (region, amount) VALUES ('r' || (random() * 20)::int, (random() * 1000)::numeric(10,2));"
# writers_part DB OUT BASE SRC TEMPLATE: insert files from TEMPLATE, the
# alternating rounds into OUT, and the medians in ${BASE}_tps and ${SRC}_tps
writers_part() {
	local db=$1 out=$2 base=$3 src=$4
	ins_files "$5" "$base" "$src"
	writer_rounds "$db" "$out" "$base" "$src"
	printf -v "${base}_tps" '%s' "$(tps_median "$out" "$base")"
	printf -v "${src}_tps" '%s' "$(tps_median "$out" "$src")"
}
# $ROUNDS rounds of $SECS s of pgbench (4 clients, $WORK/ins_TABLE.sql) on
# each table in turn, in database $1; lines "table tps fresh-ms" to $2
# CPU ticks of the apply worker $WPID, if set (else 0)
worker_ticks() { if [ -n "${WPID:-}" ]; then awk '{print $14 + $15}' "/proc/$WPID/stat"; else echo 0; fi; }
writer_rounds() {
	local db=$1 out=$2 r t tps t0 lag_ms c0
	shift 2
	for r in $(seq "$ROUNDS"); do
		# each round in the reverse order of the one before: neither table always goes first
		if [ "$r" -gt 1 ]; then set -- $(printf '%s\n' "$@" | tac); fi
		for t in "$@"; do
			c0=$(worker_ticks)
			tps=$("$PGBENCH" -n -c 4 -j 2 -T "$SECS" -f "$WORK/ins_$t.sql" "$db" 2>"$WORK/pgbench_err" | grep -oE 'tps = [0-9.]+' | grep -oE '[0-9.]+') ||
				{ cat "$WORK/pgbench_err" >&2; fv_die "pgbench on $t failed"; }
			t0=$(now_ms)
			fv_psql -d "$db" -At -c "SELECT flowview.wait_for_freshness(NULL, '300 s')" >/dev/null
			lag_ms=$(($(now_ms) - t0))
			echo "$t $tps $lag_ms $(($(worker_ticks) - c0))" >>"$out"
			fv_log "   round $r $t: $tps TPS, views fresh $lag_ms ms after the writers stopped"
		done
	done
}

fv_psql -d postgres >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION pg_flowview;
CREATE TABLE base (id bigserial PRIMARY KEY, region text, amount numeric(10,2), ts timestamptz DEFAULT now());
ALTER TABLE base REPLICA IDENTITY FULL;
CREATE TABLE src (id bigserial PRIMARY KEY, region text, amount numeric(10,2), ts timestamptz DEFAULT now());
SELECT flowview.create_view('by_region', $$SELECT region, count(*), sum(amount) FROM src GROUP BY 1$$);
SELECT flowview.create_view('by_minute', $$SELECT region, date_trunc('minute', ts) AS m, count(*), sum(amount), avg(amount), min(amount), max(amount) FROM src GROUP BY 1, 2$$);
SELECT flowview.create_view('totals', $$SELECT count(*), sum(amount) FROM src$$);
CREATE TABLE probes (id int PRIMARY KEY, at timestamptz);
SELECT flowview.create_view('probe_seen', $$SELECT id, count(*) FROM probes GROUP BY id$$);
SQL
[ "$(q "SELECT flowview.wait_for_freshness(NULL, '60 s')")" = t ] || fv_die "views did not become live"

ins_files "$INS_REGION" base src

# ---- 1. write overhead --------------------------------------------------
if want 1; then
fv_log "1. write overhead: $ROUNDS rounds x $SECS s per table, 4 clients"
writer_rounds postgres "$WORK/tps" base src
base_tps=$(tps_median "$WORK/tps" base)
src_tps=$(tps_median "$WORK/tps" src)
lag=$(awk '$1 == "src" {print $3}' "$WORK/tps" | median)

fi

# ---- 2. apply throughput while catching up ------------------------------
if want 2; then
# The worker is paused (flowview.pause_apply) while a workload is written, so
# the whole workload waits in the WAL; then it is resumed and timed until
# wait_for_freshness returns.  Baseline: wal2json decoding the same WAL range
# (a slot created just before the workload, read with
# pg_logical_slot_peek_changes).  Each workload runs twice: with the default
# settings (the worker may recompute instead of decoding a backlog larger
# than the source tables, see pg_flowview.recompute_backlog) and with
# recompute_backlog = 0 (decoding every change).
fv_psql -d postgres >/dev/null <<'SQL'
CREATE TABLE flush_mark (x int);
CREATE PROCEDURE small_xacts(n int) LANGUAGE plpgsql AS $$
BEGIN
    SET synchronous_commit = off;
    FOR i IN 1..n LOOP
        INSERT INTO src (region, amount) VALUES ('r' || (i % 20), (i % 1000));
        COMMIT;
    END LOOP;
END $$;
SQL
catch_up() { # label recompute_backlog workload-sql rows
	local label=$1 backlog=$2 sql=$3 rows=$4 t0 w2j_ms w2j_rows end_lsn apply_ms floor_ms
	q "ALTER SYSTEM SET pg_flowview.recompute_backlog = '$backlog'" >/dev/null
	q "SELECT pg_reload_conf()" >/dev/null
	q "SELECT flowview.wait_for_freshness(NULL, '900 s')" >/dev/null
	q "SELECT flowview.pause_apply()" >/dev/null
	q "SELECT 'x' FROM pg_create_logical_replication_slot('bench_w2j', 'wal2json')" >/dev/null
	q "SELECT 'x' FROM pg_create_logical_replication_slot('bench_floor', 'pg_flowview')" >/dev/null
	fv_psql -d postgres -q -c "$sql" >/dev/null
	# a durable commit, so that the WAL is flushed up to the end of the
	# workload (decoding reads only flushed WAL)
	q "INSERT INTO flush_mark VALUES (1)" >/dev/null
	end_lsn=$(q "SELECT pg_current_wal_lsn()")
	t0=$(now_ms)
	w2j_rows=$(q "SELECT count(*) FROM pg_logical_slot_peek_changes('bench_w2j', '$end_lsn', NULL, 'format-version', '2', 'include-transaction', 'false')")
	w2j_ms=$(($(now_ms) - t0))
	q "SELECT pg_drop_replication_slot('bench_w2j')" >/dev/null
	t0=$(now_ms)
	q "SELECT count(*) FROM pg_logical_slot_peek_changes('bench_floor', '$end_lsn', NULL, 'exclude-tables', '*.*')" >/dev/null
	floor_ms=$(($(now_ms) - t0))
	q "SELECT pg_drop_replication_slot('bench_floor')" >/dev/null
	t0=$(now_ms)
	q "SELECT flowview.resume_apply()" >/dev/null
	q "SELECT flowview.wait_for_freshness(NULL, '1800 s')" >/dev/null
	apply_ms=$(($(now_ms) - t0))
	echo "$label $backlog $rows $apply_ms $w2j_rows $w2j_ms $floor_ms" >>"$WORK/apply"
	fv_log "   $label (recompute_backlog $backlog): caught up on $rows rows in $apply_ms ms; wal2json read $w2j_rows rows in $w2j_ms ms; decode floor $floor_ms ms"
}
fv_log "2. catching up: one $BIG-row transaction, $SMALL single-row transactions"
for backlog in 64MB 0; do
	catch_up big "$backlog" "INSERT INTO src (region, amount) SELECT 'r' || (g % 20), (g % 1000) FROM generate_series(1, $BIG) g" "$BIG"
	catch_up small "$backlog" "CALL small_xacts($SMALL)" "$SMALL"
done
q "ALTER SYSTEM RESET pg_flowview.recompute_backlog" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
diffs=$(q "SELECT (SELECT count(*) FROM (SELECT * FROM by_minute EXCEPT ALL SELECT region, date_trunc('minute', ts), count(*), sum(amount), avg(amount), min(amount), max(amount) FROM src GROUP BY 1, 2) a)
             + (SELECT count(*) FROM (SELECT region, date_trunc('minute', ts), count(*), sum(amount), avg(amount), min(amount), max(amount) FROM src GROUP BY 1, 2 EXCEPT ALL SELECT * FROM by_minute) b)
             + (SELECT count(*) FROM (SELECT * FROM by_region EXCEPT ALL SELECT region, count(*), sum(amount) FROM src GROUP BY 1) c)
             + (SELECT count(*) FROM (SELECT region, count(*), sum(amount) FROM src GROUP BY 1 EXCEPT ALL SELECT * FROM by_region) d)")

fi

# ---- 3. freshness ----------------------------------------------------------
if want 3; then
# A probe session (one connection: a procedure) commits a row into a source
# of its own view and polls, every millisecond, until the view shows it;
# commit-to-visible = time from just before its COMMIT until the row is
# visible (so it includes the commit itself and up to 1 ms of polling).
# Meanwhile pgbench writes each of $FRESH_RATES single-row TPS in turn into
# src (3 more views).
fv_log "3. freshness: $PROBES probes under each of $FRESH_RATES TPS of inserts"
fv_psql -d postgres >/dev/null <<'SQL'
CREATE TABLE probe_lat (id int, ms float8);
CREATE PROCEDURE probe(n int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; base int := coalesce((SELECT max(id) FROM probes), 0);
BEGIN
    FOR i IN base + 1 .. base + n LOOP
        t0 := clock_timestamp();
        INSERT INTO probes VALUES (i, t0);
        COMMIT;
        WHILE NOT EXISTS (SELECT FROM probe_seen WHERE id = i) LOOP
            PERFORM pg_sleep(0.001);
        END LOOP;
        INSERT INTO probe_lat VALUES (i, extract(epoch FROM clock_timestamp() - t0) * 1000);
        COMMIT;
        PERFORM pg_sleep(0.02);
    END LOOP;
END $$;
SQL
fresh_wpid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply' AND datname = current_database()")
for rate in $FRESH_RATES; do
	q "TRUNCATE probe_lat" >/dev/null
	"$PGBENCH" -n -c 2 -j 1 -R "$rate" -T 600 -f "$WORK/ins_src.sql" postgres >"$WORK/pgbench_bg" 2>&1 &
	bg=$!
	sleep 3
	c0=$(awk '{print $14 + $15}' "/proc/$fresh_wpid/stat")
	n0=$(q "SELECT count(*) FROM src")
	t0=$(now_ms)
	q "CALL probe($PROBES)" >/dev/null
	t1=$(now_ms)
	c1=$(awk '{print $14 + $15}' "/proc/$fresh_wpid/stat")
	n1=$(q "SELECT count(*) FROM src")
	kill "$bg" 2>/dev/null || true
	wait "$bg" 2>/dev/null || true
	q "SELECT ms FROM probe_lat" >"$WORK/fresh_$rate"
	awk -v r="$rate" -v n=$((n1 - n0)) -v ms=$((t1 - t0)) -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" \
		'BEGIN {printf "%s %.0f %.1f\n", r, n / (ms / 1000), 100 * d / hz / (ms / 1000)}' >>"$WORK/fresh_rates"
	fv_log "   at $rate TPS: $(wc -l <"$WORK/fresh_$rate") probes, p50 $(pct "$WORK/fresh_$rate" 50) ms, p99 $(pct "$WORK/fresh_$rate" 99) ms"
done
worker_lat=$(q "SELECT format('p50 %s ms, p95 %s ms, p99 %s ms over %s transactions', latency_p50_ms, latency_p95_ms, latency_p99_ms, latency_samples) FROM flowview.stats WHERE view = 'probe_seen'::regclass")

fi

# ---- 4. joins: writers' TPS ---------------------------------------------
if want 4; then
# Three tables with identical shape, indexes and REPLICA IDENTITY FULL:
# orders (the three views of part 1 over it plus the join view), orders_plain
# (nothing), orders_ivm (the join query as a pg_ivm IMMV).  Each round runs
# each table in turn; a round's ratios are against its own no-view figure.
fv_psql -d postgres >/dev/null <<'SQL'
CREATE TABLE customers (id int PRIMARY KEY, region text NOT NULL, name text);
INSERT INTO customers SELECT g, 'r' || (g % 20), 'customer ' || g FROM generate_series(1, 10000) g;
ALTER TABLE customers REPLICA IDENTITY FULL;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['orders', 'orders_plain', 'orders_ivm'] LOOP
        EXECUTE format('CREATE TABLE %I (id bigserial PRIMARY KEY, customer_id int NOT NULL, region text, amount numeric(10,2), ts timestamptz DEFAULT now())', t);
        EXECUTE format('CREATE INDEX ON %I (customer_id)', t);
        EXECUTE format('ALTER TABLE %I REPLICA IDENTITY FULL', t);
    END LOOP;
END $$;
ANALYZE customers;
SELECT flowview.create_view('o_by_region', $$SELECT region, count(*), sum(amount) FROM orders GROUP BY 1$$);
SELECT flowview.create_view('o_by_minute', $$SELECT region, date_trunc('minute', ts) AS m, count(*), sum(amount), avg(amount), min(amount), max(amount) FROM orders GROUP BY 1, 2$$);
SELECT flowview.create_view('o_totals', $$SELECT count(*), sum(amount) FROM orders$$);
SELECT flowview.create_view('revenue_by_region', $$SELECT c.region, date_trunc('minute', o.ts) AS minute, count(*), sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1, 2$$);
SQL
[ "$(q "SELECT flowview.wait_for_freshness(NULL, '60 s')")" = t ] || fv_die "join views did not become live"
ivm_version=
if [ -z "$ivm_skip" ]; then
	ivm_sql="SELECT c.region, date_trunc('minute', o.ts AT TIME ZONE 'UTC') AS minute, count(*), sum(o.amount) FROM orders_ivm o JOIN customers c ON c.id = o.customer_id GROUP BY 1, 2"
	if ! q "CREATE EXTENSION pg_ivm" >"$WORK/ivm_err" 2>&1; then
		ivm_skip="CREATE EXTENSION pg_ivm failed: $(tr '\n' ' ' <"$WORK/ivm_err")"
	else
		ivm_version=$(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_ivm'")
		ivm_fn=$(q "SELECT coalesce(to_regproc('pgivm.create_immv')::text, to_regproc('create_immv')::text)")
		if [ -z "$ivm_fn" ]; then
			ivm_skip="pg_ivm $ivm_version has no create_immv"
		elif ! q "SELECT $ivm_fn('ivm_revenue_by_region', \$q\$$ivm_sql\$q\$)" >"$WORK/ivm_err" 2>&1; then
			ivm_skip="create_immv failed: $(tr '\n' ' ' <"$WORK/ivm_err")"
		fi
	fi
fi
[ -n "$ivm_skip" ] && fv_log "   pg_ivm skipped: $ivm_skip"
jtables="orders_plain orders"
[ -z "$ivm_skip" ] && jtables="$jtables orders_ivm"
for t in $jtables; do
	cat >"$WORK/ins_$t.sql" <<-EOF
		\\set cid random(1, 10000)
		INSERT INTO $t (customer_id, region, amount) VALUES (:cid, 'r' || (random() * 20)::int, (random() * 1000)::numeric(10,2));
	EOF
done
fv_log "4. joins, writers: $ROUNDS rounds x $SECS s per table ($jtables), 4 clients"
# shellcheck disable=SC2086
writer_rounds postgres "$WORK/jtps" $jtables
jplain_tps=$(tps_median "$WORK/jtps" orders_plain)
jfv_tps=$(tps_median "$WORK/jtps" orders)
jlag=$(awk '$1 == "orders" {print $3}' "$WORK/jtps" | median)
[ -z "$ivm_skip" ] && jivm_tps=$(tps_median "$WORK/jtps" orders_ivm)
jdiffs=$(q "SELECT (SELECT count(*) FROM (SELECT * FROM revenue_by_region EXCEPT ALL SELECT c.region, date_trunc('minute', o.ts), count(*), sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1, 2) a)
              + (SELECT count(*) FROM (SELECT c.region, date_trunc('minute', o.ts), count(*), sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1, 2 EXCEPT ALL SELECT * FROM revenue_by_region) b)
              + (SELECT count(*) FROM (SELECT * FROM o_by_minute EXCEPT ALL SELECT region, date_trunc('minute', ts), count(*), sum(amount), avg(amount), min(amount), max(amount) FROM orders GROUP BY 1, 2) c)
              + (SELECT count(*) FROM (SELECT region, date_trunc('minute', ts), count(*), sum(amount), avg(amount), min(amount), max(amount) FROM orders GROUP BY 1, 2 EXCEPT ALL SELECT * FROM o_by_minute) d)")
jrows=$(q "SELECT count(*) FROM orders")
fi

# ---- 5. joins: dimension update fan-out -----------------------------------
# fanout_size N: the fan-out with N orders, in a database of its own (its own
# apply worker, idle but for this), dropped afterwards; its summary lines go
# to $WORK/fanout_summary.
fanout_size() {
local orders=$1 db=fanout_$1 wpid fgroups fhot_groups mem_before mem_after res hwm apply_ms ms fapply frefresh fanon fhwm fdiffs
rm -f "$WORK/fanout" "$WORK/refresh"
fv_log "5. joins, fan-out: $orders orders of 10,000 customers, customer 1 has $FANOUT_HOT; $FANOUT_ROUNDS region changes vs $FANOUT_ROUNDS REFRESH MATERIALIZED VIEW"
q "CREATE DATABASE $db" >/dev/null
qf() { fv_psql -d "$db" -At -c "$1"; }
fv_psql -d "$db" >/dev/null -v orders="$orders" -v hot="$FANOUT_HOT" <<'SQL'
CREATE EXTENSION pg_flowview;
CREATE TABLE customers (id int PRIMARY KEY, region text NOT NULL, name text);
INSERT INTO customers SELECT g, 'r' || (g % 20), 'customer ' || g FROM generate_series(1, 10000) g;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(10,2), ts timestamptz);
-- a week of minutes; customer 1 holds the first :hot orders, the others
-- are spread over customers 2..10000
INSERT INTO orders
SELECT g, CASE WHEN g <= :hot THEN 1 ELSE 2 + (hashint4(g::int) & 2147483647) % 9999 END,
       ((hashint4(g::int + 7) & 2147483647) % 100000) / 100.0,
       timestamptz '2026-11-23 00:00 UTC' + (g % 10080) * interval '1 minute' + (g % 60) * interval '1 second'
  FROM generate_series(1, :orders) g;
CREATE INDEX ON orders (customer_id);
ALTER TABLE customers REPLICA IDENTITY FULL;
ALTER TABLE orders REPLICA IDENTITY FULL;
VACUUM ANALYZE customers, orders;
SELECT flowview.create_view('revenue_by_region', $$SELECT c.region, date_trunc('minute', o.ts) AS minute, count(*), sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1, 2$$);
CREATE MATERIALIZED VIEW revenue_mv AS SELECT c.region, date_trunc('minute', o.ts) AS minute, count(*), sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1, 2;
CREATE PROCEDURE fanout_move(cid int, INOUT apply_ms float8 DEFAULT NULL, INOUT fresh boolean DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
    UPDATE customers SET region = CASE WHEN region = 'moved-a' THEN 'moved-b' ELSE 'moved-a' END WHERE id = cid;
    COMMIT;
    t0 := clock_timestamp();
    fresh := flowview.wait_for_freshness('revenue_by_region', '900 s');
    apply_ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
CREATE PROCEDURE refresh_mv(INOUT ms float8 DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    REFRESH MATERIALIZED VIEW revenue_mv;
    COMMIT;
    ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
SQL
[ "$(qf "SELECT flowview.wait_for_freshness(NULL, '600 s')")" = t ] || fv_die "the fan-out view did not become live"
# the other database's worker has decoded the load too
q "SELECT flowview.wait_for_freshness(NULL, '600 s')" >/dev/null
wpid=$(qf "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply' AND datname = current_database()")
[ -n "$wpid" ] || fv_die "no apply worker for database $db"
fgroups=$(qf "SELECT count(*) FROM revenue_by_region")
fhot_groups=$(qf "SELECT count(DISTINCT date_trunc('minute', ts)) FROM orders WHERE customer_id = 1")
rss_anon() { awk '/^RssAnon:/ {print $2}' "/proc/$wpid/status" 2>/dev/null || echo 0; }
mem_before=$(rss_anon)
for r in $(seq "$FANOUT_ROUNDS"); do
	echo 5 >"/proc/$wpid/clear_refs" 2>/dev/null || true
	rss_sampler "$wpid" "$WORK/anon_peak"
	res=$(qf "CALL fanout_move(1)")
	rss_sampler_end
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$wpid/status")
	apply_ms=${res%%|*}
	[ "${res##*|}" = t ] || fv_die "wait_for_freshness timed out after the fan-out"
	echo "$apply_ms $(cat "$WORK/anon_peak") $hwm" >>"$WORK/fanout"
	fv_log "   round $r: fan-out applied in $(printf %.0f "$apply_ms") ms; worker RssAnon peak $(($(cat "$WORK/anon_peak") / 1024)) MB, VmHWM $((hwm / 1024)) MB"
	sleep 1
done
mem_after=$(rss_anon)
for r in $(seq "$FANOUT_ROUNDS"); do
	ms=$(qf "CALL refresh_mv()")
	echo "$ms" >>"$WORK/refresh"
	fv_log "   round $r: REFRESH MATERIALIZED VIEW in $(printf %.0f "$ms") ms"
done
fapply=$(awk '{print $1}' "$WORK/fanout" | median)
frefresh=$(median <"$WORK/refresh")
fanon=$(awk '{print $2}' "$WORK/fanout" | sort -n | tail -1)
fhwm=$(awk '{print $3}' "$WORK/fanout" | sort -n | tail -1)
fdiffs=$(qf "SELECT (SELECT count(*) FROM (SELECT * FROM revenue_by_region EXCEPT ALL SELECT * FROM revenue_mv) a)
               + (SELECT count(*) FROM (SELECT * FROM revenue_mv EXCEPT ALL SELECT * FROM revenue_by_region) b)")
awk -v a="$fapply" -v r="$frefresh" -v o="$orders" -v h="$FANOUT_HOT" -v g="$fgroups" -v hg="$fhot_groups" -v n="$FANOUT_ROUNDS" 'BEGIN {
	printf "  joins: fan-out   customer 1 (%d of %d orders, 10,000 customers; the view has %d groups, the customer is in %d minutes) changes region:\n", h, o, g, hg
	printf "                   commit to fresh %.0f ms; REFRESH MATERIALIZED VIEW of the same query %.0f ms (medians of %d): refresh / apply %.1fx (target >= 20x: %s)\n",
		a, r, n, r / a, (r / a >= 20) ? "met" : "NOT MET" }' >>"$WORK/fanout_summary"
{
	echo "                   per round: apply $(awk '{printf "%.0f ", $1}' "$WORK/fanout")ms; refresh $(awk '{printf "%.0f ", $1}' "$WORK/refresh")ms"
	echo "                   apply worker memory: private (RssAnon) $((mem_before / 1024)) MB before, peak $((fanon / 1024)) MB during a fan-out, $((mem_after / 1024)) MB after; VmHWM (with shared buffers touched) $((fhwm / 1024)) MB"
	echo "                   the view equals the materialized view afterwards: $([ "$fdiffs" = 0 ] && echo yes || echo "NO ($fdiffs differing rows)")"
} >>"$WORK/fanout_summary"
q "DROP DATABASE $db WITH (FORCE)" >/dev/null
}
if want 5; then
	for n in $FANOUT_ORDERS; do
		fanout_size "$n"
	done
fi

# the apply worker's CPU over $IDLE s without writes, in percent of a core,
# after creating a view in database $1 with the statement $2 (dropped after)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
idle_cpu_of() {
	local wpid t0 t1 hz
	fv_psql -d "$1" -At -c "$2" >/dev/null
	[ "$(fv_psql -d "$1" -At -c "SELECT flowview.wait_for_freshness(NULL, '600 s')")" = t ] || fv_die "the view in $1 did not become live"
	sleep 2
	wpid=$(fv_psql -d "$1" -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply' AND datname = current_database()")
	hz=$(getconf CLK_TCK)
	t0=$(cpu_ticks "$wpid")
	sleep "$IDLE"
	t1=$(cpu_ticks "$wpid")
	fv_psql -d "$1" -At -c "SELECT flowview.drop_view(view) FROM flowview.views" >/dev/null
	awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$IDLE" 'BEGIN {printf "%.2f", 100 * d / hz / s}'
}

# database $1 with table ev of $2 rows of 20 regions, row g stamped $3
# (SQL over g), and the index SQL $4
event_db() {
	q "CREATE DATABASE $1" >/dev/null
	fv_psql -d "$1" >/dev/null -v rows="$2" <<SQL
CREATE EXTENSION pg_flowview;
CREATE TABLE ev (id bigint PRIMARY KEY, region text, amount numeric(10,2), ts timestamptz);
INSERT INTO ev SELECT g, 'r' || (g % 20), (g % 1000) / 10.0, $3 FROM generate_series(1, :rows) g;
$4
ALTER TABLE ev REPLICA IDENTITY FULL;
VACUUM ANALYZE ev;
SQL
}

# ---- 6. retention: the worker's cost of expiry while nothing is written -----
if want 6; then
fv_log "6. retention, idle: $RETAIN_ROWS rows, a view by region and minute, $IDLE s without writes, with and without retain"
qr() { fv_psql -d retention -At -c "$1"; }
event_db retention "$RETAIN_ROWS" "now() - (g % 10080) * interval '1 minute'" ""
idle_cpu() { idle_cpu_of retention "SELECT flowview.create_view('by_minute', \$q\$$1\$q\$, retain => $2)"; }
rsql="SELECT region, date_trunc('minute', ts) AS minute, count(*) AS n, sum(amount) AS s FROM ev GROUP BY 1, 2"
# the plain view first, so that WAL of the load is long decoded for both
cpu_plain=$(idle_cpu "$rsql" NULL)
cpu_retain=$(idle_cpu "$rsql" "interval '7 days'")
rgroups=$(qr "SELECT count(*) FROM (SELECT DISTINCT region, date_trunc('minute', ts) FROM ev) g")
fv_log "   worker CPU while idle: $cpu_plain% of a core without retain, $cpu_retain% with retain"
q "DROP DATABASE retention WITH (FORCE)" >/dev/null
fi

# ---- 7. sliding windows: idle expiry, and the writers ------------------------
if want 7; then
fv_log "7a. sliding window, idle: $WINDOW_ROWS rows over the last 15 minutes, $IDLE s without writes, with and without the window"
qw() { fv_psql -d windows -At -c "$1"; }
event_db windows "$WINDOW_ROWS" "now() - (g % 900000) * interval '1 millisecond'" "CREATE INDEX ON ev (ts);"
window_cpu() { idle_cpu_of windows "SELECT flowview.create_view('recent', \$q\$$1\$q\$)"; }
wsql="SELECT region, count(*) AS n, sum(amount) AS s, max(amount) AS hi FROM ev"
wsql_nomax="SELECT region, count(*) AS n, sum(amount) AS s, avg(amount) AS a FROM ev"
wcpu_plain=$(window_cpu "$wsql GROUP BY region")
wcpu_window=$(window_cpu "$wsql WHERE ts > now() - interval '15 minutes' GROUP BY region")
wcpu_nomax=$(window_cpu "$wsql_nomax WHERE ts > now() - interval '15 minutes' GROUP BY region")
wend_rows=$(qw "SELECT count(*) FROM ev WHERE ts > now() - interval '15 minutes'")
fv_log "   worker CPU while idle: $wcpu_plain% of a core without the window, $wcpu_window% with it (max kept as a multiset), $wcpu_nomax% with count/sum/avg only; $wend_rows rows still in the window at the end"

fv_log "7b. sliding window, writers: $ROUNDS rounds x $SECS s per table, 4 clients"
fv_psql -d windows >/dev/null <<'SQL'
CREATE TABLE wbase (id bigserial PRIMARY KEY, region text, amount numeric(10,2), ts timestamptz DEFAULT now());
ALTER TABLE wbase REPLICA IDENTITY FULL;
CREATE INDEX ON wbase (ts);
CREATE TABLE wsrc (id bigserial PRIMARY KEY, region text, amount numeric(10,2), ts timestamptz DEFAULT now());
CREATE INDEX ON wsrc (ts);
SELECT flowview.create_view('w_by_region', $$SELECT region, count(*), sum(amount) FROM wsrc GROUP BY 1$$);
SELECT flowview.create_view('w_by_minute', $$SELECT region, date_trunc('minute', ts) AS m, count(*), sum(amount), avg(amount), min(amount), max(amount) FROM wsrc GROUP BY 1, 2$$);
SELECT flowview.create_view('w_totals', $$SELECT count(*), sum(amount) FROM wsrc$$);
SELECT flowview.create_view('w_last_15_min', $$SELECT region, count(*) AS n, sum(amount) AS s, max(amount) AS hi FROM wsrc WHERE ts > now() - interval '15 minutes' GROUP BY region$$);
SQL
[ "$(qw "SELECT flowview.wait_for_freshness(NULL, '60 s')")" = t ] || fv_die "window views did not become live"
writers_part windows "$WORK/wtps" wbase wsrc "$INS_REGION"
wdiffs=$(qw "SELECT count(*) FROM ((TABLE w_last_15_min EXCEPT ALL SELECT region, count(*), sum(amount), max(amount) FROM wsrc WHERE ts > (SELECT window_clock FROM flowview.views WHERE view = 'w_last_15_min'::regclass) - interval '15 minutes' GROUP BY region) UNION ALL (SELECT region, count(*), sum(amount), max(amount) FROM wsrc WHERE ts > (SELECT window_clock FROM flowview.views WHERE view = 'w_last_15_min'::regclass) - interval '15 minutes' GROUP BY region EXCEPT ALL TABLE w_last_15_min)) d")
q "DROP DATABASE windows WITH (FORCE)" >/dev/null
fi

# ---- 8. rollups: the writers with a window view and a three-level rollup -----
if want 8; then
fv_log "8. rollups, writers: $ROUNDS rounds x $SECS s per table, 4 clients"
q "CREATE DATABASE rollups" >/dev/null
qu() { fv_psql -d rollups -At -c "$1"; }
fv_psql -d rollups >/dev/null <<'SQL'
CREATE EXTENSION pg_flowview;
CREATE TABLE rbase (id bigserial PRIMARY KEY, region text, amount numeric(10,2), ts timestamptz DEFAULT now());
ALTER TABLE rbase REPLICA IDENTITY FULL;
CREATE INDEX ON rbase (ts);
CREATE TABLE rsrc (id bigserial PRIMARY KEY, region text, amount numeric(10,2), ts timestamptz DEFAULT now());
CREATE INDEX ON rsrc (ts);
SELECT flowview.create_view('r_last_15_min', $$SELECT region, count(*) AS n, sum(amount) AS s, max(amount) AS hi FROM rsrc WHERE ts > now() - interval '15 minutes' GROUP BY region$$);
SELECT flowview.create_view('r_minute', $$SELECT region, date_trunc('minute', ts) AS minute, count(*) AS n, sum(amount) AS s, max(amount) AS hi FROM rsrc GROUP BY 1, 2$$);
SELECT flowview.create_view('r_hour', $$SELECT region, date_trunc('hour', minute) AS hour, sum(n) AS n, sum(s) AS s, max(hi) AS hi FROM r_minute GROUP BY 1, 2$$);
SELECT flowview.create_view('r_day', $$SELECT region, date_trunc('day', hour) AS day, sum(n) AS n, sum(s) AS s, max(hi) AS hi FROM r_hour GROUP BY 1, 2$$);
SQL
[ "$(qu "SELECT flowview.wait_for_freshness(NULL, '60 s')")" = t ] || fv_die "rollup views did not become live"
writers_part rollups "$WORK/rtps" rbase rsrc "$INS_REGION"
rdiffs=$(qu "SELECT count(*) FROM ((TABLE r_day EXCEPT ALL SELECT region, date_trunc('day', ts), count(*)::numeric, sum(amount), max(amount) FROM rsrc GROUP BY 1, 2) UNION ALL (SELECT region, date_trunc('day', ts), count(*)::numeric, sum(amount), max(amount) FROM rsrc GROUP BY 1, 2 EXCEPT ALL TABLE r_day)) d")
rrows=$(qu "SELECT count(*) FROM rsrc")
q "DROP DATABASE rollups WITH (FORCE)" >/dev/null
fi

# ---- 9. writers, a second workload: a high-cardinality min/max view --------
if want 9; then
fv_log "9. writers, second workload: $ROUNDS rounds x $SECS s per table, 4 clients"
q "CREATE DATABASE second" >/dev/null
qs() { fv_psql -d second -At -c "$1"; }
fv_psql -d second >/dev/null <<'SQL'
CREATE EXTENSION pg_flowview;
CREATE TABLE obase (id bigserial PRIMARY KEY, customer_id int, region text, amount numeric(10,2), ts timestamptz DEFAULT now());
ALTER TABLE obase REPLICA IDENTITY FULL;
CREATE TABLE osrc (id bigserial PRIMARY KEY, customer_id int, region text, amount numeric(10,2), ts timestamptz DEFAULT now());
SELECT flowview.create_view('o_revenue', $$SELECT region, date_trunc('minute', ts) AS minute, sum(amount) AS revenue, avg(amount) AS avg_amount FROM osrc GROUP BY 1, 2$$);
SELECT flowview.create_view('o_customers', $$SELECT customer_id, count(*) AS n, min(amount) AS lo, max(amount) AS hi FROM osrc GROUP BY 1$$);
SELECT flowview.create_view('o_totals', $$SELECT count(*) AS n, sum(amount) AS s FROM osrc$$);
SQL
[ "$(qs "SELECT flowview.wait_for_freshness(NULL, '60 s')")" = t ] || fv_die "second workload's views did not become live"
writers_part second "$WORK/otps" obase osrc \
	"INSERT INTO TABLE (customer_id, region, amount) VALUES (1 + (random() * 9999)::int, 'r' || (random() * 20)::int, (random() * 1000)::numeric(10,2));"
odiffs=$(qs "SELECT count(*) FROM ((TABLE o_customers EXCEPT ALL SELECT customer_id, count(*), min(amount), max(amount) FROM osrc GROUP BY 1) UNION ALL (SELECT customer_id, count(*), min(amount), max(amount) FROM osrc GROUP BY 1 EXCEPT ALL TABLE o_customers)) d")
q "DROP DATABASE second WITH (FORCE)" >/dev/null
fi

# ---- 10. idle and unrelated work: the workers of databases without writes --
if want 10; then
# IDLE_DBS databases with a live view each and no writes: their apply
# workers' CPU (utime + stime from /proc) over $IDLE s; then, while database
# postgres takes pgbench at full speed on a table without views (4 clients,
# $SECS s), their CPU and the writers' TPS, against rounds in which those
# databases have no view (and so no worker), alternating, medians.
fv_log "10. idle and unrelated work: $IDLE_DBS databases with an idle live view each"
for i in $(seq "$IDLE_DBS"); do
	q "CREATE DATABASE idle_$i" >/dev/null
	fv_psql -d "idle_$i" -At -c "CREATE EXTENSION pg_flowview; CREATE TABLE t (g int, x int); INSERT INTO t SELECT i % 10, i FROM generate_series(1, 1000) i" >/dev/null
done
idle_views() { # create|drop
	local i
	for i in $(seq "$IDLE_DBS"); do
		if [ "$1" = create ]; then
			fv_psql -d "idle_$i" -At -c "SELECT flowview.create_view('tv', 'SELECT g, count(*), sum(x) FROM t GROUP BY g')" >/dev/null
			fv_psql -d "idle_$i" -At -c "SELECT flowview.wait_for_freshness(NULL, '60 s')" >/dev/null
		else
			fv_psql -d "idle_$i" -At -c "SELECT flowview.drop_view('tv')" >/dev/null
		fi
	done
}
idle_ticks() { # the idle databases' workers' CPU ticks, summed
	local p sum=0
	for p in $(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply' AND datname LIKE 'idle\_%'"); do
		sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$sum"
}
hz=$(getconf CLK_TCK)
idle_views create
sleep 2
c0=$(idle_ticks); sleep "$IDLE"; c1=$(idle_ticks)
idle_pct=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v s="$IDLE" 'BEGIN {printf "%.2f", 100 * d / hz / s}')
nworkers=$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply' AND datname LIKE 'idle\_%'")
for r in $(seq "$ROUNDS"); do
	for mode in with without; do
		if [ "$mode" = without ]; then idle_views drop; sleep 2; fi
		c0=$(idle_ticks)
		tps=$("$PGBENCH" -n -c 4 -j 2 -T "$SECS" -f "$WORK/ins_base.sql" postgres 2>"$WORK/pgbench_err" | grep -oE 'tps = [0-9.]+' | grep -oE '[0-9.]+') ||
			{ cat "$WORK/pgbench_err" >&2; fv_die "pgbench on base failed"; }
		c1=$(idle_ticks)
		echo "$mode $tps $((c1 - c0))" >>"$WORK/itps"
		fv_log "   round $r, $mode the idle workers: $tps TPS; their CPU $(awk -v d=$((c1 - c0)) -v hz="$hz" -v s="$SECS" 'BEGIN {printf "%.2f", 100 * d / hz / s}')% of a core"
		if [ "$mode" = without ]; then idle_views create; fi
	done
done
with_tps=$(tps_median "$WORK/itps" with)
without_tps=$(tps_median "$WORK/itps" without)
busy_pct=$(awk '$1 == "with" {print $3}' "$WORK/itps" | median | awk -v hz="$hz" -v s="$SECS" '{printf "%.2f", 100 * $1 / hz / s}')
for i in $(seq "$IDLE_DBS"); do q "DROP DATABASE idle_$i WITH (FORCE)" >/dev/null; done
fi

# ---- 11. many views on one source ------------------------------------------
if want 11; then
# VIEW_COUNTS (1 10 50) live views on one table, a mix of group keys,
# aggregates and filters; for each count, writers' rounds against a table
# without views (alternating, medians), the apply worker's CPU during the
# rounds, and its peak private memory (RssAnon, sampled every 10 ms).
fv_log "11. many views: $VIEW_COUNTS live views on one table, $ROUNDS rounds x $SECS s per table"
q "CREATE DATABASE many" >/dev/null
qm() { fv_psql -d many -At -c "$1"; }
fv_psql -d many >/dev/null <<'SQL'
CREATE EXTENSION pg_flowview;
CREATE TABLE mbase (id bigserial PRIMARY KEY, customer_id int, region text, product int, amount numeric(10,2), ts timestamptz DEFAULT now());
ALTER TABLE mbase REPLICA IDENTITY FULL;
CREATE TABLE msrc (id bigserial PRIMARY KEY, customer_id int, region text, product int, amount numeric(10,2), ts timestamptz DEFAULT now());
ALTER TABLE msrc REPLICA IDENTITY FULL;
-- the i-th view of the mix: its key, aggregates and filter turn with i
CREATE FUNCTION mview(i int) RETURNS text LANGUAGE sql AS $$
    SELECT format('SELECT %s AS key, count(*) AS n, sum(amount) AS s%s FROM msrc%s GROUP BY 1',
                  (ARRAY['region', 'product', 'customer_id % 100', 'date_trunc(''minute'', ts)', 'region || product::text'])[1 + i % 5],
                  (ARRAY['', ', avg(amount) AS a', ', max(amount) AS hi', ', min(amount) AS lo'])[1 + i % 4],
                  CASE WHEN i % 3 = 0 THEN format(' WHERE amount > %s', (i * 17) % 900)
                       WHEN i % 3 = 1 THEN format(' WHERE region <> %L', 'r' || i % 20) ELSE '' END)
$$;
SQL
made=0
for n in $VIEW_COUNTS; do
	while [ "$made" -lt "$n" ]; do
		made=$((made + 1))
		qm "SELECT flowview.create_view('mv_$made', mview($made))" >/dev/null 2>&1
	done
	[ "$(qm "SELECT flowview.wait_for_freshness(NULL, '300 s')")" = t ] || fv_die "the $n views did not become live"
	wpid=$(qm "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply' AND datname = current_database()")
	rss_sampler "$wpid" "$WORK/many_peak"
	rm -f "$WORK/mtps"
	# the worker's CPU in the rounds on msrc only (pgbench until fresh)
	WPID=$wpid writers_part many "$WORK/mtps" mbase msrc \
		"INSERT INTO TABLE (customer_id, region, product, amount) VALUES (1 + (random() * 9999)::int, 'r' || (random() * 20)::int, (random() * 200)::int, (random() * 1000)::numeric(10,2));"
	rss_sampler_end
	changes=$(qm "SELECT count(*) FROM msrc")
	echo "$n $mbase_tps $msrc_tps $(awk '$1 == "msrc" {t += $4} END {print t}' "$WORK/mtps") $(cat "$WORK/many_peak") $changes$(awk '$1 == "mbase" {b = $2} $1 == "msrc" {r = r sprintf(" %.2f", $2 / b)} END {print r}' "$WORK/mtps")" >>"$WORK/many"
	qm "TRUNCATE mbase" >/dev/null
	qm "TRUNCATE msrc" >/dev/null
	qm "SELECT flowview.wait_for_freshness(NULL, '300 s')" >/dev/null
done
mdiffs=0
for i in $(seq "$made"); do
	mq=$(qm "SELECT mview($i)")
	d=$(qm "SELECT count(*) FROM ((TABLE mv_$i EXCEPT ALL $mq) UNION ALL ($mq EXCEPT ALL TABLE mv_$i)) d")
	mdiffs=$((mdiffs + d))
done
q "DROP DATABASE many WITH (FORCE)" >/dev/null
fi

# ---- 12. memory: one transaction of 2,000,000 rows in 1,000,000 groups ------
if want 12; then
fv_log "12. memory: a 2,000,000-row transaction touching 1,000,000 groups"
q "CREATE DATABASE bigtx" >/dev/null
qb() { fv_psql -d bigtx -At -c "$1"; }
fv_psql -d bigtx >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION pg_flowview;
CREATE TABLE b (id bigserial PRIMARY KEY, k int, amount numeric(10,2));
SELECT flowview.create_view('b_per_k', $$SELECT k, count(*) AS n, sum(amount) AS s, max(amount) AS hi FROM b GROUP BY k$$);
SQL
[ "$(qb "SELECT flowview.wait_for_freshness(NULL, '60 s')")" = t ] || fv_die "the view did not become live"
wpid=$(qb "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_flowview apply' AND datname = current_database()")
qb "SELECT flowview.pause_apply()" >/dev/null
qb "INSERT INTO b (k, amount) SELECT g / 2, (g % 1000) FROM generate_series(0, 1999999) g" >/dev/null
rss_sampler "$wpid" "$WORK/big_peak"
t0=$(now_ms)
qb "SELECT flowview.resume_apply()" >/dev/null
[ "$(qb "SELECT flowview.wait_for_freshness(NULL, '1800 s')")" = t ] || fv_die "the big transaction was not applied"
big_ms=$(($(now_ms) - t0))
rss_sampler_end
big_peak=$(cat "$WORK/big_peak")
big_groups=$(qb "SELECT count(*) FROM b_per_k")
bdiffs=$(qb "SELECT count(*) FROM ((TABLE b_per_k EXCEPT ALL SELECT k, count(*), sum(amount), max(amount) FROM b GROUP BY k) UNION ALL (SELECT k, count(*), sum(amount), max(amount) FROM b GROUP BY k EXCEPT ALL TABLE b_per_k)) d")
q "DROP DATABASE bigtx WITH (FORCE)" >/dev/null
fi

# ---- summary ---------------------------------------------------------------
echo
echo "pg_flowview live-view benchmark ($(q 'SELECT version()' | cut -d' ' -f1-2), $(nproc) CPUs, fsync = on)"
want 1 && awk -v b="$base_tps" -v s="$src_tps" -v l="$lag" 'BEGIN {
	printf "  write overhead   no views %.0f TPS, 3 live views %.0f TPS: ratio %.2f (target >= 0.95: %s); views fresh %d ms after the writers stop\n",
		b, s, s / b, (s / b >= 0.95) ? "met" : "NOT MET", l }'
want 1 && awk '$1 == "base" {b = $2} $1 == "src" {r = r sprintf(" %.2f", $2 / b)} END {print "                   per round (3 views / none, same round):" r}' "$WORK/tps"
want 2 && echo "  apply            catching up after a pause (rows/s; wal2json decoding the same WAL; target >= 3x):"
want 2 && awk '{ a = $3 / ($4 / 1000); w = $5 / ($6 / 1000); f = $3 / ($7 / 1000);
	printf "                   %-5s %8d rows, recompute_backlog %-4s: %9.0f rows/s in %6d ms; wal2json %9.0f rows/s; ratio %.2fx (%s); decode floor %9.0f rows/s = %.2fx wal2json\n",
		$1, $3, $2, a, $4, w, a / w, (a / w >= 3) ? "met" : "NOT MET", f, f / w }' "$WORK/apply"
want 2 && echo "  views equal their queries after the apply runs: $([ "$diffs" = 0 ] && echo yes || echo "NO ($diffs differing rows)")"
if want 3; then
	while read -r rate tps cpu; do
		f="$WORK/fresh_$rate"
		if [ "$rate" -le 1000 ]; then tgt="p50 <= 5 ms, p99 <= 15 ms"; ok=$(awk -v a="$(pct "$f" 50)" -v b="$(pct "$f" 99)" 'BEGIN {print (a <= 5 && b <= 15) ? "met" : "NOT MET"}')
		else tgt="p99 <= 50 ms"; ok=$(awk -v b="$(pct "$f" 99)" 'BEGIN {print (b <= 50) ? "met" : "NOT MET"}'); fi
		echo "  freshness        commit-to-visible over $(wc -l <"$f") probes at ~$rate TPS (measured $tps inserts/s; one connection, 1 ms polling): p50 $(pct "$f" 50) ms, p95 $(pct "$f" 95) ms, p99 $(pct "$f" 99) ms (target $tgt: $ok); the worker's CPU $cpu% of a core"
	done <"$WORK/fresh_rates"
fi
want 3 && echo "                   the worker's own figure for the probes (flowview.stats of probe_seen: commit to apply commit; histogram bucket bounds): $worker_lat"
want 4 && awk -v b="$jplain_tps" -v s="$jfv_tps" -v l="$jlag" 'BEGIN {
	printf "  joins: writers   no views %.0f TPS, 3 live views + the join view (orders JOIN customers) %.0f TPS: ratio %.2f (target >= 0.95: %s); views fresh %d ms after the writers stop\n",
		b, s, s / b, (s / b >= 0.95) ? "met" : "NOT MET", l }'
want 4 && awk '$1 == "orders_plain" {b = $2} $1 == "orders" {r = r sprintf(" %.2f", $2 / b)} END {print "                   per round (4 views / none, same round):" r}' "$WORK/jtps"
if want 4 && [ -z "$ivm_skip" ]; then
	awk -v b="$jplain_tps" -v s="$jivm_tps" -v f="$jfv_tps" -v v="$ivm_version" 'BEGIN {
	printf "  joins: pg_ivm    the join view as a pg_ivm %s IMMV %.0f TPS: ratio %.2f against no views (pg_flowview with 4 views: %.2f)\n", v, s, s / b, f / b }'
	awk '$1 == "orders_plain" {b = $2} $1 == "orders_ivm" {r = r sprintf(" %.2f", $2 / b)} END {print "                   per round (IMMV / none, same round):" r}' "$WORK/jtps"
elif want 4; then
	echo "  joins: pg_ivm    skipped: $ivm_skip"
fi
want 4 && echo "  join views equal their queries after the runs ($jrows orders): $([ "$jdiffs" = 0 ] && echo yes || echo "NO ($jdiffs differing rows)")"
want 5 && cat "$WORK/fanout_summary"
want 6 && awk -v p="$cpu_plain" -v r="$cpu_retain" -v n="$RETAIN_ROWS" -v g="$rgroups" -v s="$IDLE" 'BEGIN {
	printf "  retention, idle  %d rows, %d groups (the oldest minute leaving each minute), %d s without writes: the apply worker used %.2f%% of a core with retain => 7 days, %.2f%% with the same view without; the expiry itself %.2f%% (target < 1%%: %s)\n",
		n, g, s, r, p, r - p, (r - p < 1) ? "met" : "NOT MET" }'
want 7 && awk -v p="$wcpu_plain" -v w="$wcpu_window" -v x="$wcpu_nomax" -v n="$WINDOW_ROWS" -v e="$wend_rows" -v s="$IDLE" 'BEGIN {
	printf "  window, idle     %d rows in a 15-minute window (about 1,100 leaving a second; %d left at the end), %d s without writes: the apply worker used %.2f%% of a core with the window (count, sum, max as a multiset), %.2f%% with the same view without; the expiry itself %.2f%% (target < 1%%: %s)\n",
		n, e, s, w, p, w - p, (w - p < 1) ? "met" : "NOT MET";
	printf "                   a window of count, sum and avg only: %.2f%%, the expiry itself %.2f%% (target < 1%%: %s)\n",
		x, x - p, (x - p < 1) ? "met" : "NOT MET" }'
want 7 && awk -v b="$wbase_tps" -v s="$wsrc_tps" 'BEGIN {
	printf "  window, writers  no views %.0f TPS, 3 live views + a 15-minute window view %.0f TPS: ratio %.2f (target >= 0.95: %s)\n",
		b, s, s / b, (s / b >= 0.95) ? "met" : "NOT MET" }'
want 7 && awk '$1 == "wbase" {b = $2} $1 == "wsrc" {r = r sprintf(" %.2f", $2 / b)} END {print "                   per round (4 views / none, same round):" r}' "$WORK/wtps"
want 7 && echo "  the window view equals its query at its clock after the runs: $([ "$wdiffs" = 0 ] && echo yes || echo "NO ($wdiffs differing rows)")"
want 8 && awk -v b="$rbase_tps" -v s="$rsrc_tps" 'BEGIN {
	printf "  rollups, writers no views %.0f TPS, a 15-minute window view + minute, hour and day views (each over the one before) %.0f TPS: ratio %.2f (target >= 0.95: %s)\n",
		b, s, s / b, (s / b >= 0.95) ? "met" : "NOT MET" }'
want 8 && awk '$1 == "rbase" {b = $2} $1 == "rsrc" {r = r sprintf(" %.2f", $2 / b)} END {print "                   per round (4 views / none, same round):" r}' "$WORK/rtps"
want 8 && echo "  the day view equals its query composed over the table after the runs ($rrows rows): $([ "$rdiffs" = 0 ] && echo yes || echo "NO ($rdiffs differing rows)")"
want 9 && awk -v b="$obase_tps" -v s="$osrc_tps" 'BEGIN {
	printf "  second workload  no views %.0f TPS, revenue per region and minute (avg) + count/min/max per customer (10,000) + a global count/sum %.0f TPS: ratio %.2f (target >= 0.95: %s)\n",
		b, s, s / b, (s / b >= 0.95) ? "met" : "NOT MET" }'
want 9 && awk '$1 == "obase" {b = $2} $1 == "osrc" {r = r sprintf(" %.2f", $2 / b)} END {print "                   per round (3 views / none, same round):" r}' "$WORK/otps"
want 9 && echo "  the per-customer min/max view equals its query after the runs: $([ "$odiffs" = 0 ] && echo yes || echo "NO ($odiffs differing rows)")"
want 10 && echo "  idle workers     $nworkers apply workers of databases without writes: ${idle_pct}% of a core between them over $IDLE s (target: nothing measurable)"
want 10 && awk -v w="$with_tps" -v o="$without_tps" -v c="$busy_pct" -v n="$nworkers" 'BEGIN {
	printf "                   while another database takes writes at full speed: writers %.0f TPS with them, %.0f without: ratio %.3f; their CPU meanwhile %s%% of a core (%.3f%% per worker)\n",
		w, o, w / o, c, c / n }'
want 11 && while read -r n b m ticks peak changes rounds; do
	awk -v n="$n" -v b="$b" -v m="$m" -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v secs="$SECS" -v r="$ROUNDS" -v p="$peak" -v c="$changes" -v rs="$rounds" 'BEGIN {
	printf "  many views       %2d views: no views %.0f TPS, with them %.0f TPS: ratio %.2f%s; the worker %.1f%% of a core while they wrote and until fresh (%.1f us per change), peak private memory %d MB (rounds: %s)\n",
		n, b, m, m / b, (n >= 50) ? ((m / b >= 0.90) ? " (target >= 0.90: met)" : " (target >= 0.90: NOT MET)") : "", 100 * t / hz / (secs * r), 1e6 * t / hz / c, p / 1024, rs }'
done <"$WORK/many"
want 11 && echo "  the views equal their queries after the runs: $([ "$mdiffs" = 0 ] && echo yes || echo "NO ($mdiffs differing rows)")"
want 12 && echo "  memory           a 2,000,000-row transaction in $big_groups groups applied in $big_ms ms; the worker's peak private memory (RssAnon) $((big_peak / 1024)) MB (target < 256 MB: $([ "$big_peak" -lt $((256 * 1024)) ] && echo met || echo 'NOT MET')); the view equals its query: $([ "$bdiffs" = 0 ] && echo yes || echo "NO ($bdiffs differing rows)")"
exit 0
