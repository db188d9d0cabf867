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

# veth CONTAINER_INDEX IFACE_INDEX CONTAINER BRIDGE ADDR
veth() {
	local c=$1 i=$2 ct=$3 br=$4 addr=$5 ns=$name-$3 alias="fbench:$name:$3:eth$2"
	ip -n "$hub" link add "v$c.$i" mtu 1500 alias "$alias" type veth \
		peer name "eth$i" mtu 1500 alias "$alias" netns "$ns"
	ip -n "$hub" link set "v$c.$i" master "$br" up
	ip -n "$ns" addr add "$addr/24" dev "eth$i"
	ip -n "$ns" link set "eth$i" up
}
veth 0 0 learner br0 10.10.0.2
veth 1 0 router br0 10.10.0.1
veth 1 1 router br1 10.20.0.1
veth 2 0 target br1 10.20.0.2

for ct in "${cts[@]}"; do
	ip -n "$name-$ct" link set lo up
done
ip -n "$name-learner" route add default via 10.10.0.1
ip -n "$name-target" route add default via 10.20.0.1

# sysctl CONTAINER FORWARDING IFACES...: the per-namespace knobs, one process per namespace
sysctls() {
	local ct=$1 fwd=$2 i
	shift 2
	local args=("net.ipv4.ip_forward=$fwd")
	if [ $v6 = 1 ]; then
		args+=(net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
			net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0)
		for i in "$@"; do args+=("net.ipv6.conf.$i.accept_ra=0"); done
	fi
	ip netns exec "$name-$ct" sysctl -q -w "${args[@]}"
}
sysctls learner 0 eth0
sysctls router 1 eth0 eth1
sysctls target 0 eth0

ruleset='
table inet fbench {
	chain input {
		type filter hook input priority 0; policy drop;
		iifname "lo" accept
		meta nfproto ipv4 ct state established,related accept
		ip saddr 10.10.0.0/24 accept
		ip saddr 10.20.0.0/24 accept
		counter limit rate 10/second log prefix "FORGE_EGRESS_DENY " drop
	}
	chain forward {
		type filter hook forward priority 0; policy drop;
		meta nfproto ipv4 ct state established,related accept
		ip saddr 10.10.0.0/24 ip daddr 10.10.0.0/24 accept
		ip saddr 10.10.0.0/24 ip daddr 10.20.0.0/24 accept
		ip saddr 10.20.0.0/24 ip daddr 10.10.0.0/24 accept
		ip saddr 10.20.0.0/24 ip daddr 10.20.0.0/24 accept
		counter limit rate 10/second log prefix "FORGE_EGRESS_DENY " drop
	}
	chain output {
		type filter hook output priority 0; policy drop;
		oifname "lo" accept
		meta nfproto ipv4 ct state established,related accept
		ip daddr 10.10.0.0/24 accept
		ip daddr 10.20.0.0/24 accept
		counter limit rate 10/second log prefix "FORGE_EGRESS_DENY " drop
	}
}'
for ct in "${cts[@]}"; do
	ip netns exec "$name-$ct" nft -f - <<<"$ruleset"
done

# ---------------------------------------------------------------- teardown

for ns in "${made[@]}"; do
	ip netns del "$ns"
done
made=()
