#!/usr/bin/env bash
# Installs the Debian packages the project needs beyond Node (headless Chromium for browser tests; wrk, the
# load generator `npm run bench` uses for maximum throughput, see docs/benchmarks.md; PostgreSQL, whose server
# binaries the tests of the PostgreSQL adapters run a throwaway cluster with, see docs/operations.md; HAProxy, the
# load balancer the replica tests and `npm run replicas` put in front of three module processes, see README
# "Beyond one machine").
# Idempotent: does nothing when they are already there. Needs root (CI and dev machines run as root).
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/wrk ] || need+=(wrk)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/sbin/haproxy ] || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-liberation >/dev/null
fi
/usr/bin/chromium --version
ls -d /usr/lib/postgresql/*/bin
# sed reads all of haproxy's output: `head -1` exits early, and under pipefail the SIGPIPE haproxy then gets
# (exit 141) failed this script whenever haproxy was still writing.
/usr/sbin/haproxy -v | sed -n 1p
