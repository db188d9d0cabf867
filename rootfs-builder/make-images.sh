#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# make-images.sh ROOT — builds every images/specs/*.yaml into the image store of
# FORGE_ROOT=ROOT (what `make images` runs, with ROOT=build/root).
#
# Uses $FORGECTL (default build/forgectl) and keeps .deb files in
# $FORGE_DEB_CACHE (default build/cache/debs), so a second run downloads
# nothing. Idempotent and quick when nothing changed: a spec is skipped when
# its stamp (ROOT/var/lib/forge/cache/specs/NAME.stamp: sha256 of the spec and
# of forgectl, and the digest built) matches and the store still has that
# digest under the spec's name. The last line of each build is its digest.
set -euo pipefail

die() { echo "make-images: $*" >&2; exit 1; }

{ [ $# -eq 1 ] && [ -n "$1" ]; } || die "usage: $0 ROOT"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
FORGECTL=${FORGECTL:-$repo/build/forgectl}
cache=${FORGE_DEB_CACHE:-$repo/build/cache/debs}

[ "$(id -u)" = 0 ] || die "must run as root (the store's layers are root's): try 'sudo make images'"
[ -x "$FORGECTL" ] || die "$FORGECTL: not built (run make first)"
mkdir -p "$1" "$cache"
root=$(cd "$1" && pwd)
stamps=$root/var/lib/forge/cache/specs
mkdir -p "$stamps"

tool_sum=$(sha256sum <"$FORGECTL" | cut -d' ' -f1)
shopt -s nullglob
specs=("$repo"/images/specs/*.yaml)
[ ${#specs[@]} -gt 0 ] || die "no specs in $repo/images/specs"

for spec in "${specs[@]}"; do
	base=$(basename "$spec" .yaml)
	name=$(sed -n 's/^name:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$spec" | head -n1)
	[ -n "$name" ] || die "$spec: no name: line"
	key="$(sha256sum <"$spec" | cut -d' ' -f1)-$tool_sum"
	stamp=$stamps/$base.stamp
	if [ -f "$stamp" ]; then
		read -r old_key old_digest <"$stamp" || true
		if [ "${old_key:-}" = "$key" ] &&
			"$FORGECTL" --root "$root" image inspect "$name" 2>/dev/null |
			grep -qF "\"${old_digest:-none}\""; then
			echo "make-images: $name up to date ($old_digest)"
			continue
		fi
	fi
	start=$SECONDS
	digest=$("$FORGECTL" --root "$root" image build "$spec" --cache "$cache" | tail -n1) ||
		die "$spec: build failed"
	[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "$spec: no digest printed"
	echo "$key $digest" >"$stamp.tmp"
	mv -f "$stamp.tmp" "$stamp"
	echo "make-images: $name $digest ($((SECONDS - start))s)"
done
