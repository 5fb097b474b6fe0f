#!/usr/bin/env bash
# The pg_regress suite with the server under valgrind memcheck.  Fails on any
# valgrind error whose stack passes through zstack_tfa.so or liboath; errors
# of PostgreSQL alone are its own (it ships a suppression file only with its
# source tree).  AddressSanitizer is not used: PostgreSQL 15 deadlocks at
# start-up with libasan preloaded (a futex wait in find_my_exec).
set -u
. "$(dirname "$0")/lib.sh"
cd "$ZT_ROOT"
zt_install_packages valgrind

ZT_VALGRIND=1 zt_start_cluster || exit 1
rc=0
if ! make -s installcheck ${ZT_REGRESS:+REGRESS="$ZT_REGRESS"} >test/valgrind-regress.log 2>&1; then
	rc=1
	tail -20 test/valgrind-regress.log
fi
grep -E 'tests passed|tests failed' test/valgrind-regress.log
logs=$(ls "$ZT_CLUSTER"/valgrind.*.log 2>/dev/null | wc -l)
# our frames show as zstack_tfa.so, or (built with -g) as our source files
ours_re="zstack_tfa[.]so|liboath|($(cd src && ls *.c | sed 's/[.]/[.]/' | paste -sd'|')):[0-9]"
# one error record per block, blocks separated by "==pid== " blank lines
ours=$(OURS_RE="$ours_re" awk 'BEGIN { re = ENVIRON["OURS_RE"] }
	/^==[0-9]+== [^ ]/ && !inblock { block = $0; inblock = 1; next }
	inblock && /^==[0-9]+== $/ { if (block ~ re) n++; inblock = 0; next }
	inblock { block = block "\n" $0 }
	END { print n + 0 }' "$ZT_CLUSTER"/valgrind.*.log)
echo "valgrind: $logs process logs, $ours error(s) in zstack_tfa or liboath"
if [ "$ours" -ne 0 ]; then
	grep -E -B3 -A25 "$ours_re" "$ZT_CLUSTER"/valgrind.*.log | head -80
	rc=1
fi
zt_stop_cluster
trap - EXIT
exit $rc
