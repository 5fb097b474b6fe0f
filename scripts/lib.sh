#!/usr/bin/env bash
# Shared helpers of the demo, test and bench scripts: packages, build,
# and a throwaway PostgreSQL cluster on a private unix socket (15 by
# default, 17 or 18 with ZT_PG_MAJOR).
# Source it; it sets ZT_ROOT to the repository root.

ZT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The PostgreSQL major to build and test against: 15 (Debian's packages, the
# default), 17 or 18 (see zt_get_pg).  Scripts take it as `--pg N`.
ZT_PG_MAJOR=${ZT_PG_MAJOR:-15}
# Servers built from source are kept here, outside the work tree, one folder
# a version (pg18-18.1, ...), and reused by later runs.
ZT_PG_CACHE=${ZT_PG_CACHE:-/var/cache/zstack_tfa}
export ZT_PG_MAJOR ZT_PG_CACHE

# Package names that differ between Debian releases, from /etc/os-release:
# the PostgreSQL major the release ships (bookworm 15, trixie 17; inside
# scripts/trixie.sh's chroot the os is trixie), clang's runtime of the
# release's clang, and its JDK.
ZT_OS_VERSION=$(. /etc/os-release 2>/dev/null && echo "${VERSION_ID:-}")
case "$ZT_OS_VERSION" in
	13) ZT_OS_PG_MAJOR=17 ZT_CLANG_RT=libclang-rt-19-dev ZT_JDK=openjdk-21-jdk-headless ;;
	*) ZT_OS_PG_MAJOR=15 ZT_CLANG_RT=libclang-rt-14-dev ZT_JDK=openjdk-17-jdk-headless ;;
esac

# Set PGBIN, ZT_PGXS_DIR and PG_CONFIG for ZT_PG_MAJOR.  Debian's PostgreSQL
# 15 lives under ZT_PG_ROOT (empty: the system's; else a private copy of the
# Debian files, so that two builds can be installed side by side); a built
# server lives in ZT_PG_HOME (zt_get_pg sets it; else the newest in the cache).
zt_pg_paths() {
	case "$ZT_PG_MAJOR" in
		15)
			ZT_PG_ROOT=${ZT_PG_ROOT:-}
			PGBIN=$ZT_PG_ROOT/usr/lib/postgresql/15/bin
			ZT_PGXS_DIR=$ZT_PG_ROOT/usr/lib/postgresql/15/lib/pgxs ;;
		"$ZT_OS_PG_MAJOR")
			# the release's own packages (17 in trixie's chroot)
			PGBIN=/usr/lib/postgresql/$ZT_PG_MAJOR/bin
			ZT_PGXS_DIR=/usr/lib/postgresql/$ZT_PG_MAJOR/lib/pgxs ;;
		*)
			if [ -z "${ZT_PG_HOME:-}" ]; then
				ZT_PG_HOME=$(ls -d "$ZT_PG_CACHE/pg$ZT_PG_MAJOR"-*/.complete 2>/dev/null |
					sort -V | tail -n 1 | xargs -r dirname)
			fi
			PGBIN=${ZT_PG_HOME:-/nonexistent}/bin
			ZT_PGXS_DIR=$(dirname "$(dirname "$(dirname "$("$PGBIN/pg_config" --pgxs 2>/dev/null || echo /x/x/x/x)")")") ;;
	esac
	export PG_CONFIG=$PGBIN/pg_config
}
zt_pg_paths

