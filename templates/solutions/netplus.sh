#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# netplus reference solution: the learner routes target_net through the router.
# Usage: FORGECTL='build/forgectl --root R' templates/solutions/netplus.sh SCENARIO_ID
set -eu
: "${FORGECTL:?set FORGECTL to the forgectl command to use}"
[ $# -eq 1 ] || { echo "usage: $0 SCENARIO_ID" >&2; exit 2; }
$FORGECTL exec "$1" learner_vm -- ip route add 10.20.0.0/24 via 10.10.0.1
