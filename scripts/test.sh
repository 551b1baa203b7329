#!/usr/bin/env bash
# The one test command: formatting, lint, type-check, then every test. CI (.ci/run) calls this via `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== format"; npx prettier --check .
echo "== lint"; npx eslint .
echo "== tsc --noEmit"; npx tsc --noEmit
echo "== tests"; npx vitest run "$@"
