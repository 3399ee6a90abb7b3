#!/usr/bin/env bash
# scripts/demo.sh: the pg_flowview demo, the project's front door.
#
#   make demo        (bash scripts/demo.sh)       run it
#   make demo-stop   (bash scripts/demo.sh stop)  stop and remove its cluster
#
# What it does, in order (each section starts with a banner):
#   1. installs what is missing (apt), builds and installs pg_flowview;
#   2. (re)starts a throwaway cluster under the build tree (tmp_check/demo,
#      port 54340) with wal_level = logical and pg_flowview preloaded, and
#      creates a small shop: customers, orders, order_items, import_staging;
#   3. creates a live view (orders by status) and starts pg_recvlogical on a
#      pg_flowview slot: the CDC stream shows live, one readable line per
#      change, and after each step the live view's contents, while
#   4. a ~30 second order-entry workload runs: orders come in, get paid and
#      shipped, one is cancelled, one transaction rolls back, a savepoint is
#      rolled back, a staging table is truncated, messages are emitted;
#   5. shows the same order changes in Debezium format, a verbatim line, and
#      checks what must not be in the stream (rolled-back rows, raw emails);
#   6. leaves the cluster running and prints how to connect and how to stop.
#
# Runs as root (packages, and the cluster runs as user postgres); running it
# again replaces the previous demo cluster.  Settings from the environment:
#   FV_DEMO_PORT   port of the demo cluster (54340)
#   FV_DEMO_PACE   seconds between workload steps (2)
#   NO_COLOR       no colours; FV_DEMO_COLOR=1 forces them (e.g. when piped)
set -euo pipefail

FV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$FV_ROOT/scripts/lib.sh"

DEMO_NAME=demo
DEMO_PORT=${FV_DEMO_PORT:-54340}
DEMO_PACE=${FV_DEMO_PACE:-2}
DEMO_DB=shop
DEMO_SLOT=demo_cdc            # streamed live by pg_recvlogical
DEMO_DBZ_SLOT=demo_debezium   # peeked at the end, in Debezium format
DEMO_SALT=demo-salt
# the plugin options of the live stream (pg_recvlogical -o NAME=VALUE)
DEMO_OPTIONS=(
	include-transaction=on
	include-messages=on
	mask=public.customers.email
	"mask-salt=$DEMO_SALT"
	tables=public.*
	exclude-tables=flowview.*
	views=public.orders_by_status
)
DEMO_VIEW=orders_by_status
DEMO_VIEW_QUERY="SELECT status, count(*) AS orders, sum(total) AS revenue, max(total) AS biggest FROM orders GROUP BY status"
# a rollup: a live view over the live view, kept in the same transaction
DEMO_ROLLUP=orders_summary
DEMO_ROLLUP_QUERY="SELECT count(*) AS statuses, sum(orders) AS orders, sum(revenue) AS revenue, max(biggest) AS biggest FROM $DEMO_VIEW"

# ----------------------------------------------------------------------------
# Presentation
# ----------------------------------------------------------------------------

