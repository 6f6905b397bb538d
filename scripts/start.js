#!/usr/bin/env node
// `npm start`: runs the built server (dist/src/main.js) in this process, building it first when dist/ is
// missing or older than the sources. Nothing but the server stays resident: no Nest CLI, no compiler.
'use strict';
const { spawnSync } = require('node:child_process');
const { readdirSync, rmSync, statSync } = require('node:fs');
const { join, resolve } = require('node:path');

const root = resolve(__dirname, '..');
const entry = join(root, 'dist', 'src', 'main.js');
const SOURCES = ['src', 'types', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json'];

/** Newest modification time under `path` (a file or a folder), 0 when it does not exist. */
function newest(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), 0);
}

const builtAt = newest(entry);
if (builtAt === 0 || builtAt < Math.max(...SOURCES.map((name) => newest(join(root, name))))) {
  process.stderr.write(
    `livego: ${builtAt === 0 ? 'no build yet' : 'sources changed'}: building dist/\n`,
  );
  let tsc;
  try {
    tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  } catch {
    process.stderr.write('livego: cannot build: run npm install first (it brings TypeScript)\n');
    process.exit(1);
  }
  // What `npm run build` (nest build) does, without loading the Nest CLI: a clean dist/, then tsc.
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0 || newest(entry) === 0) {
    process.stderr.write('livego: the build failed\n');
    process.exit(1);
  }
}

// The web console (console/ → dist/public/console/), rebuilt like the server when its sources changed.
const consoleIndex = join(root, 'dist', 'public', 'console', 'index.html');
const consoleBuiltAt = newest(consoleIndex);
if (consoleBuiltAt === 0 || consoleBuiltAt < newest(join(root, 'console'))) {
  const pageBuild = spawnSync(process.execPath, [join(root, 'scripts', 'build-console.js')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (pageBuild.status !== 0) process.stderr.write('livego: the web console was not built\n');
}

require(entry)
  .main()
  .catch((error) => {
    process.stderr.write(`livego: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
