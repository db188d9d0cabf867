#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The whole flow over HTTP with the real daemons on a private root: forged (as
# root) and forge-api (dropped to nobody). For each track: spawn → the reference
# solution's commands through POST /v1/scenarios/{id}/exec → complete → score
# 1.0 → evidence, manifest and verdict downloaded → `forgectl verify` OK →
# delete. Tenant isolation (403 for another tenant), and forged killed
# mid-flight gives 503 until it is back.
# shellcheck source=tests/lib/testlib.sh
FORGECTL=${FORGECTL:-$(cd "$(dirname "$0")/../.." && pwd)/build/forgectl}
. "$(dirname "$0")/../lib/testlib.sh"

FORGED="$T_REPO/build/forged"
FORGE_API_BIN="$T_REPO/build/forge-api"
T_SKELETON_RE='^(etc|etc/forge|run|run/forge|var|var/lib|var/lib/forge|netns|api\.log|forged\.log)(/.*)?$'
export SAT_HMAC_SECRET=e2e-sat-secret-0123456789abcdef0123456789abcdef
export FORGE_JWT_HS256_SECRET=e2e-jwt-secret-0123456789abcdef0123456789abcdef
export FORGE_ENV=test

start_forged() {
	env FORGE_TEMPLATES_DIR="$T_REPO/templates" FORGE_POLICY_DIR="$T_REPO/policy/rules" \
		FORGE_NETNS_DIR="$T_ROOT/netns" FORGE_API_USER=nobody \
		"$FORGED" --root "$T_ROOT" --prefix "$T_PREFIX" >>"$T_TMP/forged.log" 2>&1 &
	FORGED_PID=$!
	T_BG_PIDS+=("$FORGED_PID")
	local i
	for ((i = 0; i < 200; i++)); do
		"$FORGECTL" --root "$T_ROOT" --prefix "$T_PREFIX" ps >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "forged did not start"
	t_diag "$(tail -5 "$T_TMP/forged.log")"
	return 1
}

start_api() {
	PORT=$((20000 + RANDOM % 20000))
	"$FORGE_API_BIN" --root "$T_ROOT" --listen "127.0.0.1:$PORT" --user nobody \
		>>"$T_TMP/api.log" 2>&1 &
	API_PID=$!
	T_BG_PIDS+=("$API_PID")
	local i
	for ((i = 0; i < 200; i++)); do
		curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "forge-api did not start"
	t_diag "$(tail -5 "$T_TMP/api.log")"
	return 1
}

token() { # token TENANT
	"$FORGECTL" --root "$T_ROOT" dev-token --tenant "$1" --sub alice \
		--roles forge.spawn,forge.learner,forge.score.read --plan ENTERPRISE
}

# api METHOD PATH [BODY]: sets CODE and BODY
api() {
	local args=(-s -o "$T_TMP/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN")
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
	CODE=$(curl "${args[@]}" "http://127.0.0.1:$PORT$2")
	BODY=$(cat "$T_TMP/body")
}