if [ -n "${FV_DEMO_COLOR:-}" ] || { [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-dumb}" != dumb ]; }; then
	DEMO_COLOR=1
	C_BOLD=$'\033[1m' C_DIM=$'\033[2m' C_CYAN=$'\033[36m' C_GREEN=$'\033[32m'
	C_RED=$'\033[31m' C_RESET=$'\033[0m'
else
	DEMO_COLOR=0
	C_BOLD='' C_DIM='' C_CYAN='' C_GREEN='' C_RED='' C_RESET=''
fi

DEMO_SECTION=0
DEMO_SECTIONS=6   # the number of banner calls in main's sections

# banner TITLE: a numbered section header
banner() {
	local title="━━ $((++DEMO_SECTION))/$DEMO_SECTIONS  $* "
	local width=76 pad
	pad=$((width - ${#title}))
	[ "$pad" -gt 2 ] || pad=2
	printf '\n%s%s%s%s\n\n' "$C_BOLD$C_CYAN" "$title" "$(printf '━%.0s' $(seq "$pad"))" "$C_RESET"
}

say() { printf '%s▶ %s%s\n' "$C_BOLD" "$*" "$C_RESET"; }
info() { printf '  %s\n' "$*"; }
ok() { printf '  %s✓%s %s\n' "$C_GREEN" "$C_RESET" "$*"; }
bad() { printf '  %s✗ %s%s\n' "$C_RED" "$*" "$C_RESET"; }
# show_sql SQL: the statements a step runs, dimmed, one per line
show_sql() { printf '%s\n' "$1" | sed '/^[[:space:]]*$/d' | sed "s/^/  ${C_DIM}sql  /; s/\$/${C_RESET}/"; }

# ----------------------------------------------------------------------------
# stop: make demo-stop
# ----------------------------------------------------------------------------

demo_stop() {
	local dir port
	[ "$(id -u)" = 0 ] || fv_die "run as root (or with sudo): the demo cluster belongs to user postgres"
	if ! id "$FV_PGUSER" >/dev/null 2>&1; then
		echo "no demo cluster (user $FV_PGUSER does not exist)"
		return 0
	fi
	dir="$(fv_cluster_base)/$DEMO_NAME"
	if [ ! -d "$dir" ]; then
		echo "no demo cluster to remove ($dir does not exist)"
		return 0
	fi
	stop_stream_from_pidfiles "$dir"
	if [ -f "$dir/data/postmaster.pid" ] &&
		fv_as_pg "$FV_PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		port=$(sed -n 4p "$dir/data/postmaster.pid")
		fv_cluster_remove "$DEMO_NAME"
		echo "stopped the demo cluster (port $port) and removed $dir"
	else
		fv_cluster_remove "$DEMO_NAME"
		echo "removed $dir (its cluster was not running)"
	fi
}

# A demo interrupted hard (kill -9) may leave its stream reader behind: end
# the processes whose ids it recorded, if they are still what we started.
stop_stream_from_pidfiles() {
	local dir=$1 pidfile="$1/recvlogical.pid" pid
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	if [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -qs "$dir" "/proc/$pid/cmdline"; then
		kill "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
}

# ----------------------------------------------------------------------------
# The live stream: pg_recvlogical | tee raw | jq formatter
# ----------------------------------------------------------------------------

# One readable line per stream line.  The stream itself is kept verbatim in
# $DEMO_RAW; lines that are not valid JSON are shown as such (they would be a
# bug in the plugin).
read -r -d '' DEMO_JQ_FORMAT <<'JQ' || true
def col($c): if $color == "1" then "\u001b[\($c)m" else "" end;
def paint($c; $s): col($c) + $s + col("0");
# masked values are 64 hex digits: show them shortened
def val: if type == "string" and test("^[0-9a-f]{64}$") then "sha256:" + .[0:10] + "…" else tojson end;
def row: [to_entries[] | "\(.key)=\(.value | val)"] | join(" ");
def tbl: if .schema == "public" then .table else "\(.schema).\(.table)" end;
def ident: if .after.id != null then "id=\(.after.id)" else "" end;
# an UPDATE: what changed, from the before image when there is one
def changes:
	if .before == null then "\(.after | row)   " + paint("2"; "(no before image: default replica identity)")
	else . as $e
		| [$e.after | to_entries[] | select($e.before[.key] != .value)
		   | "\(.key): \($e.before[.key] | val) → \(.value | val)"]
		| "\($e | ident)  " + (if length == 0 then "(no column changed)" else join(", ") end)
	end;
# milliseconds from the commit to this line being shown
def since($t):
	($t | capture("^(?<s>[^.Z]+)(\\.(?<f>[0-9]+))?Z$")) as $m
	| (($m.s + "Z") | strptime("%Y-%m-%dT%H:%M:%SZ") | mktime) + ("0.\($m.f // "0")" | tonumber)
	| (now - .) * 1000 | floor;
def show:
	if .op == "B" then paint("33"; "┌ BEGIN  xid \(.xid)")
	elif .op == "C" then paint("33"; "└ COMMIT xid \(.xid) · \(.changes) change(s)")
		+ paint("2"; " · shown \(since(.commit_time)) ms after commit")
	elif .op == "c" then "│ " + paint("32"; "+ insert \(tbl)") + "  \(.after | row)"
	elif .op == "u" then "│ " + paint("36"; "~ update \(tbl)") + "  \(changes)"
	elif .op == "d" then "│ " + paint("31"; "- delete \(tbl)") + "  \(.before | row)"
	elif .op == "t" then "│ " + paint("35"; "∅ truncate \(tbl)")
	elif .op == "m" then (if .transactional then "│ " else "• " end)
		+ paint("34"; "✉ message \(.prefix)") + "  \(.content // ("base64:" + .content_base64))"
		+ (if .transactional then "" else paint("2"; "   (non-transactional: no commit)") end)
	else "? \(tojson)"
	end;
. as $line
| (try ($line | fromjson) catch null) as $e
| "  " + paint("2"; "cdc") + "  "
  + (if ($e | type) == "object" then ($e | show) else paint("31"; "✗ not valid JSON: \($line)") end)
JQ

DEMO_RECV_PID=
DEMO_FMT_PID=

stream_start() {
	local fifo="$FV_CLUSTER_DIR/stream.fifo" opts=() o i
	DEMO_RAW="$FV_CLUSTER_DIR/stream.ndjson"
	DEMO_RECV_LOG="$FV_CLUSTER_DIR/recvlogical.log"
	: >"$DEMO_RAW"
	rm -f "$fifo"
	mkfifo "$fifo"
	for o in "${DEMO_OPTIONS[@]}"; do opts+=(-o "$o"); done

	# reader side first: the fifo opens once both ends are there
	tee -a "$DEMO_RAW" <"$fifo" | jq -R -r --unbuffered --arg color "$DEMO_COLOR" "$DEMO_JQ_FORMAT" &
	DEMO_FMT_PID=$!
	"$FV_PGBIN/pg_recvlogical" -h "$FV_SOCK" -p "$FV_PORT" -U "$FV_PGUSER" -d "$DEMO_DB" \
		--slot "$DEMO_SLOT" --start --no-loop --status-interval=1 --fsync-interval=1 \
		-f - "${opts[@]}" >"$fifo" 2>"$DEMO_RECV_LOG" &
	DEMO_RECV_PID=$!
	echo "$DEMO_RECV_PID" >"$FV_CLUSTER_DIR/recvlogical.pid"

	# wait until its walsender is streaming the slot
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "$DEMO_RECV_PID" 2>/dev/null; then
			cat "$DEMO_RECV_LOG" >&2
			fv_die "pg_recvlogical exited (log above)"
		fi
		[ "$(q "SELECT active FROM pg_replication_slots WHERE slot_name = '$DEMO_SLOT'")" = t ] && return 0
		sleep 0.1
	done
	fv_die "pg_recvlogical did not start streaming within 10 s (see $DEMO_RECV_LOG)"
}

# Stop pg_recvlogical and let the formatter print what is left.
#
# pg_recvlogical reports how far it has received only in its periodic status
# messages (every second here), not when it stops.  So first wait until the
# slot has confirmed past the last line streamed: the slot's next reader then
# starts after the demo's changes instead of receiving them again.  The
# position reported for a non-transactional message is where it starts, and
# a reader starting there receives it again: an empty transaction (it streams
# nothing) moves the reported position past it.
stream_stop() {
	local rc=0 last i
	[ -n "$DEMO_RECV_PID" ] || return 0
	last=$(tail -n 1 "$DEMO_RAW" | jq -r '.commit_lsn // .lsn // empty' 2>/dev/null || true)
	if [ -n "$last" ]; then
		run_sql "BEGIN; SELECT pg_current_xact_id(); COMMIT;"
		for ((i = 0; i < 100; i++)); do
			[ "$(q "SELECT confirmed_flush_lsn > '$last' FROM pg_replication_slots WHERE slot_name = '$DEMO_SLOT'")" = t ] && break
			sleep 0.1
		done
	fi
	kill -INT "$DEMO_RECV_PID" 2>/dev/null || true
	wait "$DEMO_RECV_PID" 2>/dev/null || rc=$?
	DEMO_RECV_PID=
	[ -n "$DEMO_FMT_PID" ] && { wait "$DEMO_FMT_PID" 2>/dev/null || true; }
	DEMO_FMT_PID=
	rm -f "$FV_CLUSTER_DIR/recvlogical.pid" "$FV_CLUSTER_DIR/stream.fifo"
	if [ "$rc" -ne 0 ]; then
		bad "pg_recvlogical exited with status $rc:"
		sed 's/^/    /' "$DEMO_RECV_LOG"
		return 1
	fi
}

stream_lines() { wc -l <"$DEMO_RAW"; }

# wait_stream N: until the stream has more than N lines (at most 5 s)
wait_stream() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(stream_lines)" -gt "$1" ] && return 0
		sleep 0.1
	done
	bad "nothing arrived in the stream within 5 s"
}

on_exit() {
	local rc=$?
	if [ -n "$DEMO_RECV_PID" ]; then
		kill -INT "$DEMO_RECV_PID" 2>/dev/null || true
		wait "$DEMO_RECV_PID" 2>/dev/null || true
	fi
	if [ -n "$DEMO_FMT_PID" ]; then
		wait "$DEMO_FMT_PID" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ] && [ -n "${FV_CLUSTER_DIR:-}" ] && [ -d "$FV_CLUSTER_DIR" ]; then
		printf '\nThe demo stopped early; its cluster may still run: make demo-stop removes it.\n' >&2
	fi
}

# ----------------------------------------------------------------------------
# SQL helpers
# ----------------------------------------------------------------------------

# q SQL: one value, unaligned, from the shop database
q() { fv_psql -d "$DEMO_DB" -At -c "$1"; }
# run SQL (several statements, BEGIN/COMMIT allowed) in the shop database
run_sql() { fv_psql -d "$DEMO_DB" >/dev/null <<<"$1"; }

# show_view: the live view, once it reflects everything committed so far
show_view() {
	local t0 ms line
	t0=$(date +%s%N)
	[ "$(q "SELECT flowview.wait_for_freshness('$DEMO_VIEW', '5 s')")" = t ] || bad "the live view did not catch up within 5 s"
	ms=$((($(date +%s%N) - t0) / 1000000))
	line=$(q "SELECT string_agg(status || ' ' || orders || ' (' || revenue || ')', '  ' ORDER BY status) FROM $DEMO_VIEW")
	info "${C_BOLD}view${C_RESET} $DEMO_VIEW  ${line:-(no orders)}  ${C_DIM}(fresh after ${ms} ms)${C_RESET}"
	line=$(q "SELECT coalesce(orders, 0) || ' orders, revenue ' || coalesce(revenue, 0) FROM $DEMO_ROLLUP")
	info "${C_BOLD}view${C_RESET} $DEMO_ROLLUP  $line  ${C_DIM}(the rollup, in the same transaction)${C_RESET}"
}

# step "WHAT" SQL: narrate, show and run SQL, wait for its changes to stream
step() {
	local n
	say "$1"
	show_sql "$2"
	n=$(stream_lines)
	run_sql "$2"
	wait_stream "$n"
	show_view
	sleep "$DEMO_PACE"
}

# quiet_step "WHAT" SQL: the same for SQL that must stream nothing
quiet_step() {
	say "$1"
	show_sql "$2"
	run_sql "$2"
	sleep "$DEMO_PACE"
	info "${C_DIM}(nothing streamed, as expected)${C_RESET}"
}

# ----------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------

section_build() {
	banner "Install, build, install the extension"
	fv_ensure_packages jq
	fv_build_install
	ok "pg_flowview built and installed into $("$FV_PG_CONFIG" --pkglibdir)"
}

section_cluster() {
	local base
	banner "A throwaway cluster and a small shop"
	base=$(fv_cluster_base)
	if [ -d "$base/$DEMO_NAME" ]; then
		stop_stream_from_pidfiles "$base/$DEMO_NAME"
		info "replacing the previous demo cluster in $base/$DEMO_NAME"
	fi
	fv_cluster_start "$DEMO_NAME" "$DEMO_PORT"
	ok "cluster running in $FV_CLUSTER_DIR (port $FV_PORT, socket dir $FV_SOCK)"
	info "settings: $(fv_psql -d postgres -At -c "SELECT string_agg(name || ' = ' || setting, ', ' ORDER BY name)
		FROM pg_settings WHERE name IN ('wal_level', 'shared_preload_libraries')")"

	fv_psql -d postgres -c "CREATE DATABASE $DEMO_DB"
	run_sql "
		CREATE EXTENSION pg_flowview;
		CREATE TABLE customers (
			id    int PRIMARY KEY,
			name  text NOT NULL,
			email text NOT NULL
		);
		CREATE TABLE orders (
			id          int PRIMARY KEY,
			customer_id int NOT NULL REFERENCES customers,
			status      text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'paid', 'shipped')),
			total       numeric(10,2) NOT NULL
		);
		-- full before images for updates and deletes of orders
		ALTER TABLE orders REPLICA IDENTITY FULL;
		CREATE TABLE order_items (
			order_id int REFERENCES orders,
			line     int,
			product  text NOT NULL,
			qty      int NOT NULL,
			price    numeric(10,2) NOT NULL,
			PRIMARY KEY (order_id, line)
		);
		CREATE TABLE import_staging (sku text, qty int);
		SELECT flowview.create_view('$DEMO_VIEW', \$q\$$DEMO_VIEW_QUERY\$q\$);
		SELECT flowview.create_view('$DEMO_ROLLUP', \$q\$$DEMO_ROLLUP_QUERY\$q\$);
		SELECT flowview.enable_changefeed('$DEMO_VIEW');
		SELECT pg_create_logical_replication_slot('$DEMO_SLOT', 'pg_flowview');
		SELECT pg_create_logical_replication_slot('$DEMO_DBZ_SLOT', 'pg_flowview');
	"
	ok "database $DEMO_DB: extension pg_flowview, tables customers, orders (REPLICA IDENTITY FULL), order_items, import_staging"
	ok "logical slots $DEMO_SLOT (streamed live) and $DEMO_DBZ_SLOT (read at the end), plugin pg_flowview"
	ok "live view $DEMO_VIEW: $DEMO_VIEW_QUERY"
	ok "live view $DEMO_ROLLUP, a rollup over it: $DEMO_ROLLUP_QUERY"
	ok "a changefeed of $DEMO_VIEW: ${DEMO_VIEW}_changes(cursor), NOTIFY ${DEMO_VIEW}_changes, and its changes in the stream (views=)"
}

section_stream() {
	local rush i id cust
	banner "Live CDC stream and a live view during an order-entry workload"
	info "pg_recvlogical --slot $DEMO_SLOT --start -s 1 -F 1 -f - $(printf -- '-o %s ' "${DEMO_OPTIONS[@]}")"
	info "Every change becomes one JSON line; below, each is shown as one readable"
	info "line (prefix ${C_DIM}cdc${C_RESET}) the moment it arrives.  ${C_DIM}sql${C_RESET} lines are what the workload runs."
	echo
	stream_start
	ok "streaming"
	echo

	step "Three customers sign up (one transaction; emails are masked in the stream)" "
INSERT INTO customers VALUES (1, 'Alice Martin', 'alice@example.com'), (2, 'Bob Chen', 'bob@example.com'), (3, 'Carol Diaz', 'carol@example.com');"

	step "Alice orders beans and a grinder: the order and its lines commit together" "
BEGIN;
INSERT INTO orders (id, customer_id, total) VALUES (1001, 1, 114.94);
INSERT INTO order_items VALUES (1001, 1, 'espresso beans 1kg', 1, 24.95), (1001, 2, 'grinder', 1, 89.99);
COMMIT;"

	step "Bob orders a kettle" "
BEGIN;
INSERT INTO orders (id, customer_id, total) VALUES (1002, 2, 54.99);
INSERT INTO order_items VALUES (1002, 1, 'kettle', 1, 54.99);
COMMIT;"

	step "Alice pays order 1001 (orders has REPLICA IDENTITY FULL: the before image is complete)" "
UPDATE orders SET status = 'paid' WHERE id = 1001;"

	step "Carol orders filter papers and a milk jug" "
BEGIN;
INSERT INTO orders (id, customer_id, total) VALUES (1003, 3, 21.95);
INSERT INTO order_items VALUES (1003, 1, 'filter papers', 2, 4.75), (1003, 2, 'milk jug', 1, 12.45);
COMMIT;"

	say "Lunch rush: four orders in two seconds, each its own transaction"
	show_sql "BEGIN; INSERT INTO orders ...; INSERT INTO order_items ...; COMMIT;   (x4, 0.5 s apart)"
	rush=$(stream_lines)
	for i in 1 2 3 4; do
		id=$((1003 + i))
		cust=$(((i - 1) % 3 + 1))
		run_sql "BEGIN;
			INSERT INTO orders (id, customer_id, total) VALUES ($id, $cust, $i.25);
			INSERT INTO order_items VALUES ($id, 1, 'tamper', $i, 1.25);
			COMMIT;"
		sleep 0.5
	done
	wait_stream "$rush"
	sleep "$DEMO_PACE"

	step "Order 1001 ships and order 1002 is paid; a transactional message tells downstream systems" "
BEGIN;
UPDATE orders SET status = 'shipped' WHERE id = 1001;
UPDATE orders SET status = 'paid' WHERE id = 1002;
SELECT pg_logical_emit_message(true, 'shop.events', '{\"event\": \"shipped\", \"order\": 1001}');
COMMIT;"

	step "Carol cancels order 1003: its lines (key-only before image) and the order (full row) are deleted" "
BEGIN;
DELETE FROM order_items WHERE order_id = 1003;
DELETE FROM orders WHERE id = 1003;
COMMIT;"

	quiet_step "A transaction that rolls back (order 1999 for 999.99): nothing must reach the stream" "
BEGIN;
INSERT INTO orders (id, customer_id, total) VALUES (1999, 2, 999.99);
UPDATE orders SET status = 'shipped' WHERE id = 1002;
ROLLBACK;"

	step "Bob adds a descaler; a mistyped line is rolled back to a savepoint and never streams" "
BEGIN;
INSERT INTO order_items VALUES (1002, 2, 'descaler', 1, 8.49);
SAVEPOINT line3;
INSERT INTO order_items VALUES (1002, 3, 'broken widget', 1, 0.01);
ROLLBACK TO SAVEPOINT line3;
UPDATE orders SET total = 63.48 WHERE id = 1002;
COMMIT;"

	step "Bob changes his email (customers keeps the default replica identity, so no before image)" "
UPDATE customers SET email = 'bob.chen@example.org' WHERE id = 2;"

	step "Nightly stock import: load a staging table, then TRUNCATE it, in one transaction" "
BEGIN;
INSERT INTO import_staging VALUES ('beans', 40), ('grinder', 5), ('kettle', 12);
TRUNCATE import_staging;
COMMIT;"

	step "An operations note as a non-transactional message (streamed at once, outside any transaction)" "
SELECT pg_logical_emit_message(false, 'shop.ops', 'end of the demo workload');"

	stream_stop
	echo
	ok "stream stopped; slot $DEMO_SLOT has confirmed everything streamed, up to $(q "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$DEMO_SLOT'")"
}

section_formats() {
	local dbz example
	banner "The same changes as a consumer gets them"
	say "One line of the stream, verbatim (newline-delimited JSON):"
	example=$(grep -m1 '"op":"u","schema":"public","table":"orders"' "$DEMO_RAW" || head -1 "$DEMO_RAW")
	printf '  %s\n\n' "$example"

	say "The order changes in Debezium format (slot $DEMO_DBZ_SLOT, options format=debezium, tables=public.orders):"
	dbz=$(q "SELECT data FROM pg_logical_slot_peek_changes('$DEMO_DBZ_SLOT', NULL, NULL,
		'format', 'debezium', 'tables', 'public.orders')")
	printf '%s\n' "$dbz" | jq -r '
		def row: [to_entries[] | "\(.key)=\(.value | tojson)"] | join(" ");
		. as $e
		| (if .op == "u" then
			"id=\(.after.id) " + ([.after | to_entries[] | select($e.before[.key] != .value)
				| "\(.key): \($e.before[.key] | tojson) → \(.value | tojson)"] | join(", "))
		   elif .op == "d" then "before: \(.before | row)"
		   else "after: \(.after | row)" end) as $what
		| "  op=\(.op)  txId=\(.source.txId) lsn=\(.source.lsn)  \($what)"'
	echo
	say "The first of them in full:"
	printf '%s\n' "$dbz" | head -1 | jq . | sed 's/^/  /'
	q "SELECT pg_drop_replication_slot('$DEMO_DBZ_SLOT')" >/dev/null
}

section_summary() {
	local counts failures=0
	banner "Summary"
	counts=$(jq -R -r -n '
		[inputs | (try fromjson catch {op: "invalid"}) | .op] as $ops
		| def n($o; $what): [$ops[] | select(. == $o)] | length
			| "\(.) \($what)\(if . == 1 then "" else "s" end)";
		"\($ops | length) lines: \(n("c"; "insert")), \(n("u"; "update")), \(n("d"; "delete")), \(n("t"; "truncate")), \(n("m"; "message")) in \(n("C"; "transaction")); \(n("invalid"; "invalid line"))"' <"$DEMO_RAW")
	info "streamed $counts"
	if jq -e . <"$DEMO_RAW" >/dev/null 2>&1; then
		ok "every line is valid JSON"
	else
		bad "some lines are not valid JSON"; failures=$((failures + 1))
	fi
	if grep -q '999.99' "$DEMO_RAW"; then
		bad "the rolled-back order 1999 is in the stream"; failures=$((failures + 1))
	else
		ok "the rolled-back transaction (order 1999) is not in the stream"
	fi
	if [ "$(q "SELECT flowview.wait_for_freshness('$DEMO_VIEW', '10 s')")" = t ] &&
		[ "$(q "SELECT count(*) FROM (SELECT * FROM $DEMO_VIEW EXCEPT ALL $DEMO_VIEW_QUERY) a") $(q "SELECT count(*) FROM ($DEMO_VIEW_QUERY EXCEPT ALL SELECT * FROM $DEMO_VIEW) b")" = "0 0" ]; then
		ok "the live view $DEMO_VIEW equals its query"
	else
		bad "the live view $DEMO_VIEW differs from its query"; failures=$((failures + 1))
	fi
	if [ "$(q "SELECT count(*) FROM (SELECT * FROM $DEMO_ROLLUP EXCEPT ALL $DEMO_ROLLUP_QUERY) a") $(q "SELECT count(*) FROM ($DEMO_ROLLUP_QUERY EXCEPT ALL SELECT * FROM $DEMO_ROLLUP) b")" = "0 0" ] &&
		[ "$(q "SELECT (SELECT orders FROM $DEMO_ROLLUP) = (SELECT count(*) FROM orders)")" = t ]; then
		ok "the rollup $DEMO_ROLLUP equals its query over $DEMO_VIEW, and counts every order"
	else
		bad "the rollup $DEMO_ROLLUP differs from its query"; failures=$((failures + 1))
	fi
	if grep -q "\"table\":\"$DEMO_VIEW\"" "$DEMO_RAW" && ! grep -q '"table":"fv_store_' "$DEMO_RAW"; then
		ok "the live view's changes are in the stream under its own name, never its storage"
	else
		bad "the live view's changes are not in the stream as $DEMO_VIEW"; failures=$((failures + 1))
	fi
	if grep -q 'broken widget' "$DEMO_RAW"; then
		bad "the line rolled back to a savepoint is in the stream"; failures=$((failures + 1))
	else
		ok "the line rolled back to a savepoint is not in the stream"
	fi
	if grep -q '@example' "$DEMO_RAW"; then
		bad "an email address is in the stream unmasked"; failures=$((failures + 1))
	elif grep -q "$(q "SELECT encode(sha256(convert_to('$DEMO_SALT' || 'alice@example.com', 'UTF8')), 'hex')")" "$DEMO_RAW"; then
		ok "emails are masked: sha256(salt || email), so equal emails still join downstream"
	else
		bad "the masked email is not sha256(salt || email)"; failures=$((failures + 1))
	fi
	return "$failures"
}

section_next() {
	local failures=$1
	banner "The cluster keeps running"
	info "Connect to it:"
	info "  ${C_BOLD}psql -h $FV_SOCK -p $FV_PORT -U $FV_PGUSER $DEMO_DB${C_RESET}"
	info "Try, in it:"
	info "  INSERT INTO orders VALUES (1010, 1, 'new', 9.99);"
	info "  SELECT * FROM $DEMO_VIEW;   -- already there"
	info "  SELECT view, state, applied_lsn FROM flowview.views;"
	info "  SELECT data FROM pg_logical_slot_get_changes('$DEMO_SLOT', NULL, NULL, 'include-transaction', 'on');"
	info "Stop and remove it:"
	info "  ${C_BOLD}make demo-stop${C_RESET}   (or: bash scripts/demo.sh stop)"
	if [ "$failures" -gt 0 ]; then
		echo
		bad "$failures check(s) failed: see the summary above"
		return 1
	fi
}

# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

main() {
	local failures=0 start=$SECONDS
	case "${1:-}" in
		stop) demo_stop; return ;;
		"") ;;
		*) fv_die "usage: $0 [stop]" ;;
	esac
	trap on_exit EXIT
	trap "exit 130" INT TERM HUP
	section_build
	section_cluster
	section_stream
	section_formats
	section_summary || failures=$?
	section_next "$failures" || return 1
	echo
	info "${C_DIM}(demo ran for $((SECONDS - start)) s)${C_RESET}"
}

main "$@"
