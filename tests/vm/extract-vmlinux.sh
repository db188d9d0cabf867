#!/usr/bin/env bash
# Extract the uncompressed ELF vmlinux from an x86 bzImage, so that qemu's microvm machine
# can boot it directly through its PVH entry point: decompressing an XZ bzImage under TCG
# costs about 3 s per boot.
#
#   extract-vmlinux.sh BZIMAGE OUT
#
# The boot protocol (>= 2.08) setup header says where the compressed payload is:
# setup_sects at 0x1f1 (0 means 4), payload_offset at 0x248 and payload_length at 0x24c,
# both relative to the protected-mode code, which starts after (setup_sects + 1) * 512
# bytes. The kernel build appends the 4-byte uncompressed size to every payload, so the
# compressed stream is payload_length - 4 bytes. Exits non-zero (writing nothing to OUT)
# when the image is not a bzImage, the compressor's tool is missing or the result is not an
# ELF file.
set -euo pipefail

die() { echo "extract-vmlinux: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: extract-vmlinux.sh BZIMAGE OUT"
bz=$1 out=$2
[ -r "$bz" ] || die "$bz: not readable"

# u32 (little-endian, as the host is x86) or u8 at a byte offset.
u32() { od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
u8() { od -An -t u1 -j "$2" -N 1 "$1" | tr -d ' '; }
hexbytes() { od -An -t x1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }

[ "$(hexbytes "$bz" $((0x202)) 4)" = 48647253 ] || die "$bz: no bzImage setup header (HdrS)"
version=$(od -An -t u2 -j $((0x206)) -N 2 "$bz" | tr -d ' ')
[ "$version" -ge $((0x208)) ] || die "$bz: boot protocol $(printf '%#x' "$version") has no payload fields"

setup_sects=$(u8 "$bz" $((0x1f1)))
[ "$setup_sects" -ne 0 ] || setup_sects=4
payload_offset=$(u32 "$bz" $((0x248)))
payload_length=$(u32 "$bz" $((0x24c)))
start=$(((setup_sects + 1) * 512 + payload_offset))
length=$((payload_length - 4))
[ "$length" -gt 0 ] || die "$bz: empty payload"

magic=$(hexbytes "$bz" "$start" 6)
case $magic in
    fd377a585a00) tool=(xz -dc --single-stream) ;;
    28b52ffd*) tool=(zstd -dcq) ;;
    1f8b*) tool=(gzip -dc) ;;
    *) die "$bz: unsupported payload compression (magic $magic at offset $start)" ;;
esac
command -v "${tool[0]}" >/dev/null || die "${tool[0]} is not installed (needed for this kernel's payload)"

tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
dd if="$bz" bs=1M iflag=skip_bytes,count_bytes skip="$start" count="$length" status=none |
    "${tool[@]}" >"$tmp" || die "$bz: decompressing the payload with ${tool[0]} failed"
[ "$(hexbytes "$tmp" 0 4)" = 7f454c46 ] || die "$bz: the payload is not an ELF vmlinux"
mv "$tmp" "$out"
trap - EXIT
