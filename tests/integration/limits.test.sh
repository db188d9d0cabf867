#!/bin/bash
# shellcheck disable=SC2016,SC2317  # single-quoted scripts run in the container; cases run via t_case
# SPDX-License-Identifier: Apache-2.0
#
# cgroup limits, observed from the host while the container runs: the limit
# files, a fork bomb against pids.max, a memory hog against the memory limit
# (OOM kill counted in the cgroup and reported by the launcher), and CPU
# throttling under a quota. No assertion depends on wall-clock time.
# shellcheck source=tests/lib/testlib.sh
. "$(dirname "$0")/../lib/testlib.sh"

# cg_file CONTROLLER V1-FILE V2-FILE: path of a limit/stat file of the running
# container (FC_PID), in whichever hierarchy the host uses.
cg_file() {
	local dir
	dir=$(cgroup_dir_of "$FC_PID" "$1") || return 1
	if cgroup_is_v2; then echo "$dir/$3"; else echo "$dir/$2"; fi
}

# cg_stat FILE KEY: the value of "KEY N" in a flat-keyed cgroup file.
cg_stat() { awk -v k="$2" '$1 == k {print $2; exit}' "$1" 2>/dev/null; }

test_limits_written_under_own_cgroup() {
	fc_start --report --memory 64M --pids 50 --cpus 0.5 -- /bin/sh -c 'echo ready; read x; exit 0'
	fc_wait_report || return
	local c own dir
	for c in memory pids cpu; do
		dir=$(cgroup_dir_of "$FC_PID" "$c")
		own=$(cgroup_dir_of $$ "$c")
		assert_match "$dir" "^${own%/}/$T_PREFIX/run-[0-9a-f]+\$" "$c cgroup of the container is <own>/<prefix>/run-<id>"
	done
	if cgroup_is_v2; then
		assert_eq 67108864 "$(cat "$(cg_file memory - memory.max)")" "memory.max"
		assert_eq 50 "$(cat "$(cg_file pids - pids.max)")" "pids.max"
		assert_eq "50000 100000" "$(cat "$(cg_file cpu - cpu.max)")" "cpu.max"
		local swap
		swap=$(cg_file memory - memory.swap.max)
		[ -e "$swap" ] && assert_eq 0 "$(cat "$swap")" "memory.swap.max"
	else
		assert_eq 67108864 "$(cat "$(cg_file memory memory.limit_in_bytes -)")" \
			"memory.limit_in_bytes"
		assert_eq 50 "$(cat "$(cg_file pids pids.max -)")" "pids.max"
		local memsw
		memsw=$(cg_file memory memory.memsw.limit_in_bytes -)
		[ -e "$memsw" ] && assert_eq 67108864 "$(cat "$memsw")" "memory.memsw.limit_in_bytes (no swap)"
		assert_eq 50000 "$(cat "$(cg_file cpu cpu.cfs_quota_us -)")" "cpu.cfs_quota_us"
		assert_eq 100000 "$(cat "$(cg_file cpu cpu.cfs_period_us -)")" "cpu.cfs_period_us"
	fi
	fc_stop
	assert_ok
}

test_fork_bomb_stopped_by_pids() {
	# The bomb runs in a subshell; the outer shell survives to let the host
	# look at the cgroup while all the bomb's processes still exist.
	fc_start --report --pids 64 -- /bin/sh -c '
		( n=0; while [ $n -lt 1000 ]; do sleep 300 & n=$((n + 1)); done; echo "forked $n" )
		echo "bomb over"; read x; kill -9 -1; echo done'
	fc_wait_report || return
	fc_wait_output "$FC_BG_OUT" '^bomb over$' 20 || return
	local events cur
	cur=$(cat "$(cg_file pids pids.current pids.current)")
	events=$(cg_stat "$(cg_file pids pids.events pids.events)" max)
	assert_int_le 64 "$cur" "pids.current while the bomb's processes live"
	assert_int_ge 1 "$events" "pids.events max (forks refused by the pids limit)"
	# The host is fine: it can still fork.
	assert_eq ok "$(/bin/sh -c 'echo ok')" "host can still fork"
	fc_stop
	assert_ok "the run returns after the fork bomb"
	assert_not_contains "$FC_OUT" "forked 1000" "the bomb must not reach 1000 processes"
	assert_match "$FC_ERR" "can't fork|Resource temporarily unavailable" "fork failure reported inside"
}

test_memory_hog_oom_killed() {
	# tail buffers an endless line from /dev/zero until the limit stops it.
	fc_run --memory 32M -- /usr/bin/tail /dev/zero
	assert_status 137 "memory hog OOM-killed (128+SIGKILL)"
	assert_contains "$FC_ERR" "out of memory" "launcher reports the OOM kill"
}

test_oom_counted_in_cgroup() {
	fc_start --report --memory 32M -- /bin/sh -c 'tail /dev/zero; echo "hog status $?"; read x; exit 0'
	fc_wait_report || return
	fc_wait_output "$FC_BG_OUT" '^hog status' 20 || return
	assert_contains "$(cat "$FC_BG_OUT")" "hog status 137" "the hog was SIGKILLed"
	local n
	if cgroup_is_v2; then
		n=$(cg_stat "$(cg_file memory - memory.events)" oom_kill)
	else
		n=$(cg_stat "$(cg_file memory memory.oom_control -)" oom_kill)
	fi
	assert_int_ge 1 "$n" "oom_kill counter of the container's memory cgroup"
	fc_stop
	assert_ok "the shell survived the OOM kill of its child"
}

test_cpu_quota_throttles() {
	fc_start --report --cpus 0.1 -- /bin/sh -c 'while :; do :; done & echo spinning; read x; kill $!'
	fc_wait_report || return
	fc_wait_output "$FC_BG_OUT" '^spinning$' || return
	local stat i n=0
	stat=$(cg_file cpu cpu.stat cpu.stat)
	# The kernel accounts throttling per 100 ms period; poll a little while.
	for ((i = 0; i < 100; i++)); do
		n=$(cg_stat "$stat" nr_throttled)
		[[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] && break
		sleep 0.05
	done
	assert_int_ge 1 "$n" "nr_throttled in $stat"
	fc_stop
	assert_ok
}

t_setup
t_case "limits are written to a cgroup below the caller's own" test_limits_written_under_own_cgroup
t_case "a fork bomb is stopped by --pids 64; the host stays fine" test_fork_bomb_stopped_by_pids
t_case "a memory hog is OOM-killed: exit 137 and 'out of memory'" test_memory_hog_oom_killed
t_case "the OOM kill is counted in the container's cgroup" test_oom_counted_in_cgroup
t_case "a cpu quota shows throttling in cpu.stat" test_cpu_quota_throttles
t_done
