#!/bin/bash
# shellcheck disable=SC2016,SC2317  # single-quoted scripts run in the container; cases run via t_case
# SPDX-License-Identifier: Apache-2.0
#
# What a container sees, checked from inside and from the host: user mapping,
# namespaces, process and network view, filesystem (read-only overlay, tmpfs,
# minimal /dev, layers), and the --report contract.
# shellcheck source=tests/lib/testlib.sh
. "$(dirname "$0")/../lib/testlib.sh"

# A container that waits on its stdin: started by fc_start, ended by fc_stop.
WAIT_CMD=(/bin/sh -c 'echo ready; read x; echo bye')

test_root_is_unprivileged_host_uid() {
	fc_start --report -- "${WAIT_CMD[@]}"
	fc_wait_report || return
	fc_wait_output "$FC_BG_OUT" '^ready$' || return
	local map uid gid child base
	map=$(tr -s ' ' <"/proc/$FC_PID/uid_map" | sed 's/^ //')
	read -r _ base _ <<<"$map"
	assert_match "$map" '^0 [0-9]+ 65536$' "host view of uid_map of the container init"
	assert_ne 0 "$base" "host uid that container root maps to"
	assert_int_ge 131072 "$base" "default uid base"
	[[ $base =~ ^[0-9]+$ ]] && assert_eq 0 "$((base % 65536))" "default uid base is a multiple of 65536"
	uid=$(proc_status_field "$FC_PID" Uid)
	gid=$(proc_status_field "$FC_PID" Gid)
	assert_eq "$base	$base	$base	$base" "$uid" "host Uid line of the container init"
	assert_match "$gid" '^[1-9][0-9]*	' "host Gid of the container init is not 0"
	child=$(host_children "$FC_PID" | head -n1)
	if assert_ne "" "$child" "the command runs as a child of the container init"; then
		uid=$(proc_status_field "$child" Uid)
		assert_eq "$base	$base	$base	$base" "$uid" "host Uid line of the command"
		assert_match "$(tr -s ' ' <"/proc/$child/uid_map")" "^ *0 +$base +65536\$" \
			"uid_map of the command"
	fi
	fc_stop
	assert_ok "container exits when its stdin closes"
	fc_run -- /bin/sh -c 'id -u; id -g; cat /proc/self/uid_map'
	assert_ok
	assert_match "$FC_OUT" '^0$' "uid inside the container"
	assert_match "$FC_OUT" "^ *0 +[1-9][0-9]+ +65536$" "uid_map seen inside"
}

test_uid_base_option() {
	fc_start --uid-base 262144 --report -- "${WAIT_CMD[@]}"
	fc_wait_report || return
	assert_eq "262144	262144	262144	262144" "$(proc_status_field "$FC_PID" Uid)" \
		"host Uid with --uid-base 262144"
	assert_match "$(tr -s ' ' <"/proc/$FC_PID/uid_map")" '^ *0 +262144 +65536$' "uid_map"
	assert_match "$(tr -s ' ' <"/proc/$FC_PID/gid_map")" '^ *0 +262144 +65536$' "gid_map"
	fc_stop
	assert_ok
}

test_namespaces_are_new() {
	fc_start --report -- "${WAIT_CMD[@]}"
	fc_wait_report || return
	local ns host cont rep
	for ns in user mnt pid uts ipc net cgroup; do
		host=$(readlink "/proc/self/ns/$ns")
		cont=$(readlink "/proc/$FC_PID/ns/$ns")
		assert_ne "$host" "$cont" "$ns namespace of the container"
		rep=$(json_get "$FC_REPORT" ".report.namespaces.$ns")
		assert_match "$rep" '^[0-9]+$' "report namespaces.$ns is an inode number"
		assert_eq "$(sed -E 's/.*\[([0-9]+)\]/\1/' <<<"$cont")" "$rep" \
			"report namespaces.$ns matches /proc/$FC_PID/ns"
	done
	fc_stop
	assert_ok
}

test_only_own_processes() {
	# A host process with a unique name must not be visible inside.
	local marker="forge-host-marker-$$-$RANDOM"
	bash -c "exec -a $marker sleep 30" &
	local host_pid=$!
	fc_sh 'sleep 5 & ps -o pid,comm; ls -d /proc/[0-9]* | wc -l; kill $!'
	kill "$host_pid" 2>/dev/null
	wait "$host_pid" 2>/dev/null
	assert_ok
	assert_not_contains "$FC_OUT" "$marker" "ps inside the container"
	assert_match "$FC_OUT" '^ *1 ' "the container has its own pid 1"
	local nprocs
	nprocs=$(tail -n1 <<<"$FC_OUT")
	# init, sh, sleep, ls (and maybe wc): a handful, never the host's.
	assert_int_le 6 "$nprocs" "processes in /proc inside the container"
}

test_only_loopback() {
	fc_sh 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; echo --; ip -o link | cut -d: -f2 | tr -d " "'
	assert_ok
	assert_eq $'lo\n--\nlo' "$FC_OUT" "network interfaces inside (/proc/net/dev, ip link)"
}

