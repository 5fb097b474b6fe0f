# TAP lines for the shell test stages (sourced after lib.sh): each test is
# one "ok N - name" or "not ok N - name" line, counted in n and failed.
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
diag() { sed 's/^/# /'; }
# the plan line; true when there was a test and none failed
tap_plan() {
	echo "1..$n"
	[ "$failed" -eq 0 ] && [ "$n" -gt 0 ]
}
# bail NAME [LOG]: a step the rest depends on failed; its log's tail as
# diagnostics, then the script's own finish
bail() {
	not_ok "$1"
	[ -n "${2:-}" ] && [ -f "$2" ] && tail -n 30 "$2" | diag
	finish
}
