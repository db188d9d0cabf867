#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# mkrootfs-busybox.sh DIR — build a minimal busybox-static root filesystem in DIR.
#
# DIR/bin/busybox is a copy of the host's static busybox (Debian package
# busybox-static), with one symlink per applet at the path `busybox --list-full`
# gives, the usual empty mount points, and a root + nobody account. Everything is
# owned by root, files 0755/0644. The tree is built in DIR.tmp and renamed into
# place, so an interrupted run never leaves a half-built DIR; running it again on
# an existing DIR does nothing.
set -euo pipefail

BUSYBOX=${BUSYBOX:-/bin/busybox}

die() { echo "mkrootfs-busybox: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DIR"
dest=${1%/}
[ -n "$dest" ] || die "usage: $0 DIR"

if [ -x "$dest/bin/busybox" ] && [ -f "$dest/etc/passwd" ]; then
	exit 0
fi
[ -e "$dest" ] && die "$dest exists but is not a complete rootfs; remove it first"

[ "$(id -u)" = 0 ] || die "must run as root (the tree is owned by root): try 'sudo make rootfs'"
[ -x "$BUSYBOX" ] || die "$BUSYBOX: not found (install the busybox-static package)"
# A dynamically linked busybox would need the host's libc inside the rootfs.
if command -v file >/dev/null 2>&1; then
	file -L "$BUSYBOX" | grep -q 'statically linked' ||
		die "$BUSYBOX is not statically linked (install busybox-static)"
fi

tmp="$dest.tmp"
rm -rf --one-file-system "$tmp"
mkdir -p "$(dirname "$dest")"
trap 'rm -rf --one-file-system "$tmp"' EXIT
umask 022

mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,proc,dev,tmp,run,sys,etc,root,var/tmp,mnt}
install -m 0755 "$BUSYBOX" "$tmp/bin/busybox"

# One link per applet. busybox's own shell runs mkdir/ln in-process (NOFORK
# applets), which is ~10x faster than forking coreutils 270 times.
# shellcheck disable=SC2016  # the script is for busybox sh
"$BUSYBOX" --list-full | "$BUSYBOX" sh -c '
	cd "$1" || exit 1
	while IFS= read -r applet; do
		[ -n "$applet" ] && [ "$applet" != bin/busybox ] || continue
		mkdir -p "${applet%/*}" && ln -sfn /bin/busybox "$applet" || exit 1
	done' mkrootfs "$tmp"
# A few images' scripts expect /bin/sh even if the applet list lacks it.
[ -e "$tmp/bin/sh" ] || ln -s /bin/busybox "$tmp/bin/sh"

cat >"$tmp/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$tmp/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo forge >"$tmp/etc/hostname"
: >"$tmp/etc/resolv.conf"

chmod 0755 "$tmp" "$tmp"/{bin,sbin,usr,usr/bin,usr/sbin,proc,dev,run,sys,etc,root,var,mnt}
chmod 1777 "$tmp/tmp" "$tmp/var/tmp"
chmod 0644 "$tmp"/etc/{passwd,group,hostname,resolv.conf}
chown -hR 0:0 "$tmp"

mv -T "$tmp" "$dest"
trap - EXIT
