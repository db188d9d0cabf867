# shellcheck shell=bash disable=SC2154  # $name, $hub, $v6 and cts come from the sourcing script
# bench/peers/netlib.sh — what the two peer scripts (topology.sh and lab.sh) both do to
# wire the netplus network, sourced by them (a function call, no extra process). Expects
# $name (the namespaces are $name-<container>), $hub, $v6 (1 when the kernel has IPv6)
# and the array cts (the container names).

# veth CONTAINER_INDEX IFACE_INDEX CONTAINER BRIDGE ADDR
veth() {
	local c=$1 i=$2 ct=$3 br=$4 addr=$5 ns=$name-$3 alias="fbench:$name:$3:eth$2"
	ip -n "$hub" link add "v$c.$i" mtu 1500 alias "$alias" type veth \
		peer name "eth$i" mtu 1500 alias "$alias" netns "$ns"
	ip -n "$hub" link set "v$c.$i" master "$br" up
	ip -n "$ns" addr add "$addr/24" dev "eth$i"
	ip -n "$ns" link set "eth$i" up
}

# sysctls CONTAINER FORWARDING IFACES...: the per-namespace knobs, one process per namespace
sysctls() {
	local ct=$1 fwd=$2 i
	shift 2
	local knobs=("net.ipv4.ip_forward=$fwd")
	if [ "$v6" = 1 ]; then
		knobs+=(net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
			net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0)
		for i in "$@"; do knobs+=("net.ipv6.conf.$i.accept_ra=0"); done
	fi
	ip netns exec "$name-$ct" sysctl -q -w "${knobs[@]}"
}

# nft_all: the table `inet fbench`, the same ruleset Forge installs, one `nft -f -` per
# container namespace
nft_all() {
	local ct
	for ct in "${cts[@]}"; do
		ip netns exec "$name-$ct" nft -f - <<<"$ruleset"
	done
}

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
