#!/usr/bin/env bash
# The demo command of README, run as a user runs it (`bash scripts/demo.sh
# --http`: install what is missing, build, install, a throwaway cluster, the
# sample, real replies, then PostgREST and nginx), its output checked: it
# ends well, the admin's login with the authenticator's code gets a session,
# the replay is refused, the admin's query answers with ZStack's schema and
# inventories, and over HTTP that session's query does too (the demo once
# handed HTTP a session that no longer existed), a bad session gets ZStack's
# ID.1001 with 503, and no psql error shows.  Prints TAP.
set -u
. "$(dirname "$0")/../../scripts/lib.sh"
. "$ZT_ROOT/scripts/tap.sh"
out=$(mktemp /tmp/zstack_tfa_demo_out.XXXXXX)
trap 'rm -f "$out"' EXIT
finish() {
	tap_plan
	exit $?
}

bash "$ZT_ROOT/scripts/demo.sh" --pg "$ZT_PG_MAJOR" --http >"$out" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then ok "scripts/demo.sh --http ends with 0"
else not_ok "scripts/demo.sh --http ends with 0 (it ended with $rc)"; tail -n 30 "$out" | diag; fi
# the line after a section's heading
after() { awk -v h="$1" 'found { print; exit } index($0, h) == 1 { found = 1 }' "$out"; }
expect() { # NAME TEXT ERE
	if printf '%s' "$2" | grep -qE "$3"; then ok "$1"; else not_ok "$1"; printf '%s\n' "$2" | cut -c1-300 | diag; fi
}
expect "the admin logs in with the authenticator's code and gets a session" \
	"$(after '== admin logs in with the authenticator code')" '^\{"inventory":\{"uuid":"[0-9a-f]{32}","accountUuid"'
expect "the same code again is refused (ID.2002)" \
	"$(after '== the same code again is refused')" '^\{"error":\{"code":"ID\.2002"'
expect "the admin's query answers with ZStack's schema, a total and inventories" \
	"$(after '== the admin view')" '^\{"schema":\{"inventories\[[0-9]+\]":"org\.zstack\.twoFactorAuthentication\.TwoFactorAuthenticationInventory".*"total":[0-9]+,"inventories":\[\{"uuid":"[0-9a-f]{32}","secret":"[A-Z2-7]{16}"'
http_query=$(grep -A1 -E '^\$ curl -s -H Authorization:\\ OAuth\\ [0-9a-f]{32} .*q=status=Logined' "$out" | sed -n 2p)
expect "over HTTP (nginx, PostgREST) the admin's session queries the secrets" \
	"$http_query" '^\{"schema":\{.*\},"inventories":\[\{"uuid":"[0-9a-f]{32}","userType":"(AccountVO|IAM2VirtualIDVO)","status":"Logined"\}'
expect "over HTTP a bad session gets ZStack's ID.1001 with 503" \
	"$(awk '/OAuth\\ 0123456789abcdef0123456789abcdef/ { f = 1 } f' "$out" | tr -d '\r' | sed -n '2p;/^{/p' | paste -sd ' ')" \
	'^HTTP/1\.1 503 .*\{"error":\{"code":"ID\.1001"'
if grep -qE '^(psql:|ERROR:)' "$out"; then
	not_ok "no psql error in the demo's output"; grep -E '^(psql:|ERROR:)' "$out" | head -n 5 | diag
else
	ok "no psql error in the demo's output"
fi
finish
