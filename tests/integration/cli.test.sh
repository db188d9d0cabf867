#!/bin/bash
# shellcheck disable=SC2016,SC2317  # single-quoted scripts run in the container; cases run via t_case
# SPDX-License-Identifier: Apache-2.0
#
# forgectl run: the command-line contract — exit codes, stdio, environment,
# usage errors and setup failures (each must leave nothing behind).
# shellcheck source=tests/lib/testlib.sh
. "$(dirname "$0")/../lib/testlib.sh"

test_version() {
	local out rc want
	want="forgectl $(tr -d '[:space:]' <"$T_REPO/VERSION")"
	out=$(timeout 10 "$FORGECTL" --version 2>&1)
	rc=$?
	assert_eq 0 "$rc" "forgectl --version exit status"
	assert_eq "$want" "$out" "forgectl --version"
}

test_exit_status_passthrough() {
	fc_run -- /bin/true
	assert_status 0 "true"
	fc_run -- /bin/false
	assert_status 1 "false"
	fc_sh 'exit 42'
	assert_status 42 "sh -c 'exit 42'"
}

test_signal_exit_status() {
	fc_sh 'kill -KILL $$'
	assert_status 137 "command killed by SIGKILL (128+9)"
	fc_sh 'kill -TERM $$'
	assert_status 143 "command killed by SIGTERM (128+15)"
}

test_stdio_passthrough() {
	printf 'line one\nline two\n' >"$T_TMP/stdin.txt"
	FC_STDIN="$T_TMP/stdin.txt" fc_run -- cat
	assert_ok "cat"
	assert_eq $'line one\nline two' "$FC_OUT" "stdin passed through to stdout"
	fc_sh 'echo to-stdout; echo to-stderr >&2'
	assert_ok
	assert_eq "to-stdout" "$FC_OUT" "stdout"
	assert_contains "$FC_ERR" "to-stderr" "stderr"
	assert_not_contains "$FC_OUT" "to-stderr" "stdout"
}

test_env_not_inherited() {
	FORGE_TEST_HOST_SECRET=leaked-from-host fc_run -- /usr/bin/env
	assert_ok "env"
	assert_not_contains "$FC_OUT" "FORGE_TEST_HOST_SECRET" "container environment"
	assert_match "$FC_OUT" '^PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin$' \
		"default PATH"
	assert_match "$FC_OUT" '^HOME=/root$' "default HOME"
	local n
	n=$(grep -c . <<<"$FC_OUT")
	assert_int_le 4 "$n" "number of environment variables without --env"
}

test_env_given() {
	fc_run --env GREETING=hello --env PATH=/bin --env 'SPACED=a b' -- /usr/bin/env
	assert_ok "env"
	assert_match "$FC_OUT" '^GREETING=hello$' "--env GREETING"
	assert_match "$FC_OUT" '^PATH=/bin$' "--env PATH overrides the default"
	assert_match "$FC_OUT" '^SPACED=a b$' "--env value with a space"
}

test_cwd_hostname_name() {
	fc_run --cwd /tmp --hostname lab-host -- /bin/sh -c 'pwd; hostname'
	assert_ok
	assert_eq $'/tmp\nlab-host' "$FC_OUT" "--cwd and --hostname"
	fc_run --name forge-name-test -- /bin/hostname
	assert_ok
	assert_eq "forge-name-test" "$FC_OUT" "hostname defaults to --name"
}

test_command_not_found() {
	fc_run -- no-such-command-xyz
	assert_status 127 "missing command"
	assert_contains "$FC_ERR" "no-such-command-xyz" "error names the command"
	fc_run -- /no/such/path/cmd
	assert_status 127 "missing absolute command"
	assert_contains "$FC_ERR" "/no/such/path/cmd" "error names the command"
}

test_command_not_executable() {
	fc_run -- /etc/passwd
	assert_status 126 "non-executable command"
	assert_contains "$FC_ERR" "/etc/passwd" "error names the command"
}

test_missing_rootfs() {
	local missing="$T_TMP/no-such-rootfs"
	fc run --rootfs "$missing" -- /bin/true
	assert_status 125 "missing rootfs"
	assert_contains "$FC_ERR" "$missing" "error names the rootfs"
	assert_contains "$FC_ERR" "No such file or directory" "error says why"
}

test_rootfs_is_file() {
	local file="$T_TMP/rootfs-file"
	echo not-a-dir >"$file"
	fc run --rootfs "$file" -- /bin/true
	assert_status 125 "rootfs that is a file"
	assert_contains "$FC_ERR" "$file" "error names the rootfs"
	assert_contains "$FC_ERR" "Not a directory" "error says why"
}

# usage_error WHAT-IN-MESSAGE ARGS...: forgectl ARGS must exit 2 with a
# "forgectl run: ..." message that mentions WHAT.
usage_error() {
	local what=$1
	shift
	fc "$@"
	assert_status 2 "usage error for: $*" || return 1
	assert_match "$FC_ERR" '^forgectl run: ' "usage error format for: $*"
	assert_contains "$FC_ERR" "$what" "usage error for: $*"
}

test_usage_errors_caps() {
	usage_error NOT_A_CAP run --rootfs "$ROOTFS" --cap NOT_A_CAP -- /bin/true
	usage_error cap_bogus run --rootfs "$ROOTFS" --cap cap_bogus -- /bin/true
}

