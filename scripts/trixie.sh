#!/usr/bin/env bash
# PostgreSQL 17 for the test and demo scripts: Debian trixie's own packages
# (postgresql-17 17.x), whose binaries need trixie's libc, in a
# `debootstrap --variant=minbase trixie` chroot kept in
# $ZT_PG_CACHE/trixie-root (outside the work tree; about 7 minutes and
# 2.6 GB the first time) and reused by later runs.  The work tree is
# bind-mounted at its own path, so a command run inside sees the same files.
#
#   bash scripts/trixie.sh CMD...     run CMD in the work tree, in the chroot;
#                                     exits with CMD's status, or 125 when
#                                     the chroot cannot be made or mounted
#   bash scripts/trixie.sh --umount   unmount what a kept run left mounted
#   bash scripts/trixie.sh --remove   unmount and remove the chroot
#
# ZT_TRIXIE_KEEP_MOUNTS=1 leaves the mounts after CMD (demo.sh --keep: its
# cluster keeps running in the chroot).
# `scripts/test.sh --pg 17` and `scripts/demo.sh --pg 17` call it on a
# release that does not ship 17 (bookworm); inside, the os is trixie and 17
# is the system's PostgreSQL (lib.sh's ZT_OS_PG_MAJOR).  Needs root.
set -u
. "$(dirname "$0")/lib.sh"

ZT_TRIXIE_ROOT=${ZT_TRIXIE_ROOT:-$ZT_PG_CACHE/trixie-root}

# The folders mounted under the chroot, outermost first.
zt_trixie_mounts() {
	awk -v r="$ZT_TRIXIE_ROOT" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts
}

# Unmount everything under the chroot, innermost first.
zt_trixie_umount() {
	local m
	for m in $(zt_trixie_mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	[ -z "$(zt_trixie_mounts)" ]
}

# Mount what a run needs: /proc, /sys, the host's /dev and /dev/pts, a
# shared-memory tmpfs of its own (PostgreSQL's dynamic shared memory), and
# the work tree at its own path.
zt_trixie_mount() {
	local r=$ZT_TRIXIE_ROOT
	mount -t proc proc "$r/proc" &&
	mount -t sysfs sysfs "$r/sys" &&
	mount --bind /dev "$r/dev" &&
	mount --bind /dev/pts "$r/dev/pts" &&
	mount -t tmpfs -o mode=1777 shm "$r/dev/shm" &&
	mkdir -p "$r$ZT_ROOT" &&
	mount --bind "$ZT_ROOT" "$r$ZT_ROOT" ||
		{ zt_trixie_umount; return 1; }
	# the host's resolver, for apt and npm
	cp -L /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null
	return 0
}

# Run a command ($@) in the chroot, in the work tree, with a clean
# environment but for the ZT_ settings the caller gave.
zt_trixie_exec() {
	local envs=() v
	for v in $(compgen -e | grep '^ZT_' | grep -v -e '^ZT_ROOT$' -e '^ZT_PG_HOME$' -e '^ZT_PG_ROOT$' \
		-e '^ZT_PG_CACHE$' -e '^ZT_OS_' -e '^ZT_CLANG_RT$' -e '^ZT_JDK$'); do
		envs+=("$v=${!v}")
	done
	chroot "$ZT_TRIXIE_ROOT" /usr/bin/env -i ZT_TRIXIE_ROOT="$ZT_TRIXIE_ROOT" HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		ZT_IN_TRIXIE=1 "${envs[@]}" /bin/bash -c 'cd "$0" && exec "$@"' "$ZT_ROOT" "$@"
}

# Make the chroot (debootstrap, then the suite's packages through lib.sh's
# own lists, run inside), unless it is complete; refresh its packages at
# most once a day.  Prints what it does on stderr.
zt_trixie_ensure() {
	local r=$ZT_TRIXIE_ROOT mirror start=$SECONDS
	if [ ! -f "$r/.complete" ]; then
		echo "== making the trixie chroot for PostgreSQL 17 in $r (once, about 7 minutes)" >&2
		zt_trixie_umount || { echo "$r: cannot unmount what is mounted there" >&2; return 1; }
		rm -rf "$r"
		zt_install_packages debootstrap debian-archive-keyring || return 1
		mirror=$(zt_debian_mirror)
		mirror=${mirror:-http://deb.debian.org/debian}
		mkdir -p "$ZT_PG_CACHE"
		debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
			trixie "$r" "$mirror" >"$ZT_PG_CACHE/trixie-debootstrap.log" 2>&1 ||
			{ echo "debootstrap failed:" >&2; tail -n 20 "$ZT_PG_CACHE/trixie-debootstrap.log" >&2; return 1; }
		# packages install without starting services, and without a cluster
		# of their own: the scripts make throwaway ones
		printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
		chmod 755 "$r/usr/sbin/policy-rc.d"
		mkdir -p "$r/etc/postgresql-common"
		echo 'create_main_cluster = false' >"$r/etc/postgresql-common/createcluster.conf"
		printf 'APT::Install-Recommends "false";\nDpkg::Options { "--force-confold"; };\n' \
			>"$r/etc/apt/apt.conf.d/90zstack_tfa"
		touch "$r/.fresh"
	fi
	zt_trixie_mount || return 1
	if [ -f "$r/.fresh" ] || [ -z "$(find "$r/.refreshed" -mtime -1 2>/dev/null)" ]; then
		# what the suite installs when it is missing (lib.sh, http.sh,
		# valgrind.sh, test/jdbc/run.sh, test/pooled/run.sh), installed now
		# and kept; offline, a complete chroot runs as it is
		if zt_trixie_exec bash -c '. scripts/lib.sh && . scripts/http.sh &&
			apt-get -qq update && apt-get -y -qq upgrade >/dev/null &&
			zt_install_deps && zt_install_packages nginx-light curl valgrind procps ca-certificates \
				"$ZT_JDK" libpostgresql-jdbc-java libgoogle-gson-java pgbouncer prometheus-postgres-exporter' >&2; then
			rm -f "$r/.fresh"; touch "$r/.refreshed" "$r/.complete"
		elif [ ! -f "$r/.complete" ]; then
			echo "the trixie chroot's packages did not install" >&2
			zt_trixie_umount; return 1
		fi
		[ "$start" -ne "$SECONDS" ] && echo "== trixie chroot ready ($((SECONDS - start)) s, $(du -sh -x "$r" 2>/dev/null | cut -f1))" >&2
	fi
	return 0
}

main() {
	[ "$(id -u)" -eq 0 ] || { echo "scripts/trixie.sh needs root (debootstrap, chroot, mount)" >&2; return 1; }
	[ $# -gt 0 ] || { echo "usage: $0 CMD... | --remove" >&2; return 2; }
	mkdir -p "$ZT_PG_CACHE"
	# one run at a time uses the chroot: its mounts are this run's
	exec 9>"$ZT_PG_CACHE/.trixie.lock"
	flock 9
	case "$1" in
		--umount) zt_trixie_umount; return ;;
		--remove) zt_trixie_umount && rm -rf "$ZT_TRIXIE_ROOT"; return ;;
	esac
	zt_trixie_ensure || return 125
	local rc
	zt_trixie_exec "$@" 9>&-
	rc=$?
	[ "${ZT_TRIXIE_KEEP_MOUNTS:-0}" = 1 ] || zt_trixie_umount
	return $rc
}
main "$@"
