#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/security/run.sh — the escape battery (root, real kernel objects).
#
# Runs every tests/security/*.test.sh (escape attempts against build/forgectl)
# and prints "security: P passed, F failed" as the last line; exits non-zero on any
# failure. All temporary state goes to mktemp -d under /tmp: the repo may be
# read-only (the qemu test VM), with build/ prebuilt.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 1
# shellcheck source=tests/lib/testlib.sh
. "$repo/tests/lib/testlib.sh"

suites=("$here"/*.test.sh)

t_run_suites security "${suites[@]}"
