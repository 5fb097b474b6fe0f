#!/usr/bin/env bash
# Runs every test of zstack_tfa on this machine: installs what is missing,
# builds with -Werror, installs, starts a throwaway cluster, then runs the
# unit tests, the pg_regress suite and the TAP tests.  Ends with the line
# "N passed, N failed"; exits non-zero when anything failed.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http.sh"
cd "$ZT_ROOT"

{ zt_install_deps && zt_install_http_deps; } || { echo "0 passed, 1 failed"; exit 1; }
zt_build_install || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
zt_start_cluster || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
stage_start=$SECONDS
echo "== set-up (packages, build, cluster): $SECONDS s"
count() { # count NAME PASSED FAILED, with the seconds the stage took
	echo "== $1: $2 passed, $3 failed ($((SECONDS - stage_start)) s)"
	passed=$((passed + $2)); failed=$((failed + $3))
	stage_start=$SECONDS
}

# 1. unit tests of the backend-free parsers
if make -s unit >test/unit.log 2>&1; then :; fi
u_ok=$(grep -c '^ok ' test/unit.log); u_bad=$(grep -c '^not ok ' test/unit.log)
[ "$(grep -c '^1\.\.' test/unit.log)" -eq 2 ] || u_bad=$((u_bad + 1))	# two programs, two plans
grep '^not ok' test/unit.log
count unit "$u_ok" "$u_bad"

# 2. pg_regress against the throwaway cluster
make -s installcheck >test/regress.log 2>&1
r_ok=$(grep -cE '^(test| ) .* \.\.\. ok' test/regress.log)
r_bad=$(grep -cE '^(test| ) .* \.\.\. FAILED' test/regress.log)
grep -q 'tests passed\|tests failed' test/regress.log || r_bad=$((r_bad + 1))
[ "$r_bad" -gt 0 ] && { cat test/regress.log; [ -f regression.diffs ] && head -200 regression.diffs; }
count regress "$r_ok" "$r_bad"

# 3. TAP tests (concurrency, server log), when there are any
if ls t/*.pl >/dev/null 2>&1; then
	zt_run_tap "$ZT_ROOT/test/tap.log"
	t_ok=$(grep -cE '^ok [0-9]' test/tap.log)
	t_bad=$(grep -cE '^not ok [0-9]' test/tap.log)
	grep -q '^Result: PASS' test/tap.log || { t_bad=$((t_bad + 1)); tail -40 test/tap.log; }
	count tap "$t_ok" "$t_bad"
fi

# 4. the REST layer end to end: PostgREST and nginx on loopback, curl
bash test/e2e/http.sh >test/e2e.log 2>&1
e_ok=$(grep -cE '^ok [0-9]' test/e2e.log)
e_bad=$(grep -cE '^not ok [0-9]' test/e2e.log)
grep -q '^1\.\.' test/e2e.log || e_bad=$((e_bad + 1))
[ "$e_bad" -gt 0 ] && grep -v '^ok ' test/e2e.log
count e2e "$e_ok" "$e_bad"

# 5. management code in Java: pgjdbc on a cluster of its own, after every
# GRANT block of README's "Security" section is run as printed
bash test/jdbc/run.sh >test/jdbc.log 2>&1
j_ok=$(grep -cE '^ok [0-9]' test/jdbc.log)
j_bad=$(grep -cE '^not ok [0-9]' test/jdbc.log)
grep -q '^1\.\.' test/jdbc.log || j_bad=$((j_bad + 1))
[ "$j_bad" -gt 0 ] && grep -v '^ok ' test/jdbc.log | head -80
count jdbc "$j_ok" "$j_bad"

# 6. fuzzing: every parser target, 10 s each after replaying kept crashes
make -s fuzz FUZZ_SECONDS="${ZT_FUZZ_SECONDS:-10}" SHELL=/bin/bash >test/fuzz.log 2>&1
f_all=$(ls fuzz/fuzz_*.c | wc -l)
f_ok=$(grep -c '^ok - fuzz_' test/fuzz.log)
f_bad=$((f_all - f_ok))
[ "$f_bad" -eq 0 ] || tail -30 test/fuzz.log
count fuzz "$f_ok" "$f_bad"

# 7. static analysis (cppcheck and clang-tidy silent on src/) on one core,
# while 8. the regression suite runs again with the server under valgrind
# memcheck on the other; the two lines below share one time
make -s lint >test/lint.log 2>&1 &
lint_pid=$!
bash scripts/valgrind.sh >test/valgrind.log 2>&1
v_rc=$?
wait "$lint_pid"
l_rc=$?
if [ "$l_rc" -eq 0 ]; then count lint 1 0; else cat test/lint.log; count lint 0 1; fi
if [ "$v_rc" -eq 0 ]; then count valgrind 1 0; else cat test/valgrind.log; count valgrind 0 1; fi

# the server log must never hold a secret or a code (the tests plant markers)
if grep -q 'ZTLOGCANARY' "$ZT_CLUSTER/server.log"; then
	echo "server log holds a planted secret"; failed=$((failed + 1))
else
	passed=$((passed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
