#!/usr/bin/env node
// `npm start`: runs the built server (dist/src/main.js) in this process, building it first when dist/ is
// missing or older than the sources. Nothing but the server stays resident: no Nest CLI, no compiler.
'use strict';
const { spawnSync } = require('node:child_process');
const { readdirSync, statSync } = require('node:fs');
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
  process.stderr.write(`livego: ${builtAt === 0 ? 'no build yet' : 'sources changed'}: npm run build\n`);
  let nest;
  try {
    nest = require.resolve('@nestjs/cli/bin/nest.js', { paths: [root] });
  } catch {
    process.stderr.write('livego: cannot build: run npm install first (it brings the Nest CLI)\n');
    process.exit(1);
  }
  const build = spawnSync(process.execPath, [nest, 'build'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0 || newest(entry) === 0) {
    process.stderr.write('livego: the build failed\n');
    process.exit(1);
  }
}

require(entry)
  .main()
  .catch((error) => {
    process.stderr.write(`livego: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
