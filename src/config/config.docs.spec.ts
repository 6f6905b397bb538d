import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  README_TABLE_BEGIN,
  README_TABLE_END,
  renderEnvExample,
  renderReadmeTable,
} from './config.docs';
import { loadConfig } from './config.loader';
import { CONFIG_KEYS } from './config.schema';

const root = resolve(__dirname, '../..');
const read = (name: string) => readFileSync(join(root, name), 'utf8');

/** Key names present in a YAML document, nested mappings as dotted names (`jwt.secret`). */
function yamlKeys(doc: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(doc).flatMap(([name, value]) =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? yamlKeys(value as Record<string, unknown>, `${prefix}${name}.`)
      : [`${prefix}${name}`],
  );
}

describe('the schema is the one source of the configuration docs', () => {
  it('declares each key once, with a doc line and an environment name', () => {
    const names = CONFIG_KEYS.map((key) => key.name);
    expect(new Set(names).size).toBe(names.length);
    for (const key of CONFIG_KEYS) {
      expect(key.doc.length).toBeGreaterThan(5);
      expect(key.env).toBe(key.name.toUpperCase().replace(/\./g, '_'));
    }
  });

  it('README.md carries the table the schema renders (npm run config:docs)', () => {
    const readme = read('README.md');
    const begin = readme.indexOf(README_TABLE_BEGIN);
    const end = readme.indexOf(README_TABLE_END);
    expect(begin).toBeGreaterThan(0);
    expect(readme.slice(begin + README_TABLE_BEGIN.length, end).trim()).toBe(renderReadmeTable());
  });

  it('.env.example is what the schema renders (npm run config:docs), every variable commented out', () => {
    const text = read('.env.example');
    expect(text).toBe(renderEnvExample());
    const variables = [...text.matchAll(/^# ([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]);
    expect(variables).toEqual(['CONFIG_FILE', ...CONFIG_KEYS.map((key) => key.env)]);
    expect(text).not.toMatch(/^[A-Z]/m);
  });

  it('livego.yaml sets every key, each to its default, and nothing else', () => {
    const doc = parseYaml(read('livego.yaml')) as Record<string, unknown>;
    expect(yamlKeys(doc).sort()).toEqual(CONFIG_KEYS.map((key) => key.name).sort());

    const cwd = mkdtempSync(join(tmpdir(), 'livego-docs-'));
    try {
      const defaults = loadConfig({ argv: [], env: {}, cwd });
      writeFileSync(join(cwd, 'livego.yaml'), read('livego.yaml'));
      const shipped = loadConfig({ argv: [], env: {}, cwd });
      expect(shipped.warnings).toEqual([]);
      expect({ ...shipped.config, config_file: null }).toEqual(defaults.config);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