setup_root() {
	local dev=$T_REPO/build/root/var/lib/forge/images
	mkdir -p "$T_ROOT/var/lib/forge" "$T_ROOT/etc/forge" "$T_ROOT/netns"
	cp -a "$dev" "$T_ROOT/var/lib/forge/images" || return 1
	mkdir -p "$T_ROOT/etc/forge/policy"
	cp "$T_REPO"/policy/rules/*.yaml "$T_ROOT/etc/forge/policy/"
	chmod 0755 "$T_TMP" "$T_ROOT" "$T_ROOT/etc" "$T_ROOT/etc/forge" "$T_ROOT/var" "$T_ROOT/var/lib"
}

# The reference solutions call "$FORGECTL exec ID CONTAINER -- CMD..."; this
# stand-in sends exactly that through the REST API.
make_exec_shim() {
	cat >"$T_TMP/api-exec" <<EOF
#!/bin/bash
[ "\$1" = exec ] || exit 2
id=\$2 ctr=\$3; shift 3; [ "\$1" = -- ] && shift
argv=\$(printf '%s\n' "\$@" | jq -R . | jq -sc .)
code=\$(curl -s -o "$T_TMP/exec.out" -w '%{http_code}' -H "Authorization: Bearer \$TOKEN" \
	-H 'Content-Type: application/json' -d "{\"container\":\"\$ctr\",\"argv\":\$argv}" \
	"http://127.0.0.1:$PORT/v1/scenarios/\$id/exec")
[ "\$code" = 200 ] || { echo "exec: HTTP \$code \$(cat "$T_TMP/exec.out")" >&2; exit 1; }
exit "\$(jq -r .exit_code "$T_TMP/exec.out")"
EOF
	chmod +x "$T_TMP/api-exec"
}

track_flow() {
	local track=$1 id dir
	api POST /v1/spawn "{\"track\":\"$track\",\"request_id\":\"e2e-$track-$RANDOM\"}"
	assert_eq 201 "$CODE" "spawn $track: $BODY"
	id=$(jq -r .scenario_id <<<"$BODY")
	[ "$CODE" = 201 ] || return
	TOKEN=$TOKEN FORGECTL="$T_TMP/api-exec" timeout 120 \
		"$T_REPO/templates/solutions/$track.sh" "$id" >"$T_TMP/solve.out" 2>&1 ||
		{ fail "$track solution through the api"; t_diag "$(cat "$T_TMP/solve.out")"; }
	api POST "/v1/scenarios/$id/complete"
	assert_eq 200 "$CODE" "complete $track: $BODY"
	api GET "/v1/scores/$id"
	assert_eq 200 "$CODE" "score of $track"
	assert_eq "1.000000" "$(jq -r '.score.score.value // .score.value // .value' <<<"$BODY")" \
		"$track scores 1.0: $BODY"
	dir=$T_TMP/dl-$track
	mkdir -p "$dir"
	local f
	for f in evidence:evidence.tar.zst manifest:manifest.json verdict:verdict.sig; do
		curl -s -o "$dir/${f#*:}" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
			"http://127.0.0.1:$PORT/v1/scores/$id/${f%%:*}" >"$T_TMP/code"
		assert_eq 200 "$(cat "$T_TMP/code")" "download ${f%%:*} of $track"
	done
	# score.json is the score object GET /v1/scores/{id} returns, in canonical
	# form (sorted keys, no whitespace) and a newline: what the manifest hashed
	api GET "/v1/scores/$id"
	jq -cS '.score' <<<"$BODY" >"$dir/score.json"
	assert_contains "$("$FORGECTL" verify "$dir" --keys "$T_ROOT/etc/forge/keys" 2>&1)" "OK" \
		"forgectl verify of $track's downloaded results"
	api DELETE "/v1/scenarios/$id"
	assert_eq 200 "$CODE" "delete $track"
}

test_flow() {
	setup_root || { fail "set-up"; return; }
	start_forged || return
	start_api || return
	make_exec_shim
	TOKEN=$(token t1)
	local track
	for track in netplus ccna cissp; do track_flow "$track"; done

	# another tenant sees nothing of t1's scenario
	api POST /v1/spawn '{"track":"netplus","request_id":"e2e-iso"}'
	local id
	id=$(jq -r .scenario_id <<<"$BODY")
	local t1=$TOKEN
	TOKEN=$(token t2)
	api GET "/v1/scenarios/$id"
	assert_eq 403 "$CODE" "another tenant's scenario"
	assert_not_contains "$BODY" "learner_vm" "no other tenant's data in the error"
	TOKEN=$t1

	# forged killed mid-flight: 503, then back by itself
	kill -KILL "$FORGED_PID"
	wait "$FORGED_PID" 2>/dev/null
	api GET "/v1/scenarios/$id"
	assert_eq 503 "$CODE" "forged down: 503"
	start_forged || return
	local i
	for ((i = 0; i < 100; i++)); do
		api GET "/v1/scenarios/$id"
		[ "$CODE" = 200 ] && break
		sleep 0.1
	done
	assert_eq 200 "$CODE" "forged back: 200 (the scenario was re-adopted)"
	api DELETE "/v1/scenarios/$id"
	assert_eq 200 "$CODE" "delete after recovery"
	kill -TERM "$API_PID" "$FORGED_PID"
	wait "$API_PID" "$FORGED_PID" 2>/dev/null
}

t_setup
for b in "$FORGED" "$FORGE_API_BIN"; do
	[ -x "$b" ] || { echo "# $b is missing (run make)"; T_FAIL=1; t_done; }
done
[ -f "$T_REPO/build/root/var/lib/forge/images/index.json" ] ||
	{ echo "# no built-in images (run make images)"; T_FAIL=1; t_done; }
t_case "netplus, ccna, cissp over HTTP: spawn, solve, complete, score 1.0, verify; isolation; forged down and back" test_flow
t_done
