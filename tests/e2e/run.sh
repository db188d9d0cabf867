#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/e2e/run.sh [BIN...]
#
# The end-to-end suites: the compiled ones given as arguments (default: every
# $BUILD/tests/e2e/test_* binary, BUILD=build) and every tests/e2e/*.test.sh.
# Each drives real daemons over HTTP on a private temp FORGE_ROOT and cleans up
# after itself. Run from anywhere; the suites run from the repository root.
# Ends with exactly one line "e2e: P passed, F failed" (tests/lib/run-suite.sh).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac

suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
	for b in "$build"/tests/e2e/test_*; do
		[ -x "$b" ] && case $b in *.d) ;; *) suites+=("$b") ;; esac
	done
fi
for s in "$here"/*.test.sh; do
	[ -e "$s" ] && suites+=("$s")
done
# Absolute paths: the suites run from the repository root (policy/rules, api/openapi.yaml).
for i in "${!suites[@]}"; do
	case ${suites[$i]} in /*) ;; *) suites[$i]=$PWD/${suites[$i]} ;; esac
done

cd "$repo" || exit 2
export FORGE_API=${FORGE_API:-$build/forge-api}
exec "$repo/tests/lib/run-suite.sh" e2e "${suites[@]}"
