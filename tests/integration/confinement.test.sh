#!/bin/bash
# shellcheck disable=SC2016,SC2317  # single-quoted scripts run in the container; cases run via t_case
# SPDX-License-Identifier: Apache-2.0
#
# What confines the container's processes: no_new_privs, seccomp (deny list →
# EPERM, unknown → ENOSYS, clone3 → ENOSYS), capabilities (none unless granted),
# raw sockets only with --cap NET_RAW. Raw system calls come from forge-probe
# (tests/lib/probe.c, a static helper mounted as an extra top layer).
# shellcheck source=tests/lib/testlib.sh
. "$(dirname "$0")/../lib/testlib.sh"

# Capability bit masks (as in /proc/PID/status).
CAP_NET_RAW_MASK=0000000000002000
CAP_SETUID_SETGID_MASK=00000000000000c0

PROBE=""

# fc_probe RUN-ARGS... -- CMD...: run with the probe layer on top of the rootfs.
fc_probe() { fc run --rootfs "$PROBE" --rootfs "$ROOTFS" "$@"; }

need_probe() {
	[ -n "$PROBE" ] && return 0
	skip "no static C toolchain to build tests/lib/probe.c"
	return 1
}

test_status_no_caps_nnp_seccomp() {
	fc_run -- /bin/grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status
	assert_ok
	assert_match "$FC_OUT" '^NoNewPrivs:	1$' "no_new_privs"
	assert_match "$FC_OUT" '^Seccomp:	2$' "seccomp filter mode"
	local k
	for k in CapInh CapPrm CapEff CapBnd CapAmb; do
		assert_match "$FC_OUT" "^$k:	0000000000000000\$" "$k without --cap"
	done
}

test_granted_cap_only() {
	local spelling
	for spelling in NET_RAW cap_net_raw CAP_NET_RAW; do
		fc_run --cap "$spelling" -- /bin/grep -E '^Cap(Eff|Prm|Bnd|Amb):' /proc/self/status
		assert_ok "--cap $spelling"
		assert_match "$FC_OUT" "^CapEff:	$CAP_NET_RAW_MASK\$" "CapEff with --cap $spelling"
		assert_match "$FC_OUT" "^CapBnd:	$CAP_NET_RAW_MASK\$" "CapBnd with --cap $spelling"
		assert_match "$FC_OUT" '^CapAmb:	0000000000000000$' "no ambient caps"
	done
	fc_run --cap SETUID --cap SETGID -- /bin/grep '^CapEff:' /proc/self/status
	assert_ok
	assert_eq "CapEff:	$CAP_SETUID_SETGID_MASK" "$FC_OUT" "two --cap flags"
}

test_mount_fails_eperm() {
	fc_sh 'mount -t tmpfs forge /mnt; echo "mount=$?"; umount /tmp; echo "umount=$?"'
	assert_ok
	assert_contains "$FC_OUT" "mount=1" "mount exit status"
	assert_contains "$FC_OUT" "umount=1" "umount exit status"
	assert_contains "$FC_ERR" "Operation not permitted" "mount/umount error"
	fc_sh 'grep -c " /mnt " /proc/mounts'
	assert_eq 0 "$FC_OUT" "nothing mounted on /mnt"
}

test_unshare_fails_eperm() {
	fc_sh 'unshare -U true; echo "user=$?"; unshare -m true; echo "mnt=$?"; unshare -n true; echo "net=$?"'
	assert_ok
	assert_eq $'user=1\nmnt=1\nnet=1' "$FC_OUT" "unshare exit statuses"
	assert_contains "$FC_ERR" "Operation not permitted" "unshare error"
	fc_sh 'nsenter -t 1 -u true; echo "nsenter=$?"'
	assert_match "$FC_OUT" '^nsenter=[1-9]' "nsenter (setns) into init's namespaces fails"
}

test_denied_syscalls_eperm() {
	need_probe || return 0
	local deny=(keyctl add_key request_key bpf mount umount2 pivot_root unshare_user unshare_mnt
		unshare_net setns clone_newuser clone_newns ptrace userfaultfd perf_event_open
		init_module finit_module delete_module kexec_load open_by_handle_at acct swapon
		quotactl clock_settime)
	fc_probe -- forge-probe syscall "${deny[@]}"
	assert_ok "forge-probe"
	local s
	for s in "${deny[@]}"; do
		assert_match "$FC_OUT" "^$s=EPERM\$" "$s inside the container"
	done
}

test_clone3_enosys_allowed_work() {
	need_probe || return 0
	fc_probe -- forge-probe syscall clone3 clone_plain getpid personality_query
	assert_ok "forge-probe"
	assert_match "$FC_OUT" '^clone3=ENOSYS$' "clone3 must fail with ENOSYS (libc falls back to clone)"
	assert_match "$FC_OUT" '^clone_plain=OK$' "plain fork-style clone works"
	assert_match "$FC_OUT" '^getpid=OK$' "getpid works"
	assert_match "$FC_OUT" '^personality_query=OK$' "personality(0xffffffff) query works"
}

test_seccomp_log_mode() {
	fc_start --report --seccomp-log -- /bin/sh -c 'grep Seccomp: /proc/self/status; read x; exit 0'
	fc_wait_report || return
	assert_match "$(json_get "$FC_REPORT" .report.seccomp.mode)" 'log' "report seccomp.mode with --seccomp-log"
	fc_stop
	assert_ok
	assert_contains "$FC_OUT" "Seccomp:	2" "a filter is still installed in log mode"
}

test_raw_socket_needs_net_raw() {
	fc_run -- /bin/ping -c1 -W1 127.0.0.1
	assert_ne 0 "$FC_RC" "ping without NET_RAW"
	[ "$FC_RC" = 124 ] && fail "ping without NET_RAW hung"
	assert_match "$FC_ERR" '[Pp]ermission denied|Operation not permitted' "ping without NET_RAW"
	fc_run --cap NET_RAW -- /bin/ping -c1 -W1 127.0.0.1
	[ "$FC_RC" = 124 ] && fail "ping with NET_RAW hung"
	if [ "$FC_RC" != 0 ]; then
		# Allowed to fail for network reasons (lo down), never for permissions.
		assert_no_match "$FC_ERR" '[Pp]ermission denied|Operation not permitted' "ping with NET_RAW"
	fi
	if [ -n "$PROBE" ]; then
		fc_probe -- forge-probe rawsock
		assert_eq "rawsock=EPERM" "$FC_OUT" "raw socket without NET_RAW"
		fc_probe --cap NET_RAW -- forge-probe rawsock
		assert_eq "rawsock=OK" "$FC_OUT" "raw socket with --cap NET_RAW"
	fi
}

t_setup
PROBE=$(t_probe_layer) || PROBE=""
t_case "no capabilities, no_new_privs and a seccomp filter by default" test_status_no_caps_nnp_seccomp
t_case "--cap grants exactly that capability (any spelling)" test_granted_cap_only
t_case "mount and umount fail with EPERM" test_mount_fails_eperm
t_case "unshare -U/-m/-n and nsenter fail with EPERM" test_unshare_fails_eperm
t_case "deny-listed syscalls (keyctl, bpf, ptrace, ...) fail with EPERM" test_denied_syscalls_eperm
t_case "clone3 fails with ENOSYS; ordinary syscalls work" test_clone3_enosys_allowed_work
t_case "--seccomp-log keeps a filter and reports log mode" test_seccomp_log_mode
t_case "a raw socket fails without NET_RAW and works with --cap NET_RAW" test_raw_socket_needs_net_raw
t_done