# Read `--pg N` from the arguments of a script (15, 17 or 18).  Sets
# ZT_PG_MAJOR and leaves the other arguments in ZT_ARGS.
zt_parse_pg_arg() {
	ZT_ARGS=()
	while [ $# -gt 0 ]; do
		case "$1" in
			--pg) ZT_PG_MAJOR=${2:-}; shift 2 || shift ;;
			--pg=*) ZT_PG_MAJOR=${1#--pg=}; shift ;;
			*) ZT_ARGS+=("$1"); shift ;;
		esac
	done
	case "$ZT_PG_MAJOR" in
		15|17|18) ;;
		*) echo "unsupported PostgreSQL major: '$ZT_PG_MAJOR' (15, 17 or 18)" >&2; return 2 ;;
	esac
	export ZT_PG_MAJOR
	[ "$ZT_PG_MAJOR" = 15 ] || unset ZT_PG_HOME
	zt_pg_paths
}

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
	zt_install_packages make gcc "postgresql-$ZT_OS_PG_MAJOR" "postgresql-server-dev-$ZT_OS_PG_MAJOR" \
		liboath-dev oathtool libssl-dev libqrencode-dev libpng-dev zbar-tools librsvg2-bin \
		libipc-run-perl perl clang "$ZT_CLANG_RT" cppcheck clang-tidy
}

# The first mirror this machine's apt uses for Debian itself (deb822 or
# one-line sources), so that the private list below goes where apt goes.
zt_debian_mirror() {
	{ grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
	  grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		sed 's/\[[^]]*\]//' | awk '{print $2}'; } |
		grep -v -- '-security' | grep '/debian/\?$' | head -n 1
}

# apt-get/apt-cache ($2) with a private sources list and private lists in
# $ZT_PG_CACHE/apt-$1 (sid: Debian's development suite, as deb-src; trixie:
# its binary packages): the system's apt configuration and state stay as
# they are.  The index is refreshed at most once a day; without the network
# the last one read answers.
zt_apt_private() {
	local name=$1 tool=$2 dir=$ZT_PG_CACHE/apt-$1 mirror line
	shift 2
	mkdir -p "$dir/lists/partial"
	if [ ! -f "$dir/sources.list" ] || [ -z "$(find "$dir/lists" -maxdepth 1 -name '*_dists_*' -mtime -1 2>/dev/null)" ]; then
		mirror=$(zt_debian_mirror)
		[ -n "$mirror" ] || { echo "no Debian mirror in this machine's apt sources" >&2; return 1; }
		case "$name" in
			sid) line="deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main" ;;
			*) line="deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $name main" ;;
		esac
		echo "$line" >"$dir/sources.list"
		zt_apt_private_run "$dir" apt-get -qq update >"$dir/update.log" 2>&1 || cat "$dir/update.log" >&2
	fi
	zt_apt_private_run "$dir" "$tool" "$@"
}
zt_apt_private_run() {
	local dir=$1 tool=$2
	shift 2
	"$tool" -o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=/nonexistent \
		-o Dir::State::Lists="$dir/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
		-o APT::Sandbox::User=root "$@"
}

# The version (upstream part, e.g. 18.1) of Debian's source package
# postgresql-$1 in sid.
zt_pg_source_version() {
	zt_apt_private sid apt-cache showsrc "postgresql-$1" 2>/dev/null |
		awk '/^Version:/ {print $2}' | sort -V | tail -n 1 | sed 's/-[^-]*$//'
}

# Unpack PostgreSQL 17's server headers (trixie's postgresql-server-dev-17
# and libpq-dev, whose binaries need trixie's libc and so do not run here)
# into $ZT_PG_CACHE/headers-pg17-<version>, once a version; prints the
# folder.  test/compat/compile.sh compiles src/ against them.
zt_pg17_headers() {
	local version dir work
	mkdir -p "$ZT_PG_CACHE"
	version=$(zt_apt_private trixie apt-cache show postgresql-server-dev-17 2>/dev/null |
		awk '/^Version:/ {print $2}' | sort -V | tail -n 1)
	if [ -z "$version" ]; then
		dir=$(ls -d "$ZT_PG_CACHE"/headers-pg17-*/.complete 2>/dev/null | sort -V | tail -n 1 | xargs -r dirname)
		[ -n "$dir" ] && echo "$dir" && return 0
		echo "postgresql-server-dev-17: not in trixie's index and none cached" >&2; return 1
	fi
	dir=$ZT_PG_CACHE/headers-pg17-$version
	if [ ! -f "$dir/.complete" ]; then
		work=$(mktemp -d /tmp/zstack_tfa_pg17.XXXXXX)
		# apt checks the files against trixie's signed index
		(cd "$work" && zt_apt_private trixie apt-get -qq download "postgresql-server-dev-17=$version" libpq-dev) >&2 ||
			{ rm -rf "$work"; return 1; }
		rm -rf "$dir"; mkdir -p "$dir"
		for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
		rm -rf "$work"
		touch "$dir/.complete"
	fi
	echo "$dir"
}