test_usage_errors_limits() {
	usage_error memory run --rootfs "$ROOTFS" --memory 0 -- /bin/true
	usage_error memory run --rootfs "$ROOTFS" --memory lots -- /bin/true
	usage_error memory run --rootfs "$ROOTFS" --memory 12Q -- /bin/true
	usage_error pids run --rootfs "$ROOTFS" --pids 0 -- /bin/true
	usage_error pids run --rootfs "$ROOTFS" --pids -5 -- /bin/true
	usage_error cpus run --rootfs "$ROOTFS" --cpus 0 -- /bin/true
	usage_error cpus run --rootfs "$ROOTFS" --cpus fast -- /bin/true
}

test_usage_errors_structure() {
	fc run --rootfs "$ROOTFS"
	assert_status 2 "no command"
	assert_match "$FC_ERR" '^forgectl run: ' "no command: message format"
	fc run --rootfs "$ROOTFS" --
	assert_status 2 "empty command after --"
	fc run -- /bin/true
	assert_status 2 "no --rootfs"
	assert_contains "$FC_ERR" "rootfs" "no --rootfs: message"
	usage_error --no-such-option run --rootfs "$ROOTFS" --no-such-option -- /bin/true
	usage_error uid run --rootfs "$ROOTFS" --uid-base 0 -- /bin/true
}

test_memory_suffixes_accepted() {
	local s
	for s in 67108864 65536K 64M 1G; do
		fc_run --memory "$s" -- /bin/true
		assert_status 0 "--memory $s"
	done
	fc_run --cpus 0.5 --pids 100 -- /bin/true
	assert_status 0 "--cpus 0.5 --pids 100"
}

test_root_and_prefix_keep_objects_private() {
	local id
	fc_run --rw --report -- /bin/true
	assert_ok
	local r
	r=$(grep -m1 '^{"report":' <<<"$FC_ERR")
	assert_match "$(json_get "$r" .report.rootfs.state_dir)" "^$T_ROOT/run/forge/containers/[^/]+\$" \
		"state dir (of a --rw container) is under --root"
	assert_match "$(json_get "$r" .report.cgroup.paths)" "/$T_PREFIX/run-" "cgroups carry --prefix"
	assert_no_match "$(json_get "$r" .report.cgroup.paths)" "/forge/" "cgroups carry --prefix"
	id=$(basename "$(json_get "$r" .report.rootfs.state_dir)")
	[ -n "$id" ] && [ -e "/run/forge/containers/$id" ] && fail "state appeared under the default root"
	return 0
}

test_root_in_private_directory() {
	# mktemp -d and /root are 0700: the container's unprivileged host uid cannot
	# traverse them, yet a --root there must work (the runtime holds fds).
	local priv="$T_TMP/private-0700"
	mkdir -m 0700 "$priv"
	mkdir "$priv/root"
	timeout -k 5 "$T_TIMEOUT" "$FORGECTL" --root "$priv/root" --prefix "$T_PREFIX" \
		run --rootfs "$ROOTFS" -- /bin/echo hello >"$T_TMP/fc.out" 2>"$T_TMP/fc.err" </dev/null
	FC_RC=$?
	T_LAST_CMD="forgectl --root $priv/root --prefix $T_PREFIX run --rootfs $ROOTFS -- /bin/echo hello"
	assert_ok "--root inside a 0700 directory"
	assert_eq hello "$(cat "$T_TMP/fc.out")" "output"
	local left
	left=$(find "$priv/root" -mindepth 1 | sed "s|^$priv/root/||" | grep -vE "$T_SKELETON_RE")
	assert_eq "" "$left" "state left under the private root"
	rm -rf "$priv"
}

# forgectl_pid: the forgectl process of the background run (child of timeout).
forgectl_pid() { host_children "$FC_BG_PID" | head -n1; }

test_sigterm_stops_and_cleans_up() {
	local sig want
	for sig in TERM INT; do
		fc_start -- /bin/sh -c 'echo ready; read x; echo "not stopped"'
		fc_wait_output "$FC_BG_OUT" '^ready$' || return
		kill -s "$sig" "$(forgectl_pid)"
		want=$((128 + $(kill -l "$sig")))
		fc_stop
		assert_status "$want" "forgectl after SIG$sig (the command gets it and dies)"
		assert_not_contains "$FC_OUT" "not stopped" "command output after SIG$sig"
	done
}

t_setup
t_case "--version prints the VERSION file" test_version
t_case "exit status of the command is passed through" test_exit_status_passthrough
t_case "command killed by a signal exits 128+N" test_signal_exit_status
t_case "stdin, stdout and stderr are passed through" test_stdio_passthrough
t_case "host environment is not inherited; PATH and HOME defaults" test_env_not_inherited
t_case "--env sets variables" test_env_given
t_case "--cwd, --hostname, and --name as default hostname" test_cwd_hostname_name
t_case "command not found exits 127 naming it" test_command_not_found
t_case "command not executable exits 126" test_command_not_executable
t_case "missing rootfs exits 125: path + No such file or directory" test_missing_rootfs
t_case "rootfs that is a file exits 125: Not a directory" test_rootfs_is_file
t_case "unknown capability is a usage error naming it" test_usage_errors_caps
t_case "limits of 0 or garbage are usage errors" test_usage_errors_limits
t_case "no command, no rootfs, unknown option, uid-base 0: usage errors" test_usage_errors_structure
t_case "--memory accepts bytes and K/M/G suffixes" test_memory_suffixes_accepted
t_case "--root and --prefix keep state and cgroups private" test_root_and_prefix_keep_objects_private
t_case "--root inside a 0700 directory works" test_root_in_private_directory
t_case "SIGTERM/SIGINT to forgectl stop the container; nothing is left" test_sigterm_stops_and_cleans_up
t_done
