#!/usr/bin/env bash
# The Debian package, as a user gets it: scripts/package.sh builds
# postgresql-15-zstack-tfa, apt installs it into the system's PostgreSQL 15,
# and a fresh cluster of the system's server binaries, which see only the
# installed files, runs CREATE EXTENSION, a login and a query.  The package
# is removed again at the end.  Prints TAP; exits non-zero when anything
# failed.
set -u
# the system's PostgreSQL 15, never a private copy of it: that is where the
# package installs
ZT_PG_ROOT=
ZT_PG_MAJOR=15
unset ZT_PG_HOME
. "$(dirname "$0")/../../scripts/lib.sh"
. "$ZT_ROOT/scripts/tap.sh"

PKG=postgresql-15-zstack-tfa
work=$(mktemp -d /tmp/zstack_tfa_pkg.XXXXXX)
chmod 755 "$work"
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; return 1; fi; }
apt_q() { zt_as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300 "$@"; }
finish() {
	zt_stop_cluster
	dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q installed && apt_q purge -y "$PKG" >/dev/null 2>&1
	rm -rf "$work"
	tap_plan
	exit $?
}
trap finish EXIT

# 1. the package builds
if bash "$ZT_ROOT/scripts/package.sh" "$work" >"$work/build.log" 2>&1 && deb=$(ls "$work/$PKG"_*.deb 2>/dev/null) && [ -n "$deb" ]; then
	ok "scripts/package.sh builds $(basename "$deb")"
else
	not_ok "scripts/package.sh builds $PKG"; diag <"$work/build.log"; exit 1
fi

# 2. what it declares and holds
depends=$(dpkg-deb -f "$deb" Depends)
echo "$depends" | diag
for dep in liboath0 libqrencode4 'libpng16-16' 'libssl3' 'postgresql-15'; do
	check "it depends on $dep" "echo \"\$depends\" | grep -q '\\b$dep\\b'"
done
dpkg-deb -c "$deb" >"$work/contents"
for f in usr/lib/postgresql/15/lib/zstack_tfa.so usr/share/postgresql/15/extension/zstack_tfa.control \
	usr/share/postgresql/15/extension/zstack_tfa--1.0.sql usr/share/postgresql/15/extension/zstack_tfa--1.1--1.2.sql \
	usr/share/postgresql/15/extension/zstack_tfa--1.2--1.3.sql; do
	check "it holds /$f" "grep -q ' \./$f\$' '$work/contents'"
done

# 3. it installs with apt, and the files on disk are the package's (a
# version left by an earlier run goes first, and so do files a `make
# install` left in the system's tree)
dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q installed && apt_q purge -y "$PKG" >/dev/null 2>&1
rm -f /usr/lib/postgresql/15/lib/zstack_tfa.so /usr/share/postgresql/15/extension/zstack_tfa* 2>/dev/null
if apt_q install -y "$deb" >"$work/install.log" 2>&1; then ok "apt-get install $(basename "$deb")"
else not_ok "apt-get install $(basename "$deb")"; diag <"$work/install.log"; exit 1; fi
check "dpkg --verify finds the installed files as packaged" "dpkg --verify '$PKG' >'$work/verify.log' 2>&1 && [ ! -s '$work/verify.log' ]"

# 4. a fresh cluster of the system's server: extension, login, query
zt_start_cluster "$work" >"$work/cluster.log" 2>&1
rc=$?
trap finish EXIT	# zt_start_cluster set its own
if [ "$rc" -eq 0 ]; then ok "a fresh cluster of $PGBIN"
else not_ok "a fresh cluster of $PGBIN"; diag <"$work/cluster.log"; exit 1; fi
sql() { psql -X -At -v ON_ERROR_STOP=1 -c "$1" 2>&1; }
out=$(sql "CREATE EXTENSION zstack_tfa")
check "CREATE EXTENSION zstack_tfa" "[ \"\$out\" = 'CREATE EXTENSION' ]" || echo "$out" | diag
out=$(sql "SELECT extversion FROM pg_extension WHERE extname = 'zstack_tfa'")
check "the installed version is 1.4" "[ \"\$out\" = '1.4' ]"
sql "SELECT zstack_tfa.set_account_password('admin', 'package-test-pw')" >/dev/null
login=$(sql "SELECT zstack_tfa.log_in_by_account('admin', 'package-test-pw')")
session=$(echo "$login" | sed -n 's/.*"inventory":{"uuid":"\([0-9a-f]\{32\}\)".*/\1/p')
check "admin logs in and gets a session" "[ -n \"\$session\" ]" || echo "$login" | diag
sql "SELECT zstack_tfa.set_two_factor_authentication_enabled(true)" >/dev/null
reply=$(sql "SELECT zstack_tfa.query_two_factor_authentication_json('$session', '{userType=AccountVO}')")
check "the query answers with the admin's secret" \
	"echo \"\$reply\" | grep -q '\"userUuid\":\"36c27e8ff05c4780bf6d2fa65700f22e\",\"userType\":\"AccountVO\",\"status\":\"NewCreated\"'" ||
	echo "$reply" | diag
lib=$(sql "SELECT setting FROM pg_settings WHERE name = 'dynamic_library_path'")
check "the server loads the library from \$libdir of the system's tree" "[ \"\$lib\" = '\$libdir' ] && [ \"\$($PGBIN/pg_config --pkglibdir)\" = /usr/lib/postgresql/15/lib ]"

# 5. META.json for PGXN: the fields its Meta Spec 1.0.0 requires, and the
# facts it states kept true (the version, the file it names, the majors)
meta=$(python3 - "$ZT_ROOT" <<'PY'
import json, re, sys, os
root = sys.argv[1]
m = json.load(open(os.path.join(root, "META.json")))
control = open(os.path.join(root, "zstack_tfa.control")).read()
default = re.search(r"default_version\s*=\s*'([^']+)'", control).group(1)
licenses = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd",
            "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit",
            "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay",
            "sun", "zlib", "open_source", "restricted", "unrestricted", "unknown"}
semver = r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
bad = []
for key in ("name", "abstract", "maintainer", "version", "license", "provides", "meta-spec"):
    if key not in m: bad.append("no " + key)
if m.get("meta-spec", {}).get("version") != "1.0.0": bad.append("meta-spec is not 1.0.0")
if not re.fullmatch(semver, m.get("version", "")): bad.append("version is not a semantic version")
if m.get("version") != default + ".0": bad.append("version is not the control file's " + default)
if m.get("license") not in licenses: bad.append("license is not one of the spec's strings")
p = m.get("provides", {}).get("zstack_tfa", {})
if not os.path.exists(os.path.join(root, p.get("file", "-"))): bad.append("provides names a missing file")
if p.get("version") != m.get("version"): bad.append("provides' version differs")
pg = m.get("prereqs", {}).get("runtime", {}).get("requires", {}).get("PostgreSQL", "")
rng = r"(([=!]=|[<>]=?)\s*)?" + semver
if not re.fullmatch(rng + r"(,\s*" + rng + r")*", pg): bad.append("the PostgreSQL range is not a version range")
if ">= 15.0.0" not in pg: bad.append("the PostgreSQL range does not start at 15")
print("; ".join(bad))
PY
)
check "META.json has what PGXN's Meta Spec requires, and its version and file are the extension's" "[ -z \"\$meta\" ]" ||
	echo "$meta" | diag
