#!/usr/bin/env bash
# Run a command as root inside a throw-away VM on a pure cgroup v2 hierarchy (this host is
# cgroup-hybrid), and return its exit status. See tests/vm/README.md.
#
#   tests/vm/run.sh [CMD [ARG...]]      default CMD: tests/integration/run.sh
#
# Debian's kernel boots under qemu TCG (KVM does not work here) with the host's / shared
# read-only over virtio-9p under a tmpfs overlay, so the guest runs the host's binaries and
# sees this repo at the same path; a second 9p share carries the command in and its status,
# output and dmesg out. The initramfs (busybox-static + the 9p/overlay modules + init.sh) and
# the uncompressed vmlinux are cached in build/vm/ by kernel and script hash.
#
# Environment: FORGE_VM_TIMEOUT (seconds, default 900), FORGE_VM_MACHINE (auto|microvm|pc),
# FORGE_VM_KERNEL (a /boot/vmlinuz-VERSION; default the newest with modules installed),
# FORGE_VM_CGROUP (run CMD in this cgroup instead of the root one), FORGE_VM_VERBOSE=1 (show
# the kernel's boot messages). Every FORGE_* variable is passed into the guest.
#
# Exit status: CMD's; 2 when qemu or a kernel is missing; 124 on timeout; 1 when the VM
# ended without reporting a status; 130/143 when interrupted.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
vmdir=$repo/build/vm
timeout_s=${FORGE_VM_TIMEOUT:-900}
machine=${FORGE_VM_MACHINE:-auto}
qemu="qemu-system-x86_64"

say() { echo "vmtest: $*"; }
die() { echo "vmtest: $1" >&2; exit "${2:-1}"; }

[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "FORGE_VM_TIMEOUT=$timeout_s is not a number of seconds"
case $machine in auto | microvm | pc) ;; *) die "FORGE_VM_MACHINE=$machine: use auto, microvm or pc" ;; esac
command -v "$qemu" >/dev/null || die "$qemu not found (Debian package qemu-system-x86; run 'make deps')" 2
case $repo/ in
    /dev/* | /proc/* | /sys/*)
        die "the repo ($repo) must not be under a path the guest mounts over (/dev, /proc, /sys)" ;;
esac

# ---------------------------------------------------------------- kernel
if [ -n "${FORGE_VM_KERNEL:-}" ]; then
    kernel=$FORGE_VM_KERNEL
    [ -r "$kernel" ] || die "FORGE_VM_KERNEL=$kernel: not readable" 2
    kver=${kernel##*/vmlinuz-}
else
    kernel=$(for k in /boot/vmlinuz-*; do
        if [ -r "$k" ] && [ -e "/lib/modules/${k#/boot/vmlinuz-}/modules.dep" ]; then echo "$k"; fi
    done | sort -V | tail -n 1)
    [ -n "$kernel" ] || die "no /boot/vmlinuz-* with modules in /lib/modules (Debian package linux-image-amd64; run 'make deps')" 2
    kver=${kernel#/boot/vmlinuz-}
fi
[ -e "/lib/modules/$kver/modules.dep" ] ||
    die "no modules for kernel $kver in /lib/modules/$kver (the guest loads them from the host's tree)" 2

# The TSC rate for microvm, which has no timer to calibrate against (TCG's rdtsc is the
# host's TSC; on this kind of VM host "cpu MHz" is its rate).
tsc_khz=$(awk -F: '/^cpu MHz/ { printf "%d\n", $2 * 1000 + 0.5; exit }' /proc/cpuinfo)

# ---------------------------------------------------------------- cached boot files
mkdir -p "$vmdir"
key=$(cat "$here/run.sh" "$here/init.sh" "$here/extract-vmlinux.sh" |
    { sha256sum; stat -L -c '%s %Y' "$kernel"; } | sha256sum | cut -c1-12)
cache=$vmdir/$kver-$key
stage=
results=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    [ -z "$stage" ] || rm -rf "$stage"
    [ -z "$results" ] || rm -rf "$results"
}
vm_pid=
# shellcheck disable=SC2317  # called by the INT/TERM traps
on_signal() {
    if [ -n "$vm_pid" ]; then
        kill -TERM "$vm_pid" 2>/dev/null || true
        wait "$vm_pid" || true
    fi
    echo "vmtest: interrupted" >&2
    exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# The last run's shared directory (command, output.log, dmesg.log, status) stays in
# build/vm/last-results for a look after the fact.
keep_results() {
    (
        flock 8
        rm -rf "$vmdir/last-results"
        mv -T "$results" "$vmdir/last-results"
    ) 8>"$vmdir/.lock" && results=
}

# Modules in dependency order (modinfo's "depends"), appended to $order and copied
# (decompressed) into $stage/modules; built-in ones are skipped.
declare -A seen=()
order=()
add_module() {
    local m=$1 file d out
    [ -z "${seen[$m]:-}" ] || return 0
    seen[$m]=1
    file=$(modinfo -k "$kver" -F filename "$m" 2>/dev/null) || die "kernel $kver has no module $m"
    case $file in "(builtin)"* | "") return 0 ;; esac
    for d in $(modinfo -k "$kver" -F depends "$m" | tr , ' '); do add_module "$d"; done
    out=$stage/modules/$m.ko
    if [ ! -e "$out" ]; then
        case $file in
            *.ko) cp "$file" "$out" ;;
            *.ko.xz) xz -dc "$file" >"$out" ;;
            *.ko.zst) zstd -dcq "$file" >"$out" ;;
            *.ko.gz) gzip -dc "$file" >"$out" ;;
            *) die "$file: unknown module format" ;;
        esac
    fi
    order+=("$m.ko")
}

