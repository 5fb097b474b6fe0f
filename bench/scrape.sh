#!/usr/bin/env bash
# What a metrics scrape costs on a long audit log: 1.3's view, which counts
# the logins from the whole audit log, against 1.4's, which adds the rows
# past the horizon of zstack_tfa.login_total to the totals up to it.
# Both on one throwaway cluster with the same AUDIT_ROWS audit rows over 30
# days, the horizon moved past them by two rollups, then PAST_ROWS more (the
# logins since the last rollup): 1.3's view is made beside 1.4's from
# zstack_tfa--1.2--1.3.sql's text.  A scrape is
# monitoring/queries.yaml's queries, as the exporter runs them (1.3's
# without the rollup query); ROUNDS scrapes each, in turns, the median kept.
# About 2 minutes.
#   bash bench/scrape.sh        # AUDIT_ROWS=1000000 PAST_ROWS=500 ROUNDS=7
set -u
. "$(dirname "$0")/../scripts/lib.sh"
cd "$ZT_ROOT"
ROWS=${AUDIT_ROWS:-1000000}
PAST=${PAST_ROWS:-500}
ROUNDS=${ROUNDS:-7}
WORK=$(mktemp -d /tmp/zstack_tfa_scrape.XXXXXX)
chmod 755 "$WORK"
zt_install_deps >/dev/null
zt_build_install || exit 1
ZT_NO_KEY=1 ZT_EXTRA_CONF="shared_buffers = 512MB" zt_start_cluster "$WORK" || exit 1
trap 'zt_stop_cluster; rm -rf "$WORK"' EXIT
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

sql -c "CREATE EXTENSION zstack_tfa" || exit 1
# 1.3's view, as its update script made it, beside 1.4's
sed -n '/^CREATE VIEW zstack_tfa.metrics AS/,/^SELECT .recorder_owed.*;$/p' zstack_tfa--1.2--1.3.sql |
	sed 's/^CREATE VIEW zstack_tfa.metrics AS/CREATE VIEW zstack_tfa.metrics_13 AS/' >"$WORK/v13.sql"
sql -f "$WORK/v13.sql" || exit 1
# the audit log: logins of every result over 30 days
audit() { # N: N login audit rows, the newest now
	sql -c "INSERT INTO zstack_tfa.auth_event (at, kind, outcome)
		SELECT now() - i * interval '30 days' / $ROWS, 'login',
			(ARRAY['success', 'bad_credentials', 'wrong_code', 'wrong_code_locked', 'locked', 'code_required'])[1 + i % 6]
		FROM generate_series($1, 1, -1) i"
}
audit "$ROWS" && sql -c "VACUUM ANALYZE zstack_tfa.auth_event" || exit 1

# the exporter's queries: 1.4's as queries.yaml has them, 1.3's the same on
# metrics_13 and without the rollup query
awk '/^  query: "/ { q = $0; sub(/^  query: "/, "", q); sub(/"$/, "", q); print q ";"; next }
	/^  query: \|/ { block = 1; q = ""; next }
	block && /^    / { q = q " " substr($0, 5); next }
	block { print q ";"; block = 0 }' monitoring/queries.yaml >"$WORK/s14.sql"
grep -v roll_up_logins "$WORK/s14.sql" | sed 's/zstack_tfa\.metrics\b/zstack_tfa.metrics_13/g' >"$WORK/s13.sql"
[ "$(wc -l <"$WORK/s14.sql")" -eq 9 ] && [ "$(wc -l <"$WORK/s13.sql")" -eq 8 ] || { echo "queries.yaml not read" >&2; exit 1; }
# two rollups move the horizon past them (the first sets it in waiting,
# the second takes it), then the logins since; the figures agree
sql -c "SELECT zstack_tfa.roll_up_logins('0')" -c "SELECT zstack_tfa.roll_up_logins('0')" >/dev/null
audit "$PAST" || exit 1
a=$(sql -c "SELECT string_agg(metric || label || value, ',' ORDER BY metric, label) FROM zstack_tfa.metrics WHERE metric IN ('logins', 'lockouts')")
b=$(sql -c "SELECT string_agg(metric || label || value, ',' ORDER BY metric, label) FROM zstack_tfa.metrics_13 WHERE metric IN ('logins', 'lockouts')")
[ "$a" = "$b" ] && echo "1.3's and 1.4's figures agree" || { echo "figures differ: $a / $b" >&2; exit 1; }
sql -c "SELECT 'horizon at id ' || through_id || '; ' || (SELECT count(*) FROM zstack_tfa.auth_event WHERE id > through_id) || ' audit rows past it' FROM zstack_tfa.login_total_through"

scrape() { # FILE: one scrape's server time in µs (psql's \timing of each query, summed)
	sql -c '\timing on' -f "$1" | awk '/^Time:/ { s += $2 } END { printf "%d", s * 1000 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for r in $(seq 1 "$ROUNDS"); do
	echo "$(scrape "$WORK/s13.sql") $(scrape "$WORK/s14.sql")"
done >"$WORK/rounds"
o=$(awk '{ print $1 }' "$WORK/rounds" | median)
n=$(awk '{ print $2 }' "$WORK/rounds" | median)
echo "a scrape (queries.yaml, $ROWS audit rows): 1.3 $(awk -v u="$o" 'BEGIN { printf "%.1f", u / 1000 }') ms," \
	"1.4 $(awk -v u="$n" 'BEGIN { printf "%.1f", u / 1000 }') ms (medians of $ROUNDS; 1.4/1.3 $(awk -v a="$n" -v b="$o" 'BEGIN { printf "%.3f", a / b }'))"
echo "rounds (1.3 1.4, µs): $(tr '\n' ';' <"$WORK/rounds")"
