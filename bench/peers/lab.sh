#!/usr/bin/env bash
# bench/peers/lab.sh — the peer of bench/spawn: the netplus lab of templates/netplus.yaml
# built the way an operator's script would, with iproute2, nft and runc, then torn down.
# See bench/README.md.
#
#   lab.sh setup            once: the peer's copy of the three images, and the base layer
#   lab.sh prepare NAME     bundles (config.json) of lab NAME's three containers; not timed
#   lab.sh up NAME          build lab NAME until its three containers run (timed)
#   lab.sh down NAME        tear lab NAME down (timed); tolerates a half-built lab
#   lab.sh clean NAME       remove lab NAME's bundles and logs; not timed
#
# Environment:
#   LAB_DIR                 the peer's state (0755 path: the containers' root, host uid
#                           100000, must reach the bundles): images/, base/, runc/, NAME/
#   LAB_IMAGE_LEARNER, LAB_IMAGE_ROUTER, LAB_IMAGE_WEB
#                           `forgectl image inspect` JSON files of forge/learner:1,
#                           forge/router:1, forge/web:1 (layer dirs, Env, WorkingDir, Cmd)
#
# NAME ([A-Za-z0-9][A-Za-z0-9_.-]*, unique per run: the kernel frees a deleted namespace
# asynchronously) prefixes the lab's namespaces in /run/netns and its runc containers.
#
# What `up` builds — the same lab forged builds from templates/netplus.yaml:
#   hub netns NAME-hub: lo up, bridges br0 (learner_net 10.10.0.0/24) and br1 (target_net
#     10.20.0.0/24), aliased, up; no link to the host
#   per container (learner_vm, router, target_server): a read-only overlay of the base
#     layer over the image's layers, then `runc create` (user namespace 0 -> host 100000,
#     new pid/ipc/uts/mount/network/cgroup namespaces, no capabilities but the template's,
#     noNewPrivileges, seccomp allowlist, the template's memory/pids/cpu limits; config from
#     runc-config.sh), its network namespace named NAME-<container> with `ip netns attach`
#     (so it is owned by the container's user namespace and the template's NET_ADMIN works
#     in it, as in Forge), veth pairs made in the hub with the container end directly in
#     that namespace, addresses, links up, the target's default route via 10.20.0.1,
#     forwarding on the router, IPv6 off, and the nftables table `inet fbench` (deny-all
#     but the scenario's subnets), then `runc start`
#   learner_vm  10.10.0.10/24 (no gateway: the learner's exercise), NET_ADMIN + NET_RAW,
#               /bin/sh -c 'exec sleep 2147483647', 64 MiB, 64 pids, 0.25 cpu
#   router      10.10.0.1/24 + 10.20.0.1/24, forwarding, the image's command, 32 MiB,
#               16 pids, 0.1 cpu
#   target_server 10.20.0.10/24 via 10.20.0.1, NET_BIND_SERVICE, the image's command
#               (httpd), 32 MiB, 32 pids, 0.15 cpu
# `down`: `runc delete -f` of the three, unmount the overlays, `ip netns del` of the four.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/peers/netlib.sh
. "$here/netlib.sh"
cts=(learner_vm router target_server)
declare -A image=([learner_vm]=LEARNER [router]=ROUTER [target_server]=WEB)
idbase=100000
idrange=65536

die() {
	echo "lab.sh: $*" >&2
	exit 1
}

[ $# -ge 1 ] || die "usage: lab.sh setup | prepare|up|down|clean NAME"
cmd=$1
name=${2:-}
case $cmd in
setup) [ $# = 1 ] || die "usage: lab.sh setup" ;;
prepare | up | down | clean)
	if [ $# != 2 ] || ! [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]]; then
		die "usage: lab.sh $cmd NAME (NAME: [A-Za-z0-9][A-Za-z0-9_.-]*)"
	fi
	;;
*) die "unknown command $cmd" ;;
esac
[ -d "${LAB_DIR:-}" ] || die "LAB_DIR must name a directory"
runc_root=$LAB_DIR/runc
lab=$LAB_DIR/$name

# ---------------------------------------------------------------- setup

# The peer's copy of an image: its layers copied with every owner shifted into the
# containers' id range, as rootless runtimes without idmapped mounts do (Forge idmaps
# the store's layers instead). Layers are listed bottom first; images/KEY.lower gets the
# overlay's lowerdir list, top first, under the base layer.
copy_image() {
	local key=$1 json=$2 i=0 dir dst lower="" u g
	[ -r "$json" ] || die "no image description $json"
	mkdir -p "$LAB_DIR/images/$key"
	while IFS= read -r dir; do
		[ -d "$dir" ] || die "$json: layer $dir is not a directory"
		dst=$LAB_DIR/images/$key/$i
		cp -a "$dir" "$dst"
		# uid u -> idbase + u, one chown per distinct owner (new ids never meet old ones)
		while IFS=: read -r u g; do
			((u < idrange && g < idrange)) || die "$dst: owner $u:$g outside the id range"
			find "$dst" -uid "$u" -gid "$g" -exec chown -h "$((idbase + u)):$((idbase + g))" {} +
		done < <(find "$dst" -printf '%U:%G\n' | sort -u)
		lower=$dst${lower:+:$lower}
		i=$((i + 1))
	done < <(jq -r '.layers[].dir' "$json")
	((i > 0)) || die "$json: no layers"
	echo "$LAB_DIR/base:$lower" >"$LAB_DIR/images/$key.lower"
}

