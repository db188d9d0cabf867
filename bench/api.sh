#!/usr/bin/env bash
# bench/api — forge-api's throughput and tail latency under wrk at 64 connections,
# next to nginx serving a static JSON file of the same size on loopback, in the same run
# (nginx is the practical ceiling for HTTP on this machine). See bench/README.md.
#
#   GET /healthz             no authentication, no forged
#   GET /v1/scenarios/{id}   HS256 bearer token verified, roles, rate limiter, the status
#                            cache (api.status_cache_ms, 1 s by default), the JSON request
#                            log line: what a portal polling a scenario gets
#   the same, cache off      every request also makes one round trip to the real forged
#                            (op "get" with the tenant check): a second forge-api with
#                            api.status_cache_ms = 0
# The scenario polled is a real netplus spawned through forge-api on a private root
# (built-in images from `make images`), destroyed at the end.
#   nginx GET /status.json   a static file of the status body's size, access_log off
#
# Environment:
#   BENCH_RUNS=3            wrk runs per target (the median is reported)
#   BENCH_DURATION=5        seconds per wrk run (plus a 1 s warm-up per target)
#   BENCH_CONNS=64          connections
#   BENCH_WRK_THREADS=2     wrk threads
#   BENCH_API_THREADS=      forge-api's HTTP threads (default: its configuration's)
#   BUILD=build             where forged, forge-api and forgectl are
#
# Timings never make this script fail; it fails when a piece is missing or does not start.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"

