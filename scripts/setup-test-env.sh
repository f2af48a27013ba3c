#!/usr/bin/env bash
# Root-only set-up for the integration tests, done the way a real machine is set up: the Nix
# daemon running (so an ordinary user reaches the store through it) and an ordinary test user
# in the nix-users group. Idempotent.
set -euo pipefail
TEST_USER="${NOJ_TEST_USER:-noj-test}"

if ! id "$TEST_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/sh "$TEST_USER"
fi
if getent group nix-users >/dev/null; then
  usermod -a -G nix-users "$TEST_USER"
fi

socket=/nix/var/nix/daemon-socket/socket
if [ ! -S "$socket" ] ||
   ! pgrep -x nix-daemon >/dev/null; then
  mkdir -p /nix/var/nix/daemon-socket
  nohup nix-daemon >/tmp/nix-overlay-jail-daemon.log 2>&1 &
  for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
fi
[ -S "$socket" ] || { echo "nix-daemon did not start (see /tmp/nix-overlay-jail-daemon.log)" >&2; exit 1; }
