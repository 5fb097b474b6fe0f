#!/usr/bin/env bash
# End-to-end over real HTTP: the throwaway cluster, PostgREST 12.0.2 and
# nginx on loopback, checked with curl byte for byte (status, content type,
# body).  Prints TAP; run by scripts/test.sh with the cluster already up.
set -u
. "$(dirname "$0")/../../scripts/lib.sh"
. "$ZT_ROOT/scripts/http.sh"

DB=zstack_http
JSON='application/json; charset=utf-8'
TEXT='text/plain; charset=utf-8'
API=/zstack/v1/twofactorauthentication
ADMIN='Authorization: OAuth 5e550000000000000000000000000001'
ALICE='Authorization: OAuth 5e550000000000000000000000000002'
EXPIRED='Authorization: OAuth 5e550000000000000000000000000003'
# the inventories in ZStack's key order (its SDK's TwoFactorAuthenticationInventory)
S1='{"uuid":"f0000000000000000000000000000001","secret":"JBSWY3DPEHPK3PXP","userUuid":"a0000000000000000000000000000001","userType":"AccountVO","status":"NewCreated","createDate":"Jan 10, 2026 9:00:00 AM","lastOpDate":"Jan 10, 2026 9:00:00 AM"}'
S2='{"uuid":"f0000000000000000000000000000002","secret":"GEZDGNBVGY3TQOJQ","userUuid":"e0000000000000000000000000000001","userType":"IAM2VirtualIDVO","status":"Logined","createDate":"Feb 11, 2026 1:30:00 PM","lastOpDate":"Feb 12, 2026 8:15:00 PM"}'
S3='{"uuid":"f0000000000000000000000000000003","secret":"NB2HI4DTHIXS653X","userUuid":"36c27e8ff05c4780bf6d2fa65700f22e","userType":"AccountVO","status":"Logined","createDate":"Jun 15, 2026 6:07:08 AM","lastOpDate":"Jun 15, 2026 6:07:08 AM"}'
ID1001='{"error":{"code":"ID.1001","description":"The session is invalid, either wrong session id or the session has been expired","details":"Session expired"}}'
INV=org.zstack.twoFactorAuthentication.TwoFactorAuthenticationInventory
STATUS=org.zstack.twoFactorAuthentication.TwoFactorAuthenticationSecretStatus

n=0
tmp=$(mktemp -d)
# check NAME STATUS CONTENT-TYPE BODY CURL-ARGS...: the exact reply
check() {
	local name=$1 status=$2 ctype=$3 body=$4 got
	shift 4
	n=$((n + 1))
	got=$(curl -s -o "$tmp/body" -w '%{http_code}|%{content_type}' "$@")
	if [ "$got" = "$status|$ctype" ] && printf '%s' "$body" | cmp -s - "$tmp/body"; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name"
		echo "# want: $status|$ctype $body"
		echo "# got:  $got $(head -c 600 "$tmp/body")"
	fi
}
# schema N WITH_STATUS: ZStack's "schema" member for N inventories, the
# last first (JsonSchemaBuilder), with their status entries when written
schema() {
	local out='"schema":{' sep='' i
	for ((i = $1 - 1; i >= 0; i--)); do
		out="$out$sep\"inventories[$i]\":\"$INV\""
		[ "$2" = 1 ] && out="$out,\"inventories[$i].status\":\"$STATUS\""
		sep=','
	done
	printf '%s}' "$out"
}
# list INVENTORY...: the reply body of a page of full inventories
list() {
	local IFS=,
	printf '{%s,"inventories":[%s]}' "$(schema $# 1)" "$*"
}
# uuids SUFFIX...: the body of fields=uuid for secrets f0...0<suffix>
uuids() {
	local out="{$(schema $# 0),\"inventories\":[" sep='' s
	for s in "$@"; do out="$out$sep{\"uuid\":\"f000000000000000000000000000000$s\"}"; sep=','; done
	printf '%s]}' "$out"
}
# q COND...: curl arguments for a query with these conditions, URL-encoded
q() {
	local a=(-G -H "$ADMIN" "$ZT_HTTP$API/secrets" --data-urlencode fields=uuid --data-urlencode sort=uuid) c
	for c in "$@"; do a+=(--data-urlencode "q=$c"); done
	printf '%s\0' "${a[@]}"
}
checkq() { # NAME EXPECTED-SUFFIXES CONDITION...
	local name=$1 want=$2 args=()
	shift 2
	mapfile -d '' args < <(q "$@")
	# shellcheck disable=SC2086
	check "$name" 200 "$JSON" "$(uuids $want)" "${args[@]}"
}

psql -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET timezone = 'UTC'" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$ZT_ROOT/test/e2e/fixture.sql" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$ZT_ROOT/postgrest/api.sql" >/dev/null 2>&1
zt_install_http_deps && ZT_PGRST_LOG_LEVEL=info zt_start_http_stack "$DB" || { echo "not ok 1 - the HTTP stack starts"; exit 1; }

