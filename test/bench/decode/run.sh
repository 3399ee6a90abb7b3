#!/usr/bin/env bash
# test/bench/decode/run.sh: decoding throughput of the pg_flowview output
# plugin (json format) against wal2json (format-version 2) and test_decoding.
#
#   bash test/bench/decode/run.sh        (as root; installs what is missing)
#
# On one throwaway cluster (tmp_check/bench, port 54360) it
#   1. creates an order-entry table and one logical slot per plugin, BEFORE
#      the workload, so the three slots cover exactly the same WAL range;
#   2. writes the workload: one large transaction (INSERT ... SELECT of
#      $FV_BENCH_BULK_ROWS orders) and many small ones (pgbench, concurrent
#      clients, each transaction: 1 insert, 2 updates, 1 delete);
#   3. reads the whole range once per plugin, untimed, to check that the three
#      agree: same numbers of inserts/updates/deletes and the same checksums
#      (sum of ids and amounts) parsed from each output; any difference fails;
#   4. times a full read through each plugin, $FV_BENCH_RUNS rounds, the
#      plugins interleaved within each round (each round starting with the
#      next plugin):
#        SELECT count(*) FROM pg_logical_slot_peek_changes(slot, end_lsn, NULL, options)
#      (peek, so every run reads the same changes), and prints seconds and
#      row changes per second for each plugin (median of the rounds; the best
#      round is shown too), and the ratios of the medians.
#      Each round also times the "decode floor": the same read through
#      pg_flowview with exclude-tables=*.* (everything decoded, nothing
#      written), i.e. the part of every plugin's time that is PostgreSQL's.
# Target: pg_flowview json >= 1.5x wal2json's rows/s.
#
# Settings from the environment:
#   FV_BENCH_PORT         cluster port (54360)
#   FV_BENCH_BULK_ROWS    rows of the large transaction (500000)
#   FV_BENCH_SMALL_XACTS  small transactions, 4 row changes each (130000)
#   FV_BENCH_CLIENTS      pgbench clients for the small transactions (4)
#   FV_BENCH_RUNS         timed rounds (5)
#   FV_BENCH_WORK_MEM     work_mem of the reading sessions (unset: the server
#                         default, 4MB; the peek's result then goes to a temp
#                         file, which measured faster than keeping it in memory)
#   FV_BENCH_STREAM=1     also time each plugin through the walsender:
#                         pg_recvlogical --endpos to /dev/null, on a copy of
#                         its slot (pg_copy_logical_replication_slot)
#   FV_BENCH_PROFILE=1    afterwards, perf-record one more pg_flowview read and
#                         print the top of the flat profile (needs perf)
#   FV_BENCH_REQUIRE_TARGET=1  exit 3 when the target is not met
#   FV_BENCH_KEEP=1       leave the cluster running at the end
# Exit status: 0 done (target met or not, see the last lines), 1 error or the
# plugins disagree, 3 target not met with FV_BENCH_REQUIRE_TARGET=1.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FV_ROOT=$(cd "$BENCH_DIR/../../.." && pwd)
. "$FV_ROOT/scripts/lib.sh"

BENCH_NAME=bench
BENCH_PORT=${FV_BENCH_PORT:-54360}
BULK_ROWS=${FV_BENCH_BULK_ROWS:-500000}
SMALL_XACTS=${FV_BENCH_SMALL_XACTS:-130000}
CLIENTS=${FV_BENCH_CLIENTS:-4}
RUNS=${FV_BENCH_RUNS:-5}
WORK_MEM=${FV_BENCH_WORK_MEM:-}
MIN_CHANGES=1000000
TARGET=1.5
DB=bench

