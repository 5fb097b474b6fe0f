#!/usr/bin/env bash
# zstack_tfa on a highly available cluster, failed over for real: one etcd,
# three Patroni nodes of PostgreSQL 15 (synchronous_mode), pgbouncer in
# transaction mode in front of the primary and a prometheus-postgres-exporter
# per node, all on loopback in a temporary folder.  While clients log in with
# real TOTP codes (oathtool) through pgbouncer, through a multi-host libpq URL
# and through a multi-host pgjdbc URL (test/ha/HaJdbc.java), and send wrong
# codes, the primary is killed (kill -9 of Patroni and of the postmaster and
# its children: the node is gone); in a second round it is switched over
# with patronictl; a third kills it after its replication stalled 3 s, and a
# fourth does the same with synchronous_mode off.  Each round prints its
# figures (replays, lost counts and sessions, failed calls, seconds without a
# primary, the exporters' figures) and the run ends with "N passed, N failed".
#
#   bash test/ha/run.sh          # as root, about 4.5 minutes; not a stage of scripts/test.sh
#
# Installs what is missing (apt-get), builds the extension with -Werror and
# installs it into a private copy of Debian's PostgreSQL 15 tree in the
# temporary folder (so that other builds installed meanwhile into the system's
# tree do not reach this run's servers), and runs every server as postgres.
set -u
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$ZT_ROOT"
[ "$(id -u)" -eq 0 ] || { echo "test/ha/run.sh runs as root (servers as postgres)" >&2; exit 2; }

started=$(date +%s)
echo "== packages"
need=()
for p in make gcc postgresql-15 postgresql-server-dev-15 liboath-dev oathtool libssl-dev \
	libqrencode-dev libpng-dev patroni python3-etcd python3-psycopg2 etcd-server etcd-client \
	prometheus-postgres-exporter \
	pgbouncer "$ZT_JDK" libpostgresql-jdbc-java; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}"
	# another apt run on the machine: wait for its lock rather than fail
	env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 update -qq >/dev/null &&
		env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
			--no-install-recommends "${need[@]}" >/dev/null || { echo "apt-get failed" >&2; exit 1; }
fi

HA_DIR=$(mktemp -d /tmp/zstack_tfa_ha.XXXXXX)
chmod 755 "$HA_DIR"
export HA_DIR
cleanup() {
	local pid
	# every process this run started, by the ids it wrote down
	if [ -f "$HA_DIR/pids" ]; then
		while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$HA_DIR/pids"
		sleep 1
	fi
	# the postmasters (and their children) of the three nodes
	for f in "$HA_DIR"/node*/data/postmaster.pid; do
		[ -f "$f" ] || continue
		pid=$(head -n 1 "$f")
		[ "$(ps -o user= -p "$pid" 2>/dev/null)" = postgres ] && kill -9 "$pid" 2>/dev/null
	done
	[ "${ZT_KEEP:-0}" = 1 ] || rm -rf "$HA_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== build (into a private copy of PostgreSQL 15's tree in $HA_DIR)"
ROOT=$HA_DIR/pgroot
mkdir -p "$ROOT/usr/include" "$ROOT/usr/lib" "$ROOT/usr/share" "$HA_DIR/src"
cp -a /usr/include/postgresql "$ROOT/usr/include/" && cp -a /usr/lib/postgresql "$ROOT/usr/lib/" &&
	cp -a /usr/share/postgresql "$ROOT/usr/share/" || exit 1
zt_copy_tree "$HA_DIR/src"
PGC=$ROOT/usr/lib/postgresql/15/bin/pg_config
if ! { nice -n 10 make -C "$HA_DIR/src" -s ZT_WERROR=-Werror PG_CONFIG="$PGC" &&
	make -C "$HA_DIR/src" -s install PG_CONFIG="$PGC"; } >"$HA_DIR/build.log" 2>&1; then
	cat "$HA_DIR/build.log"; exit 1
fi
export HA_BIN=$ROOT/usr/lib/postgresql/15/bin
echo "built $(git -C "$ZT_ROOT" rev-parse --short HEAD)$(git -C "$ZT_ROOT" diff --quiet HEAD -- src *.sql || echo ' (with changes)') into $ROOT"

# the pgjdbc clients (targetServerType=primary), run by failover.py
PGJDBC_JAR=/usr/share/java/postgresql.jar	# libpostgresql-jdbc-java
mkdir -p "$HA_DIR/classes"
javac -encoding UTF-8 -cp "$PGJDBC_JAR" -d "$HA_DIR/classes" "$ZT_ROOT/test/ha/HaJdbc.java" \
	>"$HA_DIR/javac.log" 2>&1 || { cat "$HA_DIR/javac.log"; exit 1; }
export HA_JDBC_CP=$HA_DIR/classes:$PGJDBC_JAR
echo "pgjdbc $(dpkg-query -W -f='${Version}' libpostgresql-jdbc-java), $(javac -version 2>&1)"

chown -R postgres:postgres "$HA_DIR"
nice -n 10 /usr/bin/python3 -u "$ZT_ROOT/test/ha/failover.py"
rc=$?
echo "== wall time: $(( $(date +%s) - started )) s"
exit $rc
