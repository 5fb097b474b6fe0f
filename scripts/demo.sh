#!/usr/bin/env bash
# The zstack_tfa demo: installs what is missing (apt-get), builds, installs,
# starts a throwaway PostgreSQL cluster (15, or N with `--pg N`: 17 or 18,
# fetched first when missing) in a temporary folder, loads a
# realistic sample and prints real API replies.  The cluster is removed at
# the end; `--keep` leaves it running and prints how to connect.  `--http`
# also starts PostgREST and nginx on loopback and shows real curl calls.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http.sh"
cd "$ZT_ROOT"
keep=0
http=0
zt_parse_pg_arg "$@" || exit 2
for arg in "${ZT_ARGS[@]}"; do
	case "$arg" in
		--keep) keep=1 ;;
		--http) http=1 ;;
		*) echo "usage: $0 [--pg 15|17|18] [--keep] [--http]" >&2; exit 2 ;;
	esac
done

# 17 on a release that does not ship it (bookworm): the demo runs in
# trixie's chroot (scripts/trixie.sh), where it does
if [ "$ZT_PG_MAJOR" = 17 ] && [ "$ZT_OS_PG_MAJOR" != 17 ]; then
	[ "$keep" = 1 ] && export ZT_TRIXIE_KEEP_MOUNTS=1
	exec bash "$ZT_ROOT/scripts/trixie.sh" bash scripts/demo.sh "$@"
fi

echo "== installing packages and building (PostgreSQL $ZT_PG_MAJOR)"
zt_install_deps
zt_get_pg
zt_build_install
zt_start_cluster
if [ "$keep" = 1 ]; then ZT_KEEP=1; trap - EXIT; fi
echo "== throwaway cluster at $ZT_CLUSTER"

psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -f scripts/sample.sql

session_file=$(mktemp /tmp/zstack_tfa_demo_session.XXXXXX)
psql -X -v ON_ERROR_STOP=1 -v session_file="$session_file" -f scripts/demo.sql
session=$(cat "$session_file"); rm -f "$session_file"

if [ "$http" = 1 ]; then
	zt_install_http_deps
	psql -X -q -v ON_ERROR_STOP=1 -f postgrest/api.sql >/dev/null 2>&1
	zt_start_http_stack postgres
	[ "$keep" = 1 ] || trap 'zt_stop_http_stack; zt_stop_cluster' EXIT
	run() { echo "\$ $(printf '%q ' "$@")"; "$@"; echo; echo; }
	echo
	echo "== over HTTP: nginx $ZT_HTTP -> PostgREST -> zstack_tfa"
	run curl -s "$ZT_HTTP/zstack/v1/twofactorauthentication/state"
	run curl -s -H "Authorization: OAuth $session" \
		"$ZT_HTTP/zstack/v1/twofactorauthentication/secrets?q=status=Logined&fields=uuid,userType,status&sort=%2BcreateDate"
	run curl -s -i -H "Authorization: OAuth 0123456789abcdef0123456789abcdef" \
		"$ZT_HTTP/zstack/v1/twofactorauthentication/secrets"
	run curl -s -i "$ZT_HTTP/zstack/v1/twofactorauthentication/secrets"
fi

if [ "$keep" = 1 ]; then
	echo
	echo "== the cluster keeps running; connect with:"
	echo "   PGHOST=$PGHOST PGUSER=postgres psql"
	[ "$http" = 1 ] && echo "   curl $ZT_HTTP/zstack/v1/twofactorauthentication/state   (PostgREST and nginx: $ZT_HTTP_DIR)"
	echo "   stop it with: $([ "$(id -u)" -eq 0 ] && echo 'runuser -u postgres -- ')$PGBIN/pg_ctl -D $ZT_CLUSTER/data stop"
	if [ "${ZT_IN_TRIXIE:-0}" = 1 ]; then
		echo "   (all in trixie's chroot: prefix each with chroot $ZT_TRIXIE_ROOT; then bash scripts/trixie.sh --umount)"
	fi
fi
