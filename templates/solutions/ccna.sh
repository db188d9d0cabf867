#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# ccna reference solution: the planned address, and the router as default gateway.
# Usage: FORGECTL='build/forgectl --root R' templates/solutions/ccna.sh SCENARIO_ID
set -eu
: "${FORGECTL:?set FORGECTL to the forgectl command to use}"
[ $# -eq 1 ] || { echo "usage: $0 SCENARIO_ID" >&2; exit 2; }
$FORGECTL exec "$1" learner_vm -- ip addr add 10.40.0.25/24 dev eth0
$FORGECTL exec "$1" learner_vm -- ip route replace default via 10.40.0.1
