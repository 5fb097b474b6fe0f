#!/usr/bin/env bash
# Management code in Java as a first-class client: a throwaway cluster on
# 127.0.0.1 (pgjdbc has no unix sockets), zstack_tfa with realistic data, every
# GRANT block of README.md's "Security" section run as printed, then
# ZstackTfaJdbcTest.java compiled and run against it with the real driver
# (Debian's pgjdbc 42.5.5 and gson).  Prints TAP only; exits non-zero when
# anything failed.  Needs the extension installed (scripts/test.sh does that).
set -u
. "$(dirname "$0")/../../scripts/lib.sh"
. "$ZT_ROOT/scripts/http.sh"	# zt_free_port
. "$ZT_ROOT/scripts/tap.sh"

PGJDBC_JAR=/usr/share/java/postgresql.jar	# libpostgresql-jdbc-java
GSON_JAR=/usr/share/java/gson.jar		# libgoogle-gson-java
DB=zstack_jdbc
# pgjdbc sets the session's TimeZone from the JVM; a zone that is not UTC
# shows that dates come back in it (ZStack itself runs in Asia/Shanghai)
JVM_TZ=${ZT_JDBC_TZ:-Asia/Shanghai}

work=$(mktemp -d /tmp/zstack_tfa_jdbc.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

finish() {
	tap_plan
	exit $?
}

# 1. packages: a JDK, pgjdbc, gson (their own output kept off stdout)
if zt_install_packages "$ZT_JDK" libpostgresql-jdbc-java libgoogle-gson-java \
	>"$work/install.log" 2>&1 && [ -r "$PGJDBC_JAR" ] && [ -r "$GSON_JAR" ] &&
	command -v javac >/dev/null && command -v java >/dev/null; then
	ok "packages: javac, pgjdbc ($PGJDBC_JAR) and gson ($GSON_JAR) are installed"
	diag <"$work/install.log"
else
	bail "packages: javac, pgjdbc and gson" "$work/install.log"
fi
[ -x "$PGBIN/initdb" ] || bail "PostgreSQL $ZT_PG_MAJOR server binaries in $PGBIN"

# 2. our own cluster, on a free TCP port of 127.0.0.1 (a later "port" line
# overrides lib.sh's port = 5432, as later settings do in postgresql.conf)
port=$(zt_free_port 45432)
ZT_EXTRA_CONF="listen_addresses = '127.0.0.1'
port = $port"
if zt_start_cluster >"$work/cluster.log" 2>&1; then
	trap 'zt_stop_cluster; rm -rf "$work"' EXIT
	ok "throwaway cluster on 127.0.0.1:$port"
else
	bail "throwaway cluster on 127.0.0.1:$port" "$work/cluster.log"
fi

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres)

# 3. the extension, as superuser postgres
if "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" >"$work/ext.log" 2>&1 &&
	"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION zstack_tfa" >>"$work/ext.log" 2>&1; then
	ok "CREATE EXTENSION zstack_tfa (version $("${PSQL[@]}" -d "$DB" -Atc \
		"SELECT extversion FROM pg_extension WHERE extname = 'zstack_tfa'" 2>/dev/null))"
else
	bail "CREATE EXTENSION zstack_tfa (is the extension installed?)" "$work/ext.log"
fi

# 4. realistic data, as superuser: the admin password, Normal and ThirdParty
# accounts, IAM2 users, 2FA on.  ZstackTfaJdbcTest runs this file again after
# every DROP/CREATE EXTENSION, and its constants name these accounts.
cat >"$work/fixture.sql" <<'SQL'
SELECT zstack_tfa.set_account_password('admin', 'Admin-pw-7');
SELECT zstack_tfa.create_account('alice', 'Alice-pw-7');
SELECT zstack_tfa.create_account('bob', 'Bob-pw-7', 'ThirdParty');
SELECT zstack_tfa.create_iam2_virtual_id('alice', 'alice-dev', 'Alice-dev-pw-7');
SELECT zstack_tfa.create_iam2_virtual_id('alice', 'alice-ops', 'Alice-ops-pw-7');
SELECT zstack_tfa.create_iam2_virtual_id('bob', 'bob-dev', 'Bob-dev-pw-7');
SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
SELECT zstack_tfa.get_two_factor_authentication_secret('alice-dev', 'Alice-dev-pw-7', 'iam2');
SELECT zstack_tfa.get_two_factor_authentication_secret('alice-ops', 'Alice-ops-pw-7', 'iam2');
SELECT zstack_tfa.get_two_factor_authentication_secret('bob-dev', 'Bob-dev-pw-7', 'iam2');
-- secrets made over the past months, as in a real installation
UPDATE zstack_tfa.secret s SET create_date = s.create_date - interval '41 days 3 hours 7.123457 seconds',
	last_op_date = s.last_op_date - interval '2 days 11 minutes'
	FROM zstack_tfa.iam2_virtual_id v WHERE v.uuid = s.user_uuid AND v.name = 'alice-ops';
