#!/usr/bin/env bash
# The pg_regress suite with the server under valgrind memcheck.  Fails on any
# valgrind error that arises in zstack_tfa or liboath (see below); errors of
# PostgreSQL itself are its own (it ships a suppression file only with its
# source tree).  AddressSanitizer is not used: PostgreSQL 15 deadlocks at
# start-up with libasan preloaded (a futex wait in find_my_exec).
set -u
. "$(dirname "$0")/lib.sh"
cd "$ZT_ROOT"
zt_install_packages valgrind

ZT_VALGRIND=1 zt_start_cluster || exit 1
# test/valgrind-regress.log on 15, test/valgrind-regress-pgN.log on another major
log=test/valgrind-regress.log
[ "$ZT_PG_MAJOR" = 15 ] || log=test/valgrind-regress-pg$ZT_PG_MAJOR.log
rc=0
# pg_regress runs in a scratch copy of what it reads, so that its results/
# and regression.diffs do not meet those of a plain run in this tree (the
# test command runs this stage beside the others)
work=$(mktemp -d /tmp/zstack_tfa_valgrind_regress.XXXXXX)
cp -r "$ZT_ROOT/Makefile" "$ZT_ROOT/sql" "$ZT_ROOT/expected" "$ZT_ROOT"/zstack_tfa* "$work/"
chmod -R a+rwX "$work"
make -s -C "$work" installcheck PG_CONFIG="$PG_CONFIG" ${ZT_REGRESS:+REGRESS="$ZT_REGRESS"} >"$log" 2>&1
# counted as the test command counts the plain run: pg_regress's closing
# line and its exit status, so a failed or broken-off run fails here
read -r r_ok r_bad < <(zt_regress_counts "$log" "$?")
echo "PostgreSQL $ZT_PG_MAJOR under valgrind: $r_ok tests passed, $r_bad failed"
if [ "$r_bad" -ne 0 ]; then
	rc=1
	zt_regress_failures "$log"
	tail -20 "$log"
	[ -f "$work/regression.diffs" ] && head -100 "$work/regression.diffs"
fi
rm -rf "$work"
logs=$(ls "$ZT_CLUSTER"/valgrind.*.log 2>/dev/null | wc -l)
# our frames show as zstack_tfa.so, or (built with -g) as our source files
ours_re="zstack_tfa[.]so|liboath|($(cd src && ls *.c | sed 's/[.]/[.]/' | paste -sd'|')):[0-9]"
# One error record per block, blocks separated by "==pid== " blank lines.  A
# record is ours when its first stack, read from the top past valgrind's and
# libc's frames, reaches one of our frames before one of PostgreSQL's: an
# error inside PostgreSQL that merely has our code further down (a CHECK
# constraint evaluated for our INSERT) is PostgreSQL's.  Ours are written
# whole to test/valgrind-errors.log.
OURS_RE="$ours_re" awk '
	function ours(b,    n, i, lines) {
		n = split(b, lines, "\n")
		for (i = 2; i <= n; i++) {
			if (lines[i] !~ /(at|by) 0x/) return 0	# end of the first stack
			if (lines[i] ~ re) return 1
			if (lines[i] ~ /bin\/postgres\)/) return 0
		}
		return 0
	}
	BEGIN { re = ENVIRON["OURS_RE"] }
	/^==[0-9]+== [^ ]/ && !inblock { block = $0; inblock = 1; next }
	inblock && /^==[0-9]+== $/ { if (ours(block)) print block "\n"; inblock = 0; next }
	inblock { block = block "\n" $0 }' "$ZT_CLUSTER"/valgrind.*.log >test/valgrind-errors.log
ours=$(grep -cE '^==[0-9]+== [A-Z]' test/valgrind-errors.log)
echo "valgrind: $logs process logs, $ours error(s) in zstack_tfa or liboath"
if [ "$ours" -ne 0 ]; then
	head -120 test/valgrind-errors.log
	rc=1
fi
zt_stop_cluster
trap - EXIT
exit $rc
