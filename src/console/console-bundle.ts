import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { extname, join, relative, resolve, sep } from 'node:path';

/**
 * Where `npm run build` puts the page (scripts/build-console.mjs): `public/console/` beside the compiled
 * `src/`, so `dist/public/console/` for `dist/src/main.js`.
 */
export const CONSOLE_BUNDLE_DIR = resolve(__dirname, '..', '..', 'public', 'console');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};
/** A bundle bigger than this is not the console: it is not read into memory. */
const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

export interface BundleFile {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/**
 * The built page, read once at start-up into memory: only these files are ever served (no path from a
 * request reaches the file system). Empty when the page was not built.
 */
export function readConsoleBundle(dir = CONSOLE_BUNDLE_DIR): Map<string, BundleFile> {
  const files = new Map<string, BundleFile>();
  if (!existsSync(join(dir, 'index.html'))) return files;
  let total = 0;
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      const stat = statSync(path);
      if (stat.isDirectory()) {
        walk(path);
        continue;
      }
      const type = TYPES[extname(name)];
      if (!type || !stat.isFile()) continue;
      total += stat.size;
      if (total > MAX_BUNDLE_BYTES) throw new Error(`${dir} holds more than the console`);
      const body = readFileSync(path);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
      files.set(relative(dir, path).split(sep).join('/'), { body, type, etag });
    }
  };
  walk(dir);
  return files;
}
