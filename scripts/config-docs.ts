/**
 * Writes the README's configuration table and `.env.example` from the config schema
 * (src/config/config.schema.ts). Run after adding or changing a key: `npm run config:docs`.
 * livego.yaml keeps its hand-written comments; src/config/config.docs.spec.ts checks it against the schema.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  README_TABLE_BEGIN,
  README_TABLE_END,
  renderEnvExample,
  renderReadmeTable,
} from '../src/config/config.docs';

const root = resolve(__dirname, '..');
const readmePath = resolve(root, 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const begin = readme.indexOf(README_TABLE_BEGIN);
const end = readme.indexOf(README_TABLE_END);
if (begin < 0 || end < begin) {
  throw new Error(`README.md needs the lines ${README_TABLE_BEGIN} and ${README_TABLE_END}`);
}
writeFileSync(
  readmePath,
  `${readme.slice(0, begin + README_TABLE_BEGIN.length)}\n${renderReadmeTable()}\n${readme.slice(end)}`,
);
writeFileSync(resolve(root, '.env.example'), renderEnvExample());
console.log('README.md configuration table and .env.example written');
