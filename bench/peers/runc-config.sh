#!/usr/bin/env bash
# Print the runc peer's OCI config.json for bench/container_start.sh on stdout.
#
#   bench/peers/runc-config.sh ROOTFS [HOST_ID_BASE [ID_RANGE]]
#
# ROOTFS is the bundle's root path (absolute, or relative to the bundle directory).
# The container is what Forge builds for `forgectl run --memory 64M --pids 64 --cpus 1`:
#   - user namespace, container 0 -> host HOST_ID_BASE (default 100000), size ID_RANGE
#     (default 65536), for uids and gids — never host root;
#   - namespaces pid, ipc, uts, mount, network, user, cgroup;
#   - read-only root, proc/dev/devpts/shm/mqueue/sysfs/cgroup mounts and the default
#     masked and read-only paths of `runc spec`;
#   - no capabilities in any set (bounding empty), noNewPrivileges;
#   - cgroup limits memory 64M, pids 64, cpu 1 (quota 100000 / period 100000);
#   - a seccomp allowlist: defaultAction SCMP_ACT_ERRNO (EPERM) and the ~300 syscalls
#     listed in seccomp-allow.txt beside this script (roughly Docker's default list),
#     because `runc spec` has no seccomp profile at all and Forge installs one. The filter
#     is for the native architecture only (Docker's adds x86 and x32, which costs runc
#     ~10 ms more here to compile); not adding them keeps the peer on its fast side.
# Only bash is needed (no jq), so the benchmark runs wherever the tests do.
set -euo pipefail

rootfs=${1:?usage: runc-config.sh ROOTFS [HOST_ID_BASE [ID_RANGE]]}
idbase=${2:-100000}
idrange=${3:-65536}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
allow="$here/seccomp-allow.txt"

# JSON array body of the allowlisted syscall names.
names=""
while IFS= read -r line; do
	line=${line%%#*}
	line=${line//[[:space:]]/}
	[ -n "$line" ] || continue
	names+="${names:+, }\"$line\""
done <"$allow"
[ -n "$names" ] || { echo "runc-config.sh: no syscalls in $allow" >&2; exit 1; }

cat <<EOF
{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": false,
		"user": { "uid": 0, "gid": 0 },
		"args": [ "/bin/true" ],
		"env": [ "PATH=/usr/sbin:/usr/bin:/sbin:/bin" ],
		"cwd": "/",
		"capabilities": {
			"bounding": [],
			"effective": [],
			"inheritable": [],
			"permitted": [],
			"ambient": []
		},
		"rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
		"noNewPrivileges": true
	},
	"root": { "path": "$rootfs", "readonly": true },
	"hostname": "bench",
	"mounts": [
		{ "destination": "/proc", "type": "proc", "source": "proc" },
		{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
		  "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
		{ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
		  "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620" ] },
		{ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
		  "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
		{ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
		  "options": [ "nosuid", "noexec", "nodev" ] },
		{ "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
		  "options": [ "nosuid", "nodev", "mode=1777" ] },
		{ "destination": "/sys", "type": "sysfs", "source": "sysfs",
		  "options": [ "nosuid", "noexec", "nodev", "ro" ] },
		{ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
		  "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
	],
	"linux": {
		"uidMappings": [ { "containerID": 0, "hostID": $idbase, "size": $idrange } ],
		"gidMappings": [ { "containerID": 0, "hostID": $idbase, "size": $idrange } ],
		"namespaces": [
			{ "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" },
			{ "type": "network" }, { "type": "user" }, { "type": "cgroup" }
		],
		"resources": {
			"devices": [ { "allow": false, "access": "rwm" } ],
			"memory": { "limit": 67108864 },
			"pids": { "limit": 64 },
			"cpu": { "quota": 100000, "period": 100000 }
		},
		"seccomp": {
			"defaultAction": "SCMP_ACT_ERRNO",
			"defaultErrnoRet": 1,
			"architectures": [ "SCMP_ARCH_X86_64" ],
			"syscalls": [ { "names": [ $names ], "action": "SCMP_ACT_ALLOW" } ]
		},
		"maskedPaths": [
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
			"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
			"/proc/sched_debug", "/sys/firmware", "/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
		]
	}
}
EOF
