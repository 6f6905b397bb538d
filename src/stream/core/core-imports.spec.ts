import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const CORE = __dirname;
const STREAM = resolve(CORE, '..');
/** Folders built on the core: it may not reach into them (see docs/architecture.md). */
const ABOVE_THE_CORE = ['protocols', 'servers', 'relay', 'archive'].map((folder) =>
  join(STREAM, folder),
);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    // Specs are not part of the core (this one holds a bad import on purpose); ESLint still checks them.
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

/** Relative module specifiers of `import … from`, `export … from`, `import('…')` and `require('…')`. */
function relativeImports(text: string): string[] {
  const found: string[] = [];
  const pattern = /(?:from\s+|import\s*\(\s*|require\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g;
  for (const match of text.matchAll(pattern)) found.push(match[1]);
  return found;
}

describe('the stream core', () => {
  const files = sourceFiles(CORE);

  it('is where the layout says', () => {
    const names = files.map((file) => relative(CORE, file));
    expect(names).toEqual(expect.arrayContaining(['stream-access.ts', 'stream-registry.ts']));
  });

  it.each(files.map((file) => [relative(STREAM, file), file]))(
    '%s imports nothing from protocols/, servers/, relay/ or archive/',
    (_name, file) => {
      const reaching = relativeImports(readFileSync(file, 'utf8'))
        .map((specifier) => resolve(dirname(file), specifier))
        .filter((target) =>
          ABOVE_THE_CORE.some((folder) => target === folder || target.startsWith(`${folder}/`)),
        );
      expect(reaching.map((target) => relative(STREAM, target))).toEqual([]);
    },
  );

  it('finds a reach upwards when there is one (the check itself can fail)', () => {
    const sample =
      "import { x } from '../protocols/rtmp/rtmp-chunk';\nexport * from '../servers/y';";
    const targets = relativeImports(sample).map((specifier) => resolve(CORE, specifier));
    expect(
      targets.filter((target) => ABOVE_THE_CORE.some((folder) => target.startsWith(folder))),
    ).toHaveLength(2);
  });
});
