#!/usr/bin/env bash
# Compiles the server into .build-NAME/ (inside the repository, so node_modules resolve) and prints the
# entry to pass as LIVEGO_SERVER_ENTRY: e2e runs against it are untouched by rebuilds of dist/.
#   LIVEGO_SERVER_ENTRY=$(bash scripts/private-build.sh mine) npx jest --config test/jest-e2e.config.js test/hls
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: private-build.sh NAME}
out=".build-$name"
rm -rf "$out"
npx tsc -p tsconfig.build.json --outDir "$out" >&2 || echo "private-build: type errors above; emitted anyway" >&2
echo "$PWD/$out/src/main.js"
