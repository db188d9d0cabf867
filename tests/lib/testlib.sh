# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# shellcheck disable=SC2034,SC2119,SC2120  # FC_* are read by the sourcing tests
#
# testlib.sh — shared helpers for Forge's shell-level tests (tests/*/*.test.sh).
#
# A test file sources this, defines one function per case and ends with
#
#     t_case "container root is an unprivileged host uid" test_uid_from_host
#     ...
#     t_done
#
# Every case runs between two leak snapshots (host mounts, the cgroups of the
# test's private --prefix, container and forgectl processes, state under
# --root); anything left behind fails the case, and the temp dir must come off
# cleanly at the end. Output is TAP-like ("ok N - name" / "not ok N - name", diagnostics on "# " lines) and the
# file ends with the summary line "<suite>: P passed, F failed".
#
# All temporary state lives in one mktemp -d under /tmp (the repo may be
# read-only, e.g. in the test VM). Every forgectl invocation runs under
# `timeout`, with --root pointing into that temp dir and a private --prefix.
#
# Environment (all optional):
#   FORGECTL              forgectl binary (default: <repo>/build/forgectl)
#   FORGE_TEST_SHARED     a directory the runner shares between test files, where
#                         the busybox rootfs and the probe layer are built once
#   FORGE_TEST_ROOTFS     a ready busybox rootfs to use instead of building one
#   FORGE_TEST_TIMEOUT    seconds before a forgectl run counts as hung (default 30)
#   FORGE_TEST_PREFIX     kernel-object prefix (default: random "ft" + 6 hex digits)
#   FORGE_TEST_VERBOSE=1  print every forgectl command line

set -uo pipefail

