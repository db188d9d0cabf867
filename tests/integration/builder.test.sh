#!/bin/bash
# shellcheck disable=SC2016,SC2317,SC2034  # scripts run in the container; cases run via t_case; FC_* read by testlib
# SPDX-License-Identifier: Apache-2.0
#
# forgectl image build (rootfs-builder/): the same spec built twice — from two
# different .deb caches and temp dirs, into two stores — gives the same digest
# and the same layer bytes; a derived image keeps its base's layers and
# accounts; bad specs are refused naming what is wrong; the built-in images
# (images/specs, built by rootfs-builder/make-images.sh) build and run.
#
# Needs apt (package lists; apt-get download reaches the mirror unless the
# cache has the files). .deb files are cached in build/cache/debs, shared with
# `make images`, so a second run downloads nothing. Each case builds into its
# own store under the test's temp dir, never into --root: the leak checks stay
# meaningful. Under the test VM only the refusals run (no build): nothing the
# builder does depends on the cgroup layout the VM is there for, and TCG is too
# slow for builds.
# shellcheck source=tests/lib/testlib.sh
. "$(dirname "$0")/../lib/testlib.sh"

B_TIMEOUT=${FORGE_TEST_BUILD_TIMEOUT:-600}
MAKE_IMAGES=$T_REPO/rootfs-builder/make-images.sh

# The stable cache when the repo's build dir is writable, else a private one.
deb_cache() {
	local c=${FORGE_DEB_CACHE:-$T_REPO/build/cache/debs}
	if mkdir -p "$c" 2>/dev/null && [ -w "$c" ]; then
		echo "$c"
	else
		mkdir -p "$T_TMP/debs" && echo "$T_TMP/debs"
	fi
}

in_vm_skip() {
	if [ -n "${FORGE_VM_RESULTS:-}" ]; then
		skip "covered by the host's run (TCG is too slow for builds)"
		return 0
	fi
	return 1
}

# fcr ROOT ARGS...: forgectl --root ROOT ARGS (build timeout); sets FC_RC, FC_OUT, FC_ERR.
fcr() {
	local root=$1
	shift
	T_LAST_CMD="forgectl --root $root --prefix $T_PREFIX $(printf '%q ' "$@")"
	[ "${FORGE_TEST_VERBOSE:-0}" = 1 ] && t_diag "run: $T_LAST_CMD"
	FC_TIMED_OUT=""
	timeout -k 5 "$B_TIMEOUT" "$FORGECTL" --root "$root" --prefix "$T_PREFIX" "$@" \
		</dev/null >"$T_TMP/fc.out" 2>"$T_TMP/fc.err"
	FC_RC=$?
	[ "$FC_RC" = 124 ] && FC_TIMED_OUT=1
	FC_OUT=$(cat "$T_TMP/fc.out")
	FC_ERR=$(cat "$T_TMP/fc.err")
	return 0
}

# The blob file of a store's image layer N (0: bottom-most).
layer_blob() { # ROOT REF N
	local d
	d=$(json_get "$("$FORGECTL" --root "$1" image inspect "$2")" ".layers[$3].digest")
	echo "$1/var/lib/forge/images/blobs/sha256/${d#sha256:}"
}

write_small_spec() { # FILE
	cat >"$1" <<'EOF'
name: test/small:1
busybox: [sh, ls, cat, head, /usr/bin/env]
packages:
  install: [netbase]
  depends: true
  exclude_paths: [/usr/share/doc]
directories:
  - {path: /var/tmp, mode: "1777"}
files:
  - {path: /etc/motd, content: "built by forge\n"}
  - {path: /usr/local/bin/hello, mode: "0755", content: "#!/bin/sh\necho hello from $0\n"}
symlinks:
  - {path: /bin/hi, target: /usr/local/bin/hello}
users:
  - {name: root, uid: 0, gid: 0, home: /root, shell: /bin/sh}
groups:
  - {name: root, gid: 0}
config:
  env: {PATH: "/usr/local/bin:/bin", GREETING: hello}
  workdir: /var/tmp
  cmd: [/bin/sh, -c, "echo default command"]
  labels: {org.example.test: small}
EOF
}