PLUGINS=(pg_flowview wal2json test_decoding)
declare -A SLOT=([pg_flowview]=bench_flowview [wal2json]=bench_wal2json [test_decoding]=bench_test_decoding)
# options as a SQL text[] literal, and as printed
declare -A OPTS=(
	[pg_flowview]="ARRAY[]::text[]"
	[wal2json]="ARRAY['format-version','2','include-transaction','false']"
	[test_decoding]="ARRAY['skip-empty-xacts','1']"
)
declare -A OPTS_SHOWN=(
	[pg_flowview]="(none: format=json, one line per row change)"
	[wal2json]="format-version=2 include-transaction=false (else defaults)"
	[test_decoding]="skip-empty-xacts=1 (else defaults: BEGIN/COMMIT lines, xids)"
)

[ "$SMALL_XACTS" -lt "$BULK_ROWS" ] || fv_die "FV_BENCH_SMALL_XACTS must be below FV_BENCH_BULK_ROWS (each deletes one bulk row)"
[ $((SMALL_XACTS % CLIENTS)) -eq 0 ] || fv_die "FV_BENCH_SMALL_XACTS must be a multiple of FV_BENCH_CLIENTS"

# psql in the bench database, unaligned, tuples only
q() { fv_psql -d "$DB" -At "$@"; }
# q for reading slots: with FV_BENCH_WORK_MEM when it is set
SET_WORK_MEM="SET work_mem = DEFAULT"
[ -n "$WORK_MEM" ] && SET_WORK_MEM="SET work_mem = '$WORK_MEM'"
qread() { q -c "$SET_WORK_MEM" "$@"; }

# shellcheck disable=SC2317  # (run by the EXIT trap)
cleanup() {
	local rc=$?
	if [ -n "${FV_BENCH_KEEP:-}" ]; then
		fv_log "cluster left running: $FV_PGBIN/psql -h $PGHOST -p $PGPORT -U $PGUSER $DB"
	else
		fv_cluster_remove "$BENCH_NAME" || true
	fi
	[ -n "${WORK_DIR:-}" ] && rm -rf "$WORK_DIR"
	exit "$rc"
}

# ----------------------------------------------------------------------------
# Setup
# ----------------------------------------------------------------------------

START_TIME=$SECONDS
extra_packages=()
[ -n "${FV_BENCH_PROFILE:-}" ] && ! command -v perf >/dev/null && extra_packages+=(linux-perf)
fv_ensure_packages "${extra_packages[@]}"
[ -x "$FV_PGBIN/pgbench" ] || fv_die "$FV_PGBIN/pgbench missing (it comes with postgresql-15)"
fv_build_install

fv_log "start cluster $BENCH_NAME on port $BENCH_PORT"
trap cleanup EXIT
# quiet timings: no autovacuum, no checkpoint in the middle of the workload
fv_cluster_start "$BENCH_NAME" "$BENCH_PORT" \
	"autovacuum = off" "max_wal_size = 16GB" "checkpoint_timeout = 1h"
WORK_DIR=$(mktemp -d /tmp/fv_bench_decode.XXXXXX)
chmod 755 "$WORK_DIR"

fv_psql -d postgres -c "CREATE DATABASE $DB"
q <<'SQL'
CREATE EXTENSION pg_flowview;     -- also checks the server settings
CREATE TABLE orders (
	id          bigint PRIMARY KEY,
	customer_id int NOT NULL,
	region      text NOT NULL,
	status      text NOT NULL,
	amount      numeric(12,2) NOT NULL,
	qty         int NOT NULL,
	created_at  timestamptz NOT NULL,
	note        text
);                                 -- default replica identity (the primary key)
CREATE SEQUENCE order_ids;         -- new orders of the small transactions
CREATE SEQUENCE delete_ids;        -- small transactions delete bulk orders 1, 2, 3, ...

-- one timed full read of a slot: rows returned and seconds
CREATE FUNCTION bench_read(slot name, upto pg_lsn, opts text[],
						   OUT nrows bigint, OUT secs float8)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
BEGIN
	t0 := clock_timestamp();
	SELECT count(*) INTO nrows
	  FROM pg_logical_slot_peek_changes(slot, upto, NULL, VARIADIC opts);
	secs := extract(epoch FROM clock_timestamp() - t0);
