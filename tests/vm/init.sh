#!/bin/sh
# /init of the test VM's initramfs (busybox sh, PID 1). Loads the modules the 9p root needs,
# mounts the host's / (read-only, virtio-9p) under a tmpfs-backed overlay and switch_roots
# into it, running the repo's tests/vm/guest.sh as the new PID 1. PID 1 itself must
# switch_root: module autoloading (veth, bridge, nf_tables) runs the new root's
# /sbin/modprobe only then; a chroot in a child would leave it looking in the initramfs.
# This init also mounts the guest's pseudo filesystems (see below).
# Kernel command line: forge.vm=microvm|pc picks the module list, forge.guest=PATH the
# guest script (a path in the host's tree).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

fail() {
    echo "vm-init: $*" >&2
    echo "vm-init: cannot start the guest; stopping the VM" >&2
    # A reset ends qemu (-no-reboot); if even that fails, PID 1 exiting panics the
    # kernel, and panic=-1 resets too.
    reboot -f
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
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000 hostroot /lower ||
    fail "mount the host's / (9p tag hostroot)"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount the overlay's tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
    fail "mount the root overlay"
[ -r "/newroot$guest" ] || fail "guest script $guest not found in the host's tree"

# The guest's pseudo filesystems and tmpfs dirs, a pure cgroup v2 hierarchy (mounted as
# systemd does) and the results share: done here with the initramfs' busybox because each
# exec of a host binary costs about 50 ms under TCG.
R=/newroot
# A repo under /tmp or /run (a CI checkout, say) would be hidden by the tmpfs mounted
# there below: hold it on a bind mount and put it back on top afterwards.
repo=${guest%/tests/vm/guest.sh}
held=""
case $repo/ in
/tmp/* | /run/*)
    { mkdir -p /held && mount --bind "$R$repo" /held; } || fail "hold the repo $repo"
    held=1
    ;;
esac
mount --move /dev $R/dev || fail "move /dev"
mnt() { # mnt TYPE SOURCE TARGET OPTIONS
    mkdir -p "$R$3" || fail "mkdir $3"
    mount -t "$1" -o "$4" "$2" "$R$3" || fail "mount $1 on $3"
}
mnt proc proc /proc nosuid,nodev,noexec
mnt sysfs sysfs /sys nosuid,nodev,noexec
mnt cgroup2 cgroup2 /sys/fs/cgroup nosuid,nodev,noexec,nsdelegate,memory_recursiveprot
mnt devpts devpts /dev/pts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5
mnt tmpfs tmpfs /dev/shm nosuid,nodev,mode=1777
mnt mqueue mqueue /dev/mqueue nosuid,nodev,noexec
mnt tmpfs tmpfs /tmp nosuid,nodev,mode=1777
mnt tmpfs tmpfs /run nosuid,nodev,mode=0755
mnt 9p results /run/vm-results trans=virtio,version=9p2000.L,msize=512000
: >"$R/run/vm-results/booted" # the host's boot watchdog waits for this
if [ -n "$held" ]; then
    { mkdir -p "$R$repo" && mount --move /held "$R$repo"; } || fail "put the repo back at $repo"
fi
ln -sfn /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
ln -sf pts/ptmx $R/dev/ptmx
mkdir -p $R/run/netns $R/run/lock $R/run/user
hostname forge-vm
ip link set lo up || fail "ip link set lo up"
# Boot messages are on the console already; from here on keep kernel messages (an OOM kill
# a test provokes, say) out of the test output: guest.sh saves them to results/dmesg.log.
dmesg -n 1
stty -onlcr </dev/console

# The overlay holds its own references to its layers.
umount /rw /lower /proc
exec switch_root /newroot /bin/bash "$guest"
