#!/usr/bin/env bash
# The one test command: formatting, lint, type-check, then every test. CI (.ci/run) calls this via `npm test`.
# Arguments go to jest (`npm test -- test/rules` runs one folder after the checks).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== format"; npx prettier --check .
echo "== lint"; npx eslint .
echo "== tsc --noEmit"; npx tsc --noEmit
echo "== tests"; npm run --silent jest -- "$@"
