#!/usr/bin/env bash
# bench/spawn — spawn-to-running and destroy of the netplus scenario through forged's
# socket, versus bench/peers/lab.sh building the same lab with ip, nft and runc, in the
# same run; then density: many netplus scenarios alive at once, forged's memory, and the
# spawn time at the end against the start. See bench/README.md.
# Run as root from anywhere: `make bench-spawn` or bench/spawn.sh.
#
#   bench/spawn.sh [--no-density] [--breakdown]
#
# Environment:
#   BENCH_RUNS=20             measured rounds (one forge spawn + destroy and one peer
#                             up + down each, interleaved)
#   BENCH_WARMUP=2            warm-up rounds, not counted
#   BENCH_DENSITY=100         scenarios kept alive at once in the density phase
#   BENCH_BREAKDOWN_RUNS=5    --breakdown: rounds under strace, under perf, and twice as
#                             many interleaved with a forged on tmpfs
#   BENCH_TMPDIR=/tmp         where the private forge root and the peer's state go (the
#                             disk, as /var/lib/forge is on a real host)
#   FORGED=build/forged FORGECTL=build/forgectl BENCH_BIN=build/bench/spawn
#   BENCH_DEB_CACHE=build/cache/debs   the .deb cache the images are built from
#   BENCH_KEEP_LOGS=1         keep the scratch directory (forged's log, peer logs, traces)
#
# Timings never make this script fail. It fails only when forged or the peer cannot
# build the lab (or a prerequisite is missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"

runs=${BENCH_RUNS:-20}
warmup=${BENCH_WARMUP:-2}
dens=${BENCH_DENSITY:-100}
bd_runs=${BENCH_BREAKDOWN_RUNS:-5}
tmpdir=${BENCH_TMPDIR:-/tmp}
forged=${FORGED:-build/forged}
forgectl=${FORGECTL:-build/forgectl}
bin=${BENCH_BIN:-build/bench/spawn}
debs=${BENCH_DEB_CACHE:-build/cache/debs}
breakdown=0
for a in "$@"; do
	case $a in
	--no-density) dens=0 ;;
	--breakdown) breakdown=1 ;;
	-h | --help)
		sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
		exit 0
		;;
	*)
		echo "spawn: unknown argument: $a" >&2
		exit 2
		;;
	esac
done

