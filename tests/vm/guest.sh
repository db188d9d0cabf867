#!/bin/bash
# PID 1 of the test VM after switch_root (see init.sh): mounts the usual pseudo
# filesystems and a pure cgroup v2 hierarchy, mounts the shared results directory, runs the
# command that tests/vm/run.sh wrote there, in the repo, as root, with its output on the
# console and in results/output.log, writes its exit status to results/status, then powers
# the VM off. Never returns: PID 1 exiting would panic the kernel.
set -euo pipefail

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
RESULTS=/run/vm-results

say() { echo "vm: $*"; }
ts() { read -r up _ </proc/uptime; echo "TS $up $*"; }

power_off() {
    sync
    # Reboot, not poweroff: with qemu's -no-reboot it ends qemu at once on every machine
    # type, and the host reads the status file, not the exit path.
    echo b >/proc/sysrq-trigger
    sleep 10
    exit 1
}

# shellcheck disable=SC2317  # called by the ERR trap
on_error() {
    say "guest setup failed (line $1); powering off"
    power_off
}
trap 'on_error $LINENO' ERR

mnt() { # mnt TYPE SOURCE TARGET OPTIONS
    mkdir -p "$3"
    mount -t "$1" -o "$4" "$2" "$3"
}

mnt proc proc /proc nosuid,nodev,noexec
ts start
mnt sysfs sysfs /sys nosuid,nodev,noexec
mnt cgroup2 cgroup2 /sys/fs/cgroup nosuid,nodev,noexec,nsdelegate,memory_recursiveprot
mnt devpts devpts /dev/pts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5
mnt tmpfs tmpfs /dev/shm nosuid,nodev,mode=1777
mnt mqueue mqueue /dev/mqueue nosuid,nodev,noexec
mnt tmpfs tmpfs /tmp nosuid,nodev,mode=1777
mnt tmpfs tmpfs /run nosuid,nodev,mode=0755
mnt 9p results "$RESULTS" trans=virtio,version=9p2000.L,msize=512000
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
ln -sf pts/ptmx /dev/ptmx
mkdir -p /run/netns /run/lock /run/user
ts mounts
hostname forge-vm
ip link set lo up
# Boot messages are on the console already; from here on keep kernel messages (an OOM
# kill a test provokes, say) out of the test output. They are saved to results/dmesg.log.
dmesg -n 1
stty -onlcr </dev/console || true

# The command: NUL-separated words, then FORGE_* variables from the host, then the repo.
ts pre-cmd
mapfile -d '' -t cmd <"$RESULTS/cmd"
while IFS= read -r -d '' kv; do
    export "${kv?}"
done <"$RESULTS/env"
repo=$(cat "$RESULTS/repo")

# Optionally run the command in a non-root cgroup, as a daemon under systemd would be
# (e.g. FORGE_VM_CGROUP=/system.slice/forged.service); the default is the root cgroup.
if [ -n "${FORGE_VM_CGROUP:-}" ]; then
    mkdir -p "/sys/fs/cgroup${FORGE_VM_CGROUP}"
    echo $$ >"/sys/fs/cgroup${FORGE_VM_CGROUP}/cgroup.procs"
fi

say "kernel $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime)s"
say "cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
say "running in $repo: ${cmd[*]}"
trap - ERR
set +e
cd "$repo" && "${cmd[@]}" </dev/null 2>&1 | tee "$RESULTS/output.log"
status=${PIPESTATUS[0]}
set -e
trap 'on_error $LINENO' ERR
say "command exited with status $status at uptime $(cut -d' ' -f1 /proc/uptime)s"
dmesg >"$RESULTS/dmesg.log" 2>&1 || true
echo "$status" >"$RESULTS/status.tmp"
mv "$RESULTS/status.tmp" "$RESULTS/status"
power_off
