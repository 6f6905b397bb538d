import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import type { ZodIssue } from 'zod';
import { errorText } from '../common/errors';
import { AppConfig } from './app-config';
import { ConfigError } from './config.error';
import { CONFIG_KEYS, ConfigKey, configSchema } from './config.schema';

export { envName } from './config.schema';

/** Where a value came from, for messages: `livego.yaml`, `.env PORT`, `environment RTMP_ADDR`, `flag --x`. */
interface Sourced {
  readonly value: unknown;
  readonly origin: string;
}

const KEYS_BY_NAME = new Map(CONFIG_KEYS.map((key) => [key.name, key]));
/** Groups of keys written as a YAML mapping (`jwt:` → `jwt.secret`, `jwt.algorithm`). */
const GROUPS = new Set(
  CONFIG_KEYS.filter((key) => key.name.includes('.')).map((key) => key.name.split('.')[0]),
);
const CONFIG_FILE_FLAGS = ['config_file', 'config-file'];

/** Objects that came out of the loader: config.module.ts accepts nothing else. */
const VALIDATED = new WeakSet<object>();

export function isValidatedConfig(value: unknown): value is AppConfig {
  return typeof value === 'object' && value !== null && VALIDATED.has(value);
}

export interface LoadOptions {
  /** Command-line arguments after the script (process.argv.slice(2)). */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

export interface LoadedConfig {
  readonly config: AppConfig;
  /** Non-fatal findings (unknown keys), to be logged once a logger exists. */
  readonly warnings: readonly string[];
}

/**
 * Builds the configuration from, lowest to highest precedence: the schema's defaults < config file <
 * `.env` < environment < flags, then validates it with the schema. An empty `.env` or environment value
 * counts as unset (as in LiveGo's viper), so `JWT_SECRET=` never erases the file's secret. Throws
 * ConfigError with a one-line message naming the key, the value (never a secret's) and its source.
 */
export function loadConfig(options: LoadOptions): LoadedConfig {
  const warnings: string[] = [];
  const flags = parseFlags(options.argv, warnings);
  const dotenv = readDotenv(options.cwd);

  const given = (value: string | undefined): value is string =>
    value !== undefined && value.trim() !== '';
  const fileFlag = CONFIG_FILE_FLAGS.map((name) => flags.get(name)).find((v) => v !== undefined);
  if (fileFlag === null) throw new ConfigError('config flag --config_file needs a path');
  const fileEnv = [options.env.CONFIG_FILE, dotenv.CONFIG_FILE].find(given);
  const explicitFile = fileFlag ?? fileEnv;
  const configPath = resolve(options.cwd, explicitFile ?? 'livego.yaml');

  const merged = new Map<string, Sourced>();
  for (const [name, value] of readConfigFile(configPath, explicitFile !== undefined, warnings)) {
    merged.set(name, { value, origin: configPath });
  }
  for (const [layer, values] of [
    ['.env', dotenv],
    ['environment', options.env],
  ] as const) {
    for (const key of CONFIG_KEYS) {
      const value = values[key.env];
      if (given(value)) merged.set(key.name, { value, origin: `${layer} ${key.env}` });
    }
  }
  for (const [name, value] of flags) {
    if (CONFIG_FILE_FLAGS.includes(name)) continue;
    const key = KEYS_BY_NAME.get(name);
    if (!key) {
      warnings.push(`unknown flag --${name} ignored`);
      continue;
    }
    if (value === null && !key.boolean) {
      throw new ConfigError(`config flag --${name} needs a value (--${name}=VALUE)`);
    }
    merged.set(name, { value: value ?? 'true', origin: `flag --${name}` });
  }

  const parsed = configSchema.safeParse(nest(merged));
  if (!parsed.success) throw new ConfigError(describeIssue(parsed.error.issues[0], merged));
  const config = {
    ...parsed.data,
    config_file: existsFile(configPath) ? configPath : null,
  } as AppConfig;
  if (config.enable_rtmps || config.rtmps_addr) checkTlsFiles(config);
  if (config.cluster.enabled) checkCluster(config);
  VALIDATED.add(config);
  return { config, warnings };
}

/** `jwt.secret` → `{ jwt: { secret } }`, the shape the schema reads. */
function nest(values: ReadonlyMap<string, Sourced>): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [name, { value }] of values) {
    const path = name.split('.');
    let target = input;
    for (const part of path.slice(0, -1)) {
      target[part] ??= {};
      target = target[part] as Record<string, unknown>;
    }
    target[path[path.length - 1]] = value;
  }
  return input;
}

/** One line: `config server[0].static_push[0] must be … (got "rtmp://backup:1935" from livego.yaml)`. */
function describeIssue(issue: ZodIssue, merged: ReadonlyMap<string, Sourced>): string {
  let path = issue.path;
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    path = [...path, issue.keys[0]];
  }
  // The key the value was given for: the longest dotted prefix of the issue's path that is a key.
  let key: ConfigKey | undefined;
  let depth = 0;
  for (let i = 1; i <= path.length; i++) {
    const found = KEYS_BY_NAME.get(path.slice(0, i).join('.'));
    if (found) [key, depth] = [found, i];
  }
  const name = path.reduce<string>(
    (text, part, i) =>
      typeof part === 'number' ? `${text}[${part}]` : i === 0 ? part : `${text}.${part}`,
    '',
  );
  const source = key ? merged.get(key.name) : undefined;
  if (!source) return `config ${name} ${message}`;
  if (key?.secret) return `config ${name} ${message} (value from ${source.origin}, not shown)`;
  let value: unknown = source.value;
  if (typeof value === 'string' && key?.list) {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      // shown as given
    }
  }
  for (const part of path.slice(depth)) {
    value = typeof value === 'object' && value !== null ? (value as never)[part] : undefined;
  }
  if (issue.code === 'unrecognized_keys') message = message || 'is not a known setting';
  const shown = typeof value === 'string' ? value : JSON.stringify(value ?? null);
  return `config ${name} ${message} (got ${JSON.stringify(shown)} from ${source.origin})`;
}

function existsFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** `--key=value`, `--key value`, or a value-less `--key` (null: true for a boolean key, else an error). */
function parseFlags(argv: readonly string[], warnings: string[]): Map<string, string | null> {
  const flags = new Map<string, string | null>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const match = /^--?([A-Za-z0-9_.-]+)(?:=([\s\S]*))?$/.exec(arg);
    if (!match) {
      warnings.push(`argument "${arg}" ignored: flags look like --key=value`);
      continue;
    }
    const name = match[1];
    const key = KEYS_BY_NAME.get(name);
    if (match[2] !== undefined) {
      flags.set(name, match[2]);
    } else if (
      i + 1 < argv.length &&
      !argv[i + 1].startsWith('--') &&
      !(key?.boolean && !isBooleanWord(argv[i + 1]))
    ) {
      flags.set(name, argv[++i]);
    } else {
      flags.set(name, null);
    }
  }
  return flags;
}

function isBooleanWord(text: string): boolean {
  return ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'].includes(text.trim().toLowerCase());
}

function readDotenv(cwd: string): Record<string, string> {
  const path = resolve(cwd, '.env');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError(`.env file ${path} is not readable: ${errorText(error)}`);
  }
  return parseDotenv(text);
}

/** The file's keys, flattened to key names (`jwt.secret`); unknown ones become warnings. */
function readConfigFile(path: string, explicit: boolean, warnings: string[]): Map<string, unknown> {
  const values = new Map<string, unknown>();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return values;
    throw new ConfigError(`config file ${path} is not readable: ${errorText(error)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    const firstLine = errorText(error).split('\n')[0].replace(/:$/, '');
    throw new ConfigError(`config file ${path} is not valid YAML: ${firstLine}`);
  }
  if (doc === null || doc === undefined) return values;
  if (!isPlainObject(doc))
    throw new ConfigError(`config file ${path} must be a YAML mapping of keys`);

  for (const [name, value] of Object.entries(doc)) {
    if (GROUPS.has(name) && isPlainObject(value)) {
      for (const [sub, subValue] of Object.entries(value)) {
        const dotted = `${name}.${sub}`;
        if (KEYS_BY_NAME.has(dotted)) values.set(dotted, subValue);
        else warnings.push(`unknown config key ${dotted} in ${path} ignored`);
      }
    } else if (KEYS_BY_NAME.has(name)) {
      values.set(name, value);
    } else {
      warnings.push(`unknown config key ${name} in ${path} ignored`);
    }
  }
  return values;
}

/** README "Cluster": the cluster needs the Redis store and an address other nodes can reach. */
function checkCluster(config: AppConfig): void {
  if (!config.redis_addr && !config.redis_sentinels)
    throw new ConfigError(
      'cluster.enabled needs the Redis store: set redis_addr (or redis_sentinels and redis_master_name)',
    );
  if (config.redis_sentinels && !config.redis_master_name)
    throw new ConfigError('redis_sentinels needs redis_master_name');
  if (clusterAdvertise(config) === undefined)
    throw new ConfigError(
      `cluster.enabled needs cluster.advertise (rtmp://host:port other nodes can reach): rtmp_addr "${config.rtmp_addr?.text ?? ''}" names no host`,
    );
}

/**
 * The `rtmp://host:port` other nodes pull this one's rooms from: `cluster.advertise`, or `rtmp_addr` when
 * it names a host other nodes can use (not a wildcard, not empty); undefined otherwise.
 */
export function clusterAdvertise(config: AppConfig): string | undefined {
  if (config.cluster.advertise) return config.cluster.advertise;
  const listen = config.rtmp_addr;
  if (!listen?.host || listen.port === 0 || ['0.0.0.0', '::', '[::]'].includes(listen.host))
    return undefined;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return `${config.enable_rtmps ? 'rtmps' : 'rtmp'}://${host}:${listen.port}`;
}

function checkTlsFiles(config: AppConfig): void {
  const key = config.enable_rtmps ? 'enable_rtmps' : 'rtmps_addr';
  const read = (name: 'rtmps_cert' | 'rtmps_key'): Buffer => {
    const path = config[name];
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError(
        `${key} needs ${name} ${path}, which is not readable: ${errorText(error)}`,
      );
    }
  };
  const cert = read('rtmps_cert');
  const key_ = read('rtmps_key');
  try {
    createSecureContext({ cert, key: key_ });
  } catch (error) {
    throw new ConfigError(
      `${key}: rtmps_cert ${config.rtmps_cert} and rtmps_key ${config.rtmps_key} are not a usable PEM pair: ${errorText(error)}`,
    );
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
