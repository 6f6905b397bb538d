#!/usr/bin/env bash
# The whole test suite: lint, type-check, build, unit tests, end-to-end tests (real ffmpeg, real redis-server).
# Installs ffmpeg, redis-server, redis-sentinel and chromium with apt-get when they are missing (needs root or sudo).
set -uo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel) # Sentinel failover tests
[ -x /usr/bin/chromium ] || need+=(chromium) # the web console's browser tests (puppeteer-core)
if [ ${#need[@]} -gt 0 ]; then
  echo "test: installing ${need[*]} with apt-get (the end-to-end tests use them)"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null \
    || { echo "test: could not install ${need[*]}"; exit 1; }
fi

[ -d node_modules ] || npm ci --no-audit --no-fund || exit 1

status=0
step() { echo "== $*"; "$@" || status=1; }
step npm run --silent lint
step npm run --silent typecheck
step npm run --silent build
mkdir -p coverage
rm -f coverage/unit.json coverage/e2e.json
step npx jest --config jest.config.js --json --outputFile coverage/unit.json
step npx jest --config test/jest-e2e.config.js --runInBand --json --outputFile coverage/e2e.json
node scripts/test-summary.js coverage/unit.json coverage/e2e.json || status=1
exit $status