END
$$;
SQL

fv_log "create slots (before the workload: all three see the same WAL range)"
for p in "${PLUGINS[@]}"; do
	q -c "SELECT pg_create_logical_replication_slot('${SLOT[$p]}', '$p')" >/dev/null
done
START_LSN=$(q -c "SELECT min(confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name LIKE 'bench\_%'")

# ----------------------------------------------------------------------------
# Workload
# ----------------------------------------------------------------------------

fv_log "workload 1/2: one transaction inserting $BULK_ROWS orders"
t0=$SECONDS
q >/dev/null <<SQL
INSERT INTO orders (id, customer_id, region, status, amount, qty, created_at, note)
SELECT g,
	   1 + (g * 7919) % 20000,
	   (ARRAY['eu-west','us-east','ap-south','sa-east'])[1 + g % 4],
	   (ARRAY['new','paid','shipped','delivered'])[1 + (g / 7) % 4],
	   round((5 + (g * 37) % 49500 / 100.0)::numeric, 2),
	   1 + g % 9,
	   timestamptz '2026-01-01 00:00:00+00' + g * interval '13 seconds',
	   CASE WHEN g % 5 = 0 THEN NULL
			WHEN g % 5 = 1 THEN 'leave at the door'
			WHEN g % 5 = 2 THEN 'call "Ana" before delivery'
			WHEN g % 5 = 3 THEN 'gift wrap, no invoice in the box'
			ELSE 'fragile: glass' END
  FROM generate_series(1::bigint, $BULK_ROWS) g;
SELECT setval('order_ids', $BULK_ROWS);
SQL
fv_log "  done in $((SECONDS - t0)) s"

# The small transactions: an order comes in, an older one is paid, another is
# shipped, one is purged.  The updated orders are never the deleted ones, so
# every statement changes exactly one row.
cat >"$WORK_DIR/small.sql" <<'PGBENCH'
\set cust random(1, 20000)
\set reg random(1, 4)
\set qty random(1, 9)
\set cents random(500, 50000)
\set paid random(:upd_lo, :upd_hi)
\set shipped random(:upd_lo, :upd_hi)
BEGIN;
INSERT INTO orders (id, customer_id, region, status, amount, qty, created_at, note)
  VALUES (nextval('order_ids'), :cust, (ARRAY['eu-west','us-east','ap-south','sa-east'])[:reg],
          'new', :cents / 100.0, :qty, now(), 'web order');
UPDATE orders SET status = 'paid' WHERE id = :paid;
UPDATE orders SET status = 'shipped', note = 'tracking DHL-' || :shipped WHERE id = :shipped;
DELETE FROM orders WHERE id = (SELECT nextval('delete_ids'));
END;
PGBENCH
chmod 644 "$WORK_DIR/small.sql"

fv_log "workload 2/2: $SMALL_XACTS small transactions (pgbench, $CLIENTS clients; 1 insert, 2 updates, 1 delete each)"
t0=$SECONDS
"$FV_PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -t $((SMALL_XACTS / CLIENTS)) \
	-D upd_lo=$((SMALL_XACTS + 1)) -D upd_hi="$BULK_ROWS" \
	-f "$WORK_DIR/small.sql" "$DB" >"$WORK_DIR/pgbench.log" 2>&1 ||
	{ cat "$WORK_DIR/pgbench.log"; fv_die "pgbench failed"; }
if grep -q "number of failed transactions: [1-9]" "$WORK_DIR/pgbench.log"; then
	cat "$WORK_DIR/pgbench.log"
	fv_die "pgbench had failed transactions"
fi
fv_log "  done in $((SECONDS - t0)) s ($(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK_DIR/pgbench.log" | sed -n 1p) tps)"

END_LSN=$(q -c "SELECT pg_current_wal_insert_lsn()")
WAL_BYTES=$(q -c "SELECT pg_wal_lsn_diff('$END_LSN', '$START_LSN')::bigint")
q -c "CHECKPOINT"

