#!/usr/bin/env bash
# The zstack_tfa demo: installs what is missing (apt-get), builds, installs,
# starts a throwaway PostgreSQL 15 cluster in a temporary folder, loads a
# realistic sample and prints real API replies.  The cluster is removed at
# the end; `--keep` leaves it running and prints how to connect.
set -eu
. "$(dirname "$0")/lib.sh"
cd "$ZT_ROOT"
keep=0
for arg in "$@"; do
	case "$arg" in
		--keep) keep=1 ;;
		*) echo "usage: $0 [--keep]" >&2; exit 2 ;;
	esac
done

echo "== installing packages and building"
zt_install_deps
zt_build_install
zt_start_cluster
if [ "$keep" = 1 ]; then ZT_KEEP=1; trap - EXIT; fi
echo "== throwaway cluster at $ZT_CLUSTER"

psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -f scripts/sample.sql

psql -X -v ON_ERROR_STOP=1 -f scripts/demo.sql

if [ "$keep" = 1 ]; then
	echo
	echo "== the cluster keeps running; connect with:"
	echo "   PGHOST=$PGHOST PGUSER=postgres psql"
	echo "   stop it with: $([ "$(id -u)" -eq 0 ] && echo 'runuser -u postgres -- ')$PGBIN/pg_ctl -D $ZT_CLUSTER/data stop"
fi
