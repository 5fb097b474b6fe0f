#!/usr/bin/env bash
# zstack_tfa behind a transaction-pooling pgbouncer (issue 20), watched by
# prometheus-postgres-exporter: a throwaway cluster, Debian's pgbouncer in
# transaction pooling mode with a pool of 2 server connections, and
# concurrent psql clients that each use their own settings.  Checks that no
# client's state reaches another's replies (settings set per transaction
# with SET LOCAL), shows that a session-level SET does leak through the
# pool (why README tells pooled clients to use SET LOCAL or arguments),
# and that logins, wrong codes, a replay and a lockout sent through the
# pool are answered and counted right.  Then the real exporter, with
# monitoring/queries.yaml and README's monitoring role, is scraped with
# curl and its figures are compared with the activity.  Codes come from
# oathtool.  Prints TAP only; exits non-zero when anything failed.  Needs
# the extension installed (scripts/test.sh does that).
set -u
. "$(dirname "$0")/../../scripts/lib.sh"
. "$ZT_ROOT/scripts/http.sh"	# zt_free_port
. "$ZT_ROOT/scripts/tap.sh"

DB=zstack_pool
CLIENTS=6		# concurrent psql clients through the pool
JCLIENTS=4		# and pgjdbc clients (threads of one JVM), at the same time
ALL=$((CLIENTS + JCLIENTS))
PGJDBC_JAR=/usr/share/java/postgresql.jar	# libpostgresql-jdbc-java
ROUNDS=8		# transactions each
work=$(mktemp -d /tmp/zstack_tfa_pooled.XXXXXX)
chmod 755 "$work"
pids_to_stop=()
cleanup() {
	local p
	for p in "${pids_to_stop[@]}"; do kill "$p" 2>/dev/null; done
	[ -f "$work/pgbouncer.pid" ] && kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null
	zt_stop_cluster
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

finish() {
	echo "# $SECONDS s"
	tap_plan
	exit $?
}
# check NAME GOT WANT
check() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "got '$2', want '$3'" | diag; fi
}

# 1. packages; the Java client is compiled while the cluster starts
if zt_install_packages pgbouncer prometheus-postgres-exporter curl oathtool \
	"$ZT_JDK" libpostgresql-jdbc-java >"$work/install.log" 2>&1 &&
	[ -x /usr/sbin/pgbouncer ] && [ -x /usr/bin/prometheus-postgres-exporter ] && [ -r "$PGJDBC_JAR" ]; then
	ok "packages: $(/usr/sbin/pgbouncer --version | head -n 1), prometheus-postgres-exporter $(dpkg-query -W -f='${Version}' prometheus-postgres-exporter), pgjdbc $(dpkg-query -W -f='${Version}' libpostgresql-jdbc-java)"
else
	bail "packages: pgbouncer, prometheus-postgres-exporter, curl, oathtool, a JDK, pgjdbc" "$work/install.log"
fi
mkdir -p "$work/classes"
javac -encoding UTF-8 -cp "$PGJDBC_JAR" -d "$work/classes" "$ZT_ROOT/test/pooled/PooledJdbc.java" >"$work/javac.log" 2>&1 &
javac_pid=$!
[ -x "$PGBIN/initdb" ] || bail "PostgreSQL $ZT_PG_MAJOR server binaries in $PGBIN"

# 2. the cluster (unix socket only), the extension, data and README's grants
zt_start_cluster "$work" >"$work/cluster.log" 2>&1 || bail "throwaway cluster" "$work/cluster.log"
trap cleanup EXIT	# zt_start_cluster set its own
ok "throwaway cluster on $PGHOST"
SQL=(psql -X -q -At -v ON_ERROR_STOP=1)
"${SQL[@]}" -d postgres -c "CREATE DATABASE $DB" >"$work/ext.log" 2>&1 &&
	"${SQL[@]}" -d "$DB" -c "CREATE EXTENSION zstack_tfa" >>"$work/ext.log" 2>&1 ||
	bail "CREATE EXTENSION zstack_tfa" "$work/ext.log"
