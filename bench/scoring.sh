#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/scoring — scoring overhead for one netplus result: Forge's scoring library
# (score.json, evidence.tar.zst, both sha256, manifest.json, Ed25519 signature, the four
# files written durably) versus tar --zstd + sha256sum + openssl pkeyutl -sign -rawin
# (Ed25519) on the same files, in the same run. `make bench-scoring` or bench/scoring.sh.
#
# Environment:
#   BENCH_RUNS=30                measured rounds (forge, forge+audit and peer interleaved)
#   BENCH_WARMUP=3               warm-up rounds, not counted
#   BENCH_TMPDIR=/tmp            where the scratch directory goes: its file system is the
#                                one Forge fsyncs on (/var/lib/forge's, on a real host)
#   BENCH_BIN=build/bench/scoring
#
# What one sample is:
#   forge        forge_results_write() in one long-lived process, as forged calls it after
#                the criteria have run (their own run time is not in it): load the active
#                verdict key, build score.json and the ustar + zstd bundle from the
#                artifacts in memory, hash both, write manifest.json, sign it, write and
#                fsync the four files in a temp directory, rename it into place, fsync the
#                parent
#   forge+audit  the same plus the "scenario.score" audit event (line and signed head,
#                each fsync'd); for scale, not in the ratio
#   peer         three processes in sequence, timed from the first spawn to the last reap:
#                tar --zstd --sort=name --format=ustar --owner=0 --group=0 --numeric-owner
#                --mtime=@0 of the same artifacts (as files), sha256sum of score.json and
#                the archive into a manifest, openssl pkeyutl -sign -rawin of it with an
#                Ed25519 PEM key; no fsync (the peer gets that for free)
#
# Prints median, p10, p90, min per runner, then
#   RESULT name=scoring forge_ms=<median> peer=tar+sha256sum+openssl peer_ms=<median> ratio=<peer/forge>
# The target (issue 6) is a forge median of at most 20 ms. Timings never fail the script;
# it fails only when Forge or the peer cannot do the work. Needs no root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"

runs=${BENCH_RUNS:-30}
warmup=${BENCH_WARMUP:-3}
tmpdir=${BENCH_TMPDIR:-/tmp}
bin=${BENCH_BIN:-build/bench/scoring}

die() {
	echo "scoring: $*" >&2
	exit 1
}

if [ $# -gt 0 ]; then
	[ "$1" = --help ] || [ "$1" = -h ] || die "no arguments: settings are environment variables (--help)"
	sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
	exit 0
fi
[ -x "$bin" ] || die "no $bin (run: make build/bench/scoring)"
for t in tar zstd sha256sum openssl; do
	command -v $t >/dev/null || die "$t not installed (the peer needs it)"
done
tar --help 2>/dev/null | grep -q -- '--zstd' || die "this tar has no --zstd (GNU tar >= 1.31 needed)"

tmp=$(mktemp -d "$tmpdir/fbench-scoring.XXXXXX")
trap 'rm -rf --one-file-system "$tmp"' EXIT
trap 'exit 130' INT TERM

openssl genpkey -algorithm ed25519 -out "$tmp/peer.pem" 2>"$tmp/genpkey.log" ||
	die "openssl cannot make an Ed25519 key: $(cat "$tmp/genpkey.log")"
chmod 600 "$tmp/peer.pem"

echo "scoring: scratch on $(df --output=fstype "$tmp" | tail -n 1) ($tmp)"
status=0
"$bin" --dir "$tmp" --peer-key "$tmp/peer.pem" --runs "$runs" --warmup "$warmup" || status=$?
if [ $status != 0 ]; then
	[ -s "$tmp/peer.log" ] && sed 's/^/  | /' "$tmp/peer.log" >&2
	die "the benchmark failed (exit $status)"
fi
