#!/usr/bin/env bash
# The work tree against an earlier build, in one run: both are built from
# source (the earlier one from git, default the commit before issue 18's
# changes), installed into private copies of the PostgreSQL tree, and served
# by two throwaway clusters with the same settings and the same data.  Each
# workload then runs on both in turn, RUNS rounds; a ratio is the median over
# the rounds of new/old within a round, so a slow phase of the VM hits both.
#   bash bench/against.sh [REF]      # BENCH_SECONDS=5, RUNS=5
#   WORKLOADS=right bash bench/against.sh   # only some of the workloads
#   SCRAPE_SECONDS=1 ...   # while the new build is measured, read its
#                          # zstack_tfa.metrics every second (bench/metrics.sh)
# Workloads (pgbench, prepared statements): a 2FA login with the right code
# and one with a wrong code (2 clients each, every login a first use of its
# step, as workload 6 of run.sh), and the one-uuid query of workload 1.
set -u
. "$(dirname "$0")/../scripts/lib.sh"
cd "$ZT_ROOT"
REF=${1:-e058658^}
SECS=${BENCH_SECONDS:-5}
RUNS=${RUNS:-5}
WORK=$(mktemp -d /tmp/zstack_tfa_against.XXXXXX)
chmod 755 "$WORK"
zt_install_deps >/dev/null