T_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T_REPO=$(cd "$T_LIB_DIR/../.." && pwd)
FORGECTL=${FORGECTL:-$T_REPO/build/forgectl}
case $FORGECTL in /*) ;; *) FORGECTL=$PWD/$FORGECTL ;; esac
T_TIMEOUT=${FORGE_TEST_TIMEOUT:-30}
T_SUITE=$(basename "$0" .test.sh)
# A private kernel-object prefix ([a-z][a-z0-9]{0,7}): this test's cgroups never
# mix with those of other Forge instances running at the same time.
T_PREFIX=${FORGE_TEST_PREFIX:-ft$(printf '%06x' $(((RANDOM << 15 | RANDOM) & 0xffffff)))}

T_PASS=0
T_FAIL=0
T_SKIP=0
T_NUM=0
T_TMP=""
T_ROOT=""
ROOTFS=""
T_CASE_FAILED=0
T_CASE_SKIP=""
T_LAST_CMD=""
T_BG_PIDS=()

# ------------------------------------------------------------------ output

t_diag() { local l; while IFS= read -r l; do printf '#   %s\n' "$l"; done <<<"$*"; }

fail() {
	T_CASE_FAILED=1
	t_diag "FAIL: $*"
}

# skip REASON: the current case is reported as skipped (it neither passes nor fails).
skip() { T_CASE_SKIP=${1:-skipped}; }

# Prints the last forgectl command, its status and the start of its output.
t_diag_last() {
	[ -n "$T_LAST_CMD" ] || return 0
	t_diag "last command: $T_LAST_CMD"
	t_diag "exit status: ${FC_RC:-?}"
	if [ -s "$T_TMP/fc.out" ]; then
		t_diag "stdout:"
		t_diag "$(head -c 2000 "$T_TMP/fc.out")"
	fi
	if [ -s "$T_TMP/fc.err" ]; then
		t_diag "stderr:"
		t_diag "$(head -c 2000 "$T_TMP/fc.err")"
	fi
}

# ------------------------------------------------------------------ assertions
# Each returns 0 when it holds, 1 (and marks the case failed) otherwise.

assert_eq() { # EXPECTED ACTUAL WHAT
	[ "$1" == "$2" ] && return 0
	fail "${3:-values differ}: expected [$1], got [$2]"
	return 1
}

assert_ne() { # UNEXPECTED ACTUAL WHAT
	[ "$1" != "$2" ] && return 0
	fail "${3:-values equal}: did not expect [$1]"
	return 1
}

assert_contains() { # HAYSTACK NEEDLE WHAT
	[[ $1 == *"$2"* ]] && return 0
	fail "${3:-text}: expected to contain [$2], got [$(printf '%s' "$1" | head -c 600)]"
	return 1
}

assert_not_contains() { # HAYSTACK NEEDLE WHAT
	[[ $1 != *"$2"* ]] && return 0
	fail "${3:-text}: must not contain [$2], got [$(printf '%s' "$1" | head -c 600)]"
	return 1
}

assert_match() { # HAYSTACK ERE WHAT
	grep -Eq -- "$2" <<<"$1" && return 0
	fail "${3:-text}: expected to match /$2/, got [$(printf '%s' "$1" | head -c 600)]"
	return 1
}

assert_no_match() { # HAYSTACK ERE WHAT
	grep -Eq -- "$2" <<<"$1" || return 0
	fail "${3:-text}: must not match /$2/, got [$(printf '%s' "$1" | head -c 600)]"
	return 1
}

assert_int_ge() { # MIN ACTUAL WHAT
	if [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "$1" ]; then return 0; fi
	fail "${3:-value}: expected an integer >= $1, got [$2]"
	return 1
}

assert_int_le() { # MAX ACTUAL WHAT
	if [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -le "$1" ]; then return 0; fi
	fail "${3:-value}: expected an integer <= $1, got [$2]"
	return 1
}

# assert_status EXPECTED [WHAT]: the last fc/fc_stop exit status.
assert_status() {
	[ "${FC_RC:-}" == "$1" ] && return 0
	if [ -n "${FC_TIMED_OUT:-}" ]; then
		fail "${2:-forgectl}: timed out after ${T_TIMEOUT}s (expected exit $1)"
	else
		fail "${2:-forgectl}: expected exit status $1, got ${FC_RC:-none}"
	fi
	return 1
}

# assert_ok [WHAT]: the last run exited 0.
assert_ok() { assert_status 0 "${1:-forgectl}"; }

# ------------------------------------------------------------------ JSON

# A minimal stand-in for `jq -r FILTER` with filters like .a.b[0].c
T_JSON_PY='
import json, re, sys
doc = json.loads(sys.stdin.read())
for key, idx in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", sys.argv[1]):
    try:
        doc = doc[int(idx)] if idx else doc.get(key)
    except (IndexError, AttributeError, TypeError, ValueError):
        doc = None
    if doc is None:
        sys.exit(0)
if isinstance(doc, bool):
    print("true" if doc else "false")
elif isinstance(doc, (dict, list)):
    print(json.dumps(doc))
else:
    print(doc)
'

# json_get JSON FILTER: a jq filter (e.g. .report.pid); python3 when jq is missing.
json_get() {
	if command -v jq >/dev/null 2>&1; then
		jq -rc "($2) | select(. != null)" <<<"$1" 2>/dev/null
	elif command -v python3 >/dev/null 2>&1; then
		python3 -c "$T_JSON_PY" "$2" <<<"$1" 2>/dev/null
	else
		echo "testlib: need jq or python3 to read JSON" >&2
		return 1
	fi
}

# ------------------------------------------------------------------ forgectl

# fc ARGS...: runs `forgectl --root $T_ROOT ARGS` under timeout, stdin from
# $FC_STDIN (default /dev/null). Sets FC_RC, FC_OUT, FC_ERR.
fc() {
	local in=${FC_STDIN:-/dev/null}
	T_LAST_CMD="forgectl --root $T_ROOT --prefix $T_PREFIX $(printf '%q ' "$@")"
	[ "${FORGE_TEST_VERBOSE:-0}" = 1 ] && t_diag "run: $T_LAST_CMD"
	FC_TIMED_OUT=""
	timeout -k 5 "$T_TIMEOUT" "$FORGECTL" --root "$T_ROOT" --prefix "$T_PREFIX" "$@" \
		<"$in" >"$T_TMP/fc.out" 2>"$T_TMP/fc.err"
	FC_RC=$?
	[ "$FC_RC" = 124 ] && FC_TIMED_OUT=1
	FC_OUT=$(cat "$T_TMP/fc.out")
	FC_ERR=$(cat "$T_TMP/fc.err")
	return 0
}

# fc_run RUN-ARGS... -- CMD...: `forgectl run --rootfs $ROOTFS RUN-ARGS -- CMD`.
fc_run() { fc run --rootfs "$ROOTFS" "$@"; }

# fc_sh [RUN-ARGS...] SCRIPT: runs SCRIPT with the container's /bin/sh.
fc_sh() {
	local script=${*: -1}
	local args=("${@:1:$#-1}")
	fc run --rootfs "$ROOTFS" "${args[@]}" -- /bin/sh -c "$script"
}

# fc_start RUN-ARGS... -- CMD...: starts `forgectl run` in the background with
# stdin from a pipe the test holds open, so a container command that reads its
# stdin (e.g. `read x`) runs until fc_stop closes it. Sets FC_BG_PID (the
# timeout wrapper), FC_BG_OUT and FC_BG_ERR (files).
fc_start() {
	local fifo="$T_TMP/bg.fifo.$RANDOM$RANDOM" rfd
	mkfifo "$fifo" || { fail "mkfifo $fifo"; return 1; }
	# Read-write open never blocks on a FIFO; it keeps the write end for us.
	# With a writer present, the read-only open does not block either.
	exec {FC_BG_FD}<>"$fifo"
	exec {rfd}<"$fifo"
	rm -f "$fifo"
	FC_BG_OUT="$T_TMP/bg.out"
	FC_BG_ERR="$T_TMP/bg.err"
	: >"$FC_BG_OUT"
	: >"$FC_BG_ERR"
	T_LAST_CMD="forgectl --root $T_ROOT --prefix $T_PREFIX run --rootfs $ROOTFS $(printf '%q ' "$@")(background)"
	[ "${FORGE_TEST_VERBOSE:-0}" = 1 ] && t_diag "start: $T_LAST_CMD"
	# The child must not keep our write end, or its stdin never sees EOF.
	timeout -k 5 "$T_TIMEOUT" "$FORGECTL" --root "$T_ROOT" --prefix "$T_PREFIX" run --rootfs "$ROOTFS" "$@" \
		<&"$rfd" >"$FC_BG_OUT" 2>"$FC_BG_ERR" {FC_BG_FD}>&- {rfd}<&- &
	FC_BG_PID=$!
	exec {rfd}<&-
	T_BG_PIDS+=("$FC_BG_PID")
	return 0
}

# fc_wait_output FILE REGEX [SECONDS]: waits until FILE has a line matching REGEX.
fc_wait_output() {
	local file=$1 re=$2 secs=${3:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		grep -Eq -- "$re" "$file" 2>/dev/null && return 0
		if ! kill -0 "$FC_BG_PID" 2>/dev/null; then
			grep -Eq -- "$re" "$file" 2>/dev/null && return 0
			fail "forgectl exited before printing /$re/ in $(basename "$file")"
			return 1
		fi
		sleep 0.05
	done
	fail "no line matching /$re/ in $(basename "$file") after ${secs}s"
	return 1
}

# fc_wait_report: waits for the --report line of the background run; sets
# FC_REPORT (the JSON) and FC_PID (the container init's host pid).
fc_wait_report() {
	FC_REPORT=""
	FC_PID=""
	fc_wait_output "$FC_BG_ERR" '^\{"report":' "${1:-10}" || return 1
	FC_REPORT=$(grep -m1 -E '^\{"report":' "$FC_BG_ERR")
	FC_PID=$(json_get "$FC_REPORT" .report.pid)
	if ! [[ $FC_PID =~ ^[0-9]+$ ]]; then
		fail "report has no numeric .report.pid: $FC_REPORT"
		return 1
	fi
	return 0
}

# fc_stop: closes the background run's stdin and waits for it (bounded by its
# timeout). Sets FC_RC, FC_OUT, FC_ERR.
fc_stop() {
	[ -n "${FC_BG_PID:-}" ] || return 0
	if [ -n "${FC_BG_FD:-}" ]; then
		exec {FC_BG_FD}>&-
		FC_BG_FD=""
	fi
	wait "$FC_BG_PID"
	FC_RC=$?
	# Reaped: forget it, so t_reap_bg never signals a recycled pid.
	local p keep=()
	for p in "${T_BG_PIDS[@]}"; do [ "$p" = "$FC_BG_PID" ] || keep+=("$p"); done
	T_BG_PIDS=("${keep[@]}")
	FC_TIMED_OUT=""
	[ "$FC_RC" = 124 ] && FC_TIMED_OUT=1
	FC_OUT=$(cat "$FC_BG_OUT")
	FC_ERR=$(cat "$FC_BG_ERR")
	cp "$FC_BG_OUT" "$T_TMP/fc.out"
	cp "$FC_BG_ERR" "$T_TMP/fc.err"
	FC_BG_PID=""
	return 0
}

# Kills background runs a failed case left behind (via timeout's process group).
t_reap_bg() {
	local p
	if [ -n "${FC_BG_FD:-}" ]; then
		exec {FC_BG_FD}>&-
		FC_BG_FD=""
	fi
	for p in "${T_BG_PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			# Give the runtime a chance to tear down cleanly first.
			kill -TERM "$p" 2>/dev/null
			local i
			for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
			kill -KILL "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null
	done
	T_BG_PIDS=()
	FC_BG_PID=""
}

# host_children PID: host pids whose parent is PID.
host_children() {
	local f ppid rest pid
	for f in /proc/[0-9]*/stat; do
		read -r pid rest 2>/dev/null <"$f" || continue
		rest=${rest##*) }
		read -r _ ppid _ <<<"$rest"
		[ "$ppid" = "$1" ] && echo "$pid"
	done
	return 0
}