# lists, the uuid form, count, replyWithCount, fields, sort
check "list as admin" 200 "$JSON" "$(list "$S1" "$S2" "$S3")" -H "$ADMIN" "$ZT_HTTP$API/secrets?sort=uuid"
check "a normal account sees its own and its IAM2 users'" 200 "$JSON" "$(list "$S1" "$S2")" -H "$ALICE" "$ZT_HTTP$API/secrets?sort=%2Buuid"
check "secrets/{uuid} ignores the query string" 200 "$JSON" "$(list "$S2")" -H "$ADMIN" "$ZT_HTTP$API/secrets/f0000000000000000000000000000002?limit=oops&q=%zz"
check "secrets/{uuid} outside the caller's view is an empty list" 200 "$JSON" '{"schema":{},"inventories":[]}' -H "$ALICE" "$ZT_HTTP$API/secrets/f0000000000000000000000000000003"
check "count=true" 200 "$JSON" '{"schema":{},"total":2}' -H "$ADMIN" "$ZT_HTTP$API/secrets?q=status=Logined&count=TRUE"
check "replyWithCount, limit, start, sort descending" 200 "$JSON" "{$(schema 1 0),\"total\":3,\"inventories\":[{\"uuid\":\"f0000000000000000000000000000002\"}]}" -H "$ADMIN" "$ZT_HTTP$API/secrets?replyWithCount=true&limit=1&start=1&sort=-createDate&fields=uuid"
check "fields keep the canonical order" 200 "$JSON" "{$(schema 1 1),\"inventories\":[{\"uuid\":\"f0000000000000000000000000000001\",\"status\":\"NewCreated\"}]}" -H "$ALICE" "$ZT_HTTP$API/secrets?fields=status,uuid&limit=1&sort=uuid"
check "an unencoded + in sort is ascending" 200 "$JSON" "$(uuids 1 2 3)" -H "$ADMIN" "$ZT_HTTP$API/secrets?fields=uuid&sort=+createDate"
check "groupBy and unknown parameters are ignored; PostgREST's own are not read" 200 "$JSON" "$(uuids 3)" -H "$ADMIN" "$ZT_HTTP$API/secrets?groupBy=status&select=secret&order=uuid.desc&uuid=eq.x&fields=uuid&q=uuid=f0000000000000000000000000000003"

# every operator through real URL encoding
checkq "q !=" "1 3" 'uuid!=f0000000000000000000000000000002'
checkq "q >=" "2 3" 'createDate>=2026-02-11 13:30:00+00'
checkq "q <=" "1 2" 'createDate<=Feb 11, 2026 1:30:00 PM'
checkq "q !?= (not in)" "2" 'uuid!?=f0000000000000000000000000000001,f0000000000000000000000000000003'
checkq "q !~= (not like)" "1 3" 'userType!~=IAM2%'
checkq "q ~= (like)" "1 2" 'userUuid~=_000%'
checkq "q ?= (in)" "1 3" 'status?=NewCreated,Logined' 'userType?=AccountVO'
checkq "q =" "3" 'secret=NB2HI4DTHIXS653X'
checkq "q >" "3" 'createDate>1771000000000'
checkq "q <" "1" 'createDate<2026-02-01'
checkq "q is null" "" 'uuid is null'
checkq "q not null" "1 2 3" 'status not null'
checkq "q =null" "" 'status=null'
checkq "q !=null" "1 2 3" 'status!=null'
checkq "a value with & = + % and spaces" "" 'secret=a&b=c+d %25 e'

# errors: 400 texts, 503 envelopes, 404, 405
check "missing Authorization" 400 "$TEXT" "missing header 'Authorization'" "$ZT_HTTP$API/secrets"
check "a Bearer token is not OAuth (and PostgREST never sees it)" 400 "$TEXT" "Authorization type must be 'OAuth'" -H "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x" "$ZT_HTTP$API/secrets"
check "an expired session" 503 "$JSON" "$ID1001" -H "$EXPIRED" "$ZT_HTTP$API/secrets"
check "a malformed session" 503 "$JSON" "$ID1001" -H "Authorization: OAuth x" "$ZT_HTTP$API/secrets"
check "q without an operator" 400 "$TEXT" "Invalid query parameter. The 'uuid' in the parameter[q] doesn't contain any query operator. Valid query operators are [[!=, >=, <=, !?=, !~=, ~=, ?=, =, >, <, is null, not null]]" -H "$ADMIN" "$ZT_HTTP$API/secrets?q=uuid"
check "limit not an integer" 400 "$TEXT" "Invalid query parameter. 'limit' must be an integer" -H "$ADMIN" "$ZT_HTTP$API/secrets?limit=ten"
check "start not an integer" 400 "$TEXT" "Invalid query parameter. 'start' must be an integer" -H "$ADMIN" "$ZT_HTTP$API/secrets?start="
check "a broken percent escape" 400 "$TEXT" "Invalid query string: a parameter is not valid percent-encoded UTF-8" -H "$ADMIN" "$ZT_HTTP$API/secrets?q=uuid%3"
check "negative limit" 503 "$JSON" '{"error":{"code":"SYS.1007","description":"One or more API argument is invalid","details":"limit must not be negative"}}' -H "$ADMIN" "$ZT_HTTP$API/secrets?limit=-1"
check "an unknown unicode field, through the 503 path" 503 "$JSON" '{"error":{"code":"SYS.1007","description":"One or more API argument is invalid","details":"unknown field '"'"'état'"'"' in a query condition; valid fields are uuid, secret, userUuid, userType, createDate, lastOpDate, status"}}' -H "$ADMIN" "$ZT_HTTP$API/secrets?q=%C3%A9tat=1"
check "a bad enum label" 503 "$JSON" '{"error":{"code":"SYS.1007","description":"One or more API argument is invalid","details":"invalid value for field status; valid values are NewCreated, Logined"}}' -H "$ADMIN" "$ZT_HTTP$API/secrets?q=status%3DDone"
check "unknown path" 404 "$TEXT" "no api mapping to /v1/twofactorauthentication/nothing" "$ZT_HTTP$API/nothing"
check "wrong method" 405 "$TEXT" "the method DELETE is not allowed for /zstack/v1/twofactorauthentication/secrets; use GET or PUT" -X DELETE -H "$ADMIN" "$ZT_HTTP$API/secrets"
n=$((n + 1))
if [ "$(psql -X -At -d "$DB" -c "SELECT count(*) FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('5e550000000000000000000000000003')")" = 0 ]; then
	echo "ok $n - the failed call deleted the expired session (ZStack's Session.java)"
