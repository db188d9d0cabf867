#!/bin/bash
# shellcheck disable=SC2317  # cases run via t_case
# SPDX-License-Identifier: Apache-2.0
#
# forgectl verify, audit, keys, cleanup, hold/unhold: the offline tools' command-line
# contract. The results directory here is made with standard tools only (GNU tar, zstd,
# sha256sum, and openssl signing with Forge's own verdict key), so these cases also show
# that the formats are open: anyone can produce and check them without Forge's code.
# shellcheck source=tests/lib/testlib.sh
. "$(dirname "$0")/../lib/testlib.sh"

KEYS() { echo "$T_ROOT/etc/forge/keys"; }
LIB() { echo "$T_ROOT/var/lib/forge"; }

# Everything a case made under the root goes, so the leak check sees the skeleton only.
scrub() { rm -rf "$(KEYS)" "$(LIB)/results" "$(LIB)/audit" "$(LIB)/holds" "$T_TMP/work"; }

make_keys() {
	fc keys rotate audit
	assert_ok "keys rotate audit" || return 1
	fc keys rotate verdict
	assert_ok "keys rotate verdict" || return 1
	VERDICT_ID=${FC_OUT#verdict key_id=}
}

# b64url FILE: base64url (no padding) of a binary file.
b64url() { base64 -w0 <"$1" | tr '+/' '-_' | tr -d '='; }

# pem_from_seed ID OUT: Forge's verdict seed as a PKCS#8 PEM for openssl (RFC 8410 prefix).
pem_from_seed() {
	local seed pad
	seed=$(tr -d '\n' <"$(KEYS)/verdict/$1.key" | tr -- '-_' '+/')
	pad=$(((4 - ${#seed} % 4) % 4))
	seed+=$(printf '=%.0s' $(seq 1 $pad))
	{
		echo "-----BEGIN PRIVATE KEY-----"
		{ printf '\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20'; base64 -d <<<"$seed"; } | base64 -w0
		echo
		echo "-----END PRIVATE KEY-----"
	} >"$2"
	chmod 600 "$2"
}

# make_result TENANT SCENARIO TIMESTAMP RETENTION: a results directory signed with the
# active verdict key, built with tar, zstd, sha256sum and openssl. Sets RES.
make_result() {
	local w="$T_TMP/work/$1-$2" sha_s sha_e
	RES="$(LIB)/results/$1/$2"
	mkdir -p "$w/art/criteria/route/0" "$w/art/criteria/web/0" "$RES"
	echo "default via 10.10.0.1 dev eth0" >"$w/art/criteria/route/0/stdout"
	echo 0 >"$w/art/criteria/route/0/exit_code"
	echo 7 >"$w/art/criteria/web/0/exit_code"
	(cd "$w/art" && find criteria -type f | LC_ALL=C sort) >"$w/list"
	tar --format=ustar --no-recursion --owner=0 --group=0 --numeric-owner --mtime=@0 \
		--mode=0644 -C "$w/art" -cf "$w/evidence.tar" -T "$w/list" || return 1
	zstd -q -19 "$w/evidence.tar" -o "$RES/evidence.tar.zst" || return 1
	local tpl='{"hash":"3333333333333333333333333333333333333333333333333333333333333333","name":"netplus","version":"1"}'
	printf '%s\n' '{"criteria":[{"evidence":["criteria/route/0/stdout","criteria/route/0/exit_code"],"id":"route","message":"ok","passed":true,"weight":1},{"evidence":["criteria/web/0/exit_code"],"id":"web","message":"exit 7","passed":false,"weight":2}],"passed":1,"scenario_id":"'"$2"'","score":{"den":3,"num":1,"value":"0.333333"},"template":'"$tpl"',"total":2,"version":1}' \
		>"$RES/score.json"
	sha_s=$(sha256sum "$RES/score.json" | cut -d' ' -f1)
	sha_e=$(sha256sum "$RES/evidence.tar.zst" | cut -d' ' -f1)
	printf '%s\n' '{"files":{"evidence.tar.zst":"'"$sha_e"'","score.json":"'"$sha_s"'"},"key_id":"'"$VERDICT_ID"'","reproduce":{"forge_version":"0.1.0","images":{},"kernel_release":"test","policy_bundle_hash":"'"${sha_s}"'","seccomp_profile_hash":"'"${sha_s}"'","template":'"$tpl"'},"retention_days":'"$4"',"run_id":"r1","scenario_id":"'"$2"'","tenant":"'"$1"'","timestamp":"'"$3"'","version":1}' \
		>"$RES/manifest.json"
	pem_from_seed "$VERDICT_ID" "$w/key.pem"
	openssl pkeyutl -sign -rawin -inkey "$w/key.pem" -in "$RES/manifest.json" -out "$w/sig" || return 1
	printf '{"alg":"ed25519","key_id":"%s","sig":"%s"}\n' "$VERDICT_ID" "$(b64url "$w/sig")" >"$RES/verdict.sig"
}

test_verify_ok_and_failures() {
	make_keys || { scrub; return; }
	make_result acme sc1 2026-01-01T00:00:00Z 30 || fail "cannot build the result"
	fc verify "$RES"
	assert_ok "verify"
	assert_eq "OK key_id=$VERDICT_ID score=0.333333 num=1 den=3 passed=1 total=2 tenant=acme scenario=sc1 run=r1" \
		"$FC_OUT" "verify output"

	cp "$RES/score.json" "$T_TMP/work/score.json"
	sed -i 's/"passed":false/"passed":true /' "$RES/score.json"
	fc verify "$RES"
	assert_status 1 "verify of a changed score.json"
	assert_contains "$FC_ERR" "score.json: sha256 mismatch"
	cp "$T_TMP/work/score.json" "$RES/score.json"

	echo note >"$RES/README"
	fc verify "$RES"
	assert_status 1 "verify with an extra file"
	assert_contains "$FC_ERR" "extra file: README"
	rm "$RES/README"

	mv "$RES/verdict.sig" "$T_TMP/work/verdict.sig"
	fc verify "$RES"
	assert_status 1 "verify without verdict.sig"
	assert_contains "$FC_ERR" "missing file: verdict.sig"
	mv "$T_TMP/work/verdict.sig" "$RES/verdict.sig"

	sed -i 's/"run_id":"r1"/"run_id":"r2"/' "$RES/manifest.json"
	fc verify "$RES"
	assert_status 1 "verify of a changed manifest"
	assert_contains "$FC_ERR" "manifest.json: bad signature"
	sed -i 's/"run_id":"r2"/"run_id":"r1"/' "$RES/manifest.json"
	fc verify "$RES"
	assert_ok "verify after undoing every change"
	scrub
}

test_verify_key_sources() {
	make_keys || { scrub; return; }
	make_result acme sc2 2026-01-01T00:00:00Z 30 || fail "cannot build the result"
	fc verify "$RES" --pubkey "$(KEYS)/verdict/$VERDICT_ID.pub"
	assert_ok "verify --pubkey the .pub record"
	mkdir -p "$T_TMP/work/copy"
	cp "$(KEYS)/verdict/$VERDICT_ID.pub" "$T_TMP/work/copy/"
	fc verify "$RES" --keys "$T_TMP/work/copy"
	assert_ok "verify --keys a flat copy of the public keys"
	openssl genpkey -algorithm ed25519 -out "$T_TMP/work/other.pem" 2>/dev/null
	openssl pkey -in "$T_TMP/work/other.pem" -pubout -outform DER 2>/dev/null | tail -c 32 >"$T_TMP/work/other.raw"
	b64url "$T_TMP/work/other.raw" >"$T_TMP/work/other.pub"
	fc verify "$RES" --pubkey "$T_TMP/work/other.pub"
	assert_status 1 "verify against another key"
	assert_contains "$FC_ERR" "unknown key id $VERDICT_ID"
	fc verify "$RES" --pubkey x --keys y
	assert_status 2 "--keys with --pubkey"
	scrub
}

test_rotation_keeps_verifying() {
	make_keys || { scrub; return; }
	make_result acme sc3 2026-01-01T00:00:00Z 30 || fail "cannot build the result"
	local old=$VERDICT_ID
	fc keys rotate verdict
	assert_ok "rotate"
	assert_ne "verdict key_id=$old" "$FC_OUT" "new key id"
	fc verify "$RES"
	assert_ok "verify a verdict signed before the rotation"
	assert_contains "$FC_OUT" "key_id=$old"
	fc keys list
	assert_ok "keys list"
	assert_match "$FC_OUT" "^verdict +$old +no " "old key listed, not active"
	assert_match "$FC_OUT" "^verdict +[0-9a-f]{16} +yes " "new key active"
	fc keys list --json
	assert_eq 3 "$(json_get "$FC_OUT" '.keys | length')" "keys in the published set"
	scrub
}

test_audit_verify_names_line() {
	make_keys || { scrub; return; }
	fc hold sc9
	assert_ok "hold"
	fc audit verify
	assert_ok "audit verify"
	assert_contains "$FC_OUT" "OK events=3 head=3"
	sed -i '2s/"purpose":"verdict"/"purpose":"audit"  /' "$(LIB)/audit/audit.log"
	fc audit verify
	assert_status 1 "audit verify of a changed line"
	assert_contains "$FC_ERR" "audit.log line 2:"
	scrub
}

test_cleanup_and_holds() {
	make_keys || { scrub; return; }
	make_result acme old 2020-01-01T00:00:00Z 30 || fail "cannot build old"
	make_result acme kept 2020-01-01T00:00:00Z 36500 || fail "cannot build kept"
	make_result acme held 2020-01-01T00:00:00Z 30 || fail "cannot build held"
	fc hold held
	assert_ok "hold"
	fc cleanup results --older-than 30 --dry-run
	assert_ok "cleanup --dry-run"
	assert_contains "$FC_OUT" "would delete acme/old"
	assert_contains "$FC_OUT" "held acme/held"
	assert_not_contains "$FC_OUT" "acme/kept"
	[ -d "$(LIB)/results/acme/old" ] || fail "dry run deleted acme/old"
	fc cleanup results --older-than 30
	assert_ok "cleanup"
	assert_contains "$FC_OUT" "deleted acme/old"
	[ -d "$(LIB)/results/acme/old" ] && fail "acme/old survived cleanup"
	[ -d "$(LIB)/results/acme/held" ] || fail "cleanup deleted a held result"
	fc unhold held
	assert_ok "unhold"
	fc unhold held
	assert_status 1 "unhold twice"
	fc cleanup results --older-than 30
	assert_contains "$FC_OUT" "deleted acme/held"
	fc cleanup results --older-than -1
	assert_status 2 "negative days"
	fc audit verify
	assert_ok "audit verify after cleanup"
	assert_contains "$(cat "$(LIB)/audit/audit.log")" '"type":"results.delete"'
	scrub
}

t_setup
for t in tar zstd sha256sum openssl base64; do
	command -v $t >/dev/null || { echo "# scoring: $t missing"; T_FAIL=1; t_summary; exit 1; }
done
t_case "verify: OK line, changed score, extra and missing file, changed manifest" test_verify_ok_and_failures
t_case "verify: --pubkey, --keys copy, another key is an unknown key id" test_verify_key_sources
t_case "keys rotate: a verdict signed before still verifies; keys list" test_rotation_keeps_verifying
t_case "audit verify names the first changed line" test_audit_verify_names_line
t_case "cleanup: dry run, holds, retention, audited" test_cleanup_and_holds
t_done
