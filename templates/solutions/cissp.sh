#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# cissp reference solution: close the intruder's remote shell and unpublish the
# credentials; the web server itself keeps serving.
# Usage: FORGECTL='build/forgectl --root R' templates/solutions/cissp.sh SCENARIO_ID
set -eu
: "${FORGECTL:?set FORGECTL to the forgectl command to use}"
[ $# -eq 1 ] || { echo "usage: $0 SCENARIO_ID" >&2; exit 2; }
$FORGECTL exec "$1" target_server -- sh -c 'killall nc; rm -f /tmp/www/secret.txt'
