#!/usr/bin/env bash
# Fuzz one libFuzzer target (make fuzz runs one per core): replay its kept
# regressions, then fuzz from its seed corpus for $2 seconds (new inputs go
# to a scratch folder, so the repository is not touched).  Its lines are
# printed together at the end, so parallel targets do not interleave.
#   bash scripts/fuzz_one.sh TARGET SECONDS
set -u
t=$1 secs=$2
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if ! ./fuzz/build/fuzz_"$t" -runs=0 fuzz/regressions/"$t" fuzz/corpus/"$t" >/dev/null 2>&1; then
	echo "fuzz_$t: a kept regression fails again"
	exit 1
fi
out=$(./fuzz/build/fuzz_"$t" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
	-artifact_prefix=fuzz/regressions/"$t"/ "$scratch" fuzz/corpus/"$t" 2>&1)
rc=$?
grep -E 'Done|stat::number_of_executed_units|ERROR' <<<"$out"
if [ "$rc" -ne 0 ]; then
	echo "fuzz_$t failed"
	exit 1
fi
echo "ok - fuzz_$t"