# ----------------------------------------------------------------------------
# Correctness: the three plugins must report the same changes
# ----------------------------------------------------------------------------

# Each query prints: inserts|updates|deletes|other_rows|sum_id|sum_amount
# sum_id sums the new row's id of inserts and updates and the old key's id of
# deletes; sum_amount the new row's amount of inserts and updates; other_rows
# counts output rows that are not row changes (markers, BEGIN/COMMIT).
declare -A CHECK_SQL
CHECK_SQL[pg_flowview]="
WITH o AS (SELECT data::jsonb AS j   -- every line must be valid JSON
             FROM pg_logical_slot_peek_changes('${SLOT[pg_flowview]}', '$END_LSN', NULL, VARIADIC ${OPTS[pg_flowview]}))
SELECT count(*) FILTER (WHERE j->>'op' = 'c'),
       count(*) FILTER (WHERE j->>'op' = 'u'),
       count(*) FILTER (WHERE j->>'op' = 'd'),
       count(*) FILTER (WHERE j->>'op' NOT IN ('c','u','d') OR j->>'op' IS NULL),
       coalesce(sum(CASE WHEN j->>'op' = 'd' THEN (j->'before'->>'id')::numeric
                         ELSE (j->'after'->>'id')::numeric END), 0),
       coalesce(sum((j->'after'->>'amount')::numeric), 0)
  FROM o"
CHECK_SQL[wal2json]="
WITH o AS (SELECT data::jsonb AS j
             FROM pg_logical_slot_peek_changes('${SLOT[wal2json]}', '$END_LSN', NULL, VARIADIC ${OPTS[wal2json]})),
     v AS (SELECT j->>'action' AS action,
                  jsonb_path_query_first(j, '\$.columns[*] ? (@.name == \"id\").value') AS new_id,
                  jsonb_path_query_first(j, '\$.identity[*] ? (@.name == \"id\").value') AS old_id,
                  jsonb_path_query_first(j, '\$.columns[*] ? (@.name == \"amount\").value') AS amount
             FROM o)
SELECT count(*) FILTER (WHERE action = 'I'),
       count(*) FILTER (WHERE action = 'U'),
       count(*) FILTER (WHERE action = 'D'),
       count(*) FILTER (WHERE action NOT IN ('I','U','D') OR action IS NULL),
       coalesce(sum(CASE WHEN action = 'D' THEN old_id::text::numeric ELSE new_id::text::numeric END), 0),
       coalesce(sum(amount::text::numeric), 0)
  FROM v"
CHECK_SQL[test_decoding]="
WITH o AS (SELECT data
             FROM pg_logical_slot_peek_changes('${SLOT[test_decoding]}', '$END_LSN', NULL, VARIADIC ${OPTS[test_decoding]})),
     v AS (SELECT substring(data FROM '^table public\\.orders: ([A-Z]+): ') AS action,
                  substring(data FROM ' id\\[bigint\\]:([0-9]+)')::numeric AS id,
                  substring(data FROM ' amount\\[numeric\\]:([0-9.]+)')::numeric AS amount
             FROM o
            WHERE data LIKE 'table %')
SELECT count(*) FILTER (WHERE action = 'INSERT'),
       count(*) FILTER (WHERE action = 'UPDATE'),
       count(*) FILTER (WHERE action = 'DELETE'),
       count(*) FILTER (WHERE action NOT IN ('INSERT','UPDATE','DELETE') OR action IS NULL),
       coalesce(sum(id), 0),
       coalesce(sum(amount), 0)
  FROM v"

declare -A CHECK
for p in "${PLUGINS[@]}"; do
	fv_log "check: full read through $p (untimed; parses every row)"
	CHECK[$p]=$(qread -c "${CHECK_SQL[$p]}")
done

