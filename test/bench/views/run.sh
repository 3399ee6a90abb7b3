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
# 3. freshness: at ~1,000 TPS of background inserts, a probe procedure (one
#    connection) commits a row and polls every ms until its view shows it;
#    p50/p95/p99 of commit-to-visible, and the worker's own histogram.
#                                                          target p99 <= 100 ms
# FV_BENCH_PARTS="1 3" runs some of the parts.
# The cluster runs with fsync = on (durable commits, as in production).
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
PGBENCH=$FV_PGBIN/pgbench
WORK=$(mktemp -d)
chmod 755 "$WORK"

cleanup() { fv_cluster_remove views_bench || true; rm -rf "$WORK"; }
trap cleanup EXIT

fv_ensure_packages
fv_build_install
fv_cluster_start views_bench "$PORT" "fsync = on"
q() { fv_psql -d postgres -At -c "$1"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

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

for t in base src; do
	echo "INSERT INTO $t (region, amount) VALUES ('r' || (random() * 20)::int, (random() * 1000)::numeric(10,2));" >"$WORK/ins_$t.sql"
done

PARTS=${FV_BENCH_PARTS:-1 2 3}
want() { [[ " $PARTS " == *" $1 "* ]]; }

# ---- 1. write overhead --------------------------------------------------
if want 1; then
fv_log "1. write overhead: $ROUNDS rounds x $SECS s per table, 4 clients"
for r in $(seq "$ROUNDS"); do
	for t in base src; do
		tps=$("$PGBENCH" -n -c 4 -j 2 -T "$SECS" -f "$WORK/ins_$t.sql" postgres 2>/dev/null | grep -oE 'tps = [0-9.]+' | grep -oE '[0-9.]+')
		t0=$(now_ms)
		q "SELECT flowview.wait_for_freshness(NULL, '300 s')" >/dev/null
		echo "$t $tps $(($(now_ms) - t0))" >>"$WORK/tps"
		fv_log "   round $r $t: $tps TPS, views fresh $(($(now_ms) - t0)) ms after the writers stopped"
	done
done
base_tps=$(awk '$1 == "base" {print $2}' "$WORK/tps" | median)
src_tps=$(awk '$1 == "src" {print $2}' "$WORK/tps" | median)
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
# Meanwhile pgbench writes ~1,000 single-row TPS into src (3 more views).
fv_log "3. freshness: $PROBES probes under ~1,000 TPS of inserts"
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
"$PGBENCH" -n -c 2 -j 1 -R 1000 -T 600 -f "$WORK/ins_src.sql" postgres >"$WORK/pgbench_bg" 2>&1 &
bg=$!
sleep 3
q "CALL probe($PROBES)" >/dev/null
kill "$bg" 2>/dev/null || true
wait "$bg" 2>/dev/null || true
q "SELECT round(ms)::int FROM probe_lat" >"$WORK/fresh"
pct() { sort -n "$WORK/fresh" | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p/100+0.999); if (i<1) i=1; print a[i]}'; }
worker_lat=$(q "SELECT format('p50 %s ms, p95 %s ms, p99 %s ms over %s transactions', latency_p50_ms, latency_p95_ms, latency_p99_ms, latency_samples) FROM flowview.stats WHERE view = 'probe_seen'::regclass")

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
want 3 && echo "  freshness        commit-to-visible over $(wc -l <"$WORK/fresh") probes at ~1,000 TPS (one connection, 1 ms polling): p50 $(pct 50) ms, p95 $(pct 95) ms, p99 $(pct 99) ms (target p99 <= 100 ms: $([ "$(pct 99)" -le 100 ] && echo met || echo 'NOT MET'))"
want 3 && echo "                   the worker's own figure for the probes (flowview.stats of probe_seen: commit to apply commit; histogram bucket bounds): $worker_lat"
exit 0
