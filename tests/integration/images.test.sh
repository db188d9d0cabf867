#!/bin/bash
# shellcheck disable=SC2016,SC2317  # single-quoted scripts run in the container; cases run via t_case
# SPDX-License-Identifier: Apache-2.0
#
# forgectl image: import of an OCI layout made by umoci, of a docker-save tarball and of
# a multi-layer image with whiteouts, each then run with `forgectl run --image`; ls,
# inspect, rm of a pinned image, gc; a hostile layer through the CLI; two concurrent
# imports of the same image. Each case uses its own --root (removed at its end), so the
# leak check sees only what containers leave.
# shellcheck source=tests/lib/testlib.sh
. "$(dirname "$0")/../lib/testlib.sh"

# fi ARGS...: forgectl with the case's own root ($IROOT).
fi_() { T_ROOT=$IROOT fc "$@"; }

new_root() {
	IROOT=$T_TMP/iroot.$1
	rm -rf "$IROOT"
	mkdir -p "$IROOT"
}

end_root() { rm -rf --one-file-system "$IROOT"; }

store() { echo "$IROOT/var/lib/forge/images"; }

# The layout fixtures, built once per file (umoci writes gzip layers).
FIX=""
fixtures() {
	[ -n "$FIX" ] && return 0
	FIX=$T_TMP/fixtures
	mkdir -p "$FIX"
	local b=$FIX/bundle
	{
		# single: the busybox rootfs, Env/WorkingDir/Cmd set, ref.name "bb" (a tag only)
		umoci init --layout "$FIX/single" &&
			umoci new --image "$FIX/single:bb" &&
			umoci unpack --image "$FIX/single:bb" "$b" &&
			cp -a "$ROOTFS/." "$b/rootfs/" &&
			umoci repack --image "$FIX/single:bb" "$b" &&
			umoci config --image "$FIX/single:bb" --config.env GREETING=hello \
				--config.env PATH=/bin --config.workingdir /etc \
				--config.cmd /bin/sh --config.cmd -c --config.cmd 'echo "cmd in $PWD: $GREETING"' &&
			rm -rf "$b"
		# multi: busybox + /etc/motd, /data/{old1,old2}, /keep/file; then motd deleted
		# (umoci writes .wh.motd); then, added raw, an opaque /data with only new1.
		umoci init --layout "$FIX/multi" &&
			umoci new --image "$FIX/multi:m" &&
			umoci unpack --image "$FIX/multi:m" "$b" &&
			cp -a "$ROOTFS/." "$b/rootfs/" &&
			echo old >"$b/rootfs/etc/motd" &&
			mkdir "$b/rootfs/data" "$b/rootfs/keep" &&
			echo 1 >"$b/rootfs/data/old1" && echo 2 >"$b/rootfs/data/old2" &&
			echo kept >"$b/rootfs/keep/file" &&
			umoci repack --refresh-bundle --image "$FIX/multi:m" "$b" &&
			rm "$b/rootfs/etc/motd" && echo new >"$b/rootfs/etc/new" &&
			umoci repack --image "$FIX/multi:m" "$b" &&
			rm -rf "$b" && mkdir -p "$FIX/l3/data" &&
			: >"$FIX/l3/data/.wh..wh..opq" && echo n >"$FIX/l3/data/new1" &&
			tar -C "$FIX/l3" --numeric-owner --owner=0 --group=0 -cf "$FIX/l3.tar" data &&
			umoci raw add-layer --image "$FIX/multi:m" "$FIX/l3.tar"
	} >"$FIX/build.log" 2>&1 || {
		fail "building the umoci fixtures"
		t_diag "$(tail -20 "$FIX/build.log")"
		return 1
	}
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# A `docker save` tarball of the busybox rootfs (legacy layout: <id>/layer.tar).
docker_save_tar() {
	local d=$T_TMP/docker.$RANDOM id=5f3c0a1e diff cfg
	mkdir -p "$d/$id"
	tar -C "$ROOTFS" --numeric-owner --owner=0 --group=0 -cf "$d/$id/layer.tar" . || return 1
	diff=$(sha256_of "$d/$id/layer.tar")
	printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin","FROM=docker"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$diff" >"$d/config.json"
	cfg=$(sha256_of "$d/config.json")
	mv "$d/config.json" "$d/$cfg.json"
	printf '[{"Config":"%s.json","RepoTags":["lab/docker:v1"],"Layers":["%s/layer.tar"]}]' \
		"$cfg" "$id" >"$d/manifest.json"
	tar -C "$d" -cf "$1" manifest.json "$cfg.json" "$id"
	rm -rf "$d"
}

test_umoci_import_and_run() {
	fixtures || return
	new_root umoci
	fi_ image import "$FIX/single"
	assert_status 125 "import without --name of a layout whose ref is a tag only"
	assert_contains "$FC_ERR" "pass --name" "the refusal says what to do"
	fi_ image import "$FIX/single" --name lab/busybox:1
	assert_ok "image import"
	local digest=${FC_OUT##*$'\n'}
	assert_match "$digest" '^sha256:[0-9a-f]{64}$' "import prints the digest as its last line"
	fi_ image import "$FIX/single" --name lab/busybox:2
	assert_eq "$digest" "${FC_OUT##*$'\n'}" "the same layout imports to the same digest"

	fi_ run --image lab/busybox:1 -- /bin/busybox echo hi
	assert_ok "run --image -- /bin/busybox echo hi"
	assert_eq "hi" "$FC_OUT" "output of the command"
	fi_ run --image "lab/busybox@$digest"
	assert_ok "run --image NAME@DIGEST with the image's Cmd"
	assert_eq "cmd in /etc: hello" "$FC_OUT" "Cmd, WorkingDir and Env from the config"
	fi_ run --image lab/busybox:2 --env GREETING=override --cwd /tmp -- /bin/sh -c 'echo "$PWD $GREETING $PATH"'
	assert_ok
	assert_eq "/tmp override /bin" "$FC_OUT" "--env and --cwd override the image's"

	fi_ image ls
	assert_ok "image ls"
	assert_match "$FC_OUT" "^lab/busybox:1 +$digest +[0-9]+ 1\$" "ls shows the image"
	fi_ image inspect lab/busybox:1
	assert_ok "image inspect"
	assert_eq "$digest" "$(json_get "$FC_OUT" .digest)" "inspect: digest"
	assert_eq "/etc" "$(json_get "$FC_OUT" .config.config.WorkingDir)" "inspect: config"
	assert_eq "application/vnd.oci.image.layer.v1.tar+zstd" \
		"$(json_get "$FC_OUT" '.manifest.layers[0].mediaType')" "gzip layer stored as zstd"
	local dir
	dir=$(json_get "$FC_OUT" '.layers[0].dir')
	assert_eq "0:0 755" "$(stat -c '%u:%g %a' "$dir/bin")" "layer dirs root-owned, modes kept"
	fi_ run --image lab/nope:1 -- /bin/true
	assert_status 2 "run --image of an unknown image"
	assert_contains "$FC_ERR" "lab/nope:1: not found" "the error names the image"
	end_root
}

test_docker_save_import_and_run() {
	new_root docker
	docker_save_tar "$T_TMP/docker.tar" || { fail "building the docker save tarball"; return; }
	fi_ image import "$T_TMP/docker.tar"
	assert_ok "import of a docker save tarball (named by its RepoTags)"
	fi_ run --image lab/docker:v1 -- /bin/sh -c 'echo "$FROM"; /bin/busybox echo hi'
	assert_ok "run --image lab/docker:v1"
	assert_eq $'docker\nhi' "$FC_OUT" "Env from the docker config, then the command"
	rm -f "$T_TMP/docker.tar"
	end_root
}

test_multilayer_whiteouts() {
	fixtures || return
	new_root multi
	fi_ image import "$FIX/multi" --name lab/multi:1
	assert_ok "import of a 3-layer image with whiteouts"
	fi_ run --image lab/multi:1 -- /bin/sh -c \
		'test -e /etc/motd && echo motd-visible; ls /data; cat /etc/new /keep/file'
	assert_ok "run --image lab/multi:1"
	assert_eq $'new1\nnew\nkept' "$FC_OUT" \
		"deleted file hidden, opaque /data shows only its own layer, the rest kept"
	fi_ image inspect lab/multi:1
	local l1 l2
	l1=$(json_get "$FC_OUT" '.layers[1].dir')
	l2=$(json_get "$FC_OUT" '.layers[2].dir')
	assert_eq "character special file 0,0" "$(stat -c '%F %t,%T' "$l1/etc/motd")" \
		".wh.motd became an overlay whiteout"
	if command -v python3 >/dev/null; then
		assert_eq "y" "$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "trusted.overlay.opaque").decode())' "$l2/data")" \
			".wh..wh..opq became trusted.overlay.opaque"
	fi
	assert_eq "" "$(find "$(store)/layers" -name '.wh.*')" "no .wh. file left in any layer"
	end_root
}

test_rm_pinned_and_gc() {
	fixtures || return
	new_root gc
	fi_ image import "$FIX/single" --name lab/a:1
	local digest=${FC_OUT##*$'\n'}
	fi_ image import "$FIX/multi" --name lab/b:1
	assert_ok
	# A pin as the supervisor leaves it (forge_image_pin): refs/<hex>/<scenario>.
	mkdir -p "$(store)/refs/${digest#sha256:}"
	: >"$(store)/refs/${digest#sha256:}/scn-7"
	fi_ image rm lab/a:1
	assert_status 125 "rm of a pinned image"
	assert_contains "$FC_ERR" "in use by scenario scn-7" "rm names the scenario"
	fi_ image rm lab/b:1
	assert_ok "rm of an unpinned image"
	assert_eq "untagged lab/b:1" "$FC_OUT" "rm output"
	fi_ image gc
	assert_ok "gc"
	assert_contains "$FC_OUT" "removed layer sha256:" "gc lists the layers it removed"
	assert_match "$FC_OUT" '^freed [0-9]+ items, [0-9]+ bytes of blobs$' "gc sums up"
	assert_eq 1 "$(find "$(store)/layers" -mindepth 1 -maxdepth 1 | wc -l)" \
		"only the pinned image's layer is left"
	rm -rf "$(store)/refs/${digest#sha256:}"
	fi_ image rm lab/a:1
	assert_ok "rm once unpinned"
	fi_ image gc
	assert_eq 0 "$(find "$(store)/layers" "$(store)/blobs/sha256" -mindepth 1 | wc -l)" \
		"gc leaves an empty store"
	fi_ image ls
	assert_eq "1" "$(grep -c . <<<"$FC_OUT")" "ls of an empty store: the header only"
	end_root
}

test_hostile_layer_refused() {
	fixtures || return
	new_root hostile
	local lay=$T_TMP/hostile
	rm -rf "$lay"
	cp -a "$FIX/single" "$lay"
	# "evil" -> $T_TMP, then the file "evil/pwned" (from a real directory of that name).
	mkdir -p "$T_TMP/evil.a" "$T_TMP/evil.b/evil"
	ln -s "$T_TMP" "$T_TMP/evil.a/evil"
	echo owned >"$T_TMP/evil.b/evil/pwned"
	tar -cf "$T_TMP/evil.tar" -C "$T_TMP/evil.a" evil -C "$T_TMP/evil.b" evil/pwned ||
		{ fail "building the hostile layer"; return; }
	umoci raw add-layer --image "$lay:bb" "$T_TMP/evil.tar" >/dev/null 2>&1 ||
		{ fail "umoci raw add-layer"; return; }
	fi_ image import "$lay" --name lab/evil:1
	assert_status 125 "import of a layer writing through a symlink"
	assert_contains "$FC_ERR" "entry evil/pwned: path goes through a symlink" "the refusal names the entry"
	assert_eq "" "$(ls "$T_TMP"/pwned 2>/dev/null)" "nothing written through the symlink"
	assert_eq 0 "$(find "$(store)/layers" "$(store)/blobs" "$(store)/tmp" -mindepth 1 -not -name sha256 | wc -l)" \
		"nothing committed or staged"
	rm -rf "$lay" "$T_TMP/evil.tar" "$T_TMP/evil.a" "$T_TMP/evil.b"
	end_root
}

test_concurrent_imports() {
	fixtures || return
	new_root concurrent
	local i pids=()
	for i in 1 2 3; do
		timeout "$T_TIMEOUT" "$FORGECTL" --root "$IROOT" image import "$FIX/multi" --name "lab/c:$i" \
			>"$T_TMP/c$i.out" 2>&1 &
		pids+=($!)
	done
	for i in 0 1 2; do
		wait "${pids[$i]}" || { fail "concurrent import $((i + 1)) failed"; t_diag "$(cat "$T_TMP/c$((i + 1)).out")"; }
	done
	assert_eq 1 "$(tail -qn1 "$T_TMP"/c[123].out | sort -u | wc -l)" "all three give one digest"
	assert_eq 3 "$(find "$(store)/layers" -mindepth 1 -maxdepth 1 | wc -l)" "each layer stored once"
	assert_eq 0 "$(find "$(store)/tmp" -mindepth 1 | wc -l)" "no staging left"
	rm -f "$T_TMP"/c[123].out
	end_root
}

test_usage() {
	new_root usage
	fi_ image --help
	assert_ok "image --help"
	assert_contains "$FC_OUT" "import PATH [--name N:T]" "help lists the commands"
	fi_ image import --help
	assert_ok
	assert_contains "$FC_OUT" "Prints the manifest digest as the last line" "import --help"
	fi_ image frob
	assert_status 2 "unknown image command"
	fi_ image import
	assert_status 2 "import without PATH"
	fi_ image import "$T_TMP" --name 'Bad Name:1'
	assert_status 2 "import with an invalid --name"
	fi_ image inspect 'x'
	assert_status 2 "inspect of a malformed reference"
	assert_contains "$FC_ERR" "expected NAME:TAG" "the error says what a reference is"
	end_root
}

t_setup
command -v umoci >/dev/null || {
	echo "# images: umoci is missing (make deps)"
	T_FAIL=1
	t_summary
	exit 1
}
t_case "umoci OCI layout: import, run --image (command, Cmd/Env/WorkingDir), ls, inspect" test_umoci_import_and_run
t_case "docker save tarball: import by RepoTags, run" test_docker_save_import_and_run
t_case "multi-layer image: whiteout and opaque directory honoured in a real container" test_multilayer_whiteouts
t_case "rm refuses a pinned image; gc frees what nothing references" test_rm_pinned_and_gc
t_case "a layer writing through a symlink is refused, nothing committed" test_hostile_layer_refused
t_case "three concurrent imports of the same image: one copy, no staging left" test_concurrent_imports
t_case "image usage: --help, unknown command, missing or bad arguments" test_usage
t_done
