#!/usr/bin/env bash
# Installs the Debian packages the project needs beyond Node (headless Chromium for browser tests; wrk, the
# load generator `npm run bench` uses for maximum throughput, see docs/benchmarks.md; PostgreSQL, whose server
# binaries the tests of the PostgreSQL adapters run a throwaway cluster with, see docs/operations.md).
# Idempotent: does nothing when they are already there. Needs root (CI and dev machines run as root).
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/wrk ] || need+=(wrk)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-liberation >/dev/null
fi
/usr/bin/chromium --version
ls -d /usr/lib/postgresql/*/bin
