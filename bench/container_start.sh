#!/usr/bin/env bash
# bench/container_start — start-to-exit of /bin/true in a fully isolated container:
# Forge versus runc and bubblewrap, in the same run, on the same busybox rootfs.
# See bench/README.md. Run as root from anywhere: `make bench` or bench/container_start.sh.
#
#   bench/container_start.sh [--breakdown]
#
# Environment:
#   BENCH_RUNS=50          measured runs per runtime (interleaved round-robin)
#   BENCH_WARMUP=3         warm-up runs per runtime, not counted
#   BENCH_ONLY="forge runc bwrap"   subset to run (RESULT lines need forge and the peer)
#   FORGECTL=build/forgectl         BENCH_ROOTFS=build/rootfs/busybox
#   BENCH_KEEP_LOGS=1      keep the temp dir (logs) instead of removing it
#
# Timings never make this script fail. It fails only when a runtime does not run
# /bin/true successfully (or a prerequisite is missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"

runs=${BENCH_RUNS:-50}
warmup=${BENCH_WARMUP:-3}
only=${BENCH_ONLY:-forge runc bwrap}
forgectl=${FORGECTL:-build/forgectl}
rootfs=${BENCH_ROOTFS:-build/rootfs/busybox}
breakdown=0
for a in "$@"; do
	case $a in
	--breakdown) breakdown=1 ;;
	-h | --help)
		sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
		exit 0
		;;
	*)
		echo "container_start: unknown argument: $a" >&2
		exit 2
		;;
	esac
done

