#!/bin/bash
# shellcheck disable=SC2016,SC2317  # single-quoted scripts run in the container; cases run via t_case
# SPDX-License-Identifier: Apache-2.0
#
# Rootfs symlink attacks (the runc/crun CVE pattern): a rootfs whose mount
# points, or the device nodes inside /dev, are symlinks to host paths. The
# runtime must never follow them while privileged: the container starts with
# its own /dev, /proc, /tmp, /run, and the host targets stay untouched.
# shellcheck source=tests/lib/testlib.sh
. "$(dirname "$0")/../lib/testlib.sh"

# host_tree_digest DIR...: names, modes, sizes and contents of everything below DIR.
host_tree_digest() {
	local d
	for d in "$@"; do
		echo "== $d"
		find "$d" -mindepth 1 -maxdepth 3 -printf '%P %y %m %s\n' 2>/dev/null | sort
		find "$d" -mindepth 1 -maxdepth 3 -type f -exec sha256sum {} + 2>/dev/null | sort
	done
}

test_symlinked_mountpoints() {
	local rf="$T_TMP/rootfs-symlinks" host="$T_TMP/host-targets"
	t_copy_rootfs "$rf" || { fail "copy rootfs"; return; }
	mkdir -p "$host/dev" "$host/proc" "$host/run"
	echo precious >"$host/dev/keep"
	echo precious >"$host/proc/keep"
	echo precious >"$host/run/keep"
	rm -rf "${rf:?}/dev" "$rf/proc" "$rf/tmp" "$rf/run"
	ln -s "$host/dev" "$rf/dev"                         # absolute host path
	ln -s "$host/proc" "$rf/proc"                       # absolute host path
	ln -s /var/tmp "$rf/tmp"                            # a real host directory
	ln -s "../../../../../../../../..$host/run" "$rf/run" # relative, climbing out
	local before_host before_vartmp marker="forge-symlink-marker-$$-$RANDOM"
	before_host=$(host_tree_digest "$host")
	before_vartmp=$(host_tree_digest /var/tmp)

	fc run --rootfs "$rf" -- /bin/sh -c "
		for d in /dev /proc /tmp /run; do
			if [ -L \$d ]; then echo \"\$d is a symlink\"; elif [ -d \$d ]; then echo \"\$d dir\"; fi
		done
		echo x > /tmp/$marker && echo tmp-written
		echo x > /run/$marker && echo run-written
		echo x > /dev/shm/$marker && echo shm-written
		test -c /dev/null && echo devnull-chr
		grep -m1 '^Pid:' /proc/self/status >/dev/null && echo proc-mounted
		cat /dev/keep /proc/keep /run/keep 2>/dev/null; exit 0"
	assert_ok "a rootfs with symlinked mount points must still start"
	assert_eq $'/dev dir\n/proc dir\n/tmp dir\n/run dir\ntmp-written\nrun-written\nshm-written\ndevnull-chr\nproc-mounted' \
		"$FC_OUT" "the container's own /dev, /proc, /tmp, /run replace the symlinks"
	assert_eq "$before_host" "$(host_tree_digest "$host")" "host symlink targets unchanged"
	assert_eq "$before_vartmp" "$(host_tree_digest /var/tmp)" "host /var/tmp unchanged"
	[ -e "/var/tmp/$marker" ] && fail "the container's /tmp write reached the host's /var/tmp"
	rm -f "/var/tmp/$marker"
	rm -rf "$rf" "$host"
}

test_symlinked_device_nodes() {
	local rf="$T_TMP/rootfs-devlinks" host="$T_TMP/host-victims"
	t_copy_rootfs "$rf" || { fail "copy rootfs"; return; }
	mkdir -p "$host"
	echo precious >"$host/existing"
	local d
	# Existing host file, missing host file (creation would show), host dir.
	ln -s "$host/existing" "$rf/dev/null"
	ln -s "$host/created-zero" "$rf/dev/zero"
	ln -s "$host" "$rf/dev/pts"
	ln -s "$host/created-shm" "$rf/dev/shm"
	for d in full random urandom tty ptmx; do ln -s "$host/created-$d" "$rf/dev/$d"; done
	local before
	before=$(host_tree_digest "$host")
	fc run --rootfs "$rf" -- /bin/sh -c '
		for d in null zero full random urandom tty ptmx; do
			# /dev/ptmx -> pts/ptmx is the usual devpts newinstance layout.
			if [ -L /dev/$d ] && [ "$d/$(readlink /dev/$d)" != ptmx/pts/ptmx ]; then
				echo "$d symlink to $(readlink /dev/$d)"
			elif [ -c /dev/$d ]; then echo "$d chr"; fi
		done
		echo x > /dev/null; echo x > /dev/shm/x && echo shm-ok'
	assert_ok "a rootfs whose /dev entries are symlinks must still start"
	assert_eq $'null chr\nzero chr\nfull chr\nrandom chr\nurandom chr\ntty chr\nptmx chr\nshm-ok' \
		"$FC_OUT" "device nodes are the runtime's, not the planted symlinks"
	assert_eq "$before" "$(host_tree_digest "$host")" "host files behind the planted links unchanged"
	rm -rf "$rf" "$host"
}

test_symlinked_etc_files() {
	# /etc/hostname, /etc/resolv.conf-style files the runtime might write.
	local rf="$T_TMP/rootfs-etclinks" host="$T_TMP/host-etc"
	t_copy_rootfs "$rf" || { fail "copy rootfs"; return; }
	mkdir -p "$host"
	echo precious >"$host/hostname"
	echo precious >"$host/hosts"
	echo precious >"$host/resolv.conf"
	rm -f "$rf/etc/hostname" "$rf/etc/hosts" "$rf/etc/resolv.conf"
	ln -s "$host/hostname" "$rf/etc/hostname"
	ln -s "$host/hosts" "$rf/etc/hosts"
	ln -s "$host/resolv.conf" "$rf/etc/resolv.conf"
	local before
	before=$(host_tree_digest "$host")
	fc run --rootfs "$rf" --hostname victim -- /bin/hostname
	assert_ok
	assert_eq victim "$FC_OUT" "hostname"
	assert_eq "$before" "$(host_tree_digest "$host")" "host files behind /etc symlinks unchanged"
	rm -rf "$rf" "$host"
}

t_setup
t_case "rootfs with /dev /proc /tmp /run symlinked to host paths" test_symlinked_mountpoints
t_case "rootfs with /dev/null and friends symlinked to host files" test_symlinked_device_nodes
t_case "rootfs with /etc files symlinked to host files" test_symlinked_etc_files
t_done
