#!/usr/bin/env bash
# Every source file of src/ compiled with -Werror against PostgreSQL 17's
# server headers (lib.sh's zt_pg17_headers: trixie's postgresql-server-dev-17,
# whose server binaries need trixie's libc and cannot run here), with the
# warning flags PGXS and the Makefile use.  Prints TAP.
set -u
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$ZT_ROOT"
n=0
failed=0
if ! hdr=$(zt_pg17_headers); then
	echo "not ok 1 - PostgreSQL 17's server headers"; echo "1..1"; exit 1
fi
inc=$hdr/usr/include/postgresql
work=$(mktemp -d /tmp/zstack_tfa_compile17.XXXXXX)
trap 'rm -rf "$work"' EXIT
# trixie's pg_config.h says its libc has strlcpy (glibc 2.38); this one's
# is older, so the declaration comes from here
echo 'extern unsigned long strlcpy(char *dst, const char *src, unsigned long size);' >"$work/strlcpy.h"
for f in src/*.c; do
	n=$((n + 1))
	if gcc -std=gnu99 -fsyntax-only -O2 -Wall -Wextra -Werror -Wno-unused-parameter \
		-Wno-missing-field-initializers -Wmissing-prototypes -Wpointer-arith \
		-Wdeclaration-after-statement -Werror=vla -Wendif-labels -Wmissing-format-attribute \
		-Wimplicit-fallthrough=3 -Wcast-function-type -Wformat-security -fno-strict-aliasing \
		-fwrapv -D_GNU_SOURCE -include "$work/strlcpy.h" -Isrc -I"$inc/17/server" \
		-I"$inc/internal" -I"$inc" "$f" >"$work/out" 2>&1; then
		echo "ok $n - $f compiles against PostgreSQL $(basename "$hdr" | sed 's/^headers-pg17-//')"
	else
		failed=$((failed + 1))
		echo "not ok $n - $f compiles against PostgreSQL 17"
		sed 's/^/# /' "$work/out" | head -20
	fi
done
echo "1..$n"
[ "$failed" -eq 0 ]
