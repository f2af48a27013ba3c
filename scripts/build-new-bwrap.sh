#!/usr/bin/env bash
# For the tests of `--mount-with bwrap`: bubblewrap 0.11.0 or later mounts the overlay itself,
# and Debian 12 ships 0.8.0. Build the newest bubblewrap that the next Debian release carries,
# from its source package fetched by name through apt, into a directory of its own that the
# tests put first on PATH for those runs only; the system's bubblewrap is left as it is.
#
# The source comes from the archives this machine's apt already uses: a temporary, private
# source list (deb-src, the next release's suite) is derived from the configured entries' URIs,
# with the same keyring, and apt reads it into a private state directory. apt verifies the
# signed index; the upstream tarball is then checked against the SHA-256 that index gives
# (apt-get source may exit non-zero when another file of the package cannot be had).
# Root only; idempotent; prints the directory on success.
set -euo pipefail

DEST="${NOJ_NEW_BWRAP_DIR:-/usr/local/libexec/nix-overlay-jail-tests/bubblewrap-new}"
# bubblewrap 0.11.0 is the first with --overlay-src; anything older is no use here.
if [ -x "$DEST/bwrap" ] && "$DEST/bwrap" --version | grep -Eq '^bubblewrap (0\.(1[1-9]|[2-9][0-9])|[1-9])'; then
  echo "$DEST"
  exit 0
fi

. /etc/os-release
case "${VERSION_CODENAME:-}" in
  bullseye) next=bookworm ;;
  bookworm) next=trixie ;;
  trixie) next=forky ;;
  *) echo "cannot tell Debian's next release after '${VERSION_CODENAME:-unknown}'" >&2; exit 1 ;;
esac

# The configured Debian archive: a "deb" entry for this release (not -security or -updates).
uri="" keyring=""
for file in /etc/apt/sources.list.d/*.sources; do
  [ -f "$file" ] || continue
  found=$(awk -v release="$VERSION_CODENAME" '
    BEGIN { RS = ""; FS = "\n" }
    {
      types = uris = suites = key = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^Types:/) types = $i
        if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris); sub(/[ \t].*/, "", uris) }
        if ($i ~ /^Suites:/) suites = " " $i " "
        if ($i ~ /^Signed-By:/) { key = $i; sub(/^Signed-By:[ \t]*/, "", key) }
      }
      if (types ~ /[ \t]deb([ \t]|$)/ && suites ~ ("[ \t]" release "[ \t]")) { print uris " " key; exit }
    }' "$file")
  if [ -n "$found" ]; then uri=${found%% *}; keyring=${found#* }; break; fi
done
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk -v release="$VERSION_CODENAME" '$1 == "deb" && $3 == release { print $2; exit }' /etc/apt/sources.list)
fi
[ -n "$uri" ] || { echo "no Debian archive for $VERSION_CODENAME found in apt's sources" >&2; exit 1; }
[ -n "$keyring" ] && [ "$keyring" != "$uri" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg

missing=()
command -v meson >/dev/null || missing+=(meson)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v xz >/dev/null || missing+=(xz-utils)
[ -e /usr/include/sys/capability.h ] || missing+=(libcap-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (to build bubblewrap)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sources.list.d" "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "$uri" "$next" "$keyring" \
  >"$work/sources.list.d/next.sources"
apt_private=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/sources.list.d"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1
  -o APT::Sandbox::User=root)
apt-get "${apt_private[@]}" -qq update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; exit 1; }

# The upstream tarball and its SHA-256, as the verified index lists them.
read -r sha256 tarball < <(apt-cache "${apt_private[@]}" showsrc bubblewrap |
  awk '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 } on && $3 ~ /\.orig\.tar\.xz$/ { print $1, $3; exit }')
[ -n "${tarball:-}" ] || { echo "bubblewrap's source is not in $next's index" >&2; exit 1; }
(cd "$work/src" && apt-get "${apt_private[@]}" -qq source --download-only bubblewrap >"$work/source.log" 2>&1) || true
[ -f "$work/src/$tarball" ] || { cat "$work/source.log" >&2; echo "apt did not fetch $tarball" >&2; exit 1; }
echo "$sha256  $work/src/$tarball" | sha256sum --check --quiet

tar -xf "$work/src/$tarball" -C "$work"
version=${tarball#bubblewrap_}; version=${version%.orig.tar.xz}
(
  cd "$work/bubblewrap-$version"
  meson setup _build -Dman=disabled -Dtests=false -Dselinux=disabled \
    -Dbash_completion=disabled -Dzsh_completion=disabled >"$work/meson.log" 2>&1 ||
    { cat "$work/meson.log" >&2; exit 1; }
  ninja -C _build bwrap >"$work/ninja.log" 2>&1 || { cat "$work/ninja.log" >&2; exit 1; }
)
mkdir -p "$DEST"
install -m 0755 "$work/bubblewrap-$version/_build/bwrap" "$DEST/bwrap.new"
mv "$DEST/bwrap.new" "$DEST/bwrap"
echo "$DEST"
