#!/usr/bin/env bash
# Shared helpers of the demo, test and bench scripts: packages, build,
# and a throwaway PostgreSQL 15 cluster on a private unix socket.
# Source it; it sets ZT_ROOT to the repository root.

ZT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The PostgreSQL 15 tree; ZT_PG_ROOT puts it under another root (a private
# copy of the Debian files, so that two builds can be installed side by side)
ZT_PG_ROOT=${ZT_PG_ROOT:-}
PGBIN=$ZT_PG_ROOT/usr/lib/postgresql/15/bin
ZT_PGXS_DIR=$ZT_PG_ROOT/usr/lib/postgresql/15/lib/pgxs
export PG_CONFIG=$PGBIN/pg_config

# Run a command as root: directly when we are root, else through sudo.
zt_as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install the Debian packages that are missing (names given as arguments).
zt_install_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing: ${missing[*]}"
	zt_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
	zt_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What building and testing the extension needs.
zt_install_deps() {
	zt_install_packages make gcc postgresql-15 postgresql-server-dev-15 \
		liboath-dev oathtool libssl-dev libqrencode-dev libpng-dev zbar-tools librsvg2-bin \
		libipc-run-perl perl clang libclang-rt-14-dev cppcheck clang-tidy
}

# Build with warnings as errors and install into the PostgreSQL tree.
zt_build_install() {
	make -C "$ZT_ROOT" -s clean >/dev/null
	make -C "$ZT_ROOT" -s ZT_WERROR=-Werror >/dev/null
	zt_as_root make -C "$ZT_ROOT" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}

# Run a command as the cluster's owner (postgres when we are root).
zt_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Write a new key file for zstack_tfa.encryption_key_file at $1 (id $2,
# default k1): one line "<id> <64 hex digits>", mode 0600, owned by the
# server's user.  README shows the same two commands.
zt_make_key_file() {
	(umask 077; printf '%s %s\n' "${2:-k1}" "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"$1")
	[ "$(id -u)" -eq 0 ] && chown postgres "$1"
	return 0
}

# Start a throwaway cluster in a new folder under $1 (default /tmp); it
# listens on a unix socket only.  Exports PGHOST, PGPORT, PGUSER, PGDATABASE
# and ZT_CLUSTER (the folder), and stops the cluster when the shell exits.
zt_start_cluster() {
	local parent=${1:-/tmp}
	ZT_CLUSTER=$(mktemp -d "$parent/zstack_tfa_cluster.XXXXXX")
	chmod 755 "$ZT_CLUSTER"
	mkdir -p "$ZT_CLUSTER/sock"
	[ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$ZT_CLUSTER"
	zt_as_owner "$PGBIN/initdb" -D "$ZT_CLUSTER/data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >"$ZT_CLUSTER/initdb.log" 2>&1 ||
		{ cat "$ZT_CLUSTER/initdb.log"; return 1; }
	# TOTP secrets are encrypted at rest under a key of our own (ZT_NO_KEY=1:
	# stored plain, as ZStack stores them)
	local key_conf=""
	if [ "${ZT_NO_KEY:-0}" != 1 ]; then
		zt_make_key_file "$ZT_CLUSTER/zstack_tfa.keys"
		# every backend loads the library at its start, so that no role
		# can read the key file's path from a placeholder setting
		key_conf="session_preload_libraries = 'zstack_tfa'
zstack_tfa.encryption_key_file = '$ZT_CLUSTER/zstack_tfa.keys'"
	fi
	cat >>"$ZT_CLUSTER/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$ZT_CLUSTER/sock'
port = 5432
fsync = off
max_connections = 40
log_line_prefix = '%m [%p] '
log_min_messages = warning
# the log is searched for planted secrets: statements (which hold what the
# tests typed) stay out, messages and details stay in
log_min_error_statement = panic
$key_conf
${ZT_EXTRA_CONF:-}
CONF
	# ZT_VALGRIND=1: every server process under valgrind memcheck
	local postgres=()
	if [ "${ZT_VALGRIND:-0}" = 1 ]; then
		cat >"$ZT_CLUSTER/valgrind-postgres" <<WRAP
#!/bin/sh
exec valgrind --quiet --trace-children=yes --track-origins=no --leak-check=no \\
	--read-var-info=no --num-callers=30 --log-file="$ZT_CLUSTER/valgrind.%p.log" \\
	$PGBIN/postgres "\$@"
WRAP
		chmod 755 "$ZT_CLUSTER/valgrind-postgres"
		postgres=(-p "$ZT_CLUSTER/valgrind-postgres" -t 600)
	fi
	zt_as_owner "$PGBIN/pg_ctl" -D "$ZT_CLUSTER/data" -l "$ZT_CLUSTER/server.log" -w "${postgres[@]}" start >/dev/null ||
		{ cat "$ZT_CLUSTER/server.log"; return 1; }
	export PGHOST="$ZT_CLUSTER/sock" PGPORT=5432 PGUSER=postgres PGDATABASE=postgres ZT_CLUSTER
	trap zt_stop_cluster EXIT
}

# Stop the throwaway cluster and remove its folder (ZT_KEEP=1 keeps it).
zt_stop_cluster() {
	[ -n "${ZT_CLUSTER:-}" ] && [ -d "$ZT_CLUSTER/data" ] || return 0
	zt_as_owner "$PGBIN/pg_ctl" -D "$ZT_CLUSTER/data" -m immediate -w stop >/dev/null 2>&1
	[ "${ZT_KEEP:-0}" = 1 ] || rm -rf "$ZT_CLUSTER"
}

# Run the TAP tests in t/ with PostgreSQL's own test modules: each test makes
# its own clusters (as user postgres when we are root, since initdb refuses
# root), in a scratch copy of t/ that user can write.  Output goes to $1.
zt_run_tap() {
	local log=$1 dir
	# t/009 sends requests through nginx and PostgREST
	. "$ZT_ROOT/scripts/http.sh"
	zt_install_http_deps >/dev/null || return 1
	dir=$(mktemp -d /tmp/zstack_tfa_tap.XXXXXX)
	cp -r "$ZT_ROOT/t" "$dir/t"
	# t/013 runs README's procedure as printed
	cp "$ZT_ROOT/README.md" "$dir/"
	# every test's clusters encrypt secrets under a key, as the main one does
	zt_make_key_file "$dir/zstack_tfa.keys"
	printf "%s\n" "session_preload_libraries = 'zstack_tfa'" \
		"zstack_tfa.encryption_key_file = '$dir/zstack_tfa.keys'" >"$dir/temp.conf"
	chmod -R a+rX "$dir"
	chmod 600 "$dir/zstack_tfa.keys"
	local foreign=""
	if [ "$(id -u)" -eq 0 ]; then
		chown -R postgres:postgres "$dir"
		# a valid key file of another user's, which the server must refuse
		foreign="$dir/foreign.keys"
		zt_make_key_file "$foreign" && chown nobody "$foreign"
	fi
	(cd "$dir" && zt_as_owner env PATH="$PGBIN:$PATH" TESTDIR="$dir" TEMP_CONFIG="$dir/temp.conf" \
		ZT_FOREIGN_KEY_FILE="$foreign" ZT_ROOT="$ZT_ROOT" \
		PERL5LIB="$ZT_PGXS_DIR/src/test/perl" \
		PG_REGRESS="$ZT_PGXS_DIR/src/test/regress/pg_regress" \
		prove -v ${ZT_TAP_TESTS:-t/*.pl}) >"$log" 2>&1
	local rc=$?
	[ "$rc" -ne 0 ] && [ -d "$dir/tmp_check/log" ] && tail -n 30 "$dir"/tmp_check/log/*.log "$dir"/tmp_check/log/regress_log_* >>"$log" 2>/dev/null
	rm -rf "$dir"
	return $rc
}