# Make sure PostgreSQL $ZT_PG_MAJOR is there and set the paths to it: 15
# from Debian's packages (17 likewise in trixie, which scripts/trixie.sh's
# chroot is); 18 built from the upstream tarball of Debian's source package
# postgresql-18 (sid) into $ZT_PG_CACHE/pg18-<version>, once a version.
zt_get_pg() {
	case "$ZT_PG_MAJOR" in
		15|"$ZT_OS_PG_MAJOR") zt_install_packages "postgresql-$ZT_PG_MAJOR" "postgresql-server-dev-$ZT_PG_MAJOR" ;;
		18) zt_build_pg_from_source 18 ;;
		*) echo "PostgreSQL $ZT_PG_MAJOR: not packaged for this Debian; scripts/trixie.sh runs 17" >&2; return 1 ;;
	esac || return 1
	zt_pg_paths
	[ -x "$PGBIN/postgres" ] && [ -x "$PG_CONFIG" ] ||
		{ echo "PostgreSQL $ZT_PG_MAJOR: no server in $PGBIN" >&2; return 1; }
}

# Build PostgreSQL $1 from Debian's source package into the cache, unless the
# cache already holds its current version; sets and exports ZT_PG_HOME.  The
# build (about 8 minutes on 2 cores) takes contrib's amcheck and auto_explain,
# which the TAP tests use, and PostgreSQL's TAP modules.
zt_build_pg_from_source() {
	mkdir -p "$ZT_PG_CACHE"
	# one build at a time per major; the lock's file descriptor is closed
	# when the function returns, so no server started later inherits it
	zt_build_pg_locked "$1" 8>"$ZT_PG_CACHE/.pg$1.lock"
}
zt_build_pg_locked() {
	local major=$1 version home work tarball rc
	flock 8
	version=$(zt_pg_source_version "$major")
	if [ -z "$version" ]; then
		# offline, or the index is gone: the newest build we have
		unset ZT_PG_HOME; zt_pg_paths
		[ -n "${ZT_PG_HOME:-}" ] || { echo "postgresql-$major: no version in sid's index and none cached" >&2; return 1; }
		export ZT_PG_HOME; return 0
	fi
	home=$ZT_PG_CACHE/pg$major-$version
	if [ -f "$home/.complete" ]; then
		export ZT_PG_HOME=$home; return 0
	fi
	echo "building PostgreSQL $version into $home (once a version, about 8 minutes)"
	zt_install_packages make gcc bison flex perl libipc-run-perl libssl-dev libicu-dev \
		libreadline-dev zlib1g-dev pkg-config dpkg-dev || return 1
	work=$(mktemp -d /tmp/zstack_tfa_pgbuild.XXXXXX)
	rm -rf "$home"
	(
		set -e
		cd "$work"
		# --download-only: apt checks the files against sid's signed index
		zt_apt_private sid apt-get -qq source --download-only "postgresql-$major" >download.log 2>&1
		tarball=$(ls postgresql-"$major"_*.orig.tar.* | head -n 1)
		tar xf "$tarball"
		cd postgresql-"$version"
		./configure -q --prefix="$home" --with-openssl --enable-tap-tests >"$work/configure.log" 2>&1
		make -s -j"$(nproc)" >"$work/make.log" 2>&1
		make -s install >>"$work/make.log" 2>&1
		for m in amcheck auto_explain; do make -s -C "contrib/$m" install >>"$work/make.log" 2>&1; done
		touch "$home/.complete"
	)
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "building PostgreSQL $version failed; the last lines of $work:" >&2
		tail -n 30 "$work"/*.log >&2
		rm -rf "$home"
	else
		rm -rf "$work"
		# older builds of this major are no longer used
		ls -d "$ZT_PG_CACHE/pg$major"-* 2>/dev/null | grep -vx "$home" | xargs -r rm -rf
		export ZT_PG_HOME=$home
	fi
	return $rc
}

# Copy the tree's sources (tracked and unignored files; without git, all but
# what .gitignore names) into the folder $1, for a build beside this one's.
zt_copy_tree() {
	if git -C "$ZT_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$ZT_ROOT" && git ls-files -z --cached --others --exclude-standard |
			xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' |
			tar --null -T - -cf -) | tar -xf - -C "$1"
	else
		tar -C "$ZT_ROOT" --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=./.tools \
			--exclude=./dist --exclude=./fuzz/build --exclude=./results --exclude=./tmp_check \
			--exclude=./log --exclude='./test/*.log' --exclude=./regression.diffs --exclude=./regression.out \
			--exclude=./test/unit/test_parse --exclude=./test/unit/test_qrcode -cf - . | tar -xf - -C "$1"
	fi
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
	# TESTDIR names the scratch folder to 15's TAP modules, TESTDATADIR and
	# TESTLOGDIR to 16's and later (else their files land under a relative
	# path that a server, running in its data folder, cannot find)
	(cd "$dir" && zt_as_owner env PATH="$PGBIN:$PATH" TESTDIR="$dir" TEMP_CONFIG="$dir/temp.conf" \
		TESTDATADIR="$dir/tmp_check" TESTLOGDIR="$dir/tmp_check/log" \
		ZT_FOREIGN_KEY_FILE="$foreign" ZT_ROOT="$ZT_ROOT" \
		PERL5LIB="$ZT_PGXS_DIR/src/test/perl" \
		PG_REGRESS="$ZT_PGXS_DIR/src/test/regress/pg_regress" \
		prove -v --timer ${ZT_TAP_TESTS:-t/*.pl}) >"$log" 2>&1
	local rc=$?
	[ "$rc" -ne 0 ] && [ -d "$dir/tmp_check/log" ] && tail -n 30 "$dir"/tmp_check/log/*.log "$dir"/tmp_check/log/regress_log_* >>"$log" 2>/dev/null
	rm -rf "$dir"
	return $rc
}

# Read a pg_regress run: $1 its output, $2 its exit status.  Prints
# "PASSED FAILED" from pg_regress's own closing line, which every major
# writes ("All N tests passed." / "M of N tests failed." / "M of N tests
# passed, K failed test(s) ignored.", with "# " before it since 16, when
# the per-test lines became TAP's "ok N - name"); an ignored failure counts
# as failed.  No closing line, or a non-zero exit with nothing failed,
# counts one failure more: a run that broke off is never green.
zt_regress_counts() {
	local log=$1 rc=$2 p f line
	line=$(grep -E '^(# )? *(All [0-9]+ tests passed|[0-9]+ of [0-9]+ tests (passed|failed))' "$log" | tail -n 1)
	if [[ $line =~ All\ ([0-9]+)\ tests\ passed ]]; then
		p=${BASH_REMATCH[1]}; f=0
	elif [[ $line =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
		f=${BASH_REMATCH[1]}; p=$((BASH_REMATCH[2] - f))
	elif [[ $line =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ passed ]]; then
		p=${BASH_REMATCH[1]}; f=$((BASH_REMATCH[2] - p))
	else
		p=0; f=1
	fi
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	echo "$p $f"
}

# The names of the failed tests in a pg_regress output $1, in either format.
zt_regress_failures() {
	grep -E '^not ok [0-9]|\.\.\. FAILED|failed \(ignored\)' "$1"
}