IFS='|' read -r N_INS N_UPD N_DEL _ SUM_ID SUM_AMOUNT <<<"${CHECK[test_decoding]}"
N_CHANGES=$((N_INS + N_UPD + N_DEL))
mismatch=0
for p in "${PLUGINS[@]}"; do
	IFS='|' read -r i u d other sid samt <<<"${CHECK[$p]}"
	if [ "$i|$u|$d" != "$N_INS|$N_UPD|$N_DEL" ] || [ "$sid|$samt" != "$SUM_ID|$SUM_AMOUNT" ] ||
		{ [ "$p" != test_decoding ] && [ "$other" != 0 ]; }; then
		mismatch=1
	fi
done
if [ "$mismatch" = 1 ]; then
	printf '\nFAIL: the plugins disagree about the changes in the WAL range\n' >&2
	printf '  %-14s %9s %9s %9s %7s %16s %16s\n' plugin inserts updates deletes other sum_id sum_amount >&2
	for p in "${PLUGINS[@]}"; do
		IFS='|' read -r i u d other sid samt <<<"${CHECK[$p]}"
		printf '  %-14s %9s %9s %9s %7s %16s %16s\n' "$p" "$i" "$u" "$d" "$other" "$sid" "$samt" >&2
	done
	printf '  (other: rows that are not row changes; test_decoding has BEGIN/COMMIT lines)\n' >&2
	exit 1
fi
EXPECTED=$((BULK_ROWS + 4 * SMALL_XACTS))
[ "$N_CHANGES" = "$EXPECTED" ] ||
	fv_log "note: $N_CHANGES row changes decoded, the workload should have made $EXPECTED"
[ "$N_CHANGES" -ge "$MIN_CHANGES" ] || fv_die "only $N_CHANGES row changes (< $MIN_CHANGES): raise FV_BENCH_BULK_ROWS / FV_BENCH_SMALL_XACTS"
N_XACTS=$(q -c "SELECT count(*) FROM pg_logical_slot_peek_changes('${SLOT[test_decoding]}', '$END_LSN', NULL, 'skip-empty-xacts', '1') WHERE data LIKE 'COMMIT%'")
fv_log "check passed: all three report $N_CHANGES row changes ($N_INS inserts, $N_UPD updates, $N_DEL deletes) with equal checksums"

# ----------------------------------------------------------------------------
# Timed reads
# ----------------------------------------------------------------------------

