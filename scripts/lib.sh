# scripts/lib.sh: shared by the test runner, the demo and the benchmarks.
#
#   fv_ensure_packages PKG...   apt-get install what is missing (apt-get update once)
#   fv_build_install            build with no warnings allowed, install into PG 15
#   fv_cluster_start NAME PORT  initdb + start a throwaway cluster as user postgres
#   fv_cluster_stop NAME        stop it (data kept)   fv_cluster_remove NAME: and delete
#   fv_psql ARGS...             psql to the cluster started last, as postgres
#
# Clusters live under the build tree (tmp_check/NAME) when user postgres can
# reach it, else under /tmp; they listen on 127.0.0.1 and a private socket dir.
# They run with ssl = on, using a self-signed certificate made at start
# (FV_SSL_CERT, for sslrootcert= with verify-full); access (pg_hba.conf):
#   socket            every role, trust (psql, pg_regress, pg_prove, the demo)
#   TCP 127.0.0.1     postgres: trust; every other role: TLS only (hostssl)
#                     with a scram-sha-256 password; TCP without TLS refused
# FV_CLUSTER_SSL=off starts a cluster without TLS (TCP then refuses all but
# postgres).
# Sourced by bash scripts run as root (PostgreSQL itself runs as postgres).

FV_ROOT=${FV_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FV_PGBIN=${FV_PGBIN:-/usr/lib/postgresql/15/bin}
FV_PG_CONFIG=$FV_PGBIN/pg_config
FV_PGUSER=postgres
FV_BASE_PACKAGES="make gcc openssl postgresql-15 postgresql-server-dev-15 postgresql-15-wal2json"

fv_log() {
	if [ -t 2 ]; then printf '\033[1m== %s\033[0m\n' "$*" >&2; else printf '== %s\n' "$*" >&2; fi
}
fv_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

fv_as_pg() { runuser -u "$FV_PGUSER" -- "$@"; }

_fv_apt_updated=
_fv_apt_update() {
	if [ -z "$_fv_apt_updated" ]; then
		fv_log "apt-get update"
		apt-get update -qq >/dev/null || fv_die "apt-get update failed"
		_fv_apt_updated=1
	fi
}

# The PostgreSQL build must have output_plugin_libraries (Debian 15.20 here
# does, 15.18 did not): when it is missing, upgrading postgresql-15 brings it.
fv_server_has_plugin_list() {
	local conf
	[ -x "$FV_PGBIN/postgres" ] || return 1
	conf=$("$FV_PGBIN/postgres" --describe-config 2>/dev/null) # (no pipe: pipefail + grep -q)
	[[ "$conf" == *$'\n'output_plugin_libraries$'\t'* ]]
}

fv_ensure_packages() {
	local missing=() p
	[ "$(id -u)" = 0 ] || fv_die "run as root (or with sudo): packages are installed with apt-get"
	for p in $FV_BASE_PACKAGES "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if ! fv_server_has_plugin_list; then
		missing+=(postgresql-15)
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		_fv_apt_update
		fv_log "apt-get install ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
			fv_die "apt-get install ${missing[*]} failed"
	fi
	id "$FV_PGUSER" >/dev/null 2>&1 || fv_die "user $FV_PGUSER missing (it comes with postgresql-15)"
}

fv_build_install() {
	fv_log "build and install pg_flowview"
	make -C "$FV_ROOT" -s PG_CONFIG="$FV_PG_CONFIG" COPT=-Werror >/dev/null || fv_die "build failed"
	make -C "$FV_ROOT" -s PG_CONFIG="$FV_PG_CONFIG" install >/dev/null || fv_die "install failed"
}

# Where clusters go: under the build tree if postgres can write there.
fv_cluster_base() {
	local base="$FV_ROOT/tmp_check"
	mkdir -p "$base"
	chown "$FV_PGUSER" "$base"
	if fv_as_pg test -w "$base" 2>/dev/null; then
		echo "$base"
	else
		base="/tmp/pg_flowview-$(echo "$FV_ROOT" | md5sum | cut -c1-8)"
		mkdir -p "$base" && chown "$FV_PGUSER" "$base"
		echo "$base"
	fi
}

# fv_cluster_tls DATADIR: a self-signed certificate for 127.0.0.1/localhost
# (server.crt, and server.key owned by postgres, mode 0600), made as postgres.
fv_cluster_tls() {
	local data=$1
	fv_as_pg openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 \
		-subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$data/server.key" -out "$data/server.crt" >"$data/../openssl.log" 2>&1 ||
		{ cat "$data/../openssl.log"; fv_die "openssl could not make the test certificate"; }
	chmod 0600 "$data/server.key"
}

# fv_cluster_hba DATADIR: the access rules above (replacing initdb's trust-all)
fv_cluster_hba() {
	local data=$1
	cat >"$data/pg_hba.conf" <<-'EOF'
		# pg_flowview test cluster (scripts/lib.sh fv_cluster_hba)
		# TYPE   DATABASE     USER      ADDRESS        METHOD
		local    all          all                      trust
		local    replication  all                      trust
		host     all          postgres  127.0.0.1/32   trust
		host     replication  postgres  127.0.0.1/32   trust
		hostssl  all          all       127.0.0.1/32   scram-sha-256
		hostssl  replication  all       127.0.0.1/32   scram-sha-256
	EOF
	chown "$FV_PGUSER" "$data/pg_hba.conf"
}

# fv_cluster_start NAME PORT [extra postgresql.conf lines...]
# Sets FV_CLUSTER_DIR, FV_PORT, FV_SOCK, FV_SSL_CERT (empty without TLS) and
# PGHOST/PGPORT/PGUSER for the socket.
fv_cluster_start() {
	local name=$1 port=$2
	shift 2
	FV_CLUSTER_DIR="$(fv_cluster_base)/$name"
	FV_PORT=$port
	FV_SOCK="$FV_CLUSTER_DIR/sock"
	export PGHOST="$FV_SOCK" PGPORT="$port" PGUSER="$FV_PGUSER"
	if [ -f "$FV_CLUSTER_DIR/data/postmaster.pid" ]; then
		fv_as_pg "$FV_PGBIN/pg_ctl" -D "$FV_CLUSTER_DIR/data" -m immediate stop >/dev/null 2>&1
	fi
	rm -rf "$FV_CLUSTER_DIR"
	mkdir -p "$FV_SOCK"
	chown -R "$FV_PGUSER" "$FV_CLUSTER_DIR"
	fv_as_pg "$FV_PGBIN/initdb" -D "$FV_CLUSTER_DIR/data" -U "$FV_PGUSER" -A trust \
		--no-sync -E UTF8 --locale=C.UTF-8 >"$FV_CLUSTER_DIR/initdb.log" 2>&1 ||
		{ cat "$FV_CLUSTER_DIR/initdb.log"; fv_die "initdb failed"; }
	fv_cluster_hba "$FV_CLUSTER_DIR/data"
	FV_SSL_CERT=
	if [ "${FV_CLUSTER_SSL:-on}" != off ]; then
		fv_cluster_tls "$FV_CLUSTER_DIR/data"
		FV_SSL_CERT="$FV_CLUSTER_DIR/data/server.crt"
	fi
	{
		echo "port = $port"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$FV_SOCK'"
		echo "wal_level = logical"
		echo "shared_preload_libraries = 'pg_flowview'"
		if fv_server_has_plugin_list; then
			echo "output_plugin_libraries = 'pgoutput, test_decoding, pg_flowview, wal2json'"
		fi
		echo "max_replication_slots = 32"
		echo "max_wal_senders = 16"
		echo "max_worker_processes = 32"
		echo "max_prepared_transactions = 16"
		echo "fsync = off"
		echo "log_line_prefix = '%m [%p] %q%a '"
		if [ -n "$FV_SSL_CERT" ]; then
			echo "ssl = on"
			echo "ssl_cert_file = 'server.crt'"
			echo "ssl_key_file = 'server.key'"
		fi
		for line in "$@"; do echo "$line"; done
	} >>"$FV_CLUSTER_DIR/data/postgresql.conf"
	fv_as_pg "$FV_PGBIN/pg_ctl" -D "$FV_CLUSTER_DIR/data" -l "$FV_CLUSTER_DIR/server.log" -w -t 60 start >/dev/null ||
		{ tail -20 "$FV_CLUSTER_DIR/server.log"; fv_die "cluster $name did not start"; }
}

fv_cluster_stop() {
	local dir
	dir="$(fv_cluster_base)/$1"
	[ -f "$dir/data/postmaster.pid" ] &&
		fv_as_pg "$FV_PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
	return 0
}

fv_cluster_remove() {
	fv_cluster_stop "$1"
	rm -rf "$(fv_cluster_base)/$1"
}

fv_psql() { "$FV_PGBIN/psql" -X -v ON_ERROR_STOP=1 -q "$@"; }