# private copies of Debian's PostgreSQL 15 tree, one per build
root_copy() {
	mkdir -p "$1/usr/include" "$1/usr/lib" "$1/usr/share"
	cp -a /usr/include/postgresql "$1/usr/include/" && cp -a /usr/lib/postgresql "$1/usr/lib/" &&
		cp -a /usr/share/postgresql "$1/usr/share/"
}
build() { # SOURCE-DIR ROOT
	local pgc="$2/usr/lib/postgresql/15/bin/pg_config"
	make -C "$1" -s clean >/dev/null 2>&1
	make -C "$1" -s PG_CONFIG="$pgc" >"$WORK/build.log" 2>&1 &&
		make -C "$1" -s install PG_CONFIG="$pgc" >>"$WORK/build.log" 2>&1 ||
		{ cat "$WORK/build.log"; exit 1; }
}
mkdir "$WORK/old" "$WORK/new"
git -C "$ZT_ROOT" archive "$REF" | tar -x -C "$WORK/old" || exit 1
# the work tree as it is (uncommitted changes too)
git -C "$ZT_ROOT" archive HEAD | tar -x -C "$WORK/new" || exit 1
cp -a "$ZT_ROOT"/src "$ZT_ROOT"/Makefile "$ZT_ROOT"/*.sql "$ZT_ROOT"/*.control "$WORK/new/"
root_copy "$WORK/root_old" && root_copy "$WORK/root_new" || exit 1
build "$WORK/old" "$WORK/root_old"
build "$WORK/new" "$WORK/root_new"
echo "built $(git -C "$ZT_ROOT" rev-parse --short "$REF") (old) and the work tree (new)"

declare -A HOST
start() { # NAME
	PGBIN="$WORK/root_$1/usr/lib/postgresql/15/bin" ZT_NO_KEY=1 ZT_EXTRA_CONF="shared_buffers = 256MB" \
		zt_start_cluster "$WORK" || exit 1
	HOST[$1]=$PGHOST
	echo "$ZT_CLUSTER" >>"$WORK/clusters"
}
stop_all() {
	local c
	while read -r c; do
		zt_as_owner "$WORK/root_old/usr/lib/postgresql/15/bin/pg_ctl" -D "$c/data" -m immediate -w stop >/dev/null 2>&1
	done <"$WORK/clusters"
	rm -rf "$WORK"
}
start old
start new
trap stop_all EXIT
for v in old new; do
	export PGHOST=${HOST[$v]}
	psql -X -q -c "CREATE EXTENSION zstack_tfa" || exit 1
	# the old build stores session uuids as they are, the new one their keys
	if [ "$(psql -X -At -c "SELECT count(*) FROM pg_proc WHERE proname = 'session_key'")" = 1 ]; then
		cp bench/load.sql "$WORK/load_$v.sql"
	else
		sed -e "s/zstack_tfa\.session_key(\(md5('session' || a)\))/\1/" \
			-e "s/zstack_tfa\.session_key(\('[0-9a-f]*'\))/\1/" bench/load.sql >"$WORK/load_$v.sql"
	fi
	psql -X -q -v n=100000 -v hash="$(psql -X -At -c "SELECT zstack_tfa.hash_password('pw')")" -f "$WORK/load_$v.sql" || exit 1
	echo "$v: extension $(psql -X -At -c "SELECT extversion FROM pg_extension WHERE extname = 'zstack_tfa'"), $(psql -X -At -c 'SELECT count(*) FROM zstack_tfa.secret') secrets"
done
# the logins read the secret the 2FA switch gave the account
RIGHT_CODE="zstack_tfa.totp((SELECT secret FROM zstack_tfa.secret WHERE user_uuid = md5('acct' || :n)))"
login_sql() { # FIRST-ACCOUNT ACCOUNTS CODE-EXPRESSION
	printf '%s\n' "\\set n $1 + random(0, $2 / 2 - 1) * 2 + :client_id
WITH s AS (UPDATE zstack_tfa.secret SET last_accepted_step = NULL, failed_attempts = 0, locked_until = NULL
	WHERE user_uuid = md5('acct' || :n) RETURNING uuid)
UPDATE zstack_tfa.auth_event e SET totp_step = NULL FROM s WHERE e.secret_uuid = s.uuid AND e.totp_step IS NOT NULL;
SELECT zstack_tfa.log_in_by_account('acct' || :n, 'pw', ARRAY['twofatoken::' || $3]);"
}
login_sql 0 8000 "$RIGHT_CODE" >"$WORK/right.sql"
login_sql 8000 2000 "(SELECT overlay(c PLACING ((right(c, 1)::int + 1) % 10)::text FROM 6 FOR 1) FROM (SELECT $RIGHT_CODE AS c) x)" >"$WORK/wrong.sql"
printf '%s\n' '\set i random(0, 99999)' \
	"SELECT zstack_tfa.query_two_factor_authentication_json(md5('session' || (:i / 10)), ARRAY['uuid=' || md5('secret' || :i)]);" >"$WORK/uuid.sql"
declare -A CLIENTS=([right]=2 [wrong]=2 [uuid]=1)

# run NAME VERSION SECONDS: one pgbench run; prints its TPS
run() {
	local scraper=""
	if [ -n "${SCRAPE_SECONDS:-}" ] && [ "$2" = new ]; then
		# an exporter's scrape, more often than any would (from 1.4 it moves
		# the horizon of the login counts first, as queries.yaml does)
		(while :; do PGHOST=${HOST[$2]} psql -X -q -o /dev/null -c 'SELECT * FROM zstack_tfa.roll_up_logins() moved, zstack_tfa.metrics'; sleep "$SCRAPE_SECONDS"; done) &
		scraper=$!
	fi
	PGHOST=${HOST[$2]} PGOPTIONS="-c zstack_tfa.max_failed_attempts=1000" \
		pgbench -n -M prepared -c "${CLIENTS[$1]}" -j "${CLIENTS[$1]}" -T "$3" -f "$WORK/$1.sql" postgres >"$WORK/pgbench.out" 2>&1
	[ -n "$scraper" ] && { kill "$scraper"; wait "$scraper"; } 2>/dev/null
	grep -q aborted "$WORK/pgbench.out" && { echo "  !! $1 on $2 aborted: $(grep -m1 ERROR "$WORK/pgbench.out")" >&2; }
	sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pgbench.out"
}
median() { sort -g | awk -v f="$1" '{ v[NR] = $1 } END { printf f, v[int((NR + 1) / 2)] }'; }
declare -A NEW OLD RATIO
measure() { # WORKLOAD
	local w=$1 rounds="" o n r
	case " ${WORKLOADS:-uuid right wrong} " in *" $w "*) ;; *) return ;; esac
	run "$w" old 2 >/dev/null; run "$w" new 2 >/dev/null	# warm-up
	for r in $(seq 1 "$RUNS"); do
		if [ $((r % 2)) = 1 ]; then o=$(run "$w" old "$SECS"); n=$(run "$w" new "$SECS")
		else n=$(run "$w" new "$SECS"); o=$(run "$w" old "$SECS"); fi
		rounds+="$o $n"$'\n'
	done
	OLD[$w]=$(printf '%s' "$rounds" | awk '{ print $1 }' | median %.1f)
	NEW[$w]=$(printf '%s' "$rounds" | awk '{ print $2 }' | median %.1f)
	RATIO[$w]=$(printf '%s' "$rounds" | awk '{ print $2 / $1 }' | median %.3f)
	printf '  %-6s old %8.1f tps  new %8.1f tps  new/old %s  (rounds old,new: %s)\n' "$w" "${OLD[$w]}" "${NEW[$w]}" \
		"${RATIO[$w]}" "$(printf '%s' "$rounds" | awk '{ printf "%s%.0f/%.0f", (NR > 1 ? " " : ""), $1, $2 }')"
}
# the one-uuid query on the loaded secrets; then 2FA on (which gives every
# account a new secret) for the logins
measure uuid
for v in old new; do
	PGHOST=${HOST[$v]} psql -X -q -c "SELECT zstack_tfa.set_two_factor_authentication_enabled(true)" \
		-c "TRUNCATE zstack_tfa.auth_event" >/dev/null
done
measure right
measure wrong
# every right code accepted and every wrong code audited as one, in both
for v in old new; do
	PGHOST=${HOST[$v]} psql -X -At -F ' ' -c "SELECT '$v: right codes accepted ' || count(*) FILTER (WHERE outcome = 'success')
		|| ', wrong codes audited ' || count(*) FILTER (WHERE outcome = 'wrong_code')
		|| ', other outcomes ' || count(*) FILTER (WHERE outcome NOT IN ('success', 'wrong_code'))
		FROM zstack_tfa.auth_event WHERE kind = 'login'"
done
if [ -n "${SCRAPE_SECONDS:-}" ]; then
	# what one scrape costs on the new build, with this run's audit rows
	PGHOST=${HOST[new]} psql -X -q -c '\timing on' -c 'SELECT * FROM zstack_tfa.roll_up_logins() moved, zstack_tfa.metrics' \
		-c 'SELECT * FROM zstack_tfa.roll_up_logins() moved, zstack_tfa.metrics' \
		-c 'SELECT * FROM zstack_tfa.roll_up_logins() moved, zstack_tfa.metrics' -c "SELECT count(*) AS audit_rows FROM zstack_tfa.auth_event" |
		awk '/^Time:/ { t[++n] = $2 } /^ *[0-9]+$/ { rows = $1 } END { printf "one scrape of zstack_tfa.metrics (%d audit rows): %s / %s / %s ms\n", rows, t[1], t[2], t[3] }'
fi
ms() { awk -v t="$1" -v c="$2" 'BEGIN { printf "%.2f", 1000 * c / t }'; }
echo
echo "| workload | measure | value | bar | met |"
echo "|---|---|---|---|---|"
check() { awk -v v="$1" -v op="$2" -v bar="$3" 'BEGIN { ok = (op == ">=") ? v >= bar : v <= bar; print ok ? "yes" : "**no**" }'; }
[ -n "${RATIO[right]:-}" ] && echo "| 2FA login, right code, 2 clients | new / old, TPS | ${RATIO[right]} | ≥ 0.95 | $(check "${RATIO[right]}" '>=' 0.95) |"
[ -n "${RATIO[wrong]:-}" ] && { wo=$(ms "${OLD[wrong]}" 2); wn=$(ms "${NEW[wrong]}" 2)
echo "| 2FA login, wrong code, 2 clients | time per call, old / new (ms) | $wo / $wn | new ≤ old | $(check "$wn" '<=' "$wo") |"; }
[ -n "${RATIO[uuid]:-}" ] && echo "| one secret by uuid, 1 client | new / old, TPS | ${RATIO[uuid]} | ≥ 0.95 | $(check "${RATIO[uuid]}" '>=' 0.95) |"
true
