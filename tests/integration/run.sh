#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/integration/run.sh — the integration suite (root, real kernel objects).
#
# Runs every tests/integration/*.test.sh (CLI-level, against build/forgectl) and
# every built cmocka binary build/tests/integration/test_*, then prints
# "integration: P passed, F failed" as the last line; exits non-zero on any
# failure. All temporary state goes to mktemp -d under /tmp: the repo may be
# read-only (the qemu test VM), with build/ prebuilt.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 1
# shellcheck source=tests/lib/testlib.sh
. "$repo/tests/lib/testlib.sh"

suites=("$here"/*.test.sh)
for bin in "$repo"/build/tests/integration/test_*; do
	[ -f "$bin" ] && [ -x "$bin" ] && suites+=("$bin")
done

t_run_suites integration "${suites[@]}"
