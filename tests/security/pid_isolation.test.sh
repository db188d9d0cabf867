#!/bin/bash
# shellcheck disable=SC2016,SC2317  # single-quoted scripts run in the container; cases run via t_case
# SPDX-License-Identifier: Apache-2.0
#
# The pid namespace and the container init as attack surface: kill -9 -1 from
# inside reaches only the container (even host processes of the same host uid
# survive), /proc/1/root does not lead to host files, and the init is not
# dumpable (its environ, fds and memory are closed to the container).
# shellcheck source=tests/lib/testlib.sh
. "$(dirname "$0")/../lib/testlib.sh"

MARKER_PIDS=()

# start_marker UID: a host `sleep` running as UID, with a unique argv[0].
start_marker() {
	local name="forge-marker-$$-$RANDOM" uid=$1
	if [ "$uid" = 0 ]; then
		bash -c "exec -a $name sleep 60" &
	else
		setpriv --reuid "$uid" --regid "$uid" --clear-groups bash -c "exec -a $name sleep 60" &
	fi
	MARKER_PIDS+=("$!")
}

stop_markers() {
	local p
	for p in "${MARKER_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	MARKER_PIDS=()
}

test_kill_all_stays_inside() {
	local base=393216 p
	start_marker 0
	if command -v setpriv >/dev/null 2>&1; then
		start_marker "$base" # same host uid as the container's root
	fi
	sleep 0.2
	fc_run --uid-base "$base" -- /bin/sh -c '
		sleep 100 & s=$!
		kill -9 -1; echo "kill=$?"
		sleep 0.1; kill -0 $s 2>/dev/null && echo "sleep survived" || echo "sleep killed"'
	assert_ok "the container's shell survives its own kill -9 -1"
	assert_eq $'kill=0\nsleep killed' "$FC_OUT" "kill -9 -1 inside the container"
	for p in "${MARKER_PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null || fail "host process $p (uid $(stat -c %u "/proc/$p" 2>/dev/null)) was killed"
	done
	stop_markers
}

test_proc1_root_no_host_files() {
	local secret="$T_TMP/host-only-secret"
	echo "host secret" >"$secret"
	fc_run -- /bin/sh -c "
		cat /proc/1/root$secret 2>&1; echo \"root_rc=\$?\"
		cat /proc/self/root$secret 2>&1; echo \"self_rc=\$?\"
		ls /proc/1/root/ >/dev/null 2>&1; echo \"ls_rc=\$?\""
	assert_ok
	assert_not_contains "$FC_OUT" "host secret" "host file read through /proc/1/root"
	assert_match "$FC_OUT" '^root_rc=1$' "cat /proc/1/root/<host path>"
	assert_match "$FC_OUT" '^self_rc=1$' "cat /proc/self/root/<host path>"
	rm -f "$secret"
}

test_init_not_dumpable() {
	FORGE_TEST_HOST_SECRET=should-not-leak fc_run --env VISIBLE=1 -- /bin/sh -c '
		echo "pid1=$(cat /proc/1/stat 2>/dev/null | cut -d" " -f1)"
		cat /proc/1/environ >/dev/null 2>&1; echo "environ=$?"
		ls /proc/1/fd >/dev/null 2>&1; echo "fd=$?"
		head -c1 /proc/1/mem >/dev/null 2>&1; echo "mem=$?"
		readlink /proc/1/exe >/dev/null 2>&1; echo "exe=$?"
		test "$$" != 1 && echo "command-is-not-pid1"'
	assert_ok
	assert_eq $'pid1=1\nenviron=1\nfd=1\nmem=1\nexe=1\ncommand-is-not-pid1' "$FC_OUT" \
		"/proc/1 of the container init is closed to the container"
}

# init is a fresh program exec'd inside the container's namespaces (not a copy
# of the launcher), from an execute-only memfd: its memory still belongs to the
# initial user namespace, so even a container granted CAP_SYS_PTRACE cannot
# attach to it or read it, and it cannot write the program through /proc/1/exe.
test_init_not_ptraceable_with_sys_ptrace() {
	fc_run --cap SYS_PTRACE -- /bin/sh -c '
		grep -q "^CapEff:.*[1-9a-f]" /proc/self/status && echo "has-caps"
		ls /proc/1/fd >/dev/null 2>&1; echo "fd=$?"
		cat /proc/1/environ >/dev/null 2>&1; echo "environ=$?"
		head -c1 /proc/1/mem >/dev/null 2>&1; echo "mem=$?"
		echo x 2>/dev/null >/proc/1/exe; echo "exe_write=$?"
		tr -d "\000" </proc/1/cmdline; echo'
	assert_ok
	assert_eq $'has-caps\nfd=1\nenviron=1\nmem=1\nexe_write=1\nforge-init' "$FC_OUT" \
		"init stays closed to a container holding CAP_SYS_PTRACE"
}

test_no_host_pids_reachable() {
	local marker_pid
	start_marker 0
	marker_pid=${MARKER_PIDS[0]}
	fc_sh "kill -0 $marker_pid 2>/dev/null && echo reachable; test -e /proc/$marker_pid/status && echo visible;
		ls -d /proc/[0-9]* | wc -l"
	stop_markers
	assert_ok
	assert_not_contains "$FC_OUT" "reachable" "host pid $marker_pid signalable from the container"
	assert_not_contains "$FC_OUT" "visible" "host pid $marker_pid visible in the container's /proc"
}

t_setup
t_case "kill -9 -1 inside kills only container processes" test_kill_all_stays_inside
t_case "host files are not reachable through /proc/1/root" test_proc1_root_no_host_files
t_case "the container init is not dumpable (/proc/1/environ, fd, mem)" test_init_not_dumpable
t_case "init stays closed to a container holding CAP_SYS_PTRACE" test_init_not_ptraceable_with_sys_ptrace
t_case "host pids are neither visible nor signalable" test_no_host_pids_reachable
t_done
