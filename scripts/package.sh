#!/usr/bin/env bash
# Builds the Debian package of zstack_tfa the way the PostgreSQL project's
# Debian repository builds extensions: debian/ for pg_buildext, one binary
# package postgresql-N-zstack-tfa for every supported major N that this
# machine has (postgresql-common's supported-versions; set
# PG_SUPPORTED_VERSIONS=installed for every installed server-dev).  Builds
# in a scratch copy of the tree (its tracked and unignored files), so that
# no build output of the work tree goes in; the .deb files land in dist/
# (or the folder given as $1).
set -eu
. "$(dirname "$0")/lib.sh"
out=${1:-$ZT_ROOT/dist}
zt_install_packages dpkg-dev debhelper fakeroot postgresql-server-dev-all \
	liboath-dev libqrencode-dev libpng-dev libssl-dev
work=$(mktemp -d /tmp/zstack_tfa_deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$out"
zt_copy_tree "$work/src"
# pg_buildext passes each major's pg_config itself
unset PG_CONFIG
(cd "$work/src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 ||
	{ tail -n 40 "$work/build.log"; exit 1; }
cp "$work"/*.deb "$out/"
ls "$work"/*.deb | xargs -n 1 basename | sed "s|^|$out/|"
