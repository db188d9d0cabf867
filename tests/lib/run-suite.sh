#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# run-suite.sh NAME BIN...
#
# Runs each test binary, shows its output, and sums cmocka's summary lines
# ("[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)"). A binary that
# reports no failures but crashes or exits non-zero counts as one failed test;
# one that prints no cmocka summary at all (a plain script) counts as one test,
# passed or failed by its exit status. Ends with exactly one line
# "NAME: P passed, F failed" and exits non-zero if anything failed or nothing ran.
#
# RUN_SUITE_TIMEOUT (seconds, default 600) bounds each binary.
set -u

if [ $# -lt 1 ]; then
	echo "usage: $0 NAME BIN..." >&2
	exit 2
fi
name=$1
shift

timeout_s=${RUN_SUITE_TIMEOUT:-600}
out=$(mktemp "${TMPDIR:-/tmp}/run-suite.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT

passed=0
failed=0
ran=0

# Sum of the N in every "<tag> N test(s)" of the output; grep -o because
# cmocka writes these to stderr while the rest goes to buffered stdout, so a
# summary may not start its line.
sum_tag() {
	local tag=$1 total=0 n
	while read -r n; do
		total=$((total + n))
	done < <(grep -o "\[  $tag  \] [0-9]\+ test(s)" "$out" | grep -o '[0-9]\+ ' )
	echo "$total"
}

for bin in "$@"; do
	ran=$((ran + 1))
	echo "=== $bin"
	if [ ! -x "$bin" ]; then
		echo "run-suite: $bin: not an executable file" >&2
		failed=$((failed + 1))
		continue
	fi
	# cmocka's plain-text output, whatever the caller's environment asks for.
	CMOCKA_MESSAGE_OUTPUT=stdout timeout --kill-after=10 "$timeout_s" "$bin" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	# Keep our own lines on lines of their own.
	if [ -s "$out" ] && [ -n "$(tail -c 1 "$out")" ]; then echo; fi
	p=$(sum_tag PASSED)
	f=$(sum_tag FAILED)
	if [ "$rc" -eq 124 ]; then
		echo "run-suite: $bin: timed out after ${timeout_s}s" >&2
	elif [ "$rc" -gt 128 ]; then
		echo "run-suite: $bin: killed by signal $((rc - 128))" >&2
	elif [ "$rc" -ne 0 ]; then
		echo "run-suite: $bin: exit status $rc" >&2
	fi
	if ! grep -q '\[  \(PASSED\|FAILED\)  \] [0-9]\+ test(s)' "$out"; then
		# Not a cmocka binary (or it died before its summary): one test.
		if [ "$rc" -eq 0 ]; then p=1; else f=1; fi
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

echo "$name: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$ran" -gt 0 ] && [ $((passed + failed)) -gt 0 ]
