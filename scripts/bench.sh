#!/usr/bin/env bash
# npm run bench [-- --sizes 10000,100000 --runs 15 --skip-real]: the benchmark (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ ! -x /usr/bin/time ] || ! command -v cc >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time gcc >/dev/null
fi
node dist/scripts/bench.js "$@"
