#!/bin/bash
# shellcheck disable=SC2016,SC2317  # single-quoted scripts run in the container; cases run via t_case
# SPDX-License-Identifier: Apache-2.0
#
# Privilege escalation attempts from inside: remounting / read-write, chroot
# escapes, sethostname, setuid binaries under no_new_privs, mknod, and the
# device set of /dev. Some run with extra --cap grants to show that the
# remaining layers (seccomp, user namespace, no_new_privs) still hold.
# shellcheck source=tests/lib/testlib.sh
. "$(dirname "$0")/../lib/testlib.sh"

PROBE=""

need_probe() {
	[ -n "$PROBE" ] && return 0
	skip "no static C toolchain to build tests/lib/probe.c"
	return 1
}

test_remount_root_rw_fails() {
	local caps
	for caps in "" "--cap SYS_ADMIN"; do
		# shellcheck disable=SC2086  # $caps is empty or two words on purpose
		fc_run $caps -- /bin/sh -c 'mount -o remount,rw /; echo "remount=$?"
			mount -o remount,rw,bind / /; echo "bind=$?"
			touch /forge-rw-probe; echo "touch=$?"'
		assert_ok "${caps:-no caps}"
		assert_eq $'remount=1\nbind=1\ntouch=1' "$FC_OUT" "remount / rw (${caps:-no caps})"
		assert_contains "$FC_ERR" "Read-only file system" "write after the remount attempt"
	done
	[ -e "$ROOTFS/forge-rw-probe" ] && fail "file appeared in the host's rootfs directory"
	return 0
}

test_chroot_without_cap_fails() {
	fc_sh 'mkdir /tmp/jail; chroot /tmp/jail /bin/sh -c true; echo "chroot=$?"'
	assert_ok
	assert_eq "chroot=1" "$FC_OUT" "chroot without CAP_SYS_CHROOT"
	assert_contains "$FC_ERR" "Operation not permitted" "chroot error"
}

test_chroot_escape_stays_in_container() {
	need_probe || return 0
	local secret="$T_TMP/host-only-secret"
	echo "host secret" >"$secret"
	fc run --rootfs "$PROBE" --rootfs "$ROOTFS" --cap SYS_CHROOT -- \
		forge-probe chroot-escape "$secret"
	assert_ok "forge-probe chroot-escape"
	assert_match "$FC_OUT" '^chroot=OK$' "chroot with CAP_SYS_CHROOT works"
	assert_match "$FC_OUT" '^host_path_visible=no$' "host file reachable after the chroot escape"
	assert_match "$FC_OUT" '^busybox_visible=yes$' "the escape ends at the container's own root"
	rm -f "$secret"
}

test_sethostname_fails() {
	fc_run --hostname keep -- /bin/sh -c 'hostname evil; echo "rc=$?"; hostname'
	assert_ok
	assert_eq $'rc=1\nkeep' "$FC_OUT" "hostname without CAP_SYS_ADMIN"
	assert_contains "$FC_ERR" "Operation not permitted" "sethostname error"
}

test_setuid_gains_nothing() {
	need_probe || return 0
	# Two setuid copies: one owned by host root (container root when the rootfs
	# is idmapped), one owned by the container's root uid on the host (container
	# root when it is not). Whichever applies, no_new_privs must neutralise it.
	local base=327680 layer="$T_TMP/suid-layer"
	mkdir -p "$layer/opt"
	install -m 4755 -o "$base" -g "$base" "$PROBE/usr/local/bin/forge-probe" "$layer/opt/suid-base"
	chmod 0755 "$layer" "$layer/opt"
	local target
	for target in /usr/local/bin/forge-probe-suid /opt/suid-base; do
		fc run --rootfs "$layer" --rootfs "$PROBE" --rootfs "$ROOTFS" --uid-base "$base" \
			--cap SETUID --cap SETGID -- /bin/sh -c "ls -ln $target; forge-probe setuid-exec $target"
		assert_ok "setuid exec of $target"
		assert_match "$FC_OUT" '^-rws' "$target keeps its setuid bit inside"
		assert_match "$FC_OUT" '^uid=1000 euid=1000 ' "ids after exec of setuid $target"
		assert_match "$FC_OUT" '^CapEff:	0000000000000000$' "CapEff after exec of setuid $target"
		assert_match "$FC_OUT" '^CapPrm:	0000000000000000$' "CapPrm after exec of setuid $target"
		assert_match "$FC_OUT" '^NoNewPrivs:	1$' "no_new_privs after exec of setuid $target"
	done
	rm -rf "$layer"
}

test_mknod_fails() {
	local caps
	for caps in "" "--cap MKNOD"; do
		# shellcheck disable=SC2086  # $caps is empty or two words on purpose
		fc_run $caps -- /bin/sh -c 'mknod /tmp/mem c 1 1; echo "chr=$?"
			mknod /dev/shm/sda b 8 0; echo "blk=$?"
			test -e /tmp/mem && echo "node exists"; exit 0'
		assert_ok "${caps:-no caps}"
		assert_eq $'chr=1\nblk=1' "$FC_OUT" "mknod of device nodes (${caps:-no caps})"
	done
}

test_dev_minimal_set() {
	fc_run -- /bin/ls -A /dev
	assert_ok
	local allowed=' null zero full random urandom tty ptmx pts shm fd stdin stdout stderr '
	local e extra=""
	for e in $FC_OUT; do
		[[ $allowed == *" $e "* ]] || extra+=" $e"
	done
	assert_eq "" "$extra" "entries in /dev beyond null zero full random urandom tty ptmx pts shm fd stdin stdout stderr"
	fc_sh 'find /dev -type b | wc -l; ls /dev/pts'
	assert_ok
	assert_match "$FC_OUT" '^0$' "block devices in /dev"
	fc_sh 'echo x > /dev/kmsg; echo "kmsg=$?"; cat /dev/mem 2>/dev/null | head -c1 | wc -c'
	assert_contains "$FC_OUT" $'kmsg=1\n0' "/dev/kmsg and /dev/mem are not reachable"
}

t_setup
PROBE=$(t_probe_layer) || PROBE=""
t_case "remounting / read-write fails (even with CAP_SYS_ADMIN)" test_remount_root_rw_fails
t_case "chroot without CAP_SYS_CHROOT fails" test_chroot_without_cap_fails
t_case "the classic chroot escape ends at the container root" test_chroot_escape_stays_in_container
t_case "sethostname without CAP_SYS_ADMIN fails" test_sethostname_fails
t_case "a setuid binary gains no uid or capability (no_new_privs)" test_setuid_gains_nothing
t_case "mknod of device nodes fails (even with CAP_MKNOD)" test_mknod_fails
t_case "/dev holds only the minimal device set" test_dev_minimal_set
t_done