test_build_reproducible() {
	in_vm_skip && return
	local spec=$T_TMP/small.yaml r1=$T_TMP/r1 r2=$T_TMP/r2 cache1 cache2=$T_TMP/cache2 d1 d2 f
	write_small_spec "$spec"
	cache1=$(deb_cache)
	mkdir -p "$r1" "$r2" "$T_TMP/tmp1" "$T_TMP/tmp2" "$cache2"
	TMPDIR=$T_TMP/tmp1 fcr "$r1" image build "$spec" --cache "$cache1"
	assert_ok "first build" || return
	d1=$(tail -n1 <<<"$FC_OUT")
	assert_match "$d1" '^sha256:[0-9a-f]{64}$' "the last line is the digest"
	# The second build: another cache (a copy of what the first fetched, so
	# no network is needed twice), another temp dir, another store.
	for f in "$cache1"/busybox-static_*.deb "$cache1"/netbase_*.deb; do
		cp "$f" "$cache2/"
	done
	TMPDIR=$T_TMP/tmp2 fcr "$r2" image build "$spec" --cache "$cache2"
	assert_ok "second build" || return
	d2=$(tail -n1 <<<"$FC_OUT")
	assert_eq "$d1" "$d2" "digest of the same spec built twice"
	cmp "$(layer_blob "$r1" test/small:1 0)" "$(layer_blob "$r2" test/small:1 0)" ||
		fail "the two layer blobs differ"
	assert_eq "" "$(find "$T_TMP/tmp1" "$T_TMP/tmp2" -mindepth 1)" "temp dirs left behind"
	assert_eq "" "$(find "$cache2" -mindepth 1 -not -name '*.deb')" "cache holds only .deb files"

	# What the layer holds, seen from a container.
	fcr "$r1" run --image test/small:1 -- /bin/sh -c \
		'cat /etc/motd; hi; head -1 /etc/services >/dev/null && echo services; pwd; env | sort; ls /usr/share'
	assert_ok "run from the built image"
	assert_contains "$FC_OUT" "built by forge" "/etc/motd"
	assert_contains "$FC_OUT" "hello from /bin/hi" "symlink to an added script"
	assert_contains "$FC_OUT" "services" "netbase's /etc/services"
	assert_contains "$FC_OUT" "GREETING=hello" "config env"
	assert_match "$FC_OUT" '^/var/tmp$' "config workdir"
	assert_not_contains "$FC_OUT" "doc" "excluded /usr/share/doc"
	fcr "$r1" run --image test/small:1
	assert_ok "default command"
	assert_eq "default command" "$FC_OUT" "config cmd"
	rm -rf "$r1" "$r2" "$cache2"
}

test_build_on_a_base() {
	in_vm_skip && return
	local r=$T_TMP/rb spec=$T_TMP/small.yaml derived=$T_TMP/derived.yaml base_layer
	write_small_spec "$spec"
	mkdir -p "$r"
	fcr "$r" image build "$spec" --cache "$(deb_cache)" --name test/base:1
	assert_ok "base build" || return
	cat >"$derived" <<'EOF'
name: test/derived:1
base: test/base:1
files:
  - {path: /etc/motd, content: "derived\n"}
users:
  - {name: alice, uid: 1000, gid: 1000, home: /home/alice}
groups:
  - {name: alice, gid: 1000, members: [alice]}
config:
  env: {GREETING: bonjour, EXTRA: "1"}
EOF
	fcr "$r" image build "$derived"
	assert_ok "derived build" || return
	local inspect
	inspect=$("$FORGECTL" --root "$r" image inspect test/derived:1)
	assert_eq 2 "$(json_get "$inspect" '.layers | length')" "layers of the derived image"
	base_layer=$(json_get "$("$FORGECTL" --root "$r" image inspect test/base:1)" '.layers[0].digest')
	assert_eq "$base_layer" "$(json_get "$inspect" '.layers[0].digest')" "the base's layer, shared"
	fcr "$r" run --image test/derived:1 -- /bin/sh -c 'cat /etc/motd /etc/passwd /etc/group; env | sort'
	assert_ok "run the derived image"
	assert_contains "$FC_OUT" "derived" "the derived layer's /etc/motd"
	assert_match "$FC_OUT" '^root:x:0:0::/root:/bin/sh$' "the base's passwd entry kept"
	assert_match "$FC_OUT" '^alice:x:1000:1000::/home/alice:/bin/sh$' "the new passwd entry"
	assert_match "$FC_OUT" '^alice:x:1000:alice$' "the new group"
	assert_match "$FC_OUT" '^PATH=/usr/local/bin:/bin$' "Env inherited"
	assert_match "$FC_OUT" '^GREETING=bonjour$' "Env replaced"
	assert_match "$FC_OUT" '^EXTRA=1$' "Env added"
	fcr "$r" run --image test/derived:1
	assert_eq "default command" "$FC_OUT" "Cmd inherited"
	rm -rf "$r"
}

