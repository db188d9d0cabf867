#!/bin/bash
# shellcheck disable=SC2016,SC2317  # single-quoted scripts run in the container; cases run via t_case
# SPDX-License-Identifier: Apache-2.0
#
# /proc and /sys from inside: sensitive /proc files masked, /proc/sys and
# /proc/sysrq-trigger not writable, no writable sysfs. Host values that a
# successful write would change are compared before and after.
# shellcheck source=tests/lib/testlib.sh
. "$(dirname "$0")/../lib/testlib.sh"

test_sensitive_proc_files_masked() {
	# Each file either does not exist, cannot be opened, or reads as empty.
	fc_sh 'for f in kcore timer_list keys kallsyms sched_debug timer_stats latency_stats kmsg; do
			p=/proc/$f
			[ -e $p ] || { echo "$f absent"; continue; }
			n=$(timeout 2 head -c 64 $p 2>/dev/null | wc -c)
			echo "$f $n"
		done'
	assert_ok
	local f n
	while read -r f n; do
		[ "$n" = absent ] && continue
		# kallsyms may be readable but must not leak addresses (checked below).
		[ "$f" = kallsyms ] && continue
		assert_eq 0 "$n" "bytes readable from /proc/$f"
	done <<<"$FC_OUT"
	fc_sh 'head -n 3 /proc/kallsyms 2>/dev/null | cut -d" " -f1 | tr -d 0 | tr -d "\n"'
	assert_eq "" "$FC_OUT" "kernel addresses visible in /proc/kallsyms"
}

test_sysrq_trigger_not_writable() {
	fc_sh 'echo h > /proc/sysrq-trigger; echo "rc=$?"'
	assert_ok
	assert_eq "rc=1" "$FC_OUT" "writing /proc/sysrq-trigger must fail"
}

test_proc_sys_read_only() {
	local core_before domain_before
	core_before=$(cat /proc/sys/kernel/core_pattern)
	domain_before=$(cat /proc/sys/kernel/domainname)
	fc_run --hostname inside -- /bin/sh -c '
		echo evil > /proc/sys/kernel/hostname; echo "hostname_rc=$?"
		echo "|/tmp/evil" > /proc/sys/kernel/core_pattern; echo "core_rc=$?"
		echo evil > /proc/sys/kernel/domainname; echo "domain_rc=$?"
		echo 3 > /proc/sys/vm/drop_caches; echo "drop_rc=$?"
		sysctl -w kernel.hostname=evil >/dev/null 2>&1; echo "sysctl_rc=$?"
		hostname
		grep -E " /proc/sys " /proc/mounts'
	assert_ok
	assert_contains "$FC_OUT" $'hostname_rc=1\ncore_rc=1\ndomain_rc=1\ndrop_rc=1\nsysctl_rc=1\ninside' \
		"writes to /proc/sys fail and the hostname is unchanged"
	assert_match "$FC_OUT" ' /proc/sys [^ ]+ ro[, ]' "/proc/sys is mounted read-only"
	assert_eq "$core_before" "$(cat /proc/sys/kernel/core_pattern)" "host core_pattern"
	assert_eq "$domain_before" "$(cat /proc/sys/kernel/domainname)" "host domainname"
}

test_no_writable_sysfs() {
	fc_sh 'm=$(awk "\$2 == \"/sys\" {print \$4}" /proc/mounts); echo "sys_opts=${m:-none}"
		touch /sys/forge-probe 2>/dev/null; echo "touch_rc=$?"
		for f in /sys/kernel/uevent_helper /sys/power/state /sys/kernel/mm/transparent_hugepage/enabled; do
			[ -e $f ] || continue
			echo x 2>/dev/null > $f && echo "WROTE $f"
		done
		echo end'
	assert_ok
	assert_match "$FC_OUT" '^sys_opts=(none|ro(,.*)?)$' "/sys is absent or mounted read-only"
	assert_contains "$FC_OUT" "touch_rc=1" "creating a file in /sys"
	assert_not_contains "$FC_OUT" "WROTE" "writes to sysfs"
}

t_setup
t_case "kcore, timer_list, keys, kmsg... are masked" test_sensitive_proc_files_masked
t_case "/proc/sysrq-trigger is not writable" test_sysrq_trigger_not_writable
t_case "/proc/sys is read-only (hostname, core_pattern, drop_caches)" test_proc_sys_read_only
t_case "no writable sysfs" test_no_writable_sysfs
t_done