die() {
	echo "container_start: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (real namespaces and cgroups)"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ $warmup =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a non-negative integer"
[ -x "$rootfs/bin/busybox" ] || die "no busybox rootfs at $rootfs (run: make rootfs)"
rootfs=$(realpath "$rootfs")

want() { [[ " $only " == *" $1 "* ]]; }
runtimes=()
for r in forge runc bwrap; do
	want $r && runtimes+=("$r")
done
[ ${#runtimes[@]} -gt 0 ] || die "BENCH_ONLY selects no runtime (forge runc bwrap)"
if want forge; then
	[ -x "$forgectl" ] || die "no $forgectl (run: make build/forgectl)"
	forgectl=$(realpath "$forgectl")
fi
if want runc; then command -v runc >/dev/null || die "runc not installed (make deps)"; fi
if want bwrap; then command -v bwrap >/dev/null || die "bwrap not installed (make deps)"; fi

# ---------------------------------------------------------------- timing helper

timeit=build/bench/timeit
if [ ! -x "$timeit" ] || [ "$here/timeit.c" -nt "$timeit" ]; then
	mkdir -p build/bench
	${CC:-cc} -O2 -o "$timeit" "$here/timeit.c" || die "cannot build $timeit"
fi
timeit=$(realpath "$timeit")

# ---------------------------------------------------------------- scratch space and clean-up

# On tmpfs, like a real host's /run/forge (on this VM /run is on the ext4 root, mounted
# with "discard", where an rmdir costs 85-300 us): both runtimes keep their state there.
tmp=$(mktemp -d /dev/shm/forge-bench.XXXXXX)
chmod 755 "$tmp" # the runc peer's container root (host uid 100000) must reach its bundle
runc_state=$tmp/runc-state
runc_bundle=$tmp/runc-bundle
runc_prefix=fbench-$$-
runc_rootfs=$rootfs
cg_before=$tmp/cgroups.before

list_cgroups() {
	find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | sort || true
}

cleanup() {
	local rc=$? id m
	trap - EXIT INT TERM
	if [ -d "$runc_state" ]; then
		for id in $(runc --root "$runc_state" list -q 2>/dev/null); do
			runc --root "$runc_state" delete -f "$id" >/dev/null 2>&1 || true
		done
	fi
	# runc removes its own cgroups on delete; remove any of ours a crash left (empty dirs).
	find /sys/fs/cgroup -mindepth 1 -depth -type d -name "${runc_prefix}*" \
		-exec rmdir {} \; 2>/dev/null || true
	# Nothing should be mounted under the scratch dir; if a runtime left a mount, say so.
	while read -r m; do
		echo "container_start: warning: leftover mount $m, unmounting" >&2
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v t="$tmp" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	if [ "${BENCH_KEEP_LOGS:-0}" = 1 ]; then
		echo "container_start: kept $tmp" >&2
	else
		rm -rf --one-file-system "$tmp"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

list_cgroups >"$cg_before"

# ---------------------------------------------------------------- the three commands

mkdir -p "$tmp/forge-root" "$runc_state" "$runc_bundle" "$tmp/logs"

forge_cmd=("$forgectl" --root "$tmp/forge-root" run --rootfs "$rootfs"
	--memory 64M --pids 64 --cpus 1 -- /bin/true)
bwrap_cmd=(bwrap --unshare-all --die-with-parent --ro-bind "$rootfs" / --proc /proc
	--dev /dev --tmpfs /tmp -- /bin/true)

write_runc_config() {
	"$here/peers/runc-config.sh" "$runc_rootfs" 100000 65536 >"$runc_bundle/config.json"
}

# one_run RUNTIME TAG: time one start-to-exit; prints "<ns> <status>", log in logs/RUNTIME.TAG
one_run() {
	local r=$1 tag=$2 log=$tmp/logs/$1.$2 out id
	case $r in
	forge) out=$("$timeit" "$log" "${forge_cmd[@]}") || out="0 127" ;;
	bwrap) out=$("$timeit" "$log" "${bwrap_cmd[@]}") || out="0 127" ;;
	runc)
		id=$runc_prefix$tag
		out=$("$timeit" "$log" runc --root "$runc_state" run --bundle "$runc_bundle" "$id") ||
			out="0 127"
		# `runc run` deletes the container when it exits; this is only a safety net and
		# is outside the timed window.
		runc --root "$runc_state" delete -f "$id" >/dev/null 2>&1 || true
		;;
	esac
	echo "$out"
}

# check RUNTIME TAG RESULT: fail with the log when the run did not exit 0
check() {
	local r=$1 tag=$2 status=${3#* }
	if [ "$status" != 0 ]; then
		echo "container_start: $r failed to run /bin/true (exit $status, run $tag):" >&2
		sed 's/^/  | /' "$tmp/logs/$r.$tag" >&2
		exit 1
	fi
}

# ---------------------------------------------------------------- sanity runs

if want runc; then
	write_runc_config
	res=$(one_run runc probe)
	if [ "${res#* }" != 0 ] && grep -qi 'permission denied' "$tmp/logs/runc.probe"; then
		# The container's root is host uid 100000; if it cannot use a root-owned rootfs
		# here, give runc its own copy owned by the mapped range.
		echo "container_start: runc cannot use $rootfs as is; using a copy chowned to 100000:100000" >&2
		sed 's/^/  | /' "$tmp/logs/runc.probe" >&2
		runc_rootfs=$tmp/runc-rootfs
		cp -a "$rootfs" "$runc_rootfs"
		chown -R -h 100000:100000 "$runc_rootfs"
		write_runc_config
		res=$(one_run runc probe)
	fi
	check runc probe "$res"
fi
for r in forge bwrap; do
	if want $r; then
		res=$(one_run $r probe)
		check $r probe "$res"
	fi
done

# ---------------------------------------------------------------- measurement

declare -A samples
for r in "${runtimes[@]}"; do samples[$r]=""; done
base_samples=""

echo "container_start: /bin/true in a busybox rootfs ($rootfs)"
echo "container_start: $warmup warm-up + $runs measured runs each, interleaved: ${runtimes[*]}"
for ((i = 1; i <= warmup + runs; i++)); do
	for r in "${runtimes[@]}"; do
		res=$(one_run "$r" "$i")
		check "$r" "$i" "$res"
		if ((i > warmup)); then samples[$r]+="${res%% *}"$'\n'; fi
	done
	# The floor: spawning the same static busybox /bin/true on the host, no isolation.
	res=$("$timeit" "$tmp/logs/host.$i" "$rootfs/bin/busybox" true)
	if ((i > warmup)); then base_samples+="${res%% *}"$'\n'; fi
done

# stats: reads ns samples, prints "median p10 p90 min" in ms (nearest-rank percentiles,
# median the mean of the two middle values for an even count)
stats() {
	sort -n | awk '
		{ v[NR] = $1 }
		function pct(p,  k) { k = int(p * NR + 0.999999); if (k < 1) k = 1; if (k > NR) k = NR; return v[k] }
		END {
			med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.3f %.3f %.3f %.3f\n", med / 1e6, pct(0.10) / 1e6, pct(0.90) / 1e6, v[1] / 1e6
		}'
}

declare -A med
printf '\n%-8s %10s %10s %10s %10s\n' runtime median_ms p10_ms p90_ms min_ms
for r in "${runtimes[@]}" host-true; do
	if [ "$r" = host-true ]; then
		s=$(printf '%s' "$base_samples" | stats)
	else
		s=$(printf '%s' "${samples[$r]}" | stats)
	fi
	read -r m p10 p90 mn <<<"$s"
	med[$r]=$m
	printf '%-8s %10s %10s %10s %10s\n' "$r" "$m" "$p10" "$p90" "$mn"
done
echo "(host-true: plain posix_spawn of the rootfs's static busybox 'true' on the host, no isolation — the process floor)"

# What forged pays per container: the same start-to-exit through the runtime library in
# one long-lived process (no launcher exec, no dynamic linking per container).
lib_bin=$top/build/bench/container_start_lib
if want forge && [ -x "$lib_bin" ]; then
	mkdir -p "$tmp/lib-state"
	if s=$("$lib_bin" "$rootfs" "$tmp/lib-state" "$runs"); then
		read -r m p10 p90 <<<"$s"
		printf '%-8s %10s %10s %10s   (in-process: the library as forged uses it)\n' forge-lib "$m" "$p10" "$p90"
	else
		echo "container_start: in-process measurement failed" >&2
	fi
fi

ratio() { awk -v p="$1" -v f="$2" 'BEGIN { printf "%.2f", (f > 0) ? p / f : 0 }'; }
echo
if want forge; then
	for p in runc bwrap; do
		want $p || continue
		echo "container_start: $p/forge = $(ratio "${med[$p]}" "${med[forge]}")x"
	done
fi
if want bwrap; then
	echo "container_start: note: bubblewrap sets up namespaces and mounts only — no cgroup limits," \
		"no seccomp filter, and it keeps full capabilities inside its user namespace (as root," \
		"uid 0 maps to host uid 0); Forge and the runc peer pay for cgroups, seccomp and dropping capabilities."
fi
if want runc; then
	echo "container_start: runc peer: userns 0->100000/65536, pid+ipc+uts+mount+net+user+cgroup ns," \
		"read-only root, memory 64M/pids 64/cpu 1 (cgroup v1 here), no caps, noNewPrivileges," \
		"seccomp allowlist of $(grep -cv '^[[:space:]]*\(#\|$\)' "$here/peers/seccomp-allow.txt") syscalls (default EPERM)."
fi

# ---------------------------------------------------------------- optional breakdown

if [ $breakdown = 1 ] && want forge; then
	echo
	if command -v strace >/dev/null; then
		echo "container_start: breakdown of one forge run (strace -f -c -w: wall time per syscall," \
			"all processes; strace slows everything, read the shares, not the totals)"
		strace -f -c -w -S time -o "$tmp/strace.forge" "${forge_cmd[@]}" \
			>"$tmp/logs/forge.strace" 2>&1 || true
		head -n 25 "$tmp/strace.forge"
		echo
		echo "container_start: the 15 slowest single syscalls of another forge run" \
			"(strace -f -T; waits for children excluded)"
		strace -f -T -o "$tmp/strace.forge.T" "${forge_cmd[@]}" \
			>"$tmp/logs/forge.straceT" 2>&1 || true
		awk 'match($0, /<[0-9.]+>$/) && $2 !~ /^(wait4|waitid|poll|ppoll|epoll_wait|epoll_pwait|read)\(/ &&
				$0 !~ /<\.\.\. (wait4|waitid|poll|ppoll|epoll_wait|epoll_pwait|read) resumed>/ {
				printf "%10.3f ms  %s\n", substr($0, RSTART + 1, RLENGTH - 2) * 1000,
					substr($0, 1, 110) }' "$tmp/strace.forge.T" | sort -rn | head -n 15
	else
		echo "container_start: --breakdown needs strace"
	fi
fi

# ---------------------------------------------------------------- leftovers

if [ -d "$runc_state" ] && [ -n "$(runc --root "$runc_state" list -q 2>/dev/null)" ]; then
	echo "container_start: warning: runc containers left in $runc_state (removing)" >&2
fi
if find /sys/fs/cgroup -mindepth 1 -type d -name "${runc_prefix}*" 2>/dev/null | grep -q .; then
	echo "container_start: warning: runc left cgroups ${runc_prefix}* (removing)" >&2
fi
new_cg=$(list_cgroups | comm -13 "$cg_before" - | grep -v "/${runc_prefix}" || true)
if [ -n "$new_cg" ]; then
	echo "container_start: warning: cgroups that appeared during the benchmark and are still there" \
		"(forge leftovers, or another process's):" >&2
	printf '%s\n' "$new_cg" | sed 's/^/  /' >&2
fi

# ---------------------------------------------------------------- machine-readable results

if want forge; then
	for p in runc bwrap; do
		want $p || continue
		echo "RESULT name=container_start forge_ms=${med[forge]} peer=$p peer_ms=${med[$p]}" \
			"ratio=$(ratio "${med[$p]}" "${med[forge]}")"
	done
fi