test_rootfs_readonly_tmp_writable() {
	fc_sh 'touch /forge-probe-file; echo "root=$?"; echo x > /tmp/f && cat /tmp/f;
		echo y > /run/f && cat /run/f; echo z > /dev/shm/f && cat /dev/shm/f'
	assert_ok
	assert_contains "$FC_ERR" "Read-only file system" "writing to / fails with EROFS"
	assert_match "$FC_OUT" '^root=1$' "touch / exit status"
	assert_contains "$FC_OUT" $'x\ny\nz' "/tmp, /run and /dev/shm are writable"
	[ -e "$ROOTFS/forge-probe-file" ] && fail "file appeared in the rootfs directory"
	fc_sh 'grep -E " (/|/tmp|/run|/dev/shm) " /proc/mounts'
	assert_ok
	assert_match "$FC_OUT" '^[^ ]+ / [^ ]+ ro[, ]' "/ is mounted read-only"
	assert_match "$FC_OUT" '^[^ ]+ /tmp tmpfs ' "/tmp is tmpfs"
	assert_match "$FC_OUT" '^[^ ]+ /run tmpfs ' "/run is tmpfs"
	assert_match "$FC_OUT" '^[^ ]+ /dev/shm tmpfs ' "/dev/shm is tmpfs"
}

test_rw_rootfs_is_private() {
	local before
	before=$(find "$ROOTFS" | sort | sha256sum)
	fc_run --rw -- /bin/sh -c 'echo hi > /written && cat /written && rm /bin/ls && echo removed'
	assert_ok "--rw write"
	assert_eq $'hi\nremoved' "$FC_OUT" "writes with --rw"
	assert_eq "$before" "$(find "$ROOTFS" | sort | sha256sum)" "rootfs directory unchanged"
	fc_run --rw -- /bin/sh -c 'test -e /written && echo leaked; test -e /bin/ls && echo fresh'
	assert_ok
	assert_eq "fresh" "$FC_OUT" "a second --rw container starts from the pristine rootfs"
}

test_multiple_rootfs_layers() {
	local top="$T_TMP/layer-top" mid="$T_TMP/layer-mid"
	mkdir -p "$top/etc" "$mid/etc" "$mid/opt"
	echo top >"$top/etc/hostname"
	echo top >"$top/etc/layer"
	echo mid >"$mid/etc/layer"
	echo mid >"$mid/opt/only-mid"
	fc run --rootfs "$top" --rootfs "$mid" --rootfs "$ROOTFS" -- \
		/bin/sh -c 'cat /etc/layer /etc/hostname /opt/only-mid; test -x /bin/busybox && echo base'
	assert_ok
	assert_eq $'top\ntop\nmid\nbase' "$FC_OUT" "first --rootfs is the top-most layer"
	rm -rf "$top" "$mid"
}

test_minimal_dev() {
	fc_sh 'for d in null zero full random urandom tty ptmx; do test -c /dev/$d || echo "not a char device: $d"; done
		echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; head -c 8 /dev/urandom | wc -c
		echo x > /dev/full || echo full-enospc'
	assert_ok
	assert_eq $'null-ok\n4\n8\nfull-enospc' "$FC_OUT" "null, zero, urandom, full behave"
	assert_contains "$FC_ERR" "No space left on device" "/dev/full"
}

test_report_contract() {
	fc_start --report --memory 64M --pids 50 --cpus 0.5 --cap NET_RAW -- "${WAIT_CMD[@]}"
	fc_wait_report || return
	local r=$FC_REPORT
	assert_match "$(json_get "$r" .report.cgroup.mode)" '^v[12]$' "report cgroup.mode"
	assert_match "$(json_get "$r" .report.uid_map)" '[0-9]' "report uid_map"
	assert_match "$(json_get "$r" .report.gid_map)" '[0-9]' "report gid_map"
	assert_match "$(json_get "$r" .report.capabilities)" 'NET_RAW|net_raw' "report capabilities"
	assert_match "$(json_get "$r" .report.seccomp.profile_sha256)" '^[0-9a-f]{64}$' \
		"report seccomp.profile_sha256"
	assert_match "$(json_get "$r" .report.seccomp.allowed)" '^[1-9][0-9]*$' "report seccomp.allowed"
	assert_ne "" "$(json_get "$r" .report.seccomp.mode)" "report seccomp.mode"
	assert_eq true "$(json_get "$r" .report.no_new_privs)" "report no_new_privs"
	assert_eq false "$(json_get "$r" .report.rootfs.writable)" "report rootfs.writable"
	assert_match "$(json_get "$r" .report.rootfs.idmapped)" '^(true|false)$' "report rootfs.idmapped"
	assert_contains "$(json_get "$r" .report.rootfs.lowerdirs)" "$ROOTFS" "report rootfs.lowerdirs"
	assert_contains "$r" "67108864" "report shows the memory limit"
	fc_stop
	assert_ok
	assert_eq 1 "$(grep -c '^{"report":' <<<"$FC_ERR")" "exactly one report line on stderr"
}

t_setup
t_case "container root is an unprivileged uid seen from the host" test_root_is_unprivileged_host_uid
t_case "--uid-base sets the host uid/gid range" test_uid_base_option
t_case "all seven namespaces are new; report names them" test_namespaces_are_new
t_case "only the container's own processes are visible" test_only_own_processes
t_case "no network interface but lo" test_only_loopback
t_case "writing to / fails with EROFS; /tmp /run /dev/shm writable" test_rootfs_readonly_tmp_writable
t_case "--rw writes go to a private upper dir, removed after" test_rw_rootfs_is_private
t_case "several --rootfs are layers, first on top" test_multiple_rootfs_layers
t_case "/dev device nodes exist and behave" test_minimal_dev
t_case "--report JSON has the documented keys" test_report_contract
t_done
