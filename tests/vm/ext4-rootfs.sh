#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# ext4-rootfs.sh CMD [ARG...] — guest side of `make vmtest`: copies the test
# rootfs onto a fresh ext4 loop filesystem in /tmp and runs CMD with
# FORGE_TEST_ROOTFS pointing at it. The host's filesystem reaches the guest
# over 9p, which has no idmapped mounts; ext4 has them on 6.1, so the suites
# exercise the idmapped path (and 6.1's refusal of detached overlay layers,
# which the runtime works around) instead of the fallback.
set -euo pipefail

src=${FORGE_TEST_ROOTFS:?FORGE_TEST_ROOTFS must name the busybox rootfs}
img=/tmp/forge-ext4.img
mnt=/tmp/forge-ext4

truncate -s 2G "$img" # sparse: only what the tests write takes memory
mkfs.ext4 -q -F "$img"
modprobe loop 2>/dev/null || true
mkdir -p "$mnt"
mount -o loop "$img" "$mnt"
cp -a "$src" "$mnt/rootfs"
export FORGE_TEST_ROOTFS="$mnt/rootfs"
# The suites' private roots (image stores, scenario state) on ext4 too: the
# guest's /tmp is tmpfs, which has no idmapped mounts before Linux 6.3, and
# image files owned by root would then be unreadable as container root.
mkdir -p "$mnt/tmp"
chmod 1777 "$mnt/tmp"
export FORGE_TEST_TMPDIR="$mnt/tmp"
echo "ext4-rootfs: FORGE_TEST_ROOTFS=$FORGE_TEST_ROOTFS (ext4, idmapped mounts available)"
rc=0
"$@" || rc=$?
umount "$mnt" || true
exit "$rc"