# proc_status_field PID FIELD: e.g. proc_status_field 123 Uid -> "100000 100000 ...".
proc_status_field() {
	local k v
	while IFS=$'\t' read -r k v; do
		[ "$k" = "$2:" ] && { echo "$v"; return 0; }
	done <"/proc/$1/status"
	return 1
}

# cgroup_dir_of PID CONTROLLER: the host path of PID's cgroup for CONTROLLER
# (memory, pids, cpu) — the v1 hierarchy holding it, or the v2 directory.
cgroup_dir_of() {
	local pid=$1 ctl=$2 line id ctls path
	if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
		line=$(grep -m1 '^0::' "/proc/$pid/cgroup") || return 1
		echo "/sys/fs/cgroup${line#0::}"
		return 0
	fi
	while IFS=: read -r id ctls path; do
		[ "$id" = 0 ] && continue
		case ",$ctls," in
		*",$ctl,"*)
			echo "/sys/fs/cgroup/$ctls$path"
			return 0
			;;
		esac
	done <"/proc/$pid/cgroup"
	return 1
}

cgroup_is_v2() { [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; }

# ------------------------------------------------------------------ fixtures

# The shared directory where expensive fixtures are built once.
t_fixture_dir() { echo "${FORGE_TEST_SHARED:-$T_TMP}"; }

# t_rootfs: path of a busybox rootfs (built on first use).
t_rootfs() {
	if [ -n "${FORGE_TEST_ROOTFS:-}" ]; then
		echo "$FORGE_TEST_ROOTFS"
		return 0
	fi
	local dir
	dir="$(t_fixture_dir)/rootfs-busybox"
	"$T_LIB_DIR/mkrootfs-busybox.sh" "$dir" >&2 || return 1
	echo "$dir"
}

# t_probe_layer: a rootfs layer holding /usr/local/bin/forge-probe (a static C
# helper, tests/lib/probe.c) and setuid copies of it, built on first use.
# Prints nothing and returns 1 when no static C toolchain is available.
t_probe_layer() {
	local dir
	dir="$(t_fixture_dir)/probe-layer"
	if [ -x "$dir/usr/local/bin/forge-probe" ]; then
		echo "$dir"
		return 0
	fi
	command -v "${CC:-cc}" >/dev/null 2>&1 || return 1
	local tmp="$dir.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp/usr/local/bin" || return 1
	if ! "${CC:-cc}" -static -O1 -o "$tmp/usr/local/bin/forge-probe" \
		"$T_LIB_DIR/probe.c" >"$tmp.log" 2>&1; then
		t_diag "cannot build the probe (static libc missing?): $(head -c 400 "$tmp.log")" >&2
		rm -rf "$tmp" "$tmp.log"
		return 1
	fi
	rm -f "$tmp.log"
	# Setuid-root copy (effective when the rootfs is idmapped: host root = container root).
	install -m 4755 -o 0 -g 0 "$tmp/usr/local/bin/forge-probe" "$tmp/usr/local/bin/forge-probe-suid"
	chmod 0755 "$tmp" "$tmp/usr" "$tmp/usr/local" "$tmp/usr/local/bin"
	mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
	echo "$dir"
}

# t_copy_rootfs DEST: a private copy of the busybox rootfs to modify.
t_copy_rootfs() {
	cp -a "$ROOTFS" "$1"
}

# ------------------------------------------------------------------ leak checks

# Forge's cgroup areas: for each controller the runtime uses, the test's own
# cgroup (from /proc/self/cgroup), where the runtime creates <prefix>*/...
t_cgroup_areas() {
	local id ctls path c
	if cgroup_is_v2; then
		path=$(grep -m1 '^0::' /proc/self/cgroup)
		path=${path#0::}
		echo "/sys/fs/cgroup${path%/}"
		return 0
	fi
	while IFS=: read -r id ctls path; do
		path=${path%/}
		if [ "$id" = 0 ]; then
			[ -d /sys/fs/cgroup/unified ] && echo "/sys/fs/cgroup/unified$path"
			continue
		fi
		for c in memory pids cpu; do
			case ",$ctls," in *",$c,"*) echo "/sys/fs/cgroup/$ctls$path" ;; esac
		done
	done </proc/self/cgroup
}

# Processes this test is responsible for: anything in a cgroup below the
# test's private prefix (every container process is), and any process whose
# command line names this test's temp dir (forgectl runs and their helpers).
# Both are attributable, so concurrent Forge runs by others do not disturb it.
t_leak_procs() {
	local f pid args
	while read -r f; do
		pid=${f#/proc/}
		pid=${pid%/cgroup}
		args=()
		mapfile -d '' -t args 2>/dev/null </proc/"$pid"/cmdline
		[ -e "/proc/$pid" ] && echo "proc $pid in a $T_PREFIX cgroup: ${args[*]}"
	done < <(grep -lsF -- "/$T_PREFIX/" /proc/[0-9]*/cgroup 2>/dev/null)
	# A regex that matches the temp dir's name but not itself.
	local re=${T_TMP//./[.]}
	while read -r f; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		[ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
		args=()
		mapfile -d '' -t args 2>/dev/null <"$f"
		[ ${#args[@]} -gt 0 ] && echo "proc $pid ${args[*]}"
	done < <(grep -lsE -- "$re" /proc/[0-9]*/cmdline 2>/dev/null)
	return 0
}

# Directories the runtime may create once and keep (empty) under a root.
# The instance's skeleton, and its base layer (the shared mount points every rootfs gets on
# top: made once per --root, like the prefix's base cgroup).
T_SKELETON_RE='^(etc|etc/forge|run|run/forge|run/forge/containers|run/forge/rootfs-base|run/forge/rootfs-base/(proc|dev|tmp|run|sys)|var|var/lib|var/lib/forge)$'

# t_leak_snapshot FILE: everything a container could leave behind. Few forks:
# process creation is slow on small VMs and this runs twice per case.
t_leak_snapshot() {
	local mp n=0 area e seen=" "
	{
		echo "== mounts (host mount namespace)"
		while read -r _ _ _ _ mp _; do
			echo "$mp"
			n=$((n + 1))
		done </proc/self/mountinfo
		echo "count $n"
		echo "== cgroups below <own cgroup>/$T_PREFIX"
		while read -r area; do
			[[ $seen == *" $area "* ]] && continue
			seen+="$area "
			for e in "$area/$T_PREFIX"*; do
				[ -d "$e" ] && find "$e" -type d 2>/dev/null
			done
		done < <(t_cgroup_areas)
		echo "== processes"
		t_leak_procs
		echo "== state under --root"
		while read -r e; do
			[[ ${e#"$T_ROOT"/} =~ $T_SKELETON_RE ]] || echo "$e"
		done < <(find "$T_ROOT" -mindepth 1 2>/dev/null)
	} >"$1"
}

# t_leak_check BEFORE: compares a fresh snapshot against BEFORE, retrying for
# up to 2 s (a dying process's teardown may lag a little); fails the case with
# the difference if it persists.
t_leak_check() {
	local before=$1 after="$1.after"
	local deadline=$((${EPOCHREALTIME/[.,]/} + 2000000))
	while :; do
		t_leak_snapshot "$after"
		cmp -s "$before" "$after" && return 0
		[ "${EPOCHREALTIME/[.,]/}" -lt "$deadline" ] || break
		sleep 0.1
	done
	fail "leaked kernel objects, processes or files (- before, + after):"
	t_diag "$(diff -U0 "$before" "$after" | grep -E '^[-+][^-+]' | head -40)"
	return 1
}

# ------------------------------------------------------------------ cases

t_setup() {
	if [ "$(id -u)" != 0 ]; then
		echo "$T_SUITE: needs root (real namespaces and cgroups)" >&2
		echo "$T_SUITE: 0 passed, 1 failed"
		exit 1
	fi
	T_TMP=$(mktemp -d "${FORGE_TEST_TMPDIR:-/tmp}/forge-test.$T_SUITE.XXXXXX") || exit 1
	chmod 0755 "$T_TMP"
	T_ROOT="$T_TMP/root"
	mkdir -p "$T_ROOT"
	trap t_cleanup EXIT
	trap 'exit 130' INT TERM
	echo "# $T_SUITE: forgectl=$FORGECTL tmp=$T_TMP"
	if [ ! -x "$FORGECTL" ]; then
		echo "# $T_SUITE: $FORGECTL is missing (run make first)"
		T_FAIL=1
		t_summary
		exit 1
	fi
	ROOTFS=$(t_rootfs) || {
		echo "# $T_SUITE: cannot build the busybox rootfs"
		T_FAIL=1
		t_summary
		exit 1
	}
}

# t_case NAME FUNCTION: runs one case between leak snapshots.
t_case() {
	local name=$1 fn=$2
	T_NUM=$((T_NUM + 1))
	T_CASE_FAILED=0
	T_CASE_SKIP=""
	T_LAST_CMD=""
	FC_RC=""
	rm -f "$T_TMP/fc.out" "$T_TMP/fc.err"
	t_leak_snapshot "$T_TMP/leak.before"
	"$fn" </dev/null
	t_reap_bg
	[ "$T_CASE_FAILED" = 1 ] && t_diag_last
	t_leak_check "$T_TMP/leak.before"
	if [ "$T_CASE_FAILED" = 1 ]; then
		T_FAIL=$((T_FAIL + 1))
		echo "not ok $T_NUM - $name"
	elif [ -n "$T_CASE_SKIP" ]; then
		T_SKIP=$((T_SKIP + 1))
		echo "ok $T_NUM - $name # SKIP $T_CASE_SKIP"
	else
		T_PASS=$((T_PASS + 1))
		echo "ok $T_NUM - $name"
	fi
}

t_summary() {
	[ "$T_SKIP" -gt 0 ] && echo "# $T_SUITE: $T_SKIP skipped"
	echo "$T_SUITE: $T_PASS passed, $T_FAIL failed"
}

t_done() {
	echo "1..$T_NUM"
	t_summary
	[ "$T_FAIL" = 0 ]
	exit $?
}

# Removes the temp dir. A mount still inside it is a leak: it is reported,
# detached, and the removal never crosses into another file system.
t_cleanup() {
	local rc=$? m
	t_reap_bg
	if [ -n "$T_TMP" ] && [ -d "$T_TMP" ]; then
		while read -r m; do
			echo "# $T_SUITE: LEAK: mount left under the temp dir: $m"
			umount -l "$m" 2>/dev/null
			rc=1
		done < <(awk '{print $5}' /proc/self/mountinfo | grep -F -- "$T_TMP" | sort -r)
		rm -rf --one-file-system "$T_TMP" 2>/dev/null ||
			{ echo "# $T_SUITE: cannot remove $T_TMP"; rc=1; }
	fi
	exit "$rc"
}

# ------------------------------------------------------------------ runners

# t_run_suites LABEL FILE...: runs test files (*.test.sh with bash, anything
# else as a cmocka binary with TAP output), aggregates their counts and prints
# "LABEL: P passed, F failed" as the last line. Returns non-zero on any failure.
t_run_suites() {
	local label=$1
	shift
	local total_p=0 total_f=0 f log rc p n line plan ran
	if [ "$(id -u)" != 0 ]; then
		echo "$label: needs root (real namespaces and cgroups)" >&2
		echo "$label: 0 passed, 1 failed"
		return 1
	fi
	FORGE_TEST_SHARED=$(mktemp -d /tmp/forge-test-shared.XXXXXX) || return 1
	chmod 0755 "$FORGE_TEST_SHARED"
	export FORGE_TEST_SHARED FORGECTL
	# shellcheck disable=SC2064
	trap "rm -rf --one-file-system '$FORGE_TEST_SHARED'" EXIT
	if [ -z "${FORGE_TEST_ROOTFS:-}" ]; then
		FORGE_TEST_ROOTFS="$FORGE_TEST_SHARED/rootfs-busybox"
		"$T_LIB_DIR/mkrootfs-busybox.sh" "$FORGE_TEST_ROOTFS" || {
			echo "$label: cannot build the busybox rootfs"
			echo "$label: 0 passed, 1 failed"
			return 1
		}
	fi
	export FORGE_TEST_ROOTFS
	log="$FORGE_TEST_SHARED/suite.log"
	for f in "$@"; do
		[ -e "$f" ] || continue
		echo "### $f"
		local t0=$SECONDS
		case $f in
		*.test.sh)
			# --foreground: a Ctrl-C reaches the test, whose traps clean up.
			timeout --foreground -k 10 300 bash "$f" </dev/null 2>&1 | tee "$log"
			rc=${PIPESTATUS[0]}
			line=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1)
			if [ -n "$line" ]; then
				p=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/' <<<"$line")
				n=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/' <<<"$line")
			else
				p=0 n=0
			fi
			;;
		*)
			[ -x "$f" ] || continue
			CMOCKA_MESSAGE_OUTPUT=TAP timeout --foreground -k 10 300 "$f" </dev/null 2>&1 | tee "$log"
			rc=${PIPESTATUS[0]}
			p=$(grep -cE '^ok [0-9]+' "$log")
			n=$(grep -cE '^not ok [0-9]+' "$log")
			plan=$(grep -E '^1\.\.[0-9]+' "$log" | sed 's/^1\.\.//' | awk '{s+=$1} END {print s+0}')
			ran=$((p + n))
			if [ "$plan" -gt "$ran" ]; then
				echo "# $f: planned $plan tests, $ran reported"
				n=$((n + plan - ran))
			fi
			;;
		esac
		if [ "$rc" != 0 ] && [ "$n" = 0 ]; then
			echo "# $f: exited with status $rc without reporting a failure"
			n=1
		fi
		if [ "$rc" = 0 ] && [ "$p" = 0 ] && [ "$n" = 0 ]; then
			echo "# $f: reported no results"
			n=1
		fi
		echo "# $(basename "$f"): $p passed, $n failed in $((SECONDS - t0))s"
		total_p=$((total_p + p))
		total_f=$((total_f + n))
	done
	if [ $((total_p + total_f)) = 0 ]; then
		echo "# $label: no tests found"
		total_f=1
	fi
	echo "$label: $total_p passed, $total_f failed"
	[ "$total_f" = 0 ]
}
