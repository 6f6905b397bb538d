#!/usr/bin/env bash
# Compiles the server as committed at REV (default HEAD), untouched by uncommitted edits of the working
# tree, into .build-commit-<sha>/dist/ (beside the .build-NAME/ of scripts/private-build.sh, ignored by git
# and the linters) and prints that folder (for `bench/run.ts --dist`):
#   npx ts-node --transpile-only bench/run.ts --scenarios hostile --dist "$(bash bench/build-commit.sh)"
# The sources come from `git archive`; packages resolve from the repository's node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-HEAD}
sha=$(git rev-parse --short=12 "$rev^{commit}")
dir=".build-commit-$sha"
if [ ! -f "$dir/built" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  paths=()
  for path in src types tsconfig.json tsconfig.build.json; do
    if git cat-file -e "$sha:$path" 2>/dev/null; then paths+=("$path"); fi
  done
  git archive "$sha" "${paths[@]}" | tar -x -C "$dir"
  ln -s ../node_modules "$dir/node_modules" # type roots and packages of the repository
  # tsc emits JavaScript even when the revision does not type-check; say so, and go on with it.
  if ! npx tsc -p "$dir/tsconfig.build.json" --outDir "$dir/dist" --incremental false >"$dir/tsc.log" 2>&1; then
    echo "build-commit: $sha has type errors ($(grep -c 'error TS' "$dir/tsc.log") in $dir/tsc.log); JavaScript emitted anyway" >&2
  fi
  [ -f "$dir/dist/src/main.js" ] || { cat "$dir/tsc.log" >&2; exit 1; }
  date -u +%FT%TZ >"$dir/built"
fi
echo "$PWD/$dir/dist"