# The initramfs: busybox-static with its applet links, init.sh as /init, and for each
# machine type the modules needed before the 9p root exists, in load order.
build_initramfs() {
    local vm m
    [ -x /bin/busybox ] || die "/bin/busybox not found (Debian package busybox-static; run 'make deps')" 2
    [[ $(LC_ALL=C ldd /bin/busybox 2>&1 || true) == *"not a dynamic executable"* ]] ||
        die "/bin/busybox is not statically linked (install busybox-static)" 2
    stage=$(mktemp -d "$vmdir/stage.XXXXXX")
    mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,modules,proc,sys,dev,run,tmp}
    cp /bin/busybox "$stage/bin/busybox"
    for m in $(/bin/busybox --list-full); do
        [ -e "$stage/$m" ] || ln -s /bin/busybox "$stage/$m"
    done
    install -m 0755 "$here/init.sh" "$stage/init"
    for vm in microvm pc; do
        seen=() order=()
        if [ "$vm" = microvm ]; then add_module virtio_mmio; else add_module virtio_pci; fi
        for m in 9pnet_virtio 9p overlay; do add_module "$m"; done
        printf '%s\n' "${order[@]}" >"$stage/etc/modules-$vm"
    done
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
        >"$cache/initramfs.cpio.tmp"
    mv "$cache/initramfs.cpio.tmp" "$cache/initramfs.cpio"
    rm -rf "$stage"
    stage=
}

# The uncompressed vmlinux for microvm's PVH boot, or a note saying why there is none.
extract_vmlinux() {
    local why
    if ! why=$("$here/extract-vmlinux.sh" "$kernel" "$cache/vmlinux" 2>&1); then
        echo "${why:-extraction failed}" >"$cache/vmlinux.none"
    elif command -v readelf >/dev/null &&
        ! readelf -n "$cache/vmlinux" 2>/dev/null | grep -q 'Xen.*(0x00000012)'; then
        rm -f "$cache/vmlinux"
        echo "the kernel has no PVH entry point (Xen ELF note 0x12)" >"$cache/vmlinux.none"
    fi
}

mkdir -p "$cache"
exec 9>"$vmdir/.lock"
flock 9
if [ ! -e "$cache/initramfs.cpio" ]; then
    # A new kernel or new scripts: drop the other cached builds.
    find "$vmdir" -mindepth 1 -maxdepth 1 -type d -name "[0-9]*-*" ! -name "${cache##*/}" \
        -exec rm -rf {} +
    say "building the initramfs for $kver in $cache"
    build_initramfs
fi
if [ "$machine" != pc ] && [ ! -e "$cache/vmlinux" ] && [ ! -e "$cache/vmlinux.none" ]; then
    say "extracting the uncompressed vmlinux from $kernel"
    extract_vmlinux
fi
flock -u 9
exec 9>&-

# ---------------------------------------------------------------- machine
why_not_microvm=
if [ -z "$tsc_khz" ] || [ "$tsc_khz" -le 0 ]; then
    why_not_microvm="no TSC rate in /proc/cpuinfo"
elif [ ! -e "$cache/vmlinux" ]; then
    why_not_microvm="no uncompressed vmlinux: $(cat "$cache/vmlinux.none" 2>/dev/null)"
fi
if [ "$machine" = auto ]; then
    if [ -z "$why_not_microvm" ]; then machine=microvm; else machine=pc; fi
elif [ "$machine" = microvm ] && [ -n "$why_not_microvm" ]; then
    die "FORGE_VM_MACHINE=microvm: $why_not_microvm"
fi