# u1..u10 log in through the pool; vic is locked by six concurrent wrong
# codes; nearly gets three wrong ones and then a right one
{
	echo "SET client_min_messages = warning;"
	echo "SELECT zstack_tfa.set_two_factor_authentication_enabled(true);"
	for a in $(seq 1 "$ALL") vic nearly; do
		echo "SELECT zstack_tfa.create_account('u$a', 'pw-$a');"
	done
} >"$work/fixture.sql"
"${SQL[@]}" -d "$DB" -f "$work/fixture.sql" >"$work/fixture.log" 2>&1 || bail "data" "$work/fixture.log"
declare -A SECRET
while IFS='|' read -r a secret; do SECRET[$a]=$secret; done < <("${SQL[@]}" -F'|' -d "$DB" -c "SELECT a,
	zstack_tfa.get_two_factor_authentication_secret('u' || a, 'pw-' || a)->'inventory'->>'secret'
	FROM unnest(string_to_array('$(seq -s, 1 "$ALL"),vic,nearly', ',')) a")
ok "data: 2FA on, accounts u1..u$ALL, uvic, unearly with their secrets"

# every GRANT block of README's "Security" section, as printed
mkdir -p "$work/grants"
awk -v dir="$work/grants" '
	/^## / { insec = ($0 ~ /^## Security[[:space:]]*$/) }
	insec && !fence && /^```sql[[:space:]]*$/ { fence = 1; first = 1; out = ""; next }
	fence && /^```/ { if (out != "") close(out); fence = 0; next }
	fence && first {
		first = 0
		if ($0 ~ /^-- grants: /) {
			name = substr($0, 12); gsub(/[^A-Za-z0-9_-]/, "_", name)
			out = sprintf("%s/%02d-%s.sql", dir, ++nb, name)
		}
	}
	fence && out != "" { print > out }
' "$ZT_ROOT/README.md"
grants_ok=1
for f in "$work"/grants/*.sql; do
	"${SQL[@]}" -d "$DB" -f "$f" >>"$work/grants.log" 2>&1 || grants_ok=0
done
if [ "$grants_ok" = 1 ] && [ -f "$work/grants/"*monitoring*.sql ]; then
	ok "README's GRANT blocks run as printed ($(cd "$work/grants" && ls | sed 's/^[0-9]*-//; s/\.sql$//' | paste -sd, -))"
else
	bail "README's GRANT blocks (a monitoring block among them) run as printed" "$work/grants.log"
fi
# the monitoring role sees the metrics, and no secret, session or audit row
out=$("${SQL[@]}" -U zstack_monitor -d "$DB" -c "SELECT count(*) > 0 FROM zstack_tfa.metrics" 2>&1)
check "zstack_monitor reads zstack_tfa.metrics" "$out" t
denied=0
for t in secret session account auth_event recovery_code two_factor_report; do
	psql -X -q -At -U zstack_monitor -d "$DB" -c "SELECT 1 FROM zstack_tfa.$t LIMIT 1" 2>&1 |
		grep -q 'permission denied' && denied=$((denied + 1))
done
check "zstack_monitor is denied secret, session, account, auth_event, recovery_code, two_factor_report" "$denied" 6

# 3. pgbouncer in transaction pooling mode: zstack_pool with 2 server
# connections, zstack_one with 1 (to show a session SET leaking)
bport=$(zt_free_port 46432)
printf '"zstack_mgmt" ""\n"postgres" ""\n' >"$work/userlist.txt"
cat >"$work/pgbouncer.ini" <<INI
[databases]
zstack_pool = host=$PGHOST port=5432 dbname=$DB pool_size=2
zstack_one = host=$PGHOST port=5432 dbname=$DB pool_size=1
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $work/userlist.txt
admin_users = postgres
pool_mode = transaction
ignore_startup_parameters = extra_float_digits
max_client_conn = 100
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
[ "$(id -u)" -eq 0 ] && chown postgres "$work"/pgbouncer.ini "$work"/userlist.txt && chmod 777 "$work"
if zt_as_owner /usr/sbin/pgbouncer -d "$work/pgbouncer.ini" >"$work/pgbouncer.out" 2>&1; then
	for _ in $(seq 50); do
		psql -X -At -h 127.0.0.1 -p "$bport" -U zstack_mgmt -d zstack_pool -c 'SELECT 1' >/dev/null 2>&1 && break
		sleep 0.1
	done
fi
mode=$(psql -X -At -F'|' -h 127.0.0.1 -p "$bport" -U postgres -d pgbouncer -c 'SHOW CONFIG' 2>"$work/show.log" |
	awk -F'|' '$1 == "pool_mode" { print $2 }')
if [ "$mode" = transaction ]; then
	ok "pgbouncer on 127.0.0.1:$bport, pool_mode transaction, pool_size 2"
else
	cat "$work/pgbouncer.out" "$work/pgbouncer.log" "$work/show.log" 2>/dev/null | diag
	bail "pgbouncer on 127.0.0.1:$bport in transaction pooling mode"
fi
POOL=(psql -X -q -At -F'|' -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$bport" -U zstack_mgmt)

# 4. the exporter, straight to the cluster's socket as zstack_monitor (not
# through the pool), and a first scrape
eport=$(zt_free_port 49187)
DATA_SOURCE_NAME="postgresql://zstack_monitor@:5432/$DB?host=$(printf %s "$PGHOST" | sed 's|/|%2F|g')&sslmode=disable" \
	/usr/bin/prometheus-postgres-exporter --web.listen-address="127.0.0.1:$eport" \
	--extend.query-path="$ZT_ROOT/monitoring/queries.yaml" --disable-default-metrics \
	--disable-settings-metrics >"$work/exporter.log" 2>&1 &
pids_to_stop+=($!)
scrape() { # FILE
	local i
	for i in $(seq 50); do
		curl -sf "http://127.0.0.1:$eport/metrics" >"$1" 2>/dev/null && grep -q '^zstack_tfa_logins_total' "$1" && return 0
		sleep 0.2
	done
	return 1
}
# metric NAME [LABEL=VALUE] FILE: the sample's value
metric() {
	if [ $# -eq 3 ]; then
		awk -v m="$1" -v l="$2" 'index($1, m "{") == 1 && index($1, l) { print $NF }' "$3" | head -n 1
	else
		awk -v m="$1" '$1 == m || index($1, m "{") == 1 { print $NF }' "$2" | head -n 1
	fi
}
if scrape "$work/before.prom"; then
	ok "prometheus-postgres-exporter on 127.0.0.1:$eport serves zstack_tfa's metrics"
else
	cat "$work/exporter.log" | tail -n 20 | diag
	bail "prometheus-postgres-exporter serves zstack_tfa's metrics"
fi
errs=$(metric pg_exporter_last_scrape_error "$work/before.prom")
check "the exporter's scrape had no error (pg_exporter_last_scrape_error)" "$errs" 0

# 5. concurrent clients, psql and pgjdbc, each with its own date style and
# time zone set per transaction (SET LOCAL; set_config(..., true) in Java),
# each logging in with its own code and querying its own secret; every
# reply must be in its own client's format
STYLES=(zstack iso8601)
ZONES=(UTC Asia/Shanghai America/New_York)
for c in $(seq 1 "$ALL"); do
	style=${STYLES[$((c % 2))]}; zone=${ZONES[$((c % 3))]}
	code=$(oathtool --totp -b "${SECRET[$c]}")
	{
		echo "SELECT zstack_tfa.log_in_by_account('u$c', 'pw-$c', ARRAY['twofatoken::$code'])->'inventory'->>'uuid' AS sess \\gset"
		echo "SELECT 'session', :'sess';"
		for r in $(seq 1 "$ROUNDS"); do
			echo "BEGIN;"
			echo "SET LOCAL zstack_tfa.date_style = '$style';"
			echo "SET LOCAL TimeZone = '$zone';"
			echo "SELECT 'reply', pg_backend_pid(), zstack_tfa.query_two_factor_authentication_json(:'sess')->'inventories'->0->>'createDate';"
			echo "COMMIT;"
			echo "SELECT pg_sleep(0.01);"
		done
	} >"$work/client$c.sql"
	echo "$code" >"$work/code$c"
done
wait "$javac_pid" || { diag <"$work/javac.log"; bail "javac PooledJdbc.java"; }
start_ts=$SECONDS
client_pids=()
for c in $(seq 1 "$CLIENTS"); do
	"${POOL[@]}" -d zstack_pool -f "$work/client$c.sql" >"$work/client$c.out" 2>&1 &
	client_pids+=($!)
done
jspecs=()
for c in $(seq $((CLIENTS + 1)) "$ALL"); do
	jspecs+=("$c:u$c:pw-$c:$(cat "$work/code$c"):${STYLES[$((c % 2))]}:${ZONES[$((c % 3))]}")
done
timeout 60 java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$work/classes:$PGJDBC_JAR" PooledJdbc \
	"jdbc:postgresql://127.0.0.1:$bport/zstack_pool" "$ROUNDS" "${jspecs[@]}" >"$work/java.out" 2>"$work/java.err" &
client_pids+=($!)
for p in "${client_pids[@]}"; do wait "$p"; done
for c in $(seq $((CLIENTS + 1)) "$ALL"); do
	awk -F'|' -v c="$c" '$1 == c { sub(/^[^|]*\|/, ""); print }' "$work/java.out" >"$work/client$c.out"
done
grep -q '|error|' "$work/java.out" && grep '|error|' "$work/java.out" | diag
[ -s "$work/java.err" ] && diag <"$work/java.err"
clients_ok=0; replies=0; wrong=0
declare -A PIDS_OF_CLIENT CLIENTS_OF_PID
for c in $(seq 1 "$ALL"); do
	style=${STYLES[$((c % 2))]}; zone=${ZONES[$((c % 3))]}
	sess=$(awk -F'|' '$1 == "session" { print $2 }' "$work/client$c.out")
	[[ $sess =~ ^[0-9a-f]{32}$ ]] || { echo "client $c: no session" | diag; cat "$work/client$c.out" | diag; continue; }
	clients_ok=$((clients_ok + 1))
	# what this client's setting gives, asked directly (not through the pool)
	want=$("${SQL[@]}" -d "$DB" -c "SET zstack_tfa.date_style = '$style'; SET TimeZone = '$zone';
		SELECT zstack_tfa.query_two_factor_authentication_json('$sess')->'inventories'->0->>'createDate'")
	while IFS='|' read -r tag pid date; do
		[ "$tag" = reply ] || continue
		replies=$((replies + 1))
		[ "$date" = "$want" ] || { wrong=$((wrong + 1)); echo "client $c ($style, $zone): '$date', want '$want'" | diag; }
		PIDS_OF_CLIENT[$c]="${PIDS_OF_CLIENT[$c]:-} $pid"
		CLIENTS_OF_PID[$pid]="${CLIENTS_OF_PID[$pid]:-} $c"
	done <"$work/client$c.out"
done
check "$ALL concurrent clients ($CLIENTS psql, $JCLIENTS pgjdbc) logged in through the pool with their own codes" "$clients_ok" "$ALL"
check "each of $((ALL * ROUNDS)) replies is in its own client's date style and time zone (set per transaction), none in another's" \
	"$replies/$wrong" "$((ALL * ROUNDS))/0"
multi_server=0; multi_client=0
for c in "${!PIDS_OF_CLIENT[@]}"; do
	[ "$(echo ${PIDS_OF_CLIENT[$c]} | tr ' ' '\n' | sort -u | wc -l)" -gt 1 ] && multi_server=$((multi_server + 1))
done
for p in "${!CLIENTS_OF_PID[@]}"; do
	[ "$(echo ${CLIENTS_OF_PID[$p]} | tr ' ' '\n' | sort -u | wc -l)" -gt 1 ] && multi_client=$((multi_client + 1))
done
if [ "${#CLIENTS_OF_PID[@]}" -le 2 ] && [ "$multi_client" -ge 1 ]; then
	ok "the pool multiplexed: ${#CLIENTS_OF_PID[@]} server connections served $ALL clients; $multi_server clients ran on more than one"
else
	not_ok "the pool multiplexed (server connections ${#CLIENTS_OF_PID[@]}, shared by several clients: $multi_client)"
fi
echo "clients ran $((SECONDS - start_ts)) s" | diag

# 6. a session-level SET is not the client's under transaction pooling: with
# one server connection, what one client SETs, the next client gets
"${POOL[@]}" -d zstack_one -c "SET zstack_tfa.date_style = 'iso8601'" >/dev/null 2>&1
leaked=$("${POOL[@]}" -d zstack_one -c "SELECT current_setting('zstack_tfa.date_style')" 2>&1)
check "a session SET of one client reaches the next client of its server connection (README: use SET LOCAL)" "$leaked" iso8601
"${POOL[@]}" -d zstack_one -c "RESET zstack_tfa.date_style" >/dev/null 2>&1
# while a function argument is always the caller's own: the JSON functions
# take no date style, so the setting must come with the transaction
out=$("${POOL[@]}" -d zstack_one -c "BEGIN; SET LOCAL zstack_tfa.date_style = 'iso8601'; COMMIT; SELECT current_setting('zstack_tfa.date_style')" 2>&1)
check "SET LOCAL ends with its transaction: the server connection is back at the default" "$out" zstack

# 7. wrong codes, a replay, a lockout, through the pool
code1=$(cat "$work/code1")
login() { # ACCOUNT PASSWORD CODE
	"${POOL[@]}" -d zstack_pool -c "SELECT coalesce(r->'error'->>'code', 'session') || '|' || coalesce(r->'error'->>'details', '')
		FROM (SELECT zstack_tfa.log_in_by_account('$1', '$2', ARRAY['twofatoken::$3']) r) x" 2>&1
}
out=$(login u1 pw-1 "$code1")
check "u1's code again, from another client of the pool, is refused as used" "${out%%|*}" ID.2002
wrong_vic=$(oathtool --totp -b -N '2020-01-01 00:00:00 UTC' "${SECRET[vic]}")
client_pids=()
for c in 1 2 3; do
	( login uvic pw-vic "$wrong_vic"; login uvic pw-vic "$wrong_vic" ) >"$work/vic$c.out" &
	client_pids+=($!)
done
for p in "${client_pids[@]}"; do wait "$p"; done
refused=$(cat "$work"/vic*.out | grep -c '^ID.2002|')
check "six concurrent wrong codes of uvic through the pool are refused" "$refused" 6
out=$(login uvic pw-vic "$(oathtool --totp -b "${SECRET[vic]}")")
if [ "${out%%|*}" = ID.2002 ] && [[ $out == *locked* ]]; then ok "uvic's right code is refused: locked"; else not_ok "uvic's right code is refused: locked"; echo "$out" | diag; fi
wrong_nearly=$(oathtool --totp -b -N '2020-01-01 00:00:00 UTC' "${SECRET[nearly]}")
for _ in 1 2 3; do login unearly pw-nearly "$wrong_nearly" >/dev/null; done
out=$(login unearly pw-nearly "$(oathtool --totp -b "${SECRET[nearly]}")")
check "unearly, three wrong codes in, logs in with a right one" "${out%%|*}" session
out=$(psql -X -At -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT string_agg(a.name || ':' || s.failed_attempts || ':' || coalesce(s.locked_until > now(), false)::text, ' ' ORDER BY a.name)
	FROM zstack_tfa.secret s JOIN zstack_tfa.account a ON a.uuid = s.user_uuid WHERE a.name IN ('uvic', 'unearly')")
check "the counts: uvic 5 wrong codes and locked, unearly back at 0" "$out" "unearly:0:false uvic:5:true"
out=$(psql -X -At -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT string_agg(outcome || '=' || n, ' ' ORDER BY outcome) FROM (
	SELECT e.outcome, count(*) AS n FROM zstack_tfa.auth_event e JOIN zstack_tfa.account a ON a.uuid = e.account_uuid
	WHERE a.name = 'uvic' AND e.kind = 'login' GROUP BY 1) x")
check "uvic's audit: 4 wrong codes, the one that locked, 2 refused as locked" "$out" "locked=2 wrong_code=4 wrong_code_locked=1"

# 8. the exporter's figures after the activity
scrape "$work/after.prom" || bail "a second scrape"
delta() { # NAME [LABEL]
	local a b
	b=$(metric "$@" "$work/before.prom"); a=$(metric "$@" "$work/after.prom")
	echo $(( ${a:-0} - ${b:-0} ))
}
check "zstack_tfa_logins_total{result=\"ok\"} rose by $((ALL + 1))" "$(delta zstack_tfa_logins_total 'result="ok"')" $((ALL + 1))
check "zstack_tfa_logins_total{result=\"wrong_code\"} rose by 8 (uvic 5, unearly 3)" "$(delta zstack_tfa_logins_total 'result="wrong_code"')" 8
check "zstack_tfa_logins_total{result=\"replay\"} rose by 1" "$(delta zstack_tfa_logins_total 'result="replay"')" 1
check "zstack_tfa_logins_total{result=\"locked\"} rose by 2" "$(delta zstack_tfa_logins_total 'result="locked"')" 2
check "zstack_tfa_lockouts_total rose by 1" "$(delta zstack_tfa_lockouts_total)" 1
check "zstack_tfa_locked_users is 1" "$(metric zstack_tfa_locked_users "$work/after.prom")" 1
check "zstack_tfa_sessions_live is $((ALL + 1))" "$(metric zstack_tfa_sessions_live "$work/after.prom")" $((ALL + 1))
check "zstack_tfa_secrets_count{status=\"Logined\"} is $((ALL + 1)), NewCreated 2 (admin, uvic)" \
	"$(metric zstack_tfa_secrets_count 'status="Logined"' "$work/after.prom")/$(metric zstack_tfa_secrets_count 'status="NewCreated"' "$work/after.prom")" "$((ALL + 1))/2"
keys=$(awk 'index($1, "zstack_tfa_secrets_by_key_count{") == 1 { s += $NF } END { print s + 0 }' "$work/after.prom")
check "zstack_tfa_secrets_by_key_count adds up to every secret" "$keys" $((ALL + 3))
check "zstack_tfa_recorder_failed_tries is 0, zstack_tfa_recorder_owed 0" \
	"$(metric zstack_tfa_recorder_failed_tries "$work/after.prom")/$(metric zstack_tfa_recorder_owed "$work/after.prom")" 0/0
check "the exporter's scrape had no error" "$(metric pg_exporter_last_scrape_error "$work/after.prom")" 0
if grep -Eq '[A-Z2-7]{16}' "$work/after.prom"; then not_ok "the scrape holds no secret"; else ok "the scrape holds no secret"; fi

finish
