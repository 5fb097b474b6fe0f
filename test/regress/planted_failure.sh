#!/usr/bin/env bash
# The test command's reading of pg_regress, checked against a planted
# failure: in a scratch copy of the tree, two real tests run once as they
# are (2 passed, 0 failed, exit 0) and once with a line planted in the
# expected output of the second (1 passed, 1 failed, non-zero exit), read
# by the same zt_regress_counts that scripts/test.sh and scripts/valgrind.sh
# use, on the running cluster and the PostgreSQL major of lib.sh
# (ZT_PG_MAJOR).  Needs the extension installed and PGHOST etc. set.
# Prints TAP.
set -u
. "$(dirname "$0")/../../scripts/lib.sh"
. "$ZT_ROOT/scripts/tap.sh"

tests="01_setup 02_envelope"
work=$(mktemp -d /tmp/zstack_tfa_planted.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$ZT_ROOT/Makefile" "$ZT_ROOT/sql" "$ZT_ROOT/expected" "$ZT_ROOT"/zstack_tfa* "$work/"
chmod -R a+rwX "$work"

# run LABEL: the two tests in the copy, in a database of their own (the
# extension's recorder may still be connected to the one of a run before);
# sets p, f and rc
run() {
	make -s -C "$work" installcheck PG_CONFIG="$PG_CONFIG" REGRESS="$tests" \
		REGRESS_OPTS="--inputdir=. --load-extension=zstack_tfa --dbname=zstack_tfa_planted_$1" >"$work/$1.log" 2>&1
	rc=$?
	read -r p f < <(zt_regress_counts "$work/$1.log" "$rc")
}

if [ "${ZT_PLANTED_ONLY_VALGRIND:-0}" != 1 ]; then
run clean
if [ "$p" -eq 2 ] && [ "$f" -eq 0 ] && [ "$rc" -eq 0 ]; then
	ok "PostgreSQL $ZT_PG_MAJOR: the untouched tests count as 2 passed, 0 failed, exit 0"
else
	not_ok "PostgreSQL $ZT_PG_MAJOR: the untouched tests count as 2 passed, 0 failed, exit 0 (got $p passed, $f failed, exit $rc)"
	sed 's/^/# /' "$work/clean.log"
fi

echo "-- a line no run prints" >>"$work/expected/02_envelope.out"
run planted
if [ "$p" -eq 1 ] && [ "$f" -eq 1 ] && [ "$rc" -ne 0 ]; then
	ok "PostgreSQL $ZT_PG_MAJOR: a planted expected line counts as 1 passed, 1 failed, non-zero exit"
else
	not_ok "PostgreSQL $ZT_PG_MAJOR: a planted expected line counts as 1 passed, 1 failed, non-zero exit (got $p passed, $f failed, exit $rc)"
	sed 's/^/# /' "$work/planted.log"
fi
if zt_regress_failures "$work/planted.log" | grep -q 02_envelope; then
	ok "PostgreSQL $ZT_PG_MAJOR: the failed test is named in the output the test command shows"
else
	not_ok "PostgreSQL $ZT_PG_MAJOR: the failed test is named in the output the test command shows"
fi

fi

# the valgrind stage reads its run the same way: scripts/valgrind.sh of the
# copy, on the planted expected file, must fail and count the failure
# (ZT_PLANTED_VALGRIND=1, and with ZT_PLANTED_ONLY_VALGRIND=1 that check
# alone; it starts a cluster of its own under valgrind)
if [ "${ZT_PLANTED_VALGRIND:-0}" = 1 ]; then
	grep -q '^-- a line no run prints$' "$work/expected/02_envelope.out" ||
		echo "-- a line no run prints" >>"$work/expected/02_envelope.out"
	cp -r "$ZT_ROOT/scripts" "$ZT_ROOT/src" "$work/"
	mkdir -p "$work/test"
	chmod -R a+rwX "$work"
	ZT_REGRESS="$tests" bash "$work/scripts/valgrind.sh" >"$work/valgrind.log" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q "under valgrind: 1 tests passed, 1 failed" "$work/valgrind.log"; then
		ok "PostgreSQL $ZT_PG_MAJOR: the valgrind stage fails on the planted line and counts it"
	else
		not_ok "PostgreSQL $ZT_PG_MAJOR: the valgrind stage fails on the planted line and counts it (exit $rc)"
		sed 's/^/# /' "$work/valgrind.log"
	fi
fi

# the reader itself on what a run that broke off leaves: no closing line
if [ "${ZT_PLANTED_ONLY_VALGRIND:-0}" != 1 ]; then
	printf 'ok 1 - 01_setup 10 ms\n' >"$work/broken.log"
	read -r p f < <(zt_regress_counts "$work/broken.log" 2)
	if [ "$f" -ge 1 ]; then ok "a run without pg_regress's closing line counts as failed"
	else not_ok "a run without pg_regress's closing line counts as failed"; fi
fi
tap_plan
