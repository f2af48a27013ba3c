#!/usr/bin/env bash
# Install what nix-overlay-jail and its tests need, when it is missing: Debian's nix-bin,
# bubblewrap and busybox-static (as root), then the npm packages, then the build.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v nix-store >/dev/null || missing+=(nix-bin)
command -v bwrap >/dev/null || missing+=(bubblewrap)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || missing+=(busybox-static)
command -v setfattr >/dev/null || missing+=(attr)
command -v cc >/dev/null || missing+=(gcc libc6-dev)  # the TIOCSTI test builds a static C program
command -v tmux >/dev/null || missing+=(tmux)         # the terminal tests type Ctrl-C, Ctrl-Z, ...
command -v patchelf >/dev/null || missing+=(patchelf) # real programs: Debian's binaries patched into the store
command -v shellcheck >/dev/null || missing+=(shellcheck) # every generated launcher is linted, for sh, dash and bash
[ -x /usr/sbin/apparmor_parser ] || [ -x /sbin/apparmor_parser ] || missing+=(apparmor) # apparmor profiles are compiled by the real parser
command -v fuse-overlayfs >/dev/null || missing+=(fuse-overlayfs) # --mount-with fuse
command -v systemd-socket-activate >/dev/null || missing+=(systemd) # --allow-host's bridge (systemd's socket activator and proxy)
command -v curl >/dev/null || missing+=(curl)         # ... curl among them, against a local HTTPS server
command -v openssl >/dev/null || missing+=(openssl)   # ... whose test CA openssl makes
[ -e /usr/share/zoneinfo/Europe/Berlin ] || missing+=(tzdata)  # the time zone a NixOS-shaped /etc serves
# The desktop tests: real servers (Xvfb, weston, PulseAudio, dbus-daemon), xdg-dbus-proxy, and
# Debian's clients patched into the store (without the packages they only recommend).
desktop=()
command -v Xvfb >/dev/null || desktop+=(xvfb)
command -v xauth >/dev/null || desktop+=(xauth)
command -v weston >/dev/null || desktop+=(weston)
command -v pulseaudio >/dev/null || desktop+=(pulseaudio)
command -v pactl >/dev/null || desktop+=(pulseaudio-utils)
command -v dbus-daemon >/dev/null || desktop+=(dbus-daemon)
command -v dbus-send >/dev/null || desktop+=(dbus-bin)
command -v dbus-test-tool >/dev/null || desktop+=(dbus-tests)
command -v xdg-dbus-proxy >/dev/null || desktop+=(xdg-dbus-proxy)
command -v wayland-info >/dev/null || desktop+=(wayland-utils)
command -v xdpyinfo >/dev/null || desktop+=(x11-utils)
command -v xlogo >/dev/null || desktop+=(x11-apps)
command -v desktop-file-validate >/dev/null || desktop+=(desktop-file-utils)
if [ $((${#missing[@]} + ${#desktop[@]})) -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} ${desktop[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "== installing ${missing[*]} ${desktop[*]}" >&2
  apt-get update -qq
  [ ${#missing[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  [ ${#desktop[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${desktop[@]}" >/dev/null
fi

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
rm -rf dist
npm run --silent build
chmod +x dist/bin/nix-overlay-jail.cjs
