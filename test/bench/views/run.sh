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
# 2. apply throughput: one large transaction (FV_BENCH_BIG_ROWS rows) and
#    FV_BENCH_SMALL_XACTS single-row transactions written while the views
#    are live; rows/s = rows / (time from the start of the writes until
#    wait_for_freshness returns); baseline: wal2json (format-version 2)
#    decoding the same WAL range with pg_logical_slot_peek_changes.  target >= 3x
# 3. freshness: at ~1,000 TPS of background inserts, a probe commits a row and
#    polls until the view shows it; p50/p95/p99 of commit-to-visible, minus
#    nothing (psql round trips included; their own cost is printed).
#                                                          target p99 <= 100 ms
# The cluster runs with fsync = on (durable commits, as in production).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FV_ROOT=$(cd "$BENCH_DIR/../../.." && pwd)
. "$FV_ROOT/scripts/lib.sh"

PORT=${FV_BENCH_PORT:-54370}
ROUNDS=${FV_BENCH_ROUNDS:-3}
SECS=${FV_BENCH_SECONDS:-15}
BIG=${FV_BENCH_BIG_ROWS:-1000000}
SMALL=${FV_BENCH_SMALL_XACTS:-100000}
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

# ---- 1. write overhead --------------------------------------------------
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

# ---- 2. apply throughput -------------------------------------------------
fv_log "2. apply throughput: one $BIG-row transaction, then $SMALL single-row transactions"
q "SELECT 'x' FROM pg_create_logical_replication_slot('bench_w2j', 'wal2json')" >/dev/null
start_lsn=$(q "SELECT pg_current_wal_lsn()")
t0=$(now_ms)
q "INSERT INTO src (region, amount) SELECT 'r' || (g % 20), (g % 1000) FROM generate_series(1, $BIG) g" >/dev/null
q "SELECT flowview.wait_for_freshness(NULL, '900 s')" >/dev/null
big_ms=$(($(now_ms) - t0))
t0=$(now_ms)
"$PGBENCH" -n -c 4 -j 2 -t $((SMALL / 4)) -f "$WORK/ins_src.sql" postgres >/dev/null 2>&1
write_ms=$(($(now_ms) - t0))
q "SELECT flowview.wait_for_freshness(NULL, '900 s')" >/dev/null
small_ms=$(($(now_ms) - t0))
end_lsn=$(q "SELECT pg_current_wal_lsn()")
t0=$(now_ms)
w2j_rows=$(q "SELECT count(*) FROM pg_logical_slot_peek_changes('bench_w2j', '$end_lsn', NULL, 'format-version', '2', 'include-transaction', 'false')")
w2j_ms=$(($(now_ms) - t0))
q "SELECT pg_drop_replication_slot('bench_w2j')" >/dev/null
diffs=$(q "SELECT (SELECT count(*) FROM (SELECT * FROM by_minute EXCEPT ALL SELECT region, date_trunc('minute', ts), count(*), sum(amount), avg(amount), min(amount), max(amount) FROM src GROUP BY 1, 2) a)
             + (SELECT count(*) FROM (SELECT region, date_trunc('minute', ts), count(*), sum(amount), avg(amount), min(amount), max(amount) FROM src GROUP BY 1, 2 EXCEPT ALL SELECT * FROM by_minute) b)")

# ---- 3. freshness ----------------------------------------------------------
fv_log "3. freshness: $PROBES probes under ~1,000 TPS of inserts"
"$PGBENCH" -n -c 2 -j 1 -R 1000 -T 600 -f "$WORK/ins_src.sql" postgres >/dev/null 2>&1 &
bg=$!
sleep 2
rt0=$(now_ms)
for i in $(seq 20); do q "SELECT 1" >/dev/null; done
rtt=$((($(now_ms) - rt0) / 20))
for i in $(seq "$PROBES"); do
	t0=$(now_ms)
	q "INSERT INTO probes VALUES ($i, clock_timestamp())" >/dev/null
	until [ "$(q "SELECT count(*) FROM probe_seen WHERE id = $i")" = 1 ]; do :; done
	echo $(($(now_ms) - t0)) >>"$WORK/fresh"
	sleep 0.02
done
kill "$bg" 2>/dev/null || true
wait "$bg" 2>/dev/null || true
pct() { sort -n "$WORK/fresh" | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p/100+0.999); if (i<1) i=1; print a[i]}'; }

# ---- summary ---------------------------------------------------------------
echo
echo "pg_flowview live-view benchmark ($(q 'SELECT version()' | cut -d' ' -f1-2), $(nproc) CPUs, fsync = on)"
awk -v b="$base_tps" -v s="$src_tps" -v l="$lag" 'BEGIN {
	printf "  write overhead   no views %.0f TPS, 3 live views %.0f TPS: ratio %.2f (target >= 0.95: %s); views fresh %d ms after the writers stop\n",
		b, s, s / b, (s / b >= 0.95) ? "met" : "NOT MET", l }'
awk -v big="$BIG" -v bms="$big_ms" -v small="$SMALL" -v sms="$small_ms" -v wms="$write_ms" -v wr="$w2j_rows" -v wm="$w2j_ms" 'BEGIN {
	w = wr / (wm / 1000); a1 = big / (bms / 1000); a2 = small / (sms / 1000);
	printf "  apply            one %d-row transaction: %.0f rows/s; %d single-row transactions: %.0f rows/s (writers took %d ms, views fresh at %d ms)\n", big, a1, small, a2, wms, sms;
	printf "                   wal2json decoding the same WAL: %d rows in %d ms = %.0f rows/s\n", wr, wm, w;
	printf "                   ratios %.2fx and %.2fx (target >= 3x: %s)\n", a1 / w, a2 / w, (a1 / w >= 3 && a2 / w >= 3) ? "met" : "NOT MET" }'
echo "  views equal their queries after the apply runs: $([ "$diffs" = 0 ] && echo yes || echo "NO ($diffs differing rows)")"
echo "  freshness        commit-to-visible over $(wc -l <"$WORK/fresh") probes at ~1,000 TPS: p50 $(pct 50) ms, p95 $(pct 95) ms, p99 $(pct 99) ms (target p99 <= 100 ms: $([ "$(pct 99)" -le 100 ] && echo met || echo 'NOT MET')); one psql round trip costs ~$rtt ms and each probe needs at least two"
