import { CONFIG_KEYS, ConfigKey } from './config.schema';

/*
 * The README's configuration table and `.env.example`, rendered from the schema. `npm run config:docs`
 * writes them; config.docs.spec.ts fails when either (or livego.yaml) drifts from the schema.
 */

export const README_TABLE_BEGIN =
  '<!-- config-table: generated from src/config/config.schema.ts -->';
export const README_TABLE_END = '<!-- /config-table -->';

/** A default as the README shows it. */
function shownDefault(key: ConfigKey): string {
  if (key.shownDefault) return key.shownDefault;
  const value = key.fallback;
  if (value === '' || (Array.isArray(value) && value.length === 0)) return 'empty';
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

/** The table between README_TABLE_BEGIN and README_TABLE_END. */
export function renderReadmeTable(): string {
  const rows = CONFIG_KEYS.map(
    (key) => `| \`${key.name}\` | \`${key.env}\` | ${shownDefault(key)} | ${key.doc} |`,
  );
  return ['| key | environment | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** A default as `.env` text: lists as JSON. */
function envText(key: ConfigKey): string {
  const value = key.fallback;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** `.env.example`: every variable, commented out, with its doc line and its default. */
export function renderEnvExample(): string {
  const lines = [
    '# Every variable the server reads, with its default. Copy to .env (read from the working directory)',
    '# or export in the environment, and uncomment what you change: each overrides livego.yaml and is',
    '# overridden by --flags. An empty value counts as unset. Lists are JSON. Generated from',
    '# src/config/config.schema.ts by `npm run config:docs`.',
    '',
    '# Another config file instead of livego.yaml.',
    '# CONFIG_FILE=/etc/livego/livego.yaml',
  ];
  for (const key of CONFIG_KEYS) {
    lines.push('', `# ${key.doc.replace(/`/g, '')}`, `# ${key.env}=${envText(key)}`);
  }
  return `${lines.join('\n')}\n`;
}
