#!/usr/bin/env bash
# bench/topology — build + teardown of the netplus scenario network (hub, 2 bridges,
# 3 container namespaces, 4 veth pairs, addresses, routes, sysctls, nftables in each):
# Forge's netns library versus bench/peers/topology.sh (iproute2 + nft), in the same run.
# See bench/README.md. Run as root from anywhere: `make bench-topology` or bench/topology.sh.
#
#   bench/topology.sh [--no-scaling]
#
# Environment:
#   BENCH_RUNS=30           measured rounds (one forge iteration + one peer run each, interleaved)
#   BENCH_WARMUP=2          warm-up rounds, not counted
#   BENCH_SCALING_RUNS=10   forge iterations per scaling point
#   BENCH_ALIVE=1,10,50     other scenarios kept up during each scaling point
#   BENCH_BIN=build/bench/topology
#
# Timings never make this script fail. It fails only when Forge or the peer cannot
# build the topology (or a prerequisite is missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"

runs=${BENCH_RUNS:-30}
warmup=${BENCH_WARMUP:-2}
scaling_runs=${BENCH_SCALING_RUNS:-10}
alive=${BENCH_ALIVE:-1,10,50}
bin=${BENCH_BIN:-build/bench/topology}
do_scaling=1
for a in "$@"; do
	case $a in
	--no-scaling) do_scaling=0 ;;
	-h | --help)
		sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
		exit 0
		;;
	*)
		echo "topology: unknown argument: $a" >&2
		exit 2
		;;
	esac
done