results=$(mktemp -d "$vmdir/run.XXXXXX")
# loglevel=3 keeps harmless boot errors (no PCI on microvm) off the console; panics and
# oopses still show. FORGE_VM_VERBOSE=1 shows the whole boot.
quiet="quiet loglevel=3"
[ -z "${FORGE_VM_VERBOSE:-}" ] || quiet=
append="console=ttyS0 $quiet panic=-1 cgroup_no_v1=all cryptomgr.notests rdinit=/init forge.vm=$machine"
append+=" forge.guest=$repo/tests/vm/guest.sh"
qargs=(-accel tcg -m 2G -smp 2 -nodefaults -no-user-config -no-reboot -display none
    -chardev "stdio,id=console,signal=on" -serial chardev:console -monitor none -nic none
    -initrd "$cache/initramfs.cpio"
    -fsdev "local,id=hostroot,path=/,security_model=none,multidevs=remap,readonly=on"
    -fsdev "local,id=results,path=$results,security_model=none")
if [ "$machine" = microvm ]; then
    # lpj as the kernel derives it from the TSC rate: the secondary CPU would otherwise
    # calibrate its delay loop (about 0.3 s under TCG).
    hz=$(sed -n 's/^CONFIG_HZ=//p' "/boot/config-$kver" 2>/dev/null)
    append+=" tsc_early_khz=$tsc_khz tsc=reliable lpj=$((tsc_khz * 1000 / ${hz:-250})) pci=off"
    qargs+=(-M "microvm,x-option-roms=off" -kernel "$cache/vmlinux"
        -device "virtio-9p-device,fsdev=hostroot,mount_tag=hostroot"
        -device "virtio-9p-device,fsdev=results,mount_tag=results")
    desc="microvm, uncompressed vmlinux via PVH, tsc_early_khz=$tsc_khz"
else
    qargs+=(-M pc -kernel "$kernel"
        -device "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"
        -device "virtio-9p-pci,fsdev=results,mount_tag=results")
    desc="pc, bzImage${why_not_microvm:+ (not microvm: $why_not_microvm)}"
fi
qargs+=(-append "$append")

# ---------------------------------------------------------------- run
[ $# -gt 0 ] || set -- tests/integration/run.sh
printf '%s\0' "$@" >"$results/cmd"
while IFS= read -r -d '' kv; do
    case $kv in FORGE_*=*) printf '%s\0' "$kv" >>"$results/env" ;; esac
done < <(env -0)
touch "$results/env"
echo "$repo" >"$results/repo"

say "kernel $kver ($kernel), machine $desc, TCG, 2 CPUs, 2G, timeout ${timeout_s}s"
say "command: $*"
start=$(date +%s.%N)
rc=0
# A TCG guest occasionally hangs early in boot. The initramfs marks the results share as
# soon as it is mounted; without that mark within FORGE_VM_BOOT_TIMEOUT seconds the VM is
# killed and booted again (at most FORGE_VM_BOOT_TRIES times).
boot_timeout=${FORGE_VM_BOOT_TIMEOUT:-60}
boot_tries=${FORGE_VM_BOOT_TRIES:-3}
for ((try = 1; ; try++)); do
    rm -f "$results/booted" "$results/status"
    # In the background so that a signal to this script runs its trap at once (which stops
    # the VM) rather than after the VM ends.
    timeout --foreground -k 10 "$timeout_s" "$qemu" "${qargs[@]}" </dev/null &
    vm_pid=$!
    booted=0
    for ((tick = 0; tick < boot_timeout * 10; tick++)); do
        [ -e "$results/booted" ] && { booted=1; break; }
        kill -0 "$vm_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ $booted = 0 ] && kill -0 "$vm_pid" 2>/dev/null; then
        pkill -KILL -P "$vm_pid" 2>/dev/null || true
        wait "$vm_pid" 2>/dev/null || true
        vm_pid=
        [ "$try" -lt "$boot_tries" ] ||
            die "FAILED: the guest did not boot within ${boot_timeout}s, $try times"
        say "the guest did not boot within ${boot_timeout}s (try $try of $boot_tries): booting again"
        continue
    fi
    wait "$vm_pid" || rc=$?
    vm_pid=
    break
done
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    keep_results
    die "TIMEOUT: the VM did not finish within FORGE_VM_TIMEOUT=${timeout_s}s; qemu killed (output so far: $vmdir/last-results/output.log)" 124
fi
[ "$rc" -eq 0 ] || say "qemu exited with status $rc"
status=$(cat "$results/status" 2>/dev/null || true)
keep_results
if [ -z "$status" ]; then
    die "FAILED: the VM ended after ${elapsed}s without reporting the command's exit status: the guest did not boot or crashed before the command finished; see the console output above"
fi
[[ $status =~ ^[0-9]+$ ]] || die "FAILED: bad status '$status' from the guest"
say "command exited with status $status; VM total ${elapsed}s (output.log, dmesg.log: $vmdir/last-results)"
exit "$status"
