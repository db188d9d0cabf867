#!/usr/bin/env bash
# bench/unpack — unpacking a multi-layer OCI image: `forgectl image import` of an OCI
# layout (verify, unpack every layer, store) versus `umoci unpack` of the same layout,
# in the same run. See bench/README.md. Run as root: `make bench-unpack` or bench/unpack.sh.
#
# Environment:
#   BENCH_RUNS=5           measured runs per tool (interleaved)
#   BENCH_WARMUP=1         warm-up runs per tool, not counted
#   BENCH_CONTENT=/usr/include   tree copied into the image's second layer
#   FORGECTL=build/forgectl
#   BENCH_KEEP_LOGS=1      keep the scratch directory instead of removing it
#
# The image (built once per run with umoci, gzip layers as umoci writes them):
#   layer 1  a busybox-static root filesystem (tests/lib/mkrootfs-busybox.sh)
#   layer 2  a copy of BENCH_CONTENT under /usr/include (thousands of small text files)
#   layer 3  BENCH_CONTENT/linux removed (whiteouts) and one file added
# Both tools work on the same disk, in the same scratch directory; what each leaves is
# removed outside the timed window. Forge's figure includes what umoci does not do:
# recompressing each gzip layer to zstd for the store and one syncfs before committing.
#
# Timings never make this script fail; it fails only when a tool fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"

runs=${BENCH_RUNS:-5}
warmup=${BENCH_WARMUP:-1}
content=${BENCH_CONTENT:-/usr/include}
forgectl=${FORGECTL:-build/forgectl}

die() {
	echo "unpack: $*" >&2
	exit 1
}

case ${1:-} in
-h | --help)
	sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
	exit 0
	;;
"") ;;
*) die "unknown argument: $1" ;;
esac

[ "$(id -u)" = 0 ] || die "needs root (layers keep their owners; whiteouts are device nodes)"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ $warmup =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a non-negative integer"
[ -x "$forgectl" ] || die "no $forgectl (run: make)"
forgectl=$(realpath "$forgectl")
command -v umoci >/dev/null || die "umoci not installed (make deps)"
[ -d "$content/linux" ] || die "BENCH_CONTENT=$content has no linux/ subdirectory"

timeit=build/bench/timeit
if [ ! -x "$timeit" ] || [ "$here/timeit.c" -nt "$timeit" ]; then
	mkdir -p build/bench
	${CC:-cc} -O2 -o "$timeit" "$here/timeit.c" || die "cannot build $timeit"
fi
timeit=$(realpath "$timeit")

# On disk, where an image store lives (/var/lib/forge), not tmpfs.
tmp=$(mktemp -d /var/tmp/forge-bench-unpack.XXXXXX)
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "${BENCH_KEEP_LOGS:-0}" = 1 ]; then
		echo "unpack: kept $tmp" >&2
	else
		rm -rf --one-file-system "$tmp"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the image

echo "unpack: building the image (umoci, 3 gzip layers) in $tmp"
"$top/tests/lib/mkrootfs-busybox.sh" "$tmp/busybox"
layout=$tmp/layout
bundle=$tmp/bundle
{
	umoci init --layout "$layout"
	umoci new --image "$layout:bench"
	umoci unpack --image "$layout:bench" "$bundle"
	cp -a "$tmp/busybox/." "$bundle/rootfs/"
	umoci repack --refresh-bundle --image "$layout:bench" "$bundle"
	mkdir -p "$bundle/rootfs/usr"
	cp -a "$content" "$bundle/rootfs/usr/include"
	umoci repack --refresh-bundle --image "$layout:bench" "$bundle"
	rm -rf "$bundle/rootfs/usr/include/linux"
	echo bench >"$bundle/rootfs/etc/bench"
	umoci repack --image "$layout:bench" "$bundle"
} >"$tmp/build.log" 2>&1 || {
	sed 's/^/  | /' "$tmp/build.log" >&2
	die "building the image failed"
}
rm -rf --one-file-system "$bundle" "$tmp/busybox"
files=$(find "$content" | wc -l)
size=$(du -sh "$layout" | cut -f1)
echo "unpack: $size of layers; layer 2 holds $files entries of $content"

# ---------------------------------------------------------------- runs

mkdir -p "$tmp/logs"
# one_run TOOL TAG: prints "<ns> <status>"; removes what the tool made, untimed.
one_run() {
	local t=$1 tag=$2 out dest=$tmp/out
	case $t in
	forge)
		mkdir -p "$dest"
		out=$("$timeit" "$tmp/logs/forge.$tag" "$forgectl" --root "$dest" image import \
			"$layout" --name bench/unpack:1) || out="0 127"
		;;
	umoci)
		out=$("$timeit" "$tmp/logs/umoci.$tag" umoci unpack --image "$layout:bench" "$dest") ||
			out="0 127"
		;;
	esac
	rm -rf --one-file-system "$dest"
	echo "$out"
}

check() {
	local t=$1 tag=$2 status=${3#* }
	if [ "$status" != 0 ]; then
		echo "unpack: $t failed (exit $status, run $tag):" >&2
		sed 's/^/  | /' "$tmp/logs/$t.$tag" >&2
		exit 1
	fi
}

declare -A samples=([forge]="" [umoci]="")
echo "unpack: $warmup warm-up + $runs measured runs each, interleaved: forge umoci"
for ((i = 1; i <= warmup + runs; i++)); do
	for t in forge umoci; do
		sync
		res=$(one_run "$t" "$i")
		check "$t" "$i" "$res"
		if ((i > warmup)); then samples[$t]+="${res%% *}"$'\n'; fi
	done
done

# stats: ns samples in, "median p10 p90" in ms out
stats() {
	sort -n | awk '
		{ v[NR] = $1 }
		function pct(p,  k) { k = int(p * NR + 0.999999); if (k < 1) k = 1; if (k > NR) k = NR; return v[k] }
		END {
			med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.1f %.1f %.1f\n", med / 1e6, pct(0.10) / 1e6, pct(0.90) / 1e6
		}'
}

declare -A med
printf '\n%-8s %10s %10s %10s\n' tool median_ms p10_ms p90_ms
for t in forge umoci; do
	read -r m p10 p90 <<<"$(printf '%s' "${samples[$t]}" | stats)"
	med[$t]=$m
	printf '%-8s %10s %10s %10s\n' "$t" "$m" "$p10" "$p90"
done
ratio=$(awk -v p="${med[umoci]}" -v f="${med[forge]}" 'BEGIN { printf "%.2f", (f > 0) ? p / f : 0 }')
echo
echo "unpack: umoci/forge = ${ratio}x"
echo "RESULT name=unpack forge_ms=${med[forge]} peer=umoci peer_ms=${med[umoci]} ratio=$ratio"
