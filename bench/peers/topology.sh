#!/usr/bin/env bash
# bench/peers/topology.sh — the peer of bench/topology: builds the netplus scenario network
# with iproute2 and nft, the way a shell script would, then tears it down. One invocation
# is one build + teardown. See bench/README.md.
#
#   bench/peers/topology.sh NAME
#
# NAME (e.g. fbench-<pid>-<n>, unique per run: the kernel frees a deleted namespace
# asynchronously, so a name is never reused) prefixes the four namespaces it makes in
# /run/netns (iproute2 has no other place): NAME-hub, NAME-learner, NAME-router,
# NAME-target. The same topology as the Forge library builds:
#   hub:     lo up; bridges br0 (learner_net 10.10.0.0/24) and br1 (target_net
#            10.20.0.0/24), up, aliased; no link to the host
#   learner: eth0 10.10.0.2/24 on br0, default via 10.10.0.1
#   router:  eth0 10.10.0.1/24 on br0, eth1 10.20.0.1/24 on br1, ip_forward=1
#   target:  eth0 10.20.0.2/24 on br1, default via 10.20.0.1
# every veth pair made in one command with its container end directly in its namespace
# (hub end v<c>.<i> enslaved to the bridge; both ends aliased, MTU 1500, up); in every
# container lo up, IPv6 off and no router advertisements (when the kernel has IPv6), and
# the table `inet fbench` installed with one `nft -f -` (input/forward/output policy drop;
# lo, established/related, the scenario's subnets; counter + rate-limited log + drop).
# Teardown: `ip netns del` of the four, which an EXIT trap also does on failure.
set -euo pipefail
# shellcheck source=bench/peers/netlib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netlib.sh"

if [ $# != 1 ] || ! [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]]; then
	echo "usage: topology.sh NAME" >&2
	exit 2
fi
name=$1
hub=$name-hub
cts=(learner router target)

made=()
cleanup() {
	local rc=$? ns
	trap - EXIT INT TERM
	for ns in "${made[@]}"; do
		ip netns del "$ns" 2>/dev/null || rc=1
	done
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

v6=0
[ -d /proc/sys/net/ipv6 ] && v6=1

# ---------------------------------------------------------------- build

for ns in "$hub" "$name-learner" "$name-router" "$name-target"; do
	ip netns add "$ns"
	made+=("$ns")
done

ip -n "$hub" link set lo up
ip -n "$hub" link add br0 alias "fbench:$name:learner_net" type bridge
ip -n "$hub" link add br1 alias "fbench:$name:target_net" type bridge
ip -n "$hub" link set br0 up
ip -n "$hub" link set br1 up

veth 0 0 learner br0 10.10.0.2
veth 1 0 router br0 10.10.0.1
veth 1 1 router br1 10.20.0.1
veth 2 0 target br1 10.20.0.2

for ct in "${cts[@]}"; do
	ip -n "$name-$ct" link set lo up
done
ip -n "$name-learner" route add default via 10.10.0.1
ip -n "$name-target" route add default via 10.20.0.1

sysctls learner 0 eth0
sysctls router 1 eth0 eth1
sysctls target 0 eth0

nft_all

# ---------------------------------------------------------------- teardown

for ns in "${made[@]}"; do
	ip netns del "$ns"
done
made=()
