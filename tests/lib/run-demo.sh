#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# run-demo.sh FORGECTL ROOTFS — what `make run` shows: one container started
# from the busybox rootfs, printing from the inside what isolates it, and the
# launcher's isolation report (JSON) from the host side.
set -uo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 FORGECTL ROOTFS" >&2
	exit 2
fi
forgectl=$1
rootfs=$2
if [ "$(id -u)" != 0 ]; then
	echo "make run: starting a container needs root (namespaces, cgroups): try 'sudo make run'" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/forge-demo.XXXXXX) || exit 1
trap 'rm -rf --one-file-system "$tmp"' EXIT

# The script runs inside the container with the container's busybox.
# shellcheck disable=SC2016  # expanded inside the container
inside='
section() { printf "\n== %s\n" "$1"; }
section "identity: root inside, mapped to an unprivileged host uid (uid_map: inside outside count)"
id
cat /proc/self/uid_map
section "hostname (own UTS namespace)"
hostname
section "processes: only the container'"'"'s own (own PID namespace)"
ps -o pid,user,args
section "network interfaces: loopback only (own network namespace)"
cat /proc/net/dev
section "filesystem: / is read-only, /tmp is a private tmpfs"
if touch /forge-demo 2>/tmp/err; then echo "write to /: allowed (unexpected)"; else echo "write to /: refused: $(cat /tmp/err)"; fi
if echo hello > /tmp/forge-demo; then echo "write to /tmp: ok"; fi
grep -E " (/|/tmp|/proc/sys) " /proc/mounts
section "confinement: seccomp filter (2), no_new_privs, capabilities (bit mask)"
grep -E "^(Seccomp|NoNewPrivs|CapEff|CapBnd):" /proc/self/status
if mount -t tmpfs x /mnt 2>/tmp/err; then echo "mount: allowed (unexpected)"; else echo "mount: refused: $(cat /tmp/err)"; fi
if unshare -U true 2>/tmp/err; then echo "unshare -U: allowed (unexpected)"; else echo "unshare -U: refused: $(cat /tmp/err)"; fi
section "cgroup (own cgroup namespace: the path is relative to the container cgroup)"
cat /proc/self/cgroup
'

# The script goes in on stdin (stdio is passed through), so `ps` inside stays short.
cmd=("$forgectl" run --rootfs "$rootfs" --name forge-demo --memory 64M --pids 64 --cpus 0.5
	--report -- /bin/sh -s)
echo "\$ ${cmd[*]} <<< '<a script printing what isolates the container>'"
timeout 60 "${cmd[@]}" <<<"$inside" 2>"$tmp/stderr"
rc=$?

# The report is one JSON line on stderr; everything else there is the container's.
grep -v '^{"report":' "$tmp/stderr" >&2
report=$(grep -m1 '^{"report":' "$tmp/stderr")
printf '\n== the launcher'"'"'s isolation report (--report, seen from the host)\n'
if [ -z "$report" ]; then
	echo "(no report on stderr)"
elif command -v python3 >/dev/null 2>&1; then
	python3 -m json.tool <<<"$report" || echo "$report"
else
	echo "$report"
fi

if [ "$rc" != 0 ]; then
	echo "make run: the container exited with status $rc" >&2
	exit "$rc"
fi
printf '\nThe container exited with status 0; its cgroup, mounts and state are gone.\n'