else
	echo "not ok $n - the expired session is still stored"
fi

# a storm of 503s does not make PostgREST reconnect or reload its schema
before=$(grep -c "Attempting to connect\|Schema cache loaded" "$ZT_HTTP_DIR/postgrest.log")
for i in $(seq 1 50); do curl -s -o /dev/null -H "$EXPIRED" "$ZT_HTTP$API/secrets"; done
after=$(grep -c "Attempting to connect\|Schema cache loaded" "$ZT_HTTP_DIR/postgrest.log")
n=$((n + 1))
if [ "$before" = "$after" ]; then echo "ok $n - 50 ZStack 503s cause no PostgREST reconnect"; else echo "not ok $n - PostgREST reconnected ($before -> $after)"; fi

# the life cycle over HTTP: state, secret, a login with a twofatoken
check "state, disabled" 200 "$JSON" '{"state":"Disable"}' "$ZT_HTTP$API/state"
check "secret while disabled" 503 "$JSON" '{"error":{"code":"SYS.1006","description":"An operation failed","details":"two factor authenticator is not enabled"}}' "$ZT_HTTP$API/secret?name=alice&password=alice-password&type=account"
psql -X -q -d "$DB" -c "SELECT zstack_tfa.set_two_factor_authentication_enabled(true)" >/dev/null
check "state, enabled" 200 "$JSON" '{"state":"Enable"}' "$ZT_HTTP$API/state"
check "secret with a wrong password" 503 "$JSON" '{"error":{"code":"ID.1000","description":"Unable to authenticate a user","details":"wrong account name or password"}}' -G "$ZT_HTTP$API/secret" --data-urlencode name=alice --data-urlencode 'password=wrong&x' --data-urlencode type=account
check "secret without a name" 503 "$JSON" '{"error":{"code":"SYS.1007","description":"One or more API argument is invalid","details":"field[name] of message[org.zstack.header.message.ApiMessageParamValidator] is mandatory, can not be null"}}' "$ZT_HTTP$API/secret?password=x&type=account"
secret_reply=$(curl -s -G "$ZT_HTTP$API/secret" --data-urlencode name=alice --data-urlencode password=alice-password --data-urlencode type=account)
secret=$(printf '%s' "$secret_reply" | sed -n 's/.*"secret":"\([A-Z2-7]*\)".*/\1/p')
n=$((n + 1))
if [[ "$secret_reply" =~ ^\{\"inventory\":\{\"uuid\":\"[0-9a-f]{32}\",\"secret\":\"[A-Z2-7]{16}\",\"status\":\"NewCreated\",.*\"userUuid\":\"a0000000000000000000000000000001\",\"userType\":\"AccountVO\"\}\}$ ]]; then
	echo "ok $n - GET secret returns the inventory with the secret"
else
	echo "not ok $n - GET secret: $secret_reply"
fi
# the enrolment QR code of the secret GET .../secret shows, as a PNG through
# nginx and PostgREST, read back by zbarimg
qr_status=$(curl -s -o "$tmp/qr.png" -w '%{http_code}|%{content_type}' -G "$ZT_HTTP$API/secret/qrcode" \
	--data-urlencode name=alice --data-urlencode password=alice-password --data-urlencode type=account --data-urlencode format=png)
qr_uri=$(psql -X -At -d "$DB" -c "SELECT zstack_tfa.otpauth_uri('$secret', 'alice')")
n=$((n + 1))
if [ "$qr_status" = "200|image/png" ] && [ "$(zbarimg --nodbus --raw -q -Sdisable -Sqrcode.enable -Sbinary "$tmp/qr.png" 2>/dev/null)" = "$qr_uri" ]; then
	echo "ok $n - GET .../secret/qrcode?format=png: zbarimg reads the otpauth URI of the secret"
else
	echo "not ok $n - QR route: $qr_status"
fi
check "login without a code asks for it" 503 "$JSON" '{"error":{"code":"ID.2001","description":"The user has to login by addition authentication","details":"{\"authentications\":[\"googleAuth\"],\"credentials\":\"alice\"}"}}' -X PUT "$ZT_HTTP/zstack/v1/accounts/login" -d '{"logInByAccount":{"accountName":"alice","password":"alice-password"}}'
code=$(oathtool --totp --base32 "$secret")
login=$(curl -s -o "$tmp/login" -w '%{http_code}|%{content_type}' -X PUT "$ZT_HTTP/zstack/v1/accounts/login" \
	-d "{\"logInByAccount\":{\"accountName\":\"alice\",\"password\":\"alice-password\"},\"systemTags\":[\"twofatoken::$code\"]}")
n=$((n + 1))
if [ "$login" = "200|$JSON" ] && grep -qE '^\{"inventory":\{"uuid":"[0-9a-f]{32}","accountUuid":"a0000000000000000000000000000001","userUuid":"a0000000000000000000000000000001","expiredDate":"[A-Z][a-z]{2} [0-9]{1,2}, [0-9]{4} [0-9]{1,2}:[0-9]{2}:[0-9]{2} [AP]M","createDate":"[^"]+","noSessionEvaluation":false\}\}$' "$tmp/login"; then
	echo "ok $n - PUT login with an oathtool code gives a session"
else
	echo "not ok $n - PUT login: $login $(cat "$tmp/login")"
fi
session=$(sed -n 's/^{"inventory":{"uuid":"\([0-9a-f]*\)".*/\1/p' "$tmp/login")
# enabling 2FA replaced every secret: alice now has just her new one
check "the new session queries" 200 "$JSON" "{$(schema 1 1),\"inventories\":[{\"secret\":\"$secret\",\"status\":\"Logined\"}]}" -H "Authorization: OAuth $session" "$ZT_HTTP$API/secrets?fields=secret,status"
check "the same code again is refused" 503 "$JSON" '{"error":{"code":"ID.2002","description":"Fail to authenticate a user due to addition authentication","details":"wrong or already used two-factor authentication code"}}' -X PUT "$ZT_HTTP/zstack/v1/accounts/login" -d "{\"logInByAccount\":{\"accountName\":\"alice\",\"password\":\"alice-password\"},\"systemTags\":[\"twofatoken::$code\"]}"
check "a login body that is not JSON" 400 "$TEXT" 'Invalid request body: it is not valid JSON' -X PUT "$ZT_HTTP/zstack/v1/accounts/login" -d 'accountName=alice'
check "GET on the login path" 405 "$TEXT" "the method GET is not allowed for /zstack/v1/accounts/login; use PUT" "$ZT_HTTP/zstack/v1/accounts/login"

check "the QR route keeps the secret fetch's rules: a Logined secret is not shown" 503 "$JSON" '{"error":{"code":"SYS.1006","description":"An operation failed","details":"the secret has been used to log in (Logined) and is not shown again; a SystemAdmin can reset it (ResetTwoFactorAuthenticationSecret)"}}' \
	-G "$ZT_HTTP$API/secret/qrcode" --data-urlencode name=alice --data-urlencode password=alice-password --data-urlencode type=account

# ZStack's Java SDK as it talks (captured from its OkHttp client): every call
# carries these headers; queries add Authorization and a query string like
# this one; logins put systemTags inside the parameter object
SDK=(-H "X-Job-UUID: 0123456789abcdef0123456789abcdef" -H "X-JSON-Schema: true" -H "User-Agent: okhttp/3.13.1" -H "Accept-Encoding: gzip")
SDK_PUT=("${SDK[@]}" -X PUT -H "Content-Type: application/json; charset=utf-8")
psql -X -q -d "$DB" -c "INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, expired_date) VALUES
	(zstack_tfa.session_key('5e550000000000000000000000000004'), '36c27e8ff05c4780bf6d2fa65700f22e', '36c27e8ff05c4780bf6d2fa65700f22e', now() + interval '1 day')" >/dev/null
ADMIN2='Authorization: OAuth 5e550000000000000000000000000004'
check "SDK query string (count=true wins)" 200 "$JSON" '{"schema":{},"total":0}' "${SDK[@]}" -H "$ADMIN2" \
	"$ZT_HTTP$API/secrets?q=uuid%3F%3Da%2Cb&q=status%3DLogined&limit=3&start=3&sort=%2BcreateDate&count=true&replyWithCount=true&fields=uuid%2Cstatus"
alice_secret_uuid=$(psql -X -At -d "$DB" -c "SELECT uuid FROM zstack_tfa.secret WHERE user_uuid = 'a0000000000000000000000000000001'")
check "SDK query: typed page with its schema" 200 "$JSON" "{$(schema 1 1),\"total\":1,\"inventories\":[{\"uuid\":\"$alice_secret_uuid\",\"status\":\"Logined\"}]}" "${SDK[@]}" -H "$ADMIN2" \
	"$ZT_HTTP$API/secrets?q=uuid%3F%3D$alice_secret_uuid%2Cb&q=status%3DLogined&limit=3&start=0&sort=%2BcreateDate&replyWithCount=true&fields=uuid%2Cstatus"
check "SDK state (schema on request)" 200 "$JSON" '{"schema":{},"state":"Enable"}' "${SDK[@]}" "$ZT_HTTP$API/state"
check "PostgREST's own request headers never reach it" 200 "$JSON" '{"schema":{},"state":"Enable"}' "${SDK[@]}" \
	-H "Content-Profile: other" -H "Accept-Profile: other" -H "Prefer: return=minimal" -H "Range: 0-0" -H "Range-Unit: items" "$ZT_HTTP$API/state"
code=$(oathtool --totp --base32 -N "now + 30 seconds" "$secret")
login=$(curl -s -o "$tmp/login" -w '%{http_code}' "${SDK_PUT[@]}" "$ZT_HTTP/zstack/v1/accounts/login" \
	-d "{\"logInByAccount\":{\"password\":\"alice-password\",\"accountName\":\"alice\",\"systemTags\":[\"twofatoken::$code\"]}}")
n=$((n + 1))
if [ "$login" = 200 ] && grep -qE '^\{"schema":\{"inventory":"org\.zstack\.header\.identity\.SessionInventory"\},"inventory":\{"uuid":"[0-9a-f]{32}","accountUuid":"a0000000000000000000000000000001","userUuid":"a0000000000000000000000000000001","expiredDate":"[^"]+","createDate":"[^"]+","noSessionEvaluation":false\}\}$' "$tmp/login"; then
	echo "ok $n - SDK login: its nested twofatoken tag, a session with its schema"
else
	echo "not ok $n - SDK login: $login $(cat "$tmp/login")"
fi
sdk_session=$(sed -n 's/.*"inventory":{"uuid":"\([0-9a-f]*\)".*/\1/p' "$tmp/login")
check "SDK ValidateSession" 200 "$JSON" '{"valid":true,"schema":{}}' "${SDK[@]}" "$ZT_HTTP/zstack/v1/accounts/sessions/$sdk_session/valid"
renew=$(curl -s -o "$tmp/renew" -w '%{http_code}' "${SDK_PUT[@]}" -H "Authorization: OAuth $sdk_session" \
	"$ZT_HTTP/zstack/v1/accounts/sessions/$sdk_session/renew" -d '{"renewSession":{"duration":3600}}')
n=$((n + 1))
if [ "$renew" = 200 ] && grep -qE "^\\{\"schema\":\\{\"inventory\":\"org\\.zstack\\.header\\.identity\\.SessionInventory\"\\},\"inventory\":\\{\"uuid\":\"$sdk_session\"" "$tmp/renew"; then
	echo "ok $n - SDK RenewSession"
else
	echo "not ok $n - SDK RenewSession: $renew $(cat "$tmp/renew")"
fi
# the session rules of ZStack's server: RenewSession takes a whole double,
# a uuid of no session is SYS.1003, and each call sets the expiry to now +
# the timeout (so a call cuts a long renewal back)
renew=$(curl -s -o "$tmp/renew" -w '%{http_code}' "${SDK_PUT[@]}" -H "Authorization: OAuth $sdk_session" \
	"$ZT_HTTP/zstack/v1/accounts/sessions/$sdk_session/renew" -d '{"renewSession":{"duration":600.0}}')
n=$((n + 1))
if [ "$renew" = 200 ] && grep -q "\"inventory\":{\"uuid\":\"$sdk_session\"" "$tmp/renew"; then
	echo "ok $n - RenewSession takes a whole double (600.0), as ZStack's TypeVerifier does"
else
	echo "not ok $n - RenewSession 600.0: $renew $(cat "$tmp/renew")"
fi
check "RenewSession with 600.5: ZStack's TypeVerifier 400" 400 "$TEXT" "[duration] field is excepted an int or long, but was [600.5]." \
	"${SDK_PUT[@]}" -H "Authorization: OAuth $sdk_session" "$ZT_HTTP/zstack/v1/accounts/sessions/$sdk_session/renew" -d '{"renewSession":{"duration":600.5}}'
check "RenewSession of a uuid with no session: SYS.1003" 503 "$JSON" '{"error":{"code":"SYS.1003","description":"A resource can not be found","details":"invalid field[sessionUuid], resource[uuid:5e55000000000000000000000000dead, type:SessionVO] not found"}}' \
	"${SDK_PUT[@]}" -H "Authorization: OAuth $sdk_session" "$ZT_HTTP/zstack/v1/accounts/sessions/5e55000000000000000000000000dead/renew" -d '{"renewSession":{}}'
curl -s -o /dev/null "${SDK_PUT[@]}" -H "Authorization: OAuth $sdk_session" "$ZT_HTTP/zstack/v1/accounts/sessions/$sdk_session/renew" -d '{"renewSession":{"duration":31536000}}'
year=$(psql -X -At -d "$DB" -c "SELECT expired_date > now() + interval '364 days' FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('$sdk_session')")
curl -s -o /dev/null -H "Authorization: OAuth $sdk_session" "$ZT_HTTP$API/secrets?count=true"
cut=$(psql -X -At -d "$DB" -c "SELECT expired_date BETWEEN now() + interval '7190 seconds' AND now() + interval '7200 seconds' FROM zstack_tfa.session WHERE uuid = zstack_tfa.session_key('$sdk_session')")
n=$((n + 1))
if [ "$year" = t ] && [ "$cut" = t ]; then
	echo "ok $n - a call after a one-year RenewSession sets the expiry back to now + session_timeout"
else
	echo "not ok $n - renewal then a call: year=$year cut=$cut"
fi
check "LogInByAccount with accountType iam2 is ID.1000" 503 "$JSON" '{"error":{"code":"ID.1000","description":"Unable to authenticate a user","details":"wrong account name or password"}}' \
	"${SDK_PUT[@]}" "$ZT_HTTP/zstack/v1/accounts/login" -d '{"logInByAccount":{"password":"alice-password","accountName":"alice","accountType":"iam2"}}'
check "SDK LogOut" 200 "$JSON" '{"schema":{}}' "${SDK[@]}" -X DELETE "$ZT_HTTP/zstack/v1/accounts/sessions/$sdk_session"
check "SDK ValidateSession after LogOut" 200 "$JSON" '{"valid":false,"schema":{}}' "${SDK[@]}" "$ZT_HTTP/zstack/v1/accounts/sessions/$sdk_session/valid"
# recovery codes (issue 22): the batch over POST in ZStack's style, then the
# SDK's login with a recovery code in its nested systemTags, once
RECOVERY=(-X POST -H "Content-Type: application/json; charset=utf-8" "$ZT_HTTP$API/recovery-codes")
if [ -n "$(psql -X -At -d "$DB" -c 'SHOW zstack_tfa.encryption_key_file')" ]; then
	batch=$(curl -s -o "$tmp/batch" -w '%{http_code}|%{content_type}' "${SDK[@]}" -H "Authorization: OAuth $session" "${RECOVERY[@]}" \
		-d '{"params":{"password":"alice-password"},"systemTags":[],"userTags":[]}')
	n=$((n + 1))
	if [ "$batch" = "200|$JSON" ] && grep -qE '^\{"schema":\{\},"inventory":\{"userUuid":"a0000000000000000000000000000001","userType":"AccountVO","codes":\[("[A-Z2-7]{5}-[A-Z2-7]{5}",){9}"[A-Z2-7]{5}-[A-Z2-7]{5}"\],"createDate":"[A-Z][a-z]{2} [0-9]{1,2}, [0-9]{4} [0-9]{1,2}:[0-9]{2}:[0-9]{2} [AP]M"\}\}$' "$tmp/batch"; then
		echo "ok $n - POST .../recovery-codes: ten codes, shown once"
	else
		echo "not ok $n - POST .../recovery-codes: $batch $(cat "$tmp/batch")"
	fi
	mapfile -t rcodes < <(grep -oE '[A-Z2-7]{5}-[A-Z2-7]{5}' "$tmp/batch")
	login=$(curl -s -o "$tmp/login" -w '%{http_code}' "${SDK_PUT[@]}" "$ZT_HTTP/zstack/v1/accounts/login" \
		-d "{\"logInByAccount\":{\"password\":\"alice-password\",\"accountName\":\"alice\",\"systemTags\":[\"twofatoken::${rcodes[0]}\"]}}")
	n=$((n + 1))
	if [ "$login" = 200 ] && grep -qE '^\{"schema":\{"inventory":"org\.zstack\.header\.identity\.SessionInventory"\},"inventory":\{"uuid":"[0-9a-f]{32}","accountUuid":"a0000000000000000000000000000001"' "$tmp/login"; then
		echo "ok $n - SDK login with a recovery code in its nested twofatoken tag: a session"
	else
		echo "not ok $n - SDK recovery login: $login $(cat "$tmp/login")"
	fi
	check "the same recovery code again is refused" 503 "$JSON" '{"error":{"code":"ID.2002","description":"Fail to authenticate a user due to addition authentication","details":"wrong or already used two-factor authentication code"}}' \
		"${SDK_PUT[@]}" "$ZT_HTTP/zstack/v1/accounts/login" -d "{\"logInByAccount\":{\"password\":\"alice-password\",\"accountName\":\"alice\",\"systemTags\":[\"twofatoken::${rcodes[0]}\"]}}"
	rc1=$(printf '%s' "${rcodes[1]}" | tr -d '-' | tr 'A-Z' 'a-z')
	login=$(curl -s -o "$tmp/login" -w '%{http_code}' "${SDK_PUT[@]}" "$ZT_HTTP/zstack/v1/login" \
		-d "{\"logIn\":{\"username\":\"alice\",\"password\":\"alice-password\",\"loginType\":\"account\",\"systemTags\":[\"twofatoken::$rc1\"]}}")
	n=$((n + 1))
	if [ "$login" = 200 ] && grep -q '"accountUuid":"a0000000000000000000000000000001"' "$tmp/login"; then
		echo "ok $n - the unified login takes a recovery code typed in lower case without its dash"
	else
		echo "not ok $n - unified recovery login: $login $(cat "$tmp/login")"
	fi
	check "recovery codes with a wrong password" 503 "$JSON" '{"error":{"code":"ID.1000","description":"Unable to authenticate a user","details":"wrong account name or password"}}' \
		-H "Authorization: OAuth $session" "${RECOVERY[@]}" -d '{"params":{"password":"wrong"}}'
	check "recovery codes without Authorization" 400 "$TEXT" "missing header 'Authorization'" "${RECOVERY[@]}" -d '{"params":{"password":"alice-password"}}'
	check "recovery codes without a password" 503 "$JSON" '{"error":{"code":"SYS.1007","description":"One or more API argument is invalid","details":"field[password] of message[org.zstack.header.message.ApiMessageParamValidator] is mandatory, can not be null"}}' \
		-H "Authorization: OAuth $session" "${RECOVERY[@]}" -d '{"params":{}}'
	n=$((n + 1))
	if grep -rqiE "${rcodes[2]}|$(printf '%s' "${rcodes[2]}" | tr -d '-')|alice-password" "$ZT_HTTP_DIR"/*.log "$ZT_HTTP_DIR"/nginx/*.log 2>/dev/null; then
		echo "not ok $n - an nginx or PostgREST log holds a recovery code or the password"
	else
		echo "ok $n - no nginx or PostgREST log holds a recovery code or the password"
	fi
else
	check "recovery codes without a key file" 503 "$JSON" '{"error":{"code":"SYS.1006","description":"An operation failed","details":"recovery codes need a key: the server has no zstack_tfa.encryption_key_file (README \"Recovery codes\")"}}' \
		-H "Authorization: OAuth $session" "${RECOVERY[@]}" -d '{"params":{"password":"alice-password"}}'
fi
check "an IAM2 user without its code" 503 "$JSON" '{"error":{"code":"ID.2001","description":"The user has to login by addition authentication","details":"{\"authentications\":[\"googleAuth\"],\"credentials\":\"alice-dev\"}"}}' \
	"${SDK_PUT[@]}" "$ZT_HTTP/zstack/v1/iam2/virtual-ids/login" -d '{"loginIAM2VirtualID":{"password":"dev-password","name":"alice-dev"}}'
check "the unified login, an unknown type" 503 "$JSON" '{"error":{"code":"SYS.1006","description":"An operation failed","details":"unsupported login type ldap"}}' \
	"${SDK_PUT[@]}" "$ZT_HTTP/zstack/v1/login" -d '{"logIn":{"username":"alice","password":"alice-password","loginType":"ldap"}}'
check "a bad X-Job-UUID" 400 "$TEXT" "Invalid header[X-Job-UUID], it must be a UUID with '-' stripped" \
	-X PUT -H "X-Job-UUID: 42" "$ZT_HTTP/zstack/v1/login" -d '{}'
check "a body nested 30,000 deep is a 400, not PostgreSQL's error" 400 "$TEXT" 'Invalid request body: it nests deeper than 32 levels' \
	-X PUT "$ZT_HTTP/zstack/v1/accounts/login" --data-binary "@$(printf '%*s' 30000 '' | tr ' ' '[' >"$tmp/deep"; printf '%*s' 30000 '' | tr ' ' ']' >>"$tmp/deep"; echo "$tmp/deep")"
check "a body with \\u0000" 400 "$TEXT" 'Invalid request body: it is not valid JSON' \
	-X PUT "$ZT_HTTP/zstack/v1/accounts/login" -d '{"logInByAccount":{"accountName":"alice\u0000","password":"x"}}'

# ResetTwoFactorAuthenticationSecret as the Java SDK sends it: PUT on the
# query's path, the parameter object named by the API; admin only; the user
# by name, password and type; answered at once with the new secret
RESET_OK='{"resetTwoFactorAuthenticationSecret":{"name":"alice","password":"alice-password","type":"account"},"systemTags":[],"userTags":[]}'
psql -X -q -d "$DB" -c "SELECT zstack_tfa.create_iam2_virtual_id('admin', 'admin-ops', 'ops-password');
	INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, user_type, expired_date)
	SELECT zstack_tfa.session_key('5e550000000000000000000000000005'), account_uuid, uuid, 'IAM2VirtualIDVO', now() + interval '1 day'
	FROM zstack_tfa.iam2_virtual_id WHERE name = 'admin-ops'" >/dev/null
check "reset: a body without the API's key" 400 "$TEXT" "the body doesn't contain action mapping to the URL[/v1/twofactorauthentication/secrets]" \
	"${SDK_PUT[@]}" -H "$ADMIN" "$ZT_HTTP$API/secrets" -d '{"systemTags":[]}'
check "reset by a Normal account: ID.1002" 503 "$JSON" '{"error":{"code":"ID.1002","description":"The user doesn'"'"'t have permission to perform the operation","details":"only a SystemAdmin account may reset two-factor authentication secrets"}}' \
	"${SDK_PUT[@]}" -H "$ALICE" "$ZT_HTTP$API/secrets" -d "$RESET_OK"
check "reset by an IAM2 user of the admin account: ID.1002" 503 "$JSON" '{"error":{"code":"ID.1002","description":"The user doesn'"'"'t have permission to perform the operation","details":"only a SystemAdmin account may reset two-factor authentication secrets"}}' \
	"${SDK_PUT[@]}" -H "Authorization: OAuth 5e550000000000000000000000000005" "$ZT_HTTP$API/secrets" -d "$RESET_OK"
check "reset with a wrong password: ID.1000" 503 "$JSON" '{"error":{"code":"ID.1000","description":"Unable to authenticate a user","details":"wrong account name or password"}}' \
	"${SDK_PUT[@]}" -H "$ADMIN" "$ZT_HTTP$API/secrets" -d '{"resetTwoFactorAuthenticationSecret":{"name":"alice","password":"wrong","type":"account"}}'
check "reset with a bad type: the validator's SYS.1007" 503 "$JSON" '{"error":{"code":"SYS.1007","description":"One or more API argument is invalid","details":"valid value for field[type] of message[org.zstack.header.message.ApiMessageParamValidator] are [account, iam2], but ldap found"}}' \
	"${SDK_PUT[@]}" -H "$ADMIN" "$ZT_HTTP$API/secrets" -d '{"resetTwoFactorAuthenticationSecret":{"name":"alice","password":"alice-password","type":"ldap"}}'
reset=$(curl -s -o "$tmp/reset" -w '%{http_code}|%{content_type}' "${SDK_PUT[@]}" -H "$ADMIN" "$ZT_HTTP$API/secrets" -d "$RESET_OK")
new_secret=$(sed -n 's/.*"secret":"\([A-Z2-7]*\)".*/\1/p' "$tmp/reset")
n=$((n + 1))
if [ "$reset" = "200|$JSON" ] && grep -qE "^\{\"schema\":\{\"inventory\":\"org\.zstack\.twoFactorAuthentication\.TwoFactorAuthenticationSecretInventory\",\"inventory\.status\":\"org\.zstack\.twoFactorAuthentication\.TwoFactorAuthenticationSecretStatus\"\},\"inventory\":\{\"uuid\":\"[0-9a-f]{32}\",\"secret\":\"[A-Z2-7]{16}\",\"status\":\"NewCreated\",\"createDate\":\"[^\"]+\",\"lastOpDate\":\"[^\"]+\",\"userUuid\":\"a0000000000000000000000000000001\",\"userType\":\"AccountVO\"\}\}$" "$tmp/reset" && [ "$new_secret" != "$secret" ]; then
	echo "ok $n - reset by the admin: 200, a new NewCreated secret in full, with its schema"
else
	echo "not ok $n - reset: $reset $(cat "$tmp/reset")"
fi
check "after the reset the secret fetch shows the new secret" 200 "$JSON" "$(cat "$tmp/reset" | sed 's/^{"schema":{[^}]*},/{/')" \
	-G "$ZT_HTTP$API/secret" --data-urlencode name=alice --data-urlencode password=alice-password --data-urlencode type=account
check "the old secret no longer logs in" 503 "$JSON" '{"error":{"code":"ID.2002","description":"Fail to authenticate a user due to addition authentication","details":"wrong or already used two-factor authentication code"}}' \
	"${SDK_PUT[@]}" "$ZT_HTTP/zstack/v1/accounts/login" -d "{\"logInByAccount\":{\"password\":\"alice-password\",\"accountName\":\"alice\",\"systemTags\":[\"twofatoken::$(oathtool --totp --base32 -N "now + 60 seconds" "$secret")\"]}}"
login=$(curl -s -o "$tmp/login" -w '%{http_code}' "${SDK_PUT[@]}" "$ZT_HTTP/zstack/v1/accounts/login" \
	-d "{\"logInByAccount\":{\"password\":\"alice-password\",\"accountName\":\"alice\",\"systemTags\":[\"twofatoken::$(oathtool --totp --base32 "$new_secret")\"]}}")
n=$((n + 1))
if [ "$login" = 200 ]; then echo "ok $n - the new secret logs in with its first code"; else echo "not ok $n - new secret login: $login $(cat "$tmp/login")"; fi
reset=$(curl -s -o "$tmp/reset" -w '%{http_code}' "${SDK_PUT[@]}" -H "$ADMIN" "$ZT_HTTP$API/secrets" \
	-d '{"resetTwoFactorAuthenticationSecret":{"name":"admin-ops","password":"ops-password","type":"iam2"}}')
n=$((n + 1))
if [ "$reset" = 200 ] && grep -q '"status":"NewCreated",.*"userType":"IAM2VirtualIDVO"}}$' "$tmp/reset"; then
	echo "ok $n - reset of an IAM2 user's secret (type iam2)"
else
	echo "not ok $n - IAM2 reset: $reset $(cat "$tmp/reset")"
fi
audit=$(psql -X -At -d "$DB" -c "SELECT string_agg(outcome || '/' || coalesce(error_code, '-') || '/' || (actor_user_uuid = '36c27e8ff05c4780bf6d2fa65700f22e')::text, ' ' ORDER BY id)
	FROM zstack_tfa.auth_event WHERE kind = 'reset_secret'")
n=$((n + 1))
if [ "$audit" = "denied/ID.1002/false denied/ID.1002/false bad_credentials/ID.1000/true success/-/true success/-/true" ]; then
	echo "ok $n - the audit log names who reset (or tried to reset) whose secret"
else
	echo "not ok $n - audit: $audit"
fi

# nginx never logs a query string (GET .../secret carries a password) nor a
# session uuid; it logs the path the client sent, not PostgREST's
n=$((n + 1))
if grep -q "alice-password\|password=\|?" "$ZT_HTTP_DIR/access.log"; then echo "not ok $n - the access log holds a query string"; else echo "ok $n - the access log holds no query string"; fi
n=$((n + 1))
if grep -q "$sdk_session\|/rpc/zstack" "$ZT_HTTP_DIR/access.log" ||
	! grep -q '"GET /zstack/v1/accounts/sessions/{sessionUuid}/valid"' "$ZT_HTTP_DIR/access.log"; then
	echo "not ok $n - the access log: $(tail -3 "$ZT_HTTP_DIR/access.log")"
else
	echo "ok $n - the access log names each call by its path, session uuids masked"
fi
# with PostgREST down, nginx's error log must not keep the request line
kill "$(cat "$ZT_HTTP_DIR/postgrest.pid")"
sleep 0.3
down=$(curl -s -o /dev/null -w '%{http_code}' -G "$ZT_HTTP$API/secret" --data-urlencode name=alice --data-urlencode password=Canary-Down-Pass)
n=$((n + 1))
if [ "$down" = 502 ]; then echo "ok $n - PostgREST down: nginx answers 502"; else echo "not ok $n - PostgREST down: $down"; fi
n=$((n + 1))
if grep -rq "Canary-Down-Pass" "$ZT_HTTP_DIR"/*.log "$ZT_HTTP_DIR"/nginx/*.log 2>/dev/null; then
	echo "not ok $n - an nginx log holds the password of a failed call"
else
	echo "ok $n - no nginx log holds the password of a failed call"
fi

zt_stop_http_stack
rm -rf "$tmp"
psql -X -q -c "DROP DATABASE $DB" >/dev/null
echo "1..$n"
