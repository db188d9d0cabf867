#!/bin/sh
# /init of the test VM's initramfs (busybox sh, PID 1). Loads the modules the 9p root needs,
# mounts the host's / (read-only, virtio-9p) under a tmpfs-backed overlay and switch_roots
# into it, running the repo's tests/vm/guest.sh as the new PID 1. PID 1 itself must
# switch_root: module autoloading (veth, bridge, nf_tables) runs the new root's
# /sbin/modprobe only then; a chroot in a child would leave it looking in the initramfs.
# Kernel command line: forge.vm=microvm|pc picks the module list, forge.guest=PATH the
# guest script (a path in the host's tree).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

fail() {
    echo "vm-init: $*" >&2
    echo "vm-init: cannot start the guest; powering off" >&2
    poweroff -f
    sleep 5
    exit 1
}

mount -t proc proc /proc || fail "mount /proc"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"

vm=microvm guest=
read -r cmdline </proc/cmdline
for arg in $cmdline; do
    case $arg in
        forge.vm=*) vm=${arg#forge.vm=} ;;
        forge.guest=*) guest=${arg#forge.guest=} ;;
    esac
done
[ -n "$guest" ] || fail "no forge.guest= on the kernel command line"
[ -r "/etc/modules-$vm" ] || fail "unknown forge.vm=$vm"

while read -r ko; do
    insmod "/modules/$ko" || fail "insmod $ko"
done <"/etc/modules-$vm"

mkdir -p /lower /rw /newroot
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /lower ||
    fail "mount the host's / (9p tag hostroot)"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount the overlay's tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
    fail "mount the root overlay"
[ -r "/newroot$guest" ] || fail "guest script $guest not found in the host's tree"

# The overlay holds its own references to its layers; keep only /dev across.
mount --move /dev /newroot/dev || fail "move /dev"
umount /rw /lower /proc
exec switch_root /newroot /bin/bash "$guest"