# the floor: pg_flowview decoding everything and writing nothing
FLOOR_OPTS="ARRAY['exclude-tables','*.*']"
declare -A TIMES   # plugin (or floor) -> space-separated seconds
timed_read() { # SLOT OPTS_SQL -> "nrows|secs"
	qread -c "SELECT nrows, round(secs::numeric, 3) FROM bench_read('$1', '$END_LSN', $2)"
}
ORDER=("${PLUGINS[@]}" floor)
for ((r = 1; r <= RUNS; r++)); do
	# each round starts with the next one, so no plugin always goes first
	for ((k = 0; k < ${#ORDER[@]}; k++)); do
		p=${ORDER[$(((r - 1 + k) % ${#ORDER[@]}))]}
		if [ "$p" = floor ]; then
			IFS='|' read -r n s < <(timed_read "${SLOT[pg_flowview]}" "$FLOOR_OPTS")
			expect=0
		else
			IFS='|' read -r n s < <(timed_read "${SLOT[$p]}" "${OPTS[$p]}")
			expect=$N_CHANGES
			[ "$p" = test_decoding ] && expect=$((N_CHANGES + 2 * N_XACTS))
		fi
		[ -n "$s" ] || fv_die "timed read through $p failed"
		[ "$n" = "$expect" ] || fv_die "timed read through $p returned $n rows, expected $expect"
		TIMES[$p]="${TIMES[$p]:-} $s"
		fv_log "round $r/$RUNS: $(printf '%-14s %8.3f s  (%s output rows)' "$p" "$s" "$n")"
	done
done

# FV_BENCH_STREAM: through the walsender, as a CDC consumer reads
declare -A STREAM_OPTS=(
	[pg_flowview]=""
	[wal2json]="-o format-version=2 -o include-transaction=false"
	[test_decoding]="-o skip-empty-xacts=1"
)
declare -A STIMES
if [ -n "${FV_BENCH_STREAM:-}" ]; then
	for ((r = 1; r <= RUNS; r++)); do
		for p in "${PLUGINS[@]}"; do
			q -c "SELECT pg_copy_logical_replication_slot('${SLOT[$p]}', 'bench_stream_copy')" >/dev/null
			t0=$(date +%s.%N)
			# shellcheck disable=SC2086
			"$FV_PGBIN/pg_recvlogical" -d "$DB" --slot bench_stream_copy --start --no-loop \
				--endpos "$END_LSN" -f /dev/null ${STREAM_OPTS[$p]} ||
				fv_die "pg_recvlogical through $p failed"
			s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')
			q -c "SELECT pg_drop_replication_slot('bench_stream_copy')" >/dev/null
			STIMES[$p]="${STIMES[$p]:-} $s"
			fv_log "stream round $r/$RUNS: $(printf '%-14s %8.3f s' "$p" "$s")"
		done
	done
fi

if [ -n "${FV_BENCH_PROFILE:-}" ]; then
	fv_log "profile: perf record of one more pg_flowview read"
	q -c "SET application_name = 'fv_bench_profile'" -c "$SET_WORK_MEM" \
		-c "SELECT pg_sleep(1)" \
		-c "SELECT nrows FROM bench_read('${SLOT[pg_flowview]}', '$END_LSN', ${OPTS[pg_flowview]})" >/dev/null &
	psql_pid=$!
	pid=
	for _ in $(seq 50); do
		pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'fv_bench_profile'")
		[ -n "$pid" ] && break
		sleep 0.1
	done
	[ -n "$pid" ] || fv_die "profile: reading backend not found"
	perf record -q -F 999 -o "$WORK_DIR/perf.data" -p "$pid" >/dev/null 2>&1 &
	perf_pid=$!
	wait "$psql_pid"
	wait "$perf_pid" || true
fi

# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------

# best and median of a list of seconds
best_of() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | sed -n 1p; }
median_of() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A BEST MEDIAN RATE BRATE
for p in "${PLUGINS[@]}" floor; do
	BEST[$p]=$(best_of "${TIMES[$p]}")
	MEDIAN[$p]=$(median_of "${TIMES[$p]}")
	RATE[$p]=$(awk -v n="$N_CHANGES" -v s="${MEDIAN[$p]}" 'BEGIN {printf "%.0f", n / s}')
	BRATE[$p]=$(awk -v n="$N_CHANGES" -v s="${BEST[$p]}" 'BEGIN {printf "%.0f", n / s}')
done
ratio() { awk -v a="${RATE[$1]}" -v b="${RATE[$2]}" 'BEGIN {printf "%.2f", a / b}'; }
bratio() { awk -v a="${BRATE[$1]}" -v b="${BRATE[$2]}" 'BEGIN {printf "%.2f", a / b}'; }
R_W2J=$(ratio pg_flowview wal2json)
R_TD=$(ratio pg_flowview test_decoding)
MET=$(awk -v r="$R_W2J" -v t="$TARGET" 'BEGIN {print (r >= t) ? "MET" : "NOT MET"}')
# time above the floor: what the plugin itself (and its output volume) costs
above() { awk -v a="${MEDIAN[$1]}" -v f="${MEDIAN[floor]}" 'BEGIN {printf "%.3f", a - f}'; }
# the median pg_flowview time that would meet the target
NEEDED=$(awk -v w="${MEDIAN[wal2json]}" -v t="$TARGET" 'BEGIN {printf "%.3f", w / t}')

echo
echo "pg_flowview decode benchmark (PostgreSQL $(q -c 'SHOW server_version'), $(nproc) CPUs)"
printf '  WAL range        %s .. %s  (%.1f MB)\n' "$START_LSN" "$END_LSN" "$(awk -v b="$WAL_BYTES" 'BEGIN {print b / 1048576}')"
printf '  row changes      %s  (%s inserts, %s updates, %s deletes; table orders, default replica identity)\n' \
	"$N_CHANGES" "$N_INS" "$N_UPD" "$N_DEL"
printf '  transactions     %s  (1 large: %s inserts; %s small: 4 changes each, pgbench, %s clients)\n' \
	"$N_XACTS" "$BULK_ROWS" "$SMALL_XACTS" "$CLIENTS"
printf '  read             SELECT count(*) FROM pg_logical_slot_peek_changes(slot, end_lsn, NULL, options)\n'
printf '                   work_mem = %s; %s rounds, plugins interleaved; rows/s = row changes / median time\n' \
	"$(qread -c 'SHOW work_mem' | tail -1)" "$RUNS"
echo
printf '  %-14s %8s %8s %12s %9s   %s\n' plugin "median s" "best s" "rows/s" "above floor" options
for p in "${PLUGINS[@]}"; do
	printf '  %-14s %8.3f %8.3f %12s %9.3f s   %s\n' "$p" "${MEDIAN[$p]}" "${BEST[$p]}" \
		"${RATE[$p]}" "$(above "$p")" "${OPTS_SHOWN[$p]}"
done
printf '  %-14s %8.3f %8.3f %12s %9s     %s\n' "(decode floor)" "${MEDIAN[floor]}" "${BEST[floor]}" \
	"" "" "pg_flowview exclude-tables=*.*: all decoded, nothing written"
echo
printf '  runs (s):  '
for p in "${PLUGINS[@]}" floor; do printf '%s:%s  ' "$p" "${TIMES[$p]}"; done
echo
echo
printf '  ratio pg_flowview / wal2json       %sx  (of medians; of best rounds %sx)\n' "$R_W2J" "$(bratio pg_flowview wal2json)"
printf '  ratio pg_flowview / test_decoding  %sx  (of medians; of best rounds %sx)\n' "$R_TD" "$(bratio pg_flowview test_decoding)"
printf '  time above the floor (medians): pg_flowview %s s, wal2json %s s, test_decoding %s s\n' \
	"$(above pg_flowview)" "$(above wal2json)" "$(above test_decoding)"
if [ -n "${FV_BENCH_STREAM:-}" ]; then
	printf '  walsender (pg_recvlogical to /dev/null), median of %s:' "$RUNS"
	for p in "${PLUGINS[@]}"; do
		b=$(median_of "${STIMES[$p]}")
		printf '  %s %.3f s (%s rows/s)' "$p" "$b" "$(awk -v n="$N_CHANGES" -v s="$b" 'BEGIN {printf "%.0f", n / s}')"
	done
	echo
	printf '    ratio pg_flowview / wal2json %sx  (runs:' \
		"$(awk -v a="$(median_of "${STIMES[pg_flowview]}")" -v b="$(median_of "${STIMES[wal2json]}")" 'BEGIN {printf "%.2f", b / a}')"
	for p in "${PLUGINS[@]}"; do printf ' %s:%s' "$p" "${STIMES[$p]}"; done
	echo ")"
fi
printf '  target pg_flowview json >= %sx wal2json rows/s (medians): %s (%sx; needs pg_flowview <= %s s)\n' \
	"$TARGET" "$MET" "$R_W2J" "$NEEDED"
echo "  total bench time $((SECONDS - START_TIME)) s"

if [ -n "${FV_BENCH_PROFILE:-}" ]; then
	echo
	echo "flat profile of one more pg_flowview read (perf report, top entries):"
	# (awk reads to the end: no SIGPIPE for perf under pipefail)
	perf report -i "$WORK_DIR/perf.data" --sort dso,symbol --stdio 2>/dev/null |
		awk '/^ +[0-9]/ && ++n <= 40' || echo "  (perf report failed)"
fi

if [ "$MET" != MET ] && [ -n "${FV_BENCH_REQUIRE_TARGET:-}" ]; then
	exit 3
fi
exit 0
