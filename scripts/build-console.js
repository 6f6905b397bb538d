#!/usr/bin/env node
// `npm run build` (after nest build): bundles the web console (console/) with esbuild into
// dist/public/console/, or into the folder given as the first argument (a private build's public/console).
// The page is type-checked first (console/tsconfig.json); hls.js and mpegts.js are bundled from
// node_modules and split into chunks loaded only when a preview starts. Nothing is fetched at run time.
'use strict';
const { spawnSync } = require('node:child_process');
const { copyFileSync, mkdirSync, rmSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { build } = require('esbuild');

const root = resolve(__dirname, '..');
const source = join(root, 'console');
const out = resolve(root, process.argv[2] ?? join('dist', 'public', 'console'));

const tsc = spawnSync(
  process.execPath,
  [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', join(source, 'tsconfig.json')],
  { stdio: 'inherit' },
);
if (tsc.status !== 0) {
  process.stderr.write('build-console: type errors in console/\n');
  process.exit(1);
}

async function main() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'assets'), { recursive: true });
  const result = await build({
    entryPoints: { main: join(source, 'src', 'main.ts') },
    outdir: join(out, 'assets'),
    bundle: true,
    splitting: true,
    format: 'esm',
    target: ['chrome100', 'firefox100', 'safari15'],
    minify: true,
    sourcemap: false,
    chunkNames: 'chunk-[hash]',
    legalComments: 'linked',
    logLevel: 'warning',
    metafile: true,
  });
  copyFileSync(join(source, 'index.html'), join(out, 'index.html'));
  const bytes = Object.values(result.metafile.outputs).reduce(
    (sum, output) => sum + output.bytes,
    0,
  );
  process.stdout.write(`build-console: ${out} (${Math.round(bytes / 1024)} KiB)\n`);
}

main().catch((error) => {
  process.stderr.write(
    `build-console: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
