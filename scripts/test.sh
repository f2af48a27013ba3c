#!/usr/bin/env bash
# The test command (npm test): installs what the tests need, builds, runs every test and ends
# with one line "N passed, N failed, N skipped" counted from uvu's own results.
#
# As root it installs the Debian packages when missing (nix-bin, bubblewrap, busybox-static),
# starts nix-daemon when it is not running, creates the unprivileged test user, and builds
# the newest bubblewrap of Debian's next release aside (Debian 12 has 0.8.0, which cannot mount overlays itself); the
# integration tests then run as root and as that user, as on a real machine.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

if [ "$(id -u)" -eq 0 ]; then
  bash scripts/setup-test-env.sh
  # bubblewrap 0.11 or later, built aside, for the runs that let bubblewrap mount the overlay itself.
  if dir="$(bash scripts/build-new-bwrap.sh)"; then
    export NOJ_NEW_BWRAP_DIR="$dir"
  else
    echo "could not build bubblewrap 0.11 or later (see above): the tests of --mount-with bwrap cannot run" >&2
  fi
fi

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
set +e
# --no-color: plain summary lines to count, and no FORCE_COLOR for the programs tests start.
env -u FORCE_COLOR -u NO_COLOR node node_modules/uvu/bin.js dist/test '\.test\.js$' --no-color 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e

# uvu prints "Total: N", "Passed: N", "Skipped: N"; a crash before the summary counts as a failure.
total=$(sed -n 's/^ *Total: *\([0-9]*\).*/\1/p' "$out" | tail -1)
passed=$(sed -n 's/^ *Passed: *\([0-9]*\).*/\1/p' "$out" | tail -1)
skipped=$(sed -n 's/^ *Skipped: *\([0-9]*\).*/\1/p' "$out" | tail -1)
total=${total:-0}; passed=${passed:-0}; skipped=${skipped:-0}
failed=$((total - passed))  # uvu counts skipped tests outside Total
if [ "$status" -ne 0 ] && [ "$failed" -le 0 ]; then failed=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
