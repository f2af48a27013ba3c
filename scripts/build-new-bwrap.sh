#!/usr/bin/env bash
# For the tests of `--mount-with bwrap`: bubblewrap 0.9 or later mounts the overlay itself,
# and Debian 12 ships 0.8.0. Build bubblewrap 0.11.0 from Debian's own source tarball
# (checked against a pinned SHA-256) into a directory of its own, which the tests put first
# on PATH for those runs only; the system's bubblewrap is left as it is. Root only;
# idempotent; prints the directory on success.
set -euo pipefail

VERSION=0.11.0
SHA256=988fd6b232dafa04b8b8198723efeaccdb3c6aa9c1c7936219d5791a8b7a8646
URL="http://deb.debian.org/debian/pool/main/b/bubblewrap/bubblewrap_${VERSION}.orig.tar.xz"
DEST="${NOJ_NEW_BWRAP_DIR:-/usr/local/libexec/nix-overlay-jail-tests/bubblewrap-$VERSION}"

if [ -x "$DEST/bwrap" ] && "$DEST/bwrap" --version | grep -qx "bubblewrap $VERSION"; then
  echo "$DEST"
  exit 0
fi

missing=()
command -v meson >/dev/null || missing+=(meson)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v curl >/dev/null || missing+=(curl)
command -v xz >/dev/null || missing+=(xz-utils)
[ -e /usr/include/sys/capability.h ] || missing+=(libcap-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (to build bubblewrap $VERSION)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
curl -fsS -o "$work/src.tar.xz" "$URL"
echo "$SHA256  $work/src.tar.xz" | sha256sum --check --quiet
tar -xf "$work/src.tar.xz" -C "$work"
(
  cd "$work/bubblewrap-$VERSION"
  meson setup _build -Dman=disabled -Dtests=false -Dselinux=disabled \
    -Dbash_completion=disabled -Dzsh_completion=disabled >"$work/meson.log" 2>&1 ||
    { cat "$work/meson.log" >&2; exit 1; }
  ninja -C _build bwrap >"$work/ninja.log" 2>&1 || { cat "$work/ninja.log" >&2; exit 1; }
)
mkdir -p "$DEST"
install -m 0755 "$work/bubblewrap-$VERSION/_build/bwrap" "$DEST/bwrap.new"
mv "$DEST/bwrap.new" "$DEST/bwrap"
echo "$DEST"