die() {
	echo "topology: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, mounts)"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ $warmup =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a non-negative integer"
[[ $scaling_runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_SCALING_RUNS must be a positive integer"
[[ $alive =~ ^[0-9]+(,[0-9]+)*$ ]] || die "BENCH_ALIVE must be a comma-separated list of counts"
[ -x "$bin" ] || die "no $bin (run: make build/bench/topology)"
for t in ip nft sysctl; do
	command -v $t >/dev/null || die "$t not installed (the peer needs it)"
done
bin=$(realpath "$bin")
peer=$here/peers/topology.sh

# ---------------------------------------------------------------- state before, clean-up

tmp=$(mktemp -d /tmp/fbench-topology.XXXXXX)
prefix=fbench-$$ # the peer's namespaces: /run/netns/fbench-<this pid>-<round>-{hub,learner,…}
run_netns_existed=0
[ -e /run/netns ] && run_netns_existed=1
netns_mounted_before=0
awk '$5 == "/run/netns"' /proc/self/mountinfo | grep -q . && netns_mounted_before=1

snap() { # the state that must come back: namespaces, /run/netns, host links, mounts
	ip netns list 2>/dev/null | sort >"$tmp/$1.netns" || true
	find /run/netns -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort >"$tmp/$1.runnetns" || true
	ip -o link show | awk -F': ' '{ print $2 }' | sort >"$tmp/$1.links"
	awk '{ print $5 }' /proc/self/mountinfo | sort >"$tmp/$1.mounts"
}

cleanup() {
	local rc=$? ns
	trap - EXIT INT TERM
	# Peer namespaces a killed peer left (its own trap normally removes them).
	for ns in /run/netns/"$prefix"-*; do
		[ -e "$ns" ] || continue
		ns=${ns##*/}
		echo "topology: warning: peer namespace $ns left behind, deleting" >&2
		ip netns del "$ns" 2>/dev/null || true
	done
	# iproute2 makes /run/netns (and a shared bind mount of it on itself) on first use;
	# if it was not there before and nothing else is in it now, put things back.
	if [ $run_netns_existed = 0 ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
		if [ $netns_mounted_before = 0 ]; then
			while awk '$5 == "/run/netns"' /proc/self/mountinfo | grep -q .; do
				umount /run/netns 2>/dev/null || break
			done
		fi
		rmdir /run/netns 2>/dev/null || true
	fi
	# The forge binary's private netns dir, if it was killed before removing it.
	for d in /run/fbench-netns-* /tmp/fbench-netns-*; do
		[ -d "$d" ] && [ -z "$(ls -A "$d")" ] && rmdir "$d" 2>/dev/null
	done
	rm -rf --one-file-system "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

snap before

# ---------------------------------------------------------------- run

echo "topology: netplus build + teardown, $warmup warm-up + $runs measured rounds, interleaved:"
echo "topology:   forge = netns library in one process (new_netns x3, create, attach x3, destroy, close x3)"
echo "topology:   peer  = one run of bench/peers/topology.sh (ip + nft, 4 namespaces in /run/netns)"
args=(--runs "$runs" --warmup "$warmup" --peer "$peer" --peer-log "$tmp/peer.log"
	--peer-prefix "$prefix" --quiet)
if [ $do_scaling = 1 ]; then
	args+=(--scaling --scaling-runs "$scaling_runs" --alive "$alive")
fi
status=0
"$bin" "${args[@]}" >"$tmp/out" || status=$?
if [ $status != 0 ] || grep -q '^error' "$tmp/out"; then
	echo "topology: the benchmark failed (exit $status):" >&2
	grep '^error' "$tmp/out" | sed 's/^error /  | /' >&2 || true
	if [ -s "$tmp/peer.log" ]; then
		echo "topology: last peer output:" >&2
		sed 's/^/  | /' "$tmp/peer.log" >&2
	fi
	exit 1
fi

# stats: reads ns samples, prints "median p10 p90 min" in ms (nearest-rank percentiles,
# median the mean of the two middle values for an even count)
stats() {
	sort -n | awk '
		{ v[NR] = $1 }
		function pct(p,  k) { k = int(p * NR + 0.999999); if (k < 1) k = 1; if (k > NR) k = NR; return v[k] }
		END {
			if (NR == 0) { print "0 0 0 0"; exit }
			med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.3f %.3f %.3f %.3f\n", med / 1e6, pct(0.10) / 1e6, pct(0.90) / 1e6, v[1] / 1e6
		}'
}

declare -A med
printf '\n%-12s %10s %10s %10s %10s\n' runner median_ms p10_ms p90_ms min_ms
for r in forge peer forge_quiet; do
	s=$(awk -v r=$r '$1 == "sample" && $2 == r { print $3 }' "$tmp/out" | stats)
	read -r m p10 p90 mn <<<"$s"
	med[$r]=$m
	printf '%-12s %10s %10s %10s %10s\n' "$r" "$m" "$p10" "$p90" "$mn"
done
ratio() { awk -v p="$1" -v f="$2" 'BEGIN { printf "%.2f", (f > 0) ? p / f : 0 }'; }
r=$(ratio "${med[peer]}" "${med[forge]}")
echo "(forge_quiet: one more forge iteration per round, started once the kernel has finished" \
	"freeing the namespaces of earlier teardowns — forge's and the peer's; not in the ratio)"
echo
echo "topology: peer/forge = ${r}x (target: >= 10x; forge median target: < 15 ms)"

if [ $do_scaling = 1 ]; then
	echo
	echo "topology: scaling — one more netplus build + teardown while N other scenarios are up"
	printf '%-8s %10s %10s %10s %14s %8s\n' alive median_ms p10_ms p90_ms netns_free_ms backlog
	IFS=, read -r -a points <<<"$alive"
	for n in "${points[@]}"; do
		s=$(awk -v n="$n" '$1 == "scaling" && $2 == n { print $3 }' "$tmp/out" | stats)
		read -r m p10 p90 _ <<<"$s"
		# median of the probes that observed the free (ms; "none" when none did)
		f=$(awk -v n="$n" '$1 == "netns_free" && $2 == n && $3 != "none" { print $3 * 1e6 }' \
			"$tmp/out" | stats)
		read -r fm _ <<<"$f"
		[ "$fm" = 0.000 ] && fm=none
		bl=$(awk -v n="$n" '$1 == "netns_backlog" && $2 == n { print $3 }' "$tmp/out" | tail -n 1)
		printf '%-8s %10s %10s %10s %14s %8s\n' "$n" "$m" "$p10" "$p90" "$fm" "${bl:-?}"
	done
	echo "(netns_free: median of 3 probes; from forge_net_destroy + close() returning until the" \
		"kernel's count of network namespaces (net_namespace slab objects after a shrink) is back" \
		"where it was: namespaces are freed later, by cleanup_net on the netns workqueue;" \
		"backlog: namespaces the $scaling_runs back-to-back runs destroyed that were not freed yet" \
		"when the last run returned)"
fi

# ---------------------------------------------------------------- leftovers

# The peer's first `ip netns add` may have created /run/netns; undo that before comparing.
if [ $run_netns_existed = 0 ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
	if [ $netns_mounted_before = 0 ]; then
		while awk '$5 == "/run/netns"' /proc/self/mountinfo | grep -q .; do
			umount /run/netns 2>/dev/null || break
		done
	fi
	rmdir /run/netns 2>/dev/null || true
fi
snap after
for k in netns runnetns links mounts; do
	if ! cmp -s "$tmp/before.$k" "$tmp/after.$k"; then
		echo "topology: warning: $k changed during the benchmark (ours, or another process's):" >&2
		diff "$tmp/before.$k" "$tmp/after.$k" | grep '^[<>]' | sed 's/^/  /' >&2 || true
	fi
done

# ---------------------------------------------------------------- machine-readable result

echo "RESULT name=topology forge_ms=${med[forge]} peer=ip+nft peer_ms=${med[peer]} ratio=$r"
