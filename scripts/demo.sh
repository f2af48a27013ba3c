#!/usr/bin/env bash
# The quick start's first command: set up, build a small real Nix closure (busybox-based, no
# network needed) and run a program from it in a jail whose /nix/store is that closure only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

# Reach Nix as this machine is set up: the daemon when it runs, else the local store as root.
if [ -z "${NIX_REMOTE:-}" ] && [ ! -S /nix/var/nix/daemon-socket/socket ] && [ "$(id -u)" -eq 0 ]; then
  export NIX_REMOTE=local
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/busybox/bin"
cp "$(command -v busybox)" "$work/busybox/bin/busybox"
busybox_path="$(nix-store --add "$work/busybox")"
# Everything is built here from busybox: no binary cache is asked (or warned about).
mapfile -t out < <(nix-build fixtures/nix/closure.nix --no-out-link --option substituters '' -A app -A outsider \
  --argstr busybox "$busybox_path" --argstr tag demo)
app="${out[0]}" outsider="${out[1]}"

echo "== the host's /nix/store holds $(ls -A /nix/store | wc -l) entries"
echo "== the closure of $app:"
node dist/bin/nix-overlay-jail.cjs closure "$app"
echo "== inside the jail:"
node dist/bin/nix-overlay-jail.cjs exec -- "$app/bin/sh" -c '
  echo "ls -a /nix/store:"; ls -a /nix/store
  echo "mounts at /nix/store: $(grep -c " /nix/store " /proc/self/mountinfo)"
  if cat "$1/secret.txt" 2>/dev/null; then echo "LEAK: reached $1"; exit 1; fi
  echo "$1 (outside the closure) is unreachable"' sh "$outsider"
