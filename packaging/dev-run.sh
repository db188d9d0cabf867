#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# packaging/dev-run.sh — what `make run` does: forged and forge-api together on
# a development root (build/root, with the built-in images that `make images`
# put there), development secrets generated once into build/root/etc/forge
# (0600, never in the source), the signing keys created by forged on first
# start. Prints a development token and curl examples, then serves until
# Ctrl-C; on the way out every scenario is destroyed and both daemons stop.
#
#   packaging/dev-run.sh [BUILD_DIR]      (FORGE_API_LISTEN=127.0.0.1:8080)
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
root=$build/root
listen=${FORGE_API_LISTEN:-127.0.0.1:8080}
prefix=forgedev

if [ "$(id -u)" != 0 ]; then
	echo "make run: forged owns namespaces, cgroups and nftables: try 'sudo make run'" >&2
	exit 1
fi
mkdir -p "$root/etc/forge" "$root/var/lib/forge" "$root/netns"
chmod 0755 "$root" "$root/etc" "$root/etc/forge" "$root/var" "$root/var/lib"

# Development secrets: random, made once, readable by root only.
secrets=$root/etc/forge/dev-secrets.env
if [ ! -s "$secrets" ]; then
	umask 077
	{
		echo "SAT_HMAC_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
		echo "FORGE_JWT_HS256_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	} >"$secrets"
	umask 022
fi
set -a
# shellcheck disable=SC1090
. "$secrets"
set +a
export FORGE_ENV=development FORGE_API_USER=nobody
export FORGE_TEMPLATES_DIR=$here/templates FORGE_POLICY_DIR=$here/policy/rules
export FORGE_NETNS_DIR=/run/netns
mkdir -p "$root/etc/forge/policy"
cp "$here"/policy/rules/*.yaml "$root/etc/forge/policy/"

logs=$build/run-logs
mkdir -p "$logs"
"$build/forged" --root "$root" --prefix "$prefix" >>"$logs/forged.log" 2>&1 &
forged=$!
fctl() { "$build/forgectl" --root "$root" --prefix "$prefix" "$@"; }
for _ in $(seq 100); do fctl ps >/dev/null 2>&1 && break; sleep 0.1; done
if ! fctl ps >/dev/null 2>&1; then
	echo "make run: forged did not start; see $logs/forged.log" >&2
	tail -3 "$logs/forged.log" >&2
	kill "$forged" 2>/dev/null
	exit 1
fi
"$build/forge-api" --root "$root" --listen "$listen" --user nobody >>"$logs/api.log" 2>&1 &
api=$!

stop() {
	trap - INT TERM EXIT
	echo
	echo "make run: destroying scenarios and stopping"
	for id in $(fctl ps --json 2>/dev/null | jq -r '.[].scenario_id'); do
		fctl destroy "$id" >/dev/null
	done
	kill -TERM "$api" "$forged" 2>/dev/null
	wait "$api" "$forged" 2>/dev/null
	exit 0
}
trap stop INT TERM EXIT

for _ in $(seq 100); do curl -sf "http://$listen/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
if ! curl -sf "http://$listen/healthz" >/dev/null 2>&1; then
	echo "make run: forge-api did not start; see $logs/api.log" >&2
	tail -3 "$logs/api.log" >&2
	exit 1
fi
token=$(fctl dev-token --tenant acme --sub alice \
	--roles forge.spawn,forge.learner,forge.score.read --plan ENTERPRISE --ttl 3600)

cat <<EOF
forged    pid $forged   root $root   prefix $prefix   log $logs/forged.log
forge-api pid $api   http://$listen   log $logs/api.log

A development token (tenant acme, 1 hour):
export TOKEN=$token
H="Authorization: Bearer \$TOKEN"

curl -s http://$listen/readyz
curl -s -H "\$H" http://$listen/v1/templates
curl -s -H "\$H" -H 'Content-Type: application/json' -d '{"track":"netplus","request_id":"demo-1"}' http://$listen/v1/spawn
ID=<scenario_id from the answer>
curl -s -H "\$H" -H 'Content-Type: application/json' -d '{"container":"learner_vm","argv":["ip","route","add","10.20.0.0/24","via","10.10.0.1"]}' http://$listen/v1/scenarios/\$ID/exec
curl -s -H "\$H" -X POST http://$listen/v1/scenarios/\$ID/complete
curl -s -H "\$H" http://$listen/v1/scores/\$ID
sudo $build/forgectl --root $root --prefix $prefix ps | inspect \$ID | verify <results dir>

Ctrl-C stops both daemons and destroys every scenario.
EOF
wait "$forged"