die() {
	echo "spawn: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (forged: namespaces, cgroups, mounts)"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ $warmup =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a non-negative integer"
if ! [[ $dens =~ ^[0-9]+$ ]] || ((dens > 1000)); then die "BENCH_DENSITY must be 0..1000"; fi
[[ $bd_runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_BREAKDOWN_RUNS must be a positive integer"
[ -d "$tmpdir" ] || die "BENCH_TMPDIR $tmpdir is not a directory"
for b in "$forged" "$forgectl" "$bin"; do
	[ -x "$b" ] || die "no $b (run: make $b)"
done
[ -d "$debs" ] || die "no .deb cache $debs (the integration tests fill it; or set BENCH_DEB_CACHE)"
for t in ip nft runc jq mount umount; do
	command -v $t >/dev/null || die "$t not installed (make deps)"
done
if [ $breakdown = 1 ]; then command -v strace >/dev/null || die "--breakdown needs strace"; fi
forged=$(realpath "$forged")
forgectl=$(realpath "$forgectl")
bin=$(realpath "$bin")
debs=$(realpath "$debs")
lab=$here/peers/lab.sh

# ---------------------------------------------------------------- state before, clean-up

tmp=$(mktemp -d "$tmpdir/fbench-spawn.XXXXXX")
chmod 755 "$tmp" # the peer's containers (host uid 100000) must reach their bundles
mkdir "$tmp/root"
root=$tmp/root    # forged's private FORGE_ROOT
shm=""            # --breakdown: a second root on tmpfs
# kernel-object prefix of our forged ([a-z][a-z0-9]{0,7}); the tmpfs one adds a "t"
prefix=fs$(printf '%05x' $(((RANDOM << 15 | RANDOM) & 0xfffff)))
peer_prefix=fbench-$$ # the peer's labs: /run/netns/fbench-<this pid>-<round>-{hub,…}
export LAB_DIR=$tmp/peer
export LAB_IMAGE_LEARNER=$tmp/image-learner.json LAB_IMAGE_ROUTER=$tmp/image-router.json
export LAB_IMAGE_WEB=$tmp/image-web.json
run_netns_existed=0
[ -e /run/netns ] && run_netns_existed=1
netns_mounted_before=0
awk '$5 == "/run/netns"' /proc/self/mountinfo | grep -q . && netns_mounted_before=1
declare -A fpid=() pfx=([$root]=$prefix) # forged pid and kernel-object prefix by root

snap() { # the state that must come back: namespaces, /run/netns, host links, mounts, cgroups
	ip netns list 2>/dev/null | sort >"$tmp/$1.netns" || true
	find /run/netns -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort >"$tmp/$1.runnetns" || true
	ip -o link show | awk -F': ' '{ print $2 }' | sort >"$tmp/$1.links"
	awk '{ print $5 }' /proc/self/mountinfo | sort >"$tmp/$1.mounts"
	find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | sort >"$tmp/$1.cgroups" || true
}

fctl() { # fctl ROOT ARGS...: forgectl on one of our instances
	local r=$1
	shift
	timeout 120 "$forgectl" --root "$r" --prefix "${pfx[$r]}" "$@"
}

# start_forged ROOT: starts forged on ROOT (images already in its store), waits for its socket.
# In a session of its own: a Ctrl-C must not reach it, or it would stop and leave its live
# scenarios running (for its next start) instead of letting the clean-up destroy them.
start_forged() {
	local r=$1 i
	mkdir -p "$r/netns"
	setsid env FORGE_TEMPLATES_DIR="$top/templates" FORGE_POLICY_DIR="$top/policy/rules" \
		FORGE_NETNS_DIR="$r/netns" FORGE_MAX_LIVE=$((dens > 120 ? dens + 8 : 128)) \
		"$forged" --root "$r" --prefix "${pfx[$r]}" >>"$tmp/forged.log" 2>&1 &
	fpid[$r]=$!
	for ((i = 0; i < 200; i++)); do
		if fctl "$r" ps >/dev/null 2>&1; then
			# setsid and env exec, so the pid is forged's (it forks only as a group leader)
			[ "$(readlink "/proc/${fpid[$r]}/exe")" = "$forged" ] && return 0
			echo "spawn: pid ${fpid[$r]} is not forged" >&2
			return 1
		fi
		kill -0 "${fpid[$r]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "spawn: forged did not start on $r:" >&2
	tail -n 5 "$tmp/forged.log" | sed 's/^/  | /' >&2
	return 1
}

# stop_forged ROOT: destroys every scenario it has, then SIGTERM (forged leaves live
# scenarios running for its next start, so they go first); SIGKILL after 10 s
stop_forged() {
	local r=$1 pid=${fpid[$1]:-} id i
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		for id in $(fctl "$r" ps --json 2>/dev/null | jq -r '.[].scenario_id' 2>/dev/null); do
			fctl "$r" destroy "$id" >/dev/null 2>&1 ||
				echo "spawn: warning: could not destroy scenario $id" >&2
		done
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "spawn: warning: forged $pid ignored SIGTERM, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	unset "fpid[$r]"
}

# forge_leftovers ROOT: what a stopped forged left of this instance — hub namespaces in
# ROOT/netns, cgroups named after the prefix (with any process in them), mounts under
# ROOT; each is reported, then removed. Returns 1 when something was left.
forge_leftovers() {
	local r=$1 left=0 f cg m pid
	for f in "$r"/netns/*; do
		[ -e "$f" ] || continue
		echo "spawn: leftover: hub namespace $f" >&2
		umount -l "$f" 2>/dev/null || true
		rm -f "$f"
		left=1
	done
	while read -r cg; do
		echo "spawn: leftover: cgroup $cg" >&2
		left=1
		# processes in our own instance's cgroups were started by our forged
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null || true
		done < <(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
		sleep 0.2
		find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done < <(find /sys/fs/cgroup -mindepth 2 -type d -name "${pfx[$r]}" -prune 2>/dev/null)
	while read -r m; do
		echo "spawn: leftover: mount $m" >&2
		umount -l "$m" 2>/dev/null || true
		left=1
	done < <(awk -v t="$r/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	return $left
}

# peer_leftovers: labs of this run the peer left (its own trap normally undoes them)
peer_leftovers() {
	local left=0 d ns id cg
	for d in "$LAB_DIR/$peer_prefix"-*; do
		[ -d "$d" ] || continue
		"$lab" down "${d##*/}" >/dev/null 2>&1 || true
		"$lab" clean "${d##*/}" >/dev/null 2>&1 || true
		echo "spawn: leftover: peer lab ${d##*/}" >&2
		left=1
	done
	if [ -d "$LAB_DIR/runc" ]; then
		for id in $(runc --root "$LAB_DIR/runc" list -q 2>/dev/null); do
			echo "spawn: leftover: runc container $id" >&2
			runc --root "$LAB_DIR/runc" delete -f "$id" >/dev/null 2>&1 || true
			left=1
		done
	fi
	for ns in /run/netns/"$peer_prefix"-*; do
		[ -e "$ns" ] || continue
		echo "spawn: leftover: peer namespace ${ns##*/}" >&2
		ip netns del "${ns##*/}" 2>/dev/null || true
		left=1
	done
	# runc removes its cgroups (named after the container) on delete
	while read -r cg; do
		echo "spawn: leftover: peer cgroup $cg" >&2
		rmdir "$cg" 2>/dev/null || true
		left=1
	done < <(find /sys/fs/cgroup -mindepth 2 -depth -type d -name "$peer_prefix-*" 2>/dev/null)
	return $left
}

# iproute2 makes /run/netns (and a shared bind mount of it on itself) on first use;
# if it was not there before and nothing else is in it now, put things back.
restore_run_netns() {
	if [ $run_netns_existed = 0 ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
		if [ $netns_mounted_before = 0 ]; then
			while awk '$5 == "/run/netns"' /proc/self/mountinfo | grep -q .; do
				umount /run/netns 2>/dev/null || break
			done
		fi
		rmdir /run/netns 2>/dev/null || true
	fi
}

cleanup() {
	local rc=$? r m
	trap - EXIT INT TERM
	for r in "${!fpid[@]}"; do
		stop_forged "$r"
	done
	forge_leftovers "$root" || true
	[ -z "$shm" ] || forge_leftovers "$shm" || true
	peer_leftovers || true
	while read -r m; do
		echo "spawn: warning: leftover mount $m, unmounting" >&2
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v t="$tmp/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	restore_run_netns
	[ -z "$shm" ] || rm -rf --one-file-system "$shm"
	if [ "${BENCH_KEEP_LOGS:-0}" = 1 ]; then
		echo "spawn: kept $tmp" >&2
	else
		rm -rf --one-file-system "$tmp"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

snap before

# ---------------------------------------------------------------- images, peer set-up

echo "spawn: building forge/learner:1, forge/router:1, forge/web:1 into $root"
for img in learner router web; do
	fctl "$root" image build "images/specs/$img.yaml" --cache "$debs" >>"$tmp/images.log" 2>&1 ||
		{ tail -n 5 "$tmp/images.log" >&2; die "image forge/$img:1 did not build"; }
	fctl "$root" image inspect "forge/$img:1" >"$tmp/image-$img.json"
done
mkdir -p "$LAB_DIR"
"$lab" setup >"$tmp/peer-setup.log" 2>&1 || { cat "$tmp/peer-setup.log" >&2; die "peer set-up failed"; }

# ---------------------------------------------------------------- measurement

start_forged "$root" || exit 1
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$tmp/probe"
"$bin" --fsync-probe "$tmp/probe" --runs 20 >"$tmp/fsync.out" || true
echo "spawn: netplus spawn-to-running + destroy, $warmup warm-up + $runs measured rounds, interleaved:"
echo "spawn:   forge = build/bench/spawn on forged's socket (op spawn, then op destroy)"
echo "spawn:   peer  = bench/peers/lab.sh up, then down (ip + nft + runc; bundles prepared untimed)"
[ "$dens" = 0 ] || echo "spawn: then density: $dens netplus scenarios alive at once"
args=(--root "$root" --prefix "$prefix" --runs "$runs" --warmup "$warmup" --peer "$lab"
	--peer-prefix "$peer_prefix" --peer-log "$tmp/peer.log" --density "$dens"
	--pid "${fpid[$root]}")
status=0
"$bin" "${args[@]}" >"$tmp/out" || status=$?
# The same spawns with forged and the kernel idle before each (300 ms: the kernel frees a
# destroyed scenario's namespaces after destroy returns, under the RTNL lock that a new
# namespace needs; see "What dominates" in bench/README.md).
if [ $status = 0 ]; then
	"$bin" --root "$root" --prefix "$prefix" --runs "$runs" --warmup 1 --settle-ms 300 \
		--pid "${fpid[$root]}" >"$tmp/settled.out" || status=$?
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
if [ $status != 0 ] || grep -q '^error' "$tmp/out" "$tmp/settled.out"; then
	echo "spawn: the benchmark failed (exit $status):" >&2
	grep -h '^error' "$tmp/out" "$tmp/settled.out" 2>/dev/null | sed 's/^error /  | /' >&2 || true
	echo "spawn: end of forged's log:" >&2
	tail -n 5 "$tmp/forged.log" | cut -c1-300 | sed 's/^/  | /' >&2
	if [ -s "$tmp/peer.log" ]; then
		echo "spawn: end of the peer's log:" >&2
		tail -n 15 "$tmp/peer.log" | sed 's/^/  | /' >&2
	fi
	exit 1
fi

# st FILE SERIES FIELD: one figure of a stat line (n=1 median=2 p10=3 p90=4 min=5 max=6)
st() {
	awk -v s="$2" -v f="$3" '$1 == "stat" && $2 == s { print $(f + 2); found = 1 }
		END { if (!found) print "-" }' "$1"
}
ratio() { awk -v p="$1" -v f="$2" 'BEGIN { printf "%.2f", (f > 0) ? p / f : 0 }'; }
row() { # row LABEL FILE SERIES
	printf '%-20s %10s %10s %10s %10s %10s\n' "$1" "$(st "$2" "$3" 2)" "$(st "$2" "$3" 3)" \
		"$(st "$2" "$3" 4)" "$(st "$2" "$3" 5)" "$(st "$2" "$3" 6)"
}

echo
echo "spawn: machine load (1, 5, 15 min) before: $load_before, after: $load_after ($(nproc) CPUs)"
printf '%-20s %10s %10s %10s %10s %10s\n' runner median_ms p10_ms p90_ms min_ms max_ms
row forge_spawn "$tmp/out" forge_spawn
row peer_up "$tmp/out" peer_up
row forge_destroy "$tmp/out" forge_destroy
row peer_down "$tmp/out" peer_down
row forge_total "$tmp/out" forge_total
row peer_total "$tmp/out" peer_total
row forge_internal "$tmp/out" forge_internal
row forge_spawn_settled "$tmp/settled.out" forge_spawn
echo "(forge_internal: forged's own time in scenario_spawn, from its metrics; the rest of" \
	"forge_spawn is the audit record, the log line and the socket round trip." \
	"forge_spawn_settled: $runs more forge spawns, each after 300 ms idle, when the kernel" \
	"has finished freeing the namespaces of the last teardown)"
echo
echo "spawn: forged's main thread during each request (medians; /proc/<pid>/schedstat and stat):"
printf '%-9s %10s %12s %14s %12s %12s\n' request wall_ms on_cpu_ms waiting_cpu_ms blocked_ms \
	page_faults
use() { # use LABEL FILE OP
	printf '%-9s %10s %12s %14s %12s %12s\n' "$1" "$(st "$2" "forge_$3" 2)" \
		"$(st "$2" "forge_${3}_cpu" 2)" "$(st "$2" "forge_${3}_runq" 2)" \
		"$(st "$2" "forge_${3}_blocked" 2)" "$(st "$2" "forge_${3}_faults" 2)"
}
use spawn "$tmp/out" spawn
use destroy "$tmp/out" destroy
use settled "$tmp/settled.out" spawn
echo "(waiting_cpu: runnable, but the CPUs were busy — the machine's load; blocked: asleep on" \
	"disk syncs and on container processes setting up or dying)"
f_spawn=$(st "$tmp/out" forge_spawn 2)
p_up=$(st "$tmp/out" peer_up 2)
r_spawn=$(ratio "$p_up" "$f_spawn")
r_destroy=$(ratio "$(st "$tmp/out" peer_down 2)" "$(st "$tmp/out" forge_destroy 2)")
r_total=$(ratio "$(st "$tmp/out" peer_total 2)" "$(st "$tmp/out" forge_total 2)")
echo
echo "spawn: peer/forge = ${r_spawn}x spawn, ${r_destroy}x destroy, ${r_total}x both" \
	"(targets: forge spawn median < 40 ms, spawn ratio >= 10x)"
echo "spawn: this disk now: fsync of a small new file $(st "$tmp/fsync.out" fsync_file 2) ms," \
	"of a directory $(st "$tmp/fsync.out" fsync_dir 2) ms, fdatasync of an append" \
	"$(st "$tmp/fsync.out" fsync_append 2) ms (medians of 20, bench/spawn --fsync-probe)"

if [ "$dens" != 0 ]; then
	rss() { awk -v l="$1" -v k="$2" '$1 == "rss" && $2 == l { v = $(k) } END { print v + 0 }' "$tmp/out"; }
	first=$(st "$tmp/out" density_first 2)
	last=$(st "$tmp/out" density_last 2)
	d_ratio=$(ratio "$last" "$first")
	all_ms=$(awk '$1 == "density" && $2 == "destroy_all" { printf "%.1f", $3 / 1e6 }' "$tmp/out")
	rss0=$(awk '$1 == "rss" && $2 == 0 { print $3; exit }' "$tmp/out")
	rss1=$(rss 1 3)
	rssn=$(rss "$dens" 3)
	hwm=$(awk '$1 == "rss" { v = $4 } END { print v + 0 }' "$tmp/out")
	running=$(awk '$1 == "density" && $2 == "running" { print $3 }' "$tmp/out")
	echo
	echo "spawn: density — $dens netplus scenarios spawned one after the other and kept alive" \
		"($running running at the peak: $((dens * 3)) containers, $((dens * 4)) network namespaces)"
	printf '%-20s %10s %10s %10s %10s %10s\n' series median_ms p10_ms p90_ms min_ms max_ms
	row "spawn 1-10" "$tmp/out" density_first
	row "spawn $((dens > 10 ? dens - 9 : 1))-$dens" "$tmp/out" density_last
	row "spawn all" "$tmp/out" density_spawn
	row "destroy" "$tmp/out" density_destroy
	echo "spawn: last 10 / first 10 = ${d_ratio}x (target: <= 2x); destroying all $dens took" \
		"$all_ms ms"
	echo "spawn: forged VmRSS: ${rss0} KiB idle, ${rss1} KiB with 1 scenario, ${rssn} KiB with" \
		"$dens (target: < 30 MiB = 30720 KiB); peak VmHWM ${hwm} KiB"
	mem0=$(awk '$1 == "memavailable" && $2 == 0 { print $3 }' "$tmp/out")
	memn=$(awk -v n="$dens" '$1 == "memavailable" && $2 == n { print $3 }' "$tmp/out")
	echo "spawn: host MemAvailable fell by $(((mem0 - memn) / 1024)) MiB with $dens scenarios" \
		"alive, about $(((mem0 - memn) / dens)) KiB each (other processes move it too)"
fi

# ---------------------------------------------------------------- optional breakdown

# classify TRACE ROOT: one strace -T -tt -yy log of forged's main thread -> per op (spawn,
# destroy) the mean wall time from request to reply and how it splits: syscall time by
# kind, the rest (user space, and strace's own cost between syscalls), and which files
# were synced. Ids, digests and temporary names are folded so that requests add up.
classify() {
	sed -E -e "s|$2/||g" -e 's/[0-9a-f]{64}/DIGEST/g' -e 's/\.[0-9a-f]{16}\.tmp/.tmp/g' \
		-e 's/[0-9a-f]{12}/ID/g' "$1" | awk '
	function kind(line, name) {
		if (name ~ /^(fsync|fdatasync|syncfs|sync_file_range)$/) return "disk sync (fsync, fdatasync)"
		if (name ~ /^(poll|ppoll|epoll_wait|epoll_pwait|waitid|wait4|pselect6|select)$/)
			return "waiting for a child (container init setting up, dying)"
		if (line ~ /NETLINK/) return "netlink (links, addresses, routes, nftables)"
		if (name ~ /^(clone|clone3|setns|unshare)$/) return "clone3, setns"
		if (name ~ /^(mount|umount2|fsopen|fsconfig|fsmount|open_tree|mount_setattr|move_mount)$/)
			return "mounts"
		if (line ~ /\/sys\/fs\/cgroup/) return "cgroup files"
		return "other syscalls"
	}
	{
		if (!match($0, /^[0-9:.]+ [a-z0-9_]+\(/)) next
		name = substr($0, length($1) + 2, RLENGTH - length($1) - 2)
		split($1, t, ":")
		ts = t[1] * 3600 + t[2] * 60 + t[3]
		dur = 0
		if (match($0, /<[0-9.]+>$/)) dur = substr($0, RSTART + 1, RLENGTH - 2)
		if (op == "" && name ~ /^recv/ && match($0, /\\"op\\":\\"(spawn|destroy)\\"/)) {
			op = substr($0, RSTART + 9, RLENGTH - 11)
			start = ts
			if (!(op in n)) ops[++nops] = op
			n[op]++
			next
		}
		if (op == "") next
		if (name ~ /^send/ && $0 ~ /\\"ok\\":/) {
			wall[op] += ts + dur - start
			op = ""
			next
		}
		k = kind($0, name)
		if (!((op, k) in sum)) kinds[op, ++nk[op]] = k
		sum[op, k] += dur
		cnt[op, k]++
		sys[op] += dur
		if (name ~ /^(fsync|fdatasync)$/ && match($0, /\([0-9]+<[^>]*>/)) {
			f = substr($0, RSTART, RLENGTH)
			sub(/^\([0-9]+</, "", f)
			sub(/>$/, "", f)
			if (!((op, name " " f) in files)) synced[op, ++ns[op]] = name " " f
			files[op, name " " f]++
		}
	}
	END {
		for (i = 1; i <= nops; i++) {
			o = ops[i]
			if (wall[o] <= 0) continue
			printf "\n%s: %d requests, mean %.1f ms from request to reply\n", o, n[o], wall[o] / n[o] * 1000
			printf "  %-58s %8s %6s %9s\n", "where the time goes", "ms/req", "share", "calls/req"
			# kinds by time, largest first (a few entries: selection sort)
			for (a = 1; a <= nk[o]; a++) {
				best = a
				for (b = a + 1; b <= nk[o]; b++)
					if (sum[o, kinds[o, b]] > sum[o, kinds[o, best]]) best = b
				k = kinds[o, best]; kinds[o, best] = kinds[o, a]; kinds[o, a] = k
				printf "  %-58s %8.2f %5.0f%% %9.1f\n", k, sum[o, k] / n[o] * 1000,
					100 * sum[o, k] / wall[o], cnt[o, k] / n[o]
			}
			u = wall[o] - sys[o]
			printf "  %-58s %8.2f %5.0f%%\n", "user space (and strace between syscalls)",
				u / n[o] * 1000, 100 * u / wall[o]
			if (ns[o] > 0) printf "  disk syncs per request, by file (under the root):\n"
			for (a = 1; a <= ns[o]; a++)
				printf "    %5.1f  %s\n", files[o, synced[o, a]] / n[o], synced[o, a]
		}
	}'
}

if [ $breakdown = 1 ]; then
	echo
	echo "spawn: breakdown — $bd_runs spawn + destroy rounds with forged's main thread under" \
		"strace -T -yy (no -f: container processes run untraced; strace slows every syscall," \
		"so read the shares, not the totals)"
	strace -T -tt -yy -s 64 -p "${fpid[$root]}" -o "$tmp/strace.txt" 2>"$tmp/strace.log" &
	strace_pid=$!
	sleep 0.5
	"$bin" --root "$root" --prefix "$prefix" --runs "$bd_runs" --warmup 0 --settle-ms 300 \
		>"$tmp/bd.out" ||
		echo "spawn: warning: the traced rounds failed" >&2
	sleep 0.2
	kill -INT "$strace_pid" 2>/dev/null || true
	wait "$strace_pid" 2>/dev/null || true
	classify "$tmp/strace.txt" "$root"

	# Where forged's own CPU time goes: sampled, so syscalls run at full speed.
	if command -v perf >/dev/null; then
		echo
		echo "spawn: forged's own CPU time over $bd_runs more rounds, sampled with perf record -g" \
			"--no-inherit (its thread only, not the container processes it forks)"
		perf record -q -F 4999 -g --no-inherit -p "${fpid[$root]}" -o "$tmp/perf.data" \
			>"$tmp/perf.log" 2>&1 &
		perf_pid=$!
		sleep 0.5
		"$bin" --root "$root" --prefix "$prefix" --runs "$bd_runs" --warmup 0 --settle-ms 300 \
			--pid "${fpid[$root]}" >"$tmp/perf.out" || echo "spawn: warning: the sampled rounds failed" >&2
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
		echo "spawn: on a CPU per spawn $(st "$tmp/perf.out" forge_spawn_cpu 2) ms, per destroy" \
			"$(st "$tmp/perf.out" forge_destroy_cpu 2) ms (medians); inclusive shares of its samples:"
		perf report -i "$tmp/perf.data" --children --sort sym -g none 2>/dev/null | awk '
			BEGIN {
				n = split("exc_page_fault do_wp_page flush_tlb_mm_range __do_sys_clone3 " \
					"dup_mmap copy_net_ns netlink_sendmsg do_fsync do_sys_openat2", sym, " ")
				label["exc_page_fault"] = "page faults"
				label["do_wp_page"] = "  of which copy-on-write (pages shared with forked inits)"
				label["flush_tlb_mm_range"] = "  of which TLB shootdowns (IPIs to the other CPU)"
				label["__do_sys_clone3"] = "clone3 of container inits"
				label["dup_mmap"] = "  of which copying forged'"'"'s page tables"
				label["copy_net_ns"] = "  of which new network namespaces"
				label["netlink_sendmsg"] = "netlink requests (links, addresses, routes, nft)"
				label["do_fsync"] = "fsync, fdatasync (CPU part)"
				label["do_sys_openat2"] = "opening files"
			}
			$1 ~ /%$/ && $3 ~ /^\[/ { share[$4] = $1 }
			END {
				for (i = 1; i <= n; i++)
					printf "  %-60s %7s\n", label[sym[i]], (sym[i] in share) ? share[sym[i]] : "-"
			}'
	fi

	# A second forged whose whole root is on tmpfs, where fsync returns at once, its
	# rounds interleaved with the first's: what the disk's syncs cost, without strace.
	echo
	shm=$(mktemp -d /dev/shm/fbench-spawn.XXXXXX)
	pfx[$shm]=${prefix}t
	mkdir -p "$shm/var/lib/forge"
	cp -a "$root/var/lib/forge/images" "$shm/var/lib/forge/"
	if start_forged "$shm"; then
		"$bin" --root "$root" --prefix "$prefix" --pid "${fpid[$root]}" --also-root "$shm" \
			--also-prefix "${pfx[$shm]}" --also-pid "${fpid[$shm]}" --runs "$((bd_runs * 2))" \
			--warmup 1 --settle-ms 300 >"$tmp/shm.out" || echo "spawn: warning: the tmpfs rounds failed" >&2
		stop_forged "$shm"
		forge_leftovers "$shm" || echo "spawn: warning: forged on tmpfs left objects behind" >&2
		echo "spawn: forged with its root on the disk (forge_*) and on tmpfs (alt_*: no disk" \
			"syncs), $((bd_runs * 2)) rounds, interleaved, each spawn after 300 ms idle:"
		printf '%-20s %10s %10s %10s %10s %10s\n' runner median_ms p10_ms p90_ms min_ms max_ms
		for r in spawn destroy spawn_cpu spawn_blocked; do
			row "forge_$r" "$tmp/shm.out" "forge_$r"
			row "alt_$r" "$tmp/shm.out" "alt_$r"
		done
	fi
fi

# ---------------------------------------------------------------- leftovers

stop_forged "$root"
left=0
forge_leftovers "$root" || left=1
peer_leftovers || left=1
[ $left = 0 ] && echo "spawn: nothing left behind (hub namespaces, cgroups of $prefix, mounts, peer labs)"
restore_run_netns
snap after
for k in netns runnetns links mounts cgroups; do
	# only what appeared can be ours; what went away is other processes' doing
	new=$(comm -13 "$tmp/before.$k" "$tmp/after.$k")
	[ -n "$new" ] || continue
	echo "spawn: warning: $k that appeared during the benchmark and are still there" \
		"(ours, or another process's):" >&2
	printf '%s\n' "$new" | head -n 20 | sed 's/^/  /' >&2
done

# ---------------------------------------------------------------- machine-readable results

echo "RESULT name=spawn_destroy forge_ms=$(st "$tmp/out" forge_destroy 2) peer=ip+nft+runc" \
	"peer_ms=$(st "$tmp/out" peer_down 2) ratio=$r_destroy"
if [ "$dens" != 0 ]; then
	echo "RESULT name=spawn_density scenarios=$dens first10_ms=$first last10_ms=$last" \
		"ratio=$d_ratio rss1_kib=$rss1 rss${dens}_kib=$rssn destroy_all_ms=$all_ms"
fi
echo "RESULT name=spawn forge_ms=$f_spawn peer=ip+nft+runc peer_ms=$p_up ratio=$r_spawn"