test_bad_specs_refused() {
	local r=$T_TMP/rbad
	mkdir -p "$r"
	printf 'name: test/x:1\nfiles: [{path: /a, mode: 644, content: x}]\n' >"$T_TMP/bad.yaml"
	fcr "$r" image build "$T_TMP/bad.yaml"
	assert_status 125 "bad spec"
	assert_contains "$FC_ERR" "bad.yaml: files[0].mode: must be an octal string" "message"
	printf 'name: test/x:1\nbase: test/none:1\n' >"$T_TMP/nobase.yaml"
	fcr "$r" image build "$T_TMP/nobase.yaml"
	assert_status 125 "missing base"
	assert_contains "$FC_ERR" "base" "message names the base"
	fcr "$r" image build "$T_TMP/missing.yaml"
	assert_status 125 "missing spec"
	assert_contains "$FC_ERR" "missing.yaml" "message names the file"
	fcr "$r" image build
	assert_status 2 "no spec"
	fcr "$r" image build "$T_TMP/bad.yaml" --bogus
	assert_status 2 "unknown option"
	printf 'name: test/x:1\n' >"$T_TMP/ok.yaml"
	fcr "$r" image build "$T_TMP/ok.yaml" --name 'Bad Name'
	assert_status 125 "bad --name"
	assert_contains "$FC_ERR" "Bad Name" "message names the name"
	assert_eq "" "$(find "$r" -path '*/index.json')" "nothing stored"
	rm -rf "$r"
}

# ------------------------------------------------------------------ built-in images

IMG_ROOT=""