UPDATE zstack_tfa.secret s SET create_date = s.create_date - interval '130 days 0.000001 seconds'
	FROM zstack_tfa.account a WHERE a.uuid = s.user_uuid AND a.name = 'bob';
SQL
if "${PSQL[@]}" -d "$DB" -f "$work/fixture.sql" >"$work/fixture.log" 2>&1; then
	ok "data: admin password, accounts alice (Normal) and bob (ThirdParty), three IAM2 users, 2FA enabled"
else
	not_ok "data: admin password, accounts, IAM2 users, 2FA enabled"
	diag <"$work/fixture.log"
fi

# 5. every GRANT block of README.md's "Security" section, as printed: a
# ```sql fence whose first line is "-- grants: <name>"
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
blocks=$(find "$work/grants" -name '*.sql' | wc -l)
if [ "$blocks" -ge 2 ]; then
	ok "README.md Security section has $blocks GRANT blocks: $(cd "$work/grants" && ls | sed 's/^[0-9]*-//; s/\.sql$//' | paste -sd, -)"
else
	not_ok "README.md Security section has at least 2 GRANT blocks (found $blocks)"
fi
for f in "$work"/grants/*.sql; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .sql); name=${name#*-}
	if "${PSQL[@]}" -d "$DB" -f "$f" >"$work/grant.log" 2>&1; then
		ok "README grant block '$name' runs as printed"
	else
		not_ok "README grant block '$name' runs as printed"
		diag <"$work/grant.log"
	fi
done

# 6. compile and run the Java test; its TAP lines are numbered on from ours
mkdir -p "$work/classes"
if javac -Xlint:all -encoding UTF-8 -cp "$PGJDBC_JAR:$GSON_JAR" -d "$work/classes" \
	"$ZT_ROOT/test/jdbc/ZstackTfaJdbcTest.java" >"$work/javac.log" 2>&1; then
	ok "javac ZstackTfaJdbcTest.java ($(javac -version 2>&1))"
	diag <"$work/javac.log"
else
	not_ok "javac ZstackTfaJdbcTest.java"
	diag <"$work/javac.log"
	finish
fi

java_tests=0
java_plan=
java_rc=
while IFS= read -r line; do
	case $line in
	"__java_rc="*) java_rc=${line#__java_rc=} ;;
	"ok "[0-9]* | "not ok "[0-9]*)
		java_tests=$((java_tests + 1))
		n=$((n + 1))
		[[ $line =~ ^(not ok|ok)\ [0-9]+(.*)$ ]]
		[ "${BASH_REMATCH[1]}" = "not ok" ] && failed=$((failed + 1))
		echo "${BASH_REMATCH[1]} $n${BASH_REMATCH[2]}" ;;
	1..*) java_plan=${line#1..} ;;
	"#"*) echo "$line" ;;
	*) echo "# $line" ;;
	esac
done < <(
	cd "$work" &&
		ZT_JDBC_HOST=127.0.0.1 ZT_JDBC_PORT=$port ZT_JDBC_DATABASE=$DB \
		ZT_JDBC_GRANTS="$work/grants" ZT_JDBC_FIXTURE="$work/fixture.sql" \
		timeout 180 java -Duser.timezone="$JVM_TZ" -cp "$work/classes:$PGJDBC_JAR:$GSON_JAR" \
			ZstackTfaJdbcTest 2>"$work/java.err"
	echo "__java_rc=$?"
)
# exit status 0: all passed, 1: some failed (counted above); else it broke off
if { [ "$java_rc" = 0 ] || [ "$java_rc" = 1 ]; } && [ "$java_plan" = "$java_tests" ]; then
	ok "the Java test ran to its end ($java_tests checks, plan 1..$java_plan)"
else
	not_ok "the Java test ran to its end (exit status ${java_rc:-?}, $java_tests checks, plan 1..${java_plan:-none})"
	[ "$java_rc" = 124 ] && echo "# timed out after 180 s"
fi
[ -s "$work/java.err" ] && tail -n 40 "$work/java.err" | diag

# 7. the server log: zstack_tfa's own caches never lost a type.  PostgreSQL's
# plan cache refusing a changed result type (which pgjdbc heals by preparing
# again) is PostgreSQL's behaviour and only reported.
log=$ZT_CLUSTER/server.log
if grep -q 'cache lookup failed' "$log"; then
	not_ok "server log has no 'cache lookup failed'"
	grep 'cache lookup failed' "$log" | head -n 5 | diag
else
	ok "server log has no 'cache lookup failed'"
fi
echo "# server log: $(grep -c 'cached plan must not change result type' "$log") x 'cached plan must not change result type' (PostgreSQL's plan cache, after DROP/CREATE EXTENSION)"
if grep -qE 'PANIC|TRAP:|terminated by signal' "$log"; then
	not_ok "server log has no crash"
	grep -E 'PANIC|TRAP:|terminated by signal' "$log" | head -n 5 | diag
else
	ok "server log has no crash"
fi

finish
