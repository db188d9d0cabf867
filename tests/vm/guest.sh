#!/bin/bash
# PID 1 of the test VM after switch_root (init.sh has mounted /proc, /sys, the cgroup v2
# hierarchy, /dev, /tmp, /run and the results share): runs the command that
# tests/vm/run.sh wrote into the results share, in the repo, as root, with its output on the
# console and in results/output.log, writes its exit status to results/status, then powers
# the VM off. Never returns: PID 1 exiting would panic the kernel.
set -euo pipefail

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
export FORGE_VM_RESULTS=/run/vm-results
RESULTS=$FORGE_VM_RESULTS

say() { echo "vm: $*"; }
uptime_s() { local up _; read -r up _ </proc/uptime; echo "$up"; }

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

# The command: NUL-separated words, then FORGE_* variables from the host, then the repo.
mapfile -d '' -t cmd <"$RESULTS/cmd"
while IFS= read -r -d '' kv; do
    export "${kv?}"
done <"$RESULTS/env"
repo=$(<"$RESULTS/repo")

# Optionally run the command in a non-root cgroup, as a daemon under systemd would be
# (e.g. FORGE_VM_CGROUP=/system.slice/forged.service); the default is the root cgroup.
if [ -n "${FORGE_VM_CGROUP:-}" ]; then
    mkdir -p "/sys/fs/cgroup${FORGE_VM_CGROUP}"
    echo $$ >"/sys/fs/cgroup${FORGE_VM_CGROUP}/cgroup.procs"
fi

say "kernel $(</proc/sys/kernel/osrelease), command starts at uptime $(uptime_s)s"
say "cgroup.controllers: $(</sys/fs/cgroup/cgroup.controllers)"
say "running in $repo: ${cmd[*]}"
trap - ERR
set +e
cd "$repo" && "${cmd[@]}" </dev/null 2>&1 | tee "$RESULTS/output.log"
status=${PIPESTATUS[0]}
set -e
trap 'on_error $LINENO' ERR
say "command exited with status $status at uptime $(uptime_s)s"
dmesg >"$RESULTS/dmesg.log" 2>&1 || true
echo "$status" >"$RESULTS/status"
power_off