test_builtin_images_build() {
	in_vm_skip && return
	local out rc spec name
	IMG_ROOT=$T_TMP/images
	out=$(FORGECTL=$FORGECTL FORGE_DEB_CACHE=$(deb_cache) timeout -k 5 "$B_TIMEOUT" \
		"$MAKE_IMAGES" "$IMG_ROOT" 2>&1)
	rc=$?
	t_diag "$out"
	assert_eq 0 "$rc" "make-images.sh" || { IMG_ROOT=""; return; }
	for spec in "$T_REPO"/images/specs/*.yaml; do
		name=$(sed -n 's/^name:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$spec" | head -n1)
		assert_match "$out" "^make-images: $name sha256:[0-9a-f]{64} " "$name built"
	done
	assert_contains "$("$FORGECTL" --root "$IMG_ROOT" image ls)" "forge/attacker:1" "image ls"
	# Again: nothing to do.
	out=$(FORGECTL=$FORGECTL FORGE_DEB_CACHE=$(deb_cache) "$MAKE_IMAGES" "$IMG_ROOT" 2>&1)
	assert_eq 4 "$(grep -c ' up to date ' <<<"$out")" "second make-images.sh run: $out"
}

need_images() {
	in_vm_skip && return 1
	[ -n "$IMG_ROOT" ] && return 0
	fail "the built-in images were not built"
	return 1
}

test_learner_runs() {
	need_images || return
	fcr "$IMG_ROOT" run --image forge/learner:1 --cap NET_RAW -- /bin/sh -c '
		for t in sh ip ping wget nc vi ifconfig route traceroute cat ls ps grep; do
			command -v $t >/dev/null || { echo "missing $t"; exit 1; }
		done
		ip -o link show lo && ping -c 1 -W 5 127.0.0.1 && id && pwd'
	assert_ok "learner tools"
	assert_contains "$FC_OUT" "1 packets received" "ping"
	assert_contains "$FC_OUT" "uid=0(root)" "passwd"
	assert_match "$FC_OUT" '^/root$' "workdir"
}

test_router_runs() {
	need_images || return
	fcr "$IMG_ROOT" run --image forge/router:1 -- /bin/sh -c '
		sysctl -n net.ipv4.ip_forward && ip route && ifconfig lo | head -1 && route -n >/dev/null && echo tools-ok'
	assert_ok "router tools"
	assert_match "$FC_OUT" '^[01]$' "sysctl reads ip_forward"
	assert_contains "$FC_OUT" "tools-ok" "ip, ifconfig, route"
}

test_web_serves() {
	need_images || return
	local pid="" line i page="" bg
	bg=$T_TMP/web
	timeout -k 5 "$T_TIMEOUT" "$FORGECTL" --root "$IMG_ROOT" --prefix "$T_PREFIX" run \
		--image forge/web:1 --cap NET_BIND_SERVICE --report </dev/null >"$bg.out" 2>"$bg.err" &
	FC_BG_PID=$!
	T_BG_PIDS+=("$FC_BG_PID")
	for ((i = 0; i < 200; i++)); do
		line=$(grep -m1 -E '^\{"report":' "$bg.err" 2>/dev/null)
		[ -n "$line" ] && pid=$(json_get "$line" .report.pid) && [ -n "$pid" ] && break
		kill -0 "$FC_BG_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ -z "$pid" ]; then
		fail "no --report from the web container: $(head -c 600 "$bg.err")"
		return
	fi
	# A TCP connection from the host, inside the container's network namespace.
	for ((i = 0; i < 100; i++)); do
		page=$(timeout 5 nsenter --net="/proc/$pid/ns/net" bash -c \
			'exec 3<>/dev/tcp/127.0.0.1/80 && printf "GET / HTTP/1.0\r\n\r\n" >&3 && cat <&3' \
			2>/dev/null) && [ -n "$page" ] && break
		sleep 0.1
	done
	assert_contains "$page" "200 OK" "HTTP status"
	assert_contains "$page" "FORGE-WEB-OK" "the page"
	kill -TERM "$FC_BG_PID" 2>/dev/null
	wait "$FC_BG_PID"
	assert_eq 143 "$?" "httpd stopped by SIGTERM"
	T_BG_PIDS=()
	FC_BG_PID=""
}

test_attacker_runs() {
	need_images || return
	fcr "$IMG_ROOT" run --image forge/attacker:1 -- /bin/sh -c '
		nmap --version | head -1
		nc -h 2>&1 | head -1
		nc -l -p 8080 </dev/null >/dev/null & sleep 0.5
		nmap -n -sT -p 8080,8081 127.0.0.1'
	assert_ok "attacker tools"
	assert_contains "$FC_OUT" "Nmap version" "nmap"
	assert_contains "$FC_OUT" "OpenBSD netcat" "nc is OpenBSD's"
	assert_match "$FC_OUT" '^8080/tcp +open' "nmap finds nc listening"
	assert_match "$FC_OUT" '^8081/tcp +closed' "and the closed port"
}

t_setup
t_case "same spec, two caches and temp dirs: same digest and layer bytes" test_build_reproducible
t_case "an image on a base keeps its layers, accounts and config" test_build_on_a_base
t_case "bad specs and arguments are refused, naming what is wrong" test_bad_specs_refused
t_case "built-in images build (make-images.sh, twice: idempotent)" test_builtin_images_build
t_case "forge/learner: shell and network tools" test_learner_runs
t_case "forge/router: ip, route, sysctl" test_router_runs
t_case "forge/web: httpd serves FORGE-WEB-OK on port 80" test_web_serves
t_case "forge/attacker: nmap and netcat" test_attacker_runs
t_done
