#!/usr/bin/env bash
# Compiles the server as committed at REV (default HEAD), untouched by uncommitted edits of the working
# tree, into bench/.cache/build-<sha>/dist/ and prints that folder (for `bench/run.ts --dist`):
#   npx ts-node --transpile-only bench/run.ts --scenarios hostile --dist "$(bash bench/build-commit.sh)"
# The sources come from `git archive`; packages resolve from the repository's node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-HEAD}
sha=$(git rev-parse --short=12 "$rev^{commit}")
dir="bench/.cache/build-$sha"
if [ ! -f "$dir/built" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  git archive "$sha" src types tsconfig.json tsconfig.build.json | tar -x -C "$dir"
  ln -s ../../../node_modules "$dir/node_modules" # type roots and packages of the repository
  npx tsc -p "$dir/tsconfig.build.json" --outDir "$dir/dist" --incremental false >&2
  date -u +%FT%TZ >"$dir/built"
fi
echo "$PWD/$dir/dist"