runs=${BENCH_RUNS:-3}
duration=${BENCH_DURATION:-5}
conns=${BENCH_CONNS:-64}
wrk_threads=${BENCH_WRK_THREADS:-2}
build=${BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
api_bin=$build/forge-api
forgectl=$build/forgectl
forged=$build/forged
images=$build/root/var/lib/forge/images

die() {
	echo "api: $*" >&2
	exit 1
}
for v in runs duration conns wrk_threads; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
for t in wrk nginx curl; do
	command -v $t >/dev/null || die "$t not installed (make deps)"
done
for b in "$api_bin" "$forgectl" "$forged"; do
	[ -x "$b" ] || die "no $b (run: make all)"
done
[ "$(id -u)" = 0 ] || die "needs root (forged builds the scenario it polls)"
[ -f "$images/index.json" ] || die "no built-in images in $build/root (run: make images)"

tmp=$(mktemp -d /tmp/fbench-api.XXXXXX)
chmod 755 "$tmp"
pids=()
prefix=fba$(($$ % 100000))
fctl() { "$forgectl" --root "$root" --prefix "$prefix" "$@"; }
cleanup() {
	local p id
	trap - EXIT INT TERM
	# forged leaves scenarios running when it stops: destroy them first
	for id in $(fctl ps --json 2>/dev/null | jq -r '.[].scenario_id' 2>/dev/null); do
		fctl destroy "$id" >/dev/null 2>&1 || true
	done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() { # a port nothing listens on right now
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || {
			echo $p
			return
		}
	done
}

wait_http() { # URL: up to 10 s for any answer
	local i
	for i in $(seq 100); do
		curl -s -o /dev/null "$1" && return 0
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------- forged + forge-api

root=$tmp/root
mkdir -p "$root/etc/forge" "$root/var/lib/forge" "$root/run/forge" "$root/netns"
cp -a "$images" "$root/var/lib/forge/images"
chmod 755 "$root" "$root/etc" "$root/etc/forge" "$root/var" "$root/var/lib" "$root/run" "$root/run/forge"
chmod 711 "$root/var/lib/forge"
cp -r policy/rules "$root/etc/forge/policy" && chmod -R a+rX "$root/etc/forge/policy"
export FORGE_JWT_HS256_SECRET=bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SAT_HMAC_SECRET=bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export FORGE_ENV=test
# The limiter still runs on every request; it just never says no here.
export FORGE_RATELIMIT_STATUS_PER_MINUTE=1000000000 FORGE_RATELIMIT_STATUS_BURST=1000000000
export FORGE_API_MAX_CONNECTIONS=4096
[ -n "${BENCH_API_THREADS:-}" ] && export FORGE_API_THREADS=$BENCH_API_THREADS
tenant=bench

FORGE_TEMPLATES_DIR=$top/templates FORGE_POLICY_DIR=$top/policy/rules \
	FORGE_NETNS_DIR=$root/netns FORGE_API_USER=nobody \
	"$forged" --root "$root" --prefix "$prefix" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do fctl ps >/dev/null 2>&1 && break; sleep 0.1; done
fctl ps >/dev/null 2>&1 || die "forged did not start"
user_args=()
[ "$(id -u)" = 0 ] && user_args=(--user nobody)
start_api() { # PORT [VAR=VALUE...]: request lines formatted as in production, to /dev/null
	local port=$1
	shift
	env "$@" "$api_bin" --root "$root" --listen "127.0.0.1:$port" "${user_args[@]}" 2>/dev/null &
	pids+=($!)
	wait_http "http://127.0.0.1:$port/healthz" || die "forge-api did not start"
}
api_port=$(free_port)
start_api "$api_port"
nocache_port=$(free_port)
start_api "$nocache_port" FORGE_API_STATUS_CACHE_MS=0
token=$("$forgectl" --root "$root" dev-token --tenant "$tenant" --sub bench --roles forge.spawn \
	--plan ENTERPRISE --ttl 3600) || die "forgectl dev-token failed"
scenario=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
	-d '{"track":"netplus","request_id":"bench-api"}' "http://127.0.0.1:$api_port/v1/spawn" |
	jq -r .scenario_id) || die "spawning the scenario to poll failed"
status_url=http://127.0.0.1:$api_port/v1/scenarios/$scenario
curl -sf -H "Authorization: Bearer $token" -o "$tmp/status.json" "$status_url" ||
	die "the authenticated status request failed"
size=$(stat -c %s "$tmp/status.json")

# ---------------------------------------------------------------- nginx

mkdir -p "$tmp/www" "$tmp/nginx"
cp "$tmp/status.json" "$tmp/www/status.json"
chmod -R a+rX "$tmp/www"
nginx_port=$(free_port)
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	scgi_temp_path $tmp/nginx/scgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	server {
		listen 127.0.0.1:$nginx_port;
		root $tmp/www;
		location / { default_type application/json; }
	}
}
EOF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
pids+=($!)
nginx_url=http://127.0.0.1:$nginx_port/status.json
wait_http "$nginx_url" || die "nginx did not start (see $tmp/nginx/error.log)"
[ "$(curl -s "$nginx_url" | wc -c)" = "$size" ] || die "nginx serves another size"

# ---------------------------------------------------------------- wrk

to_ms() { # wrk's "1.23ms", "850.00us", "1.02s"
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
		printf "%.3f", n }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# bench NAME URL [HEADER]: median requests/s and p99 (ms) of $runs runs into NAME.rps, NAME.p99
bench() {
	local name=$1 url=$2 hdr=${3:-} i out
	local args=(-t"$wrk_threads" -c"$conns" --latency)
	[ -n "$hdr" ] && args+=(-H "$hdr")
	wrk "${args[@]}" -d1s "$url" >/dev/null # warm-up
	: >"$tmp/$name.rps"
	: >"$tmp/$name.p99"
	for i in $(seq "$runs"); do
		out=$(wrk "${args[@]}" -d"${duration}s" "$url")
		if grep -q "Non-2xx" <<<"$out"; then
			echo "$out" >&2
			die "$name: non-2xx answers under load"
		fi
		awk '/^Requests\/sec:/ { print $2 }' <<<"$out" >>"$tmp/$name.rps"
		to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")" >>"$tmp/$name.p99"
		echo >>"$tmp/$name.p99"
	done
	printf '%s %s\n' "$(median <"$tmp/$name.rps")" "$(grep . "$tmp/$name.p99" | median)"
}

echo "api: $conns connections, $wrk_threads wrk threads, $runs x ${duration}s per target, body $size bytes, $(nproc) CPUs"
read -r nginx_rps nginx_p99 < <(bench nginx "$nginx_url")
read -r health_rps health_p99 < <(bench healthz "http://127.0.0.1:$api_port/healthz")
read -r status_rps status_p99 < <(bench status "$status_url" "Authorization: Bearer $token")
read -r nocache_rps nocache_p99 < <(bench nocache \
	"http://127.0.0.1:$nocache_port/v1/scenarios/$scenario" "Authorization: Bearer $token")

printf '%-44s %12s %10s\n' target "requests/s" "p99 ms"
printf '%-44s %12.0f %10.3f\n' "nginx static ($size B)" "$nginx_rps" "$nginx_p99"
printf '%-44s %12.0f %10.3f\n' "forge-api GET /healthz" "$health_rps" "$health_p99"
printf '%-44s %12.0f %10.3f\n' "forge-api GET /v1/scenarios/{id}" "$status_rps" "$status_p99"
printf '%-44s %12.0f %10.3f\n' "forge-api GET /v1/scenarios/{id}, cache off" "$nocache_rps" \
	"$nocache_p99"
share=$(awk -v a="$status_rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')
met=$(awk -v s="$share" -v p="$status_p99" 'BEGIN { print (s >= 0.5 && p < 5) ? "met" : "missed" }')
echo "api: authenticated status at $share of nginx's rate, p99 $status_p99 ms (target >= 0.50 and < 5 ms: $met)"
echo "RESULT name=api forge_ms=$status_p99 peer=nginx peer_ms=$nginx_p99" \
	"ratio=$(awk -v a="$nginx_p99" -v b="$status_p99" 'BEGIN { printf "%.3f", a / b }')" \
	"forge_rps=$status_rps peer_rps=$nginx_rps rps_share=$share healthz_rps=$health_rps" \
	"healthz_p99_ms=$health_p99 nocache_rps=$nocache_rps nocache_p99_ms=$nocache_p99"
