#!/usr/bin/env bash
# Runs every test of zstack_tfa on this machine: installs what is missing,
# builds with -Werror, installs, starts a throwaway cluster, then runs the
# unit tests, the pg_regress suite, the TAP tests, HTTP end to end, JDBC,
# pgbouncer and the exporter, fuzzing, lint and valgrind, and README's demo
# command.  Ends with the line "N passed, N failed";
# exits non-zero when anything failed.
#
#   bash scripts/test.sh            everything on PostgreSQL 15 and the Debian
#                                   package, then unit, regress and TAP on 18
#                                   (what CI runs)
#   bash scripts/test.sh --pg N     everything on PostgreSQL N (15, 17, 18);
#                                   ZT_STAGES="unit regress tap" picks stages
#
# A major other than 15 is fetched first when it is missing (lib.sh's
# zt_get_pg; 17 runs in a Debian trixie chroot, scripts/trixie.sh); every
# stage line names its major.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http.sh"
cd "$ZT_ROOT"

plain=1
for a in "$@"; do case "$a" in --pg|--pg=*) plain=0 ;; esac; done
zt_parse_pg_arg "$@" || exit 2
[ ${#ZT_ARGS[@]} -eq 0 ] || { echo "usage: $0 [--pg 15|17|18]" >&2; exit 2; }

ALL_STAGES="unit regress tap e2e jdbc pooled fuzz lint_valgrind demo"
passed=0
failed=0
stage_start=$SECONDS

# count STAGE PASSED FAILED [EXIT]: add a stage's result; a non-zero exit
# with nothing counted as failed is one failure
count() {
	local f=$3
	[ "${4:-0}" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	echo "== PG $ZT_PG_MAJOR $1: $2 passed, $f failed ($((SECONDS - stage_start)) s)"
	passed=$((passed + $2)); failed=$((failed + f))
	stage_start=$SECONDS
}

# The log of stage $1 for the current major: test/NAME.log on 15,
# test/NAME-pgN.log on another.
log_of() {
	if [ "$ZT_PG_MAJOR" = 15 ]; then echo "$ZT_ROOT/test/$1.log"; else echo "$ZT_ROOT/test/$1-pg$ZT_PG_MAJOR.log"; fi
}

# 1. unit tests of the backend-free parsers
stage_unit() {
	local log rc ok bad
	log=$(log_of unit)
	make -s unit >"$log" 2>&1
	rc=$?
	ok=$(grep -c '^ok ' "$log"); bad=$(grep -c '^not ok ' "$log")
	[ "$(grep -c '^1\.\.' "$log")" -eq 2 ] || bad=$((bad + 1))	# two programs, two plans
	grep '^not ok' "$log"
	[ "$rc" -ne 0 ] && tail -n 20 "$log"
	count unit "$ok" "$bad" "$rc"
}

# 2. pg_regress against the throwaway cluster, counted from pg_regress's
# own closing line and exit status (zt_regress_counts), then the same
# reading checked against a planted failure (test/regress/planted_failure.sh)
stage_regress() {
	local log rc ok bad
	log=$(log_of regress)
	rm -f regression.diffs
	make -s installcheck >"$log" 2>&1
	rc=$?
	read -r ok bad < <(zt_regress_counts "$log" "$rc")
	[ "$bad" -gt 0 ] && { cat "$log"; [ -f regression.diffs ] && head -200 regression.diffs; }
	count regress "$ok" "$bad" "$rc"
	log=$(log_of regress-planted)
	bash test/regress/planted_failure.sh >"$log" 2>&1
	rc=$?
	ok=$(grep -cE '^ok [0-9]' "$log"); bad=$(grep -cE '^not ok [0-9]' "$log")
	grep -q '^1\.\.' "$log" || bad=$((bad + 1))
	[ "$bad" -gt 0 ] || [ "$rc" -ne 0 ] && cat "$log"
	count regress-planted "$ok" "$bad" "$rc"
}

# 3. TAP tests (concurrency, server log)
stage_tap() {
	local log rc ok bad
	log=$(log_of tap)
	zt_run_tap "$log"
	rc=$?
	ok=$(grep -cE '^ok [0-9]' "$log"); bad=$(grep -cE '^not ok [0-9]' "$log")
	grep -q '^Result: PASS' "$log" || { bad=$((bad + 1)); tail -40 "$log"; }
	count tap "$ok" "$bad" "$rc"
}

# run_tap_script STAGE SCRIPT: a script of ours that prints TAP
run_tap_script() {
	local log rc ok bad
	log=$(log_of "$1")
	bash "$2" >"$log" 2>&1
	rc=$?
	ok=$(grep -cE '^ok [0-9]' "$log"); bad=$(grep -cE '^not ok [0-9]' "$log")
	grep -q '^1\.\.' "$log" || bad=$((bad + 1))
	[ "$bad" -gt 0 ] && grep -v '^ok ' "$log" | head -80
	count "$1" "$ok" "$bad" "$rc"
}

# 4. the REST layer end to end: PostgREST and nginx on loopback, curl
stage_e2e() { run_tap_script e2e test/e2e/http.sh; }

# 5. management code in Java: pgjdbc on a cluster of its own, after every
# GRANT block of README's "Security" section is run as printed
stage_jdbc() { run_tap_script jdbc test/jdbc/run.sh; }

# 5b. behind pgbouncer in transaction pooling mode, with concurrent clients
# of different settings, then prometheus-postgres-exporter scraped with curl
stage_pooled() { run_tap_script pooled test/pooled/run.sh; }

# 5c. README's demo command as a user runs it (--http), its replies checked;
# after lint and valgrind, since it rebuilds and reinstalls the extension
stage_demo() { run_tap_script demo test/demo/run.sh; }

# 6. fuzzing: every parser target, 10 s each after replaying kept crashes
stage_fuzz() {
	local log all ok
	log=$(log_of fuzz)
	make -s fuzz FUZZ_SECONDS="${ZT_FUZZ_SECONDS:-10}" SHELL=/bin/bash >"$log" 2>&1
	all=$(ls fuzz/fuzz_*.c | wc -l)
	ok=$(grep -c '^ok - fuzz_' "$log")
	[ "$ok" -eq "$all" ] || tail -30 "$log"
	count fuzz "$ok" "$((all - ok))"
}

# 10. every source file compiled against PostgreSQL 17's server headers
# (test/compat/compile.sh): the plain run's check of 17, which needs no
# chroot; `--pg 17` runs the whole suite in trixie's (scripts/trixie.sh)
stage_compile17() { run_tap_script compile "$ZT_ROOT/test/compat/compile.sh"; }

# 9. the Debian package: built with pg_buildext, installed with apt into
# the system's PostgreSQL 15, and used in a fresh cluster (test/package/run.sh)
stage_package() {
	run_tap_script package test/package/run.sh
	# the package's removal took the library from the system's tree: the
	# stages after this one use this tree's build again
	zt_as_root make -C "$ZT_ROOT" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}

# 7. static analysis (cppcheck and clang-tidy silent on src/) on one core,
# while 8. the regression suite runs again with the server under valgrind
# memcheck on the other, and then (while lint still runs) the valgrind
# stage's reading of pg_regress is checked against a planted failure
# (test/regress/planted_failure.sh with ZT_PLANTED_VALGRIND=1); the lines
# below share one time
stage_lint_valgrind() {
	local llog vlog plog lint_pid l_rc v_rc p_rc p_ok p_bad
	llog=$(log_of lint); vlog=$(log_of valgrind); plog=$(log_of valgrind-planted)
	make -s lint >"$llog" 2>&1 &
	lint_pid=$!
	bash scripts/valgrind.sh >"$vlog" 2>&1
	v_rc=$?
	ZT_PLANTED_VALGRIND=1 ZT_PLANTED_ONLY_VALGRIND=1 bash test/regress/planted_failure.sh >"$plog" 2>&1
	p_rc=$?
	wait "$lint_pid"
	l_rc=$?
	if [ "$l_rc" -eq 0 ]; then count lint 1 0; else cat "$llog"; count lint 0 1; fi
	if [ "$v_rc" -eq 0 ]; then count valgrind 1 0; else cat "$vlog"; count valgrind 0 1; fi
	p_ok=$(grep -cE '^ok [0-9]' "$plog"); p_bad=$(grep -cE '^not ok [0-9]' "$plog")
	grep -q '^1\.\.' "$plog" || p_bad=$((p_bad + 1))
	[ "$p_bad" -gt 0 ] || [ "$p_rc" -ne 0 ] && cat "$plog"
	count valgrind-planted "$p_ok" "$p_bad" "$p_rc"
}

# The stages of another major ($1) run in the background, in a scratch copy
# of the tree (its build must not clobber this one's), as
# `ZT_STAGES="$2" scripts/test.sh --pg $1`: started before this major's
# first stage, to fill the time that its TAP tests spend waiting and the
# core that its lint and valgrind leave free, and read back by
# finish_background_major.
start_background_major() {
	bg_dir=$(mktemp -d /tmp/zstack_tfa_pg"$1"_tree.XXXXXX)
	chmod 755 "$bg_dir"
	zt_copy_tree "$bg_dir"
	[ -d "$ZT_ROOT/.tools" ] && cp -r "$ZT_ROOT/.tools" "$bg_dir/"
	(cd "$bg_dir" && ZT_STAGES="$2" exec bash scripts/test.sh --pg "$1") >"$bg_dir/suite.log" 2>&1 &
	bg_pid=$!
}
finish_background_major() {
	local last p f
	wait "$bg_pid"
	# its stage lines and what it showed of failures; its own total last
	grep -v -e '^== packages:' -e '^== all:' "$bg_dir/suite.log" | sed '$d'
	last=$(tail -n 1 "$bg_dir/suite.log")
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		p=${BASH_REMATCH[1]}; f=${BASH_REMATCH[2]}
	else
		p=0; f=1; echo "== the run in the background ended without its total: $last"
	fi
	passed=$((passed + p)); failed=$((failed + f))
	cp "$bg_dir"/test/*.log "$ZT_ROOT/test/" 2>/dev/null
	rm -rf "$bg_dir"
}
stage_start_pg18() { start_background_major 18 "unit regress tap"; }

# A stage of this major ($1) run in the background from where it is started
# (start_NAME) to where it is read back (finish_NAME): its stage lines are
# held until then and its counts read from them.  lint_valgrind needs no
# core the other stages use much (their TAP tests mostly wait) and must end
# before the package stage takes the library from the system's tree.
start_background_stage() {
	bgs_name=$1
	bgs_log=$(mktemp /tmp/zstack_tfa_stage_"$1".XXXXXX)
	(stage_start=$SECONDS; "stage_$1") >"$bgs_log" 2>&1 &
	bgs_pid=$!
}
finish_background_stage() {
	local line p f n=0
	wait "$bgs_pid"
	cat "$bgs_log"
	while IFS= read -r line; do
		if [[ $line =~ ^==\ PG\ [0-9]+\ [^:]+:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
			p=${BASH_REMATCH[1]}; f=${BASH_REMATCH[2]}
			passed=$((passed + p)); failed=$((failed + f)); n=$((n + 1))
		fi
	done <"$bgs_log"
	# a stage that ended without a line of counts is one failure
	[ "$n" -gt 0 ] || { echo "== PG $ZT_PG_MAJOR $bgs_name: ended without its counts"; failed=$((failed + 1)); }
	rm -f "$bgs_log"
	echo "== PG $ZT_PG_MAJOR $bgs_name read back ($((SECONDS - stage_start)) s)"
	stage_start=$SECONDS
}
stage_start_lint_valgrind() { start_background_stage lint_valgrind; }
stage_finish_lint_valgrind() { finish_background_stage; }

# suite STAGE...: set-up for ZT_PG_MAJOR, the stages, then the server log
# check; a set-up that fails counts one failure and skips the stages
suite() {
	stage_start=$SECONDS
	echo "== PG $ZT_PG_MAJOR: set-up (server, build, install, cluster)"
	if ! { zt_get_pg && zt_build_install && zt_start_cluster; }; then
		count set-up 0 1
		return
	fi
	echo "== PG $ZT_PG_MAJOR set-up: $("$PG_CONFIG" --version) in $PGBIN ($((SECONDS - stage_start)) s)"
	stage_start=$SECONDS
	local s
	for s in "$@"; do "stage_$s"; done
	# the server log must never hold a secret or a code (the tests plant markers)
	if grep -q 'ZTLOGCANARY' "$ZT_CLUSTER/server.log"; then
		echo "== PG $ZT_PG_MAJOR: the server log holds a planted secret"; failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
	zt_stop_cluster
}

# 17 on a release that does not ship it (bookworm): the whole run again in
# trixie's chroot (scripts/trixie.sh), where it does; exit 125 is a chroot
# that could not be made, and counts one failure
if [ "$plain" = 0 ] && [ "$ZT_PG_MAJOR" = 17 ] && [ "$ZT_OS_PG_MAJOR" != 17 ]; then
	bash "$ZT_ROOT/scripts/trixie.sh" bash scripts/test.sh --pg 17
	rc=$?
	[ "$rc" -eq 125 ] && { echo "== PG 17 set-up: no trixie chroot"; echo "0 passed, 1 failed"; }
	exit "$rc"
fi

{ zt_install_deps && zt_install_http_deps; } || { echo "0 passed, 1 failed"; exit 1; }
echo "== packages: $SECONDS s"
if [ "$plain" = 1 ]; then
	ZT_PG_MAJOR=15; zt_pg_paths
	suite start_pg18 start_lint_valgrind unit regress tap e2e jdbc fuzz pooled finish_lint_valgrind demo package
	finish_background_major
	ZT_PG_MAJOR=17; stage_start=$SECONDS
	stage_compile17
else
	# ZT_STAGES="unit regress" picks stages (default: all; the package
	# stage is 15's only)
	suite ${ZT_STAGES:-$ALL_STAGES $([ "$ZT_PG_MAJOR" = 15 ] && echo package)}
fi

echo "== all: $SECONDS s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