if [ "$cmd" = setup ]; then
	for key in LEARNER ROUTER WEB; do
		var=LAB_IMAGE_$key
		copy_image "$key" "${!var:?$var must name an image description}"
	done
	# Mount points the images lack, on top of their layers (Forge's base layer).
	mkdir -p "$LAB_DIR/base"/{proc,dev,sys,tmp,run} "$runc_root"
	exit 0
fi

# ---------------------------------------------------------------- prepare

# config CONTAINER ARGS_JSON CAPS_JSON MEMORY PIDS CPU_QUOTA: config.json on stdout
config() {
	local ct=$1 args=$2 caps=$3 mem=$4 pids=$5 quota=$6 json
	json=LAB_IMAGE_${image[$ct]}
	"$here/runc-config.sh" "$lab/$ct/rootfs" $idbase $idrange |
		jq --arg host "$ct" --argjson args "$args" --argjson caps "$caps" \
			--argjson mem "$mem" --argjson pids "$pids" --argjson quota "$quota" \
			--slurpfile img "${!json}" '
			($img[0].config.config) as $c
			| .hostname = $host
			| .process.args = (if $args == null then ($c.Entrypoint // []) + ($c.Cmd // []) else $args end)
			| .process.env = ($c.Env // [])
			| .process.cwd = ($c.WorkingDir // "/")
			| .process.capabilities |= (.bounding = $caps | .effective = $caps | .permitted = $caps)
			| .mounts += [{destination: "/run", type: "tmpfs", source: "tmpfs",
				       options: ["nosuid", "nodev", "mode=755"]}]
			| .linux.resources.memory.limit = $mem
			| .linux.resources.pids.limit = $pids
			| .linux.resources.cpu.quota = $quota'
}

if [ "$cmd" = prepare ]; then
	[ -d "$LAB_DIR/base" ] || die "run lab.sh setup first"
	for ct in "${cts[@]}"; do
		mkdir -p "$lab/$ct/rootfs"
	done
	config learner_vm '["/bin/sh", "-c", "exec sleep 2147483647"]' \
		'["CAP_NET_ADMIN", "CAP_NET_RAW"]' $((64 << 20)) 64 25000 >"$lab/learner_vm/config.json"
	config router null '[]' $((32 << 20)) 16 10000 >"$lab/router/config.json"
	config target_server null '["CAP_NET_BIND_SERVICE"]' $((32 << 20)) 32 15000 \
		>"$lab/target_server/config.json"
	exit 0
fi

if [ "$cmd" = clean ]; then
	# only files: a mounted overlay left here would stop rm at the mount (--one-file-system)
	rm -rf --one-file-system "$lab"
	exit 0
fi

# ---------------------------------------------------------------- down

# Undoes whatever of lab NAME exists; every step is tried, the status says if one failed.
# What exists is found with shell builtins only (runc's state directory, the mount table),
# so a complete lab costs no more processes than a plain script's teardown.
teardown() {
	local rc=0 ct ns mi
	for ct in "${cts[@]}"; do
		if [ -d "$runc_root/$name-$ct" ]; then
			runc --root "$runc_root" delete -f "$name-$ct" || rc=1
		fi
	done
	mapfile -t mi </proc/self/mountinfo
	for ct in "${cts[@]}"; do
		if [[ " ${mi[*]} " == *" $lab/$ct/rootfs "* ]]; then
			umount "$lab/$ct/rootfs" || rc=1
		fi
	done
	for ns in hub "${cts[@]}"; do
		if [ -e "/run/netns/$name-$ns" ]; then
			ip netns del "$name-$ns" || rc=1
		fi
	done
	return $rc
}

if [ "$cmd" = down ]; then
	teardown
	exit
fi

# ---------------------------------------------------------------- up

[ -f "$lab/target_server/config.json" ] || die "run lab.sh prepare $name first"
on_fail() {
	local rc=$?
	trap - EXIT INT TERM
	if [ $rc != 0 ]; then
		echo "lab.sh: up $name failed, tearing down" >&2
		teardown || true
	fi
	exit $rc
}
trap on_fail EXIT
trap 'exit 130' INT TERM

v6=0
[ -d /proc/sys/net/ipv6 ] && v6=1
hub=$name-hub

ip netns add "$hub"
ip -n "$hub" link set lo up
ip -n "$hub" link add br0 alias "fbench:$name:learner_net" type bridge
ip -n "$hub" link add br1 alias "fbench:$name:target_net" type bridge
ip -n "$hub" link set br0 up
ip -n "$hub" link set br1 up

# Each container is created (not started), so its network namespace exists, owned by
# its user namespace; the network is wired into it before its command runs.
for ct in "${cts[@]}"; do
	read -r lower <"$LAB_DIR/images/${image[$ct]}.lower"
	mount -t overlay -o "ro,lowerdir=$lower" overlay "$lab/$ct/rootfs"
	runc --root "$runc_root" create --bundle "$lab/$ct" --pid-file "$lab/$ct/pid" \
		"$name-$ct" </dev/null >>"$lab/$ct.log" 2>&1
	read -r pid <"$lab/$ct/pid" || [ -n "$pid" ] # runc writes no newline
	ip netns attach "$name-$ct" "$pid"
done

veth 0 0 learner_vm br0 10.10.0.10
veth 1 0 router br0 10.10.0.1
veth 1 1 router br1 10.20.0.1
veth 2 0 target_server br1 10.20.0.10

for ct in "${cts[@]}"; do
	ip -n "$name-$ct" link set lo up
done
ip -n "$name-target_server" route add default via 10.20.0.1

sysctls learner_vm 0 eth0
sysctls router 1 eth0 eth1
sysctls target_server 0 eth0

nft_all

for ct in "${cts[@]}"; do
	runc --root "$runc_root" start "$name-$ct"
done
