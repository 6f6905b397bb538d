import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import { ALL_STREAM_EVENTS, StreamEventName } from '../events/stream-events';
import { AppConfig, AppEntry, JwtAlgorithm, LogLevelName, WebhookEntry } from './app-config';
import { ConfigError } from './config.error';
import { ListenAddress, parseListenAddress } from './listen-address';
import { errorText } from '../common/errors';
import { isValidName, NAME_RULE } from '../common/names';

/** Where a value came from, for messages: `livego.yaml`, `.env PORT`, `environment RTMP_ADDR`, `flag --x`. */
interface Sourced {
  readonly value: unknown;
  readonly origin: string;
}

const LOG_LEVELS: readonly LogLevelName[] = ['error', 'warn', 'info', 'debug'];
const JWT_ALGORITHMS: readonly JwtAlgorithm[] = ['HS256', 'HS384', 'HS512'];
const MAX_TIMEOUT_SECONDS = 3600;
/** Largest `max_message_size` we allow: 64 MiB. */
const MAX_MESSAGE_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
const MIN_MESSAGE_SIZE_BYTES = 4096;

/** Every key of SPEC §2 and its default. Nested keys use dots (`jwt.secret`). */
const DEFAULTS = {
  level: 'info',
  rtmp_addr: ':1935',
  httpflv_addr: ':7001',
  hls_addr: ':7002',
  api_addr: ':8090',
  rtmps_addr: '',
  read_timeout: 10,
  write_timeout: 10,
  gop_num: 1,
  hls_fragment: 3,
  hls_window: 3,
  hls_keep_after_end: false,
  flv_archive: false,
  flv_dir: 'tmp',
  rtmp_noauth: false,
  enable_rtmps: false,
  rtmps_cert: 'server.crt',
  rtmps_key: 'server.key',
  redis_addr: '',
  redis_pwd: '',
  'jwt.secret': '',
  'jwt.algorithm': 'HS256',
  max_message_size: 8 * 1024 * 1024,
  max_connections: 10000,
  max_connections_per_ip: 100,
  server: [{ appname: 'live', live: true, hls: true, flv: true, api: true }],
  webhooks: [],
  webhook_secret: '',
  on_publish: '',
} as const satisfies Record<string, unknown>;

type Key = keyof typeof DEFAULTS;
const KEYS = Object.keys(DEFAULTS) as Key[];
const isKey = (name: string): name is Key => Object.prototype.hasOwnProperty.call(DEFAULTS, name);

/** `jwt.secret` → `JWT_SECRET`. */
export function envName(key: string): string {
  return key.toUpperCase().replace(/\./g, '_');
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
 * Builds the configuration from, lowest to highest precedence: defaults < config file < `.env` <
 * environment < flags. Throws ConfigError with a one-line message naming the key or file.
 */
export function loadConfig(options: LoadOptions): LoadedConfig {
  const warnings: string[] = [];
  const flags = parseFlags(options.argv, warnings);
  const dotenv = readDotenv(options.cwd);

  const merged = new Map<Key, Sourced>();
  for (const key of KEYS) merged.set(key, { value: DEFAULTS[key], origin: 'default' });

  const fileFlag = flags.get('config_file') ?? flags.get('config-file');
  const fileEnv = options.env.CONFIG_FILE ?? dotenv.CONFIG_FILE;
  const explicitFile = fileFlag ?? fileEnv;
  const configPath = resolve(options.cwd, explicitFile ?? 'livego.yaml');
  const fileValues = readConfigFile(configPath, explicitFile !== undefined, warnings);
  for (const [key, value] of fileValues) merged.set(key, { value, origin: configPath });

  for (const [layer, values] of [
    ['.env', dotenv],
    ['environment', options.env],
  ] as const) {
    for (const key of KEYS) {
      const name = envName(key);
      const value = values[name];
      if (value !== undefined) merged.set(key, { value, origin: `${layer} ${name}` });
    }
  }

  for (const [name, value] of flags) {
    if (name === 'config_file' || name === 'config-file') continue;
    if (isKey(name)) merged.set(name, { value, origin: `flag --${name}` });
    else warnings.push(`unknown flag --${name} ignored`);
  }

  const config = build(merged, fileValues.size > 0 || existsFile(configPath) ? configPath : null);
  return { config, warnings };
}

function existsFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function parseFlags(argv: readonly string[], warnings: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const match = /^--?([A-Za-z0-9_.-]+)(?:=([\s\S]*))?$/.exec(arg);
    if (!match) {
      warnings.push(`argument "${arg}" ignored: flags look like --key=value`);
      continue;
    }
    const name = match[1];
    if (match[2] !== undefined) {
      flags.set(name, match[2]);
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      flags.set(name, argv[++i]);
    } else {
      flags.set(name, 'true');
    }
  }
  return flags;
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

function readConfigFile(path: string, explicit: boolean, warnings: string[]): Map<Key, unknown> {
  const values = new Map<Key, unknown>();
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
    if (name === 'jwt' && isPlainObject(value)) {
      for (const [sub, subValue] of Object.entries(value)) {
        const key = `jwt.${sub}`;
        if (isKey(key)) values.set(key, subValue);
        else warnings.push(`unknown config key ${key} in ${path} ignored`);
      }
    } else if (isKey(name)) {
      values.set(name, value);
    } else {
      warnings.push(`unknown config key ${name} in ${path} ignored`);
    }
  }
  return values;
}

function build(merged: Map<Key, Sourced>, configFile: string | null): AppConfig {
  const get = (key: Key): Sourced => merged.get(key) as Sourced;
  const str = (key: Key) => asString(key, get(key));
  const bool = (key: Key) => asBool(key, get(key));
  const int = (key: Key, min: number, max: number) => asNumber(key, get(key), min, max, true);
  const seconds = (key: Key) => asNumber(key, get(key), 0.001, MAX_TIMEOUT_SECONDS, false);
  const address = (key: Key) => asAddress(key, get(key));

  const config: AppConfig = {
    level: asChoice('level', get('level'), LOG_LEVELS),
    rtmp_addr: address('rtmp_addr'),
    httpflv_addr: address('httpflv_addr'),
    hls_addr: address('hls_addr'),
    api_addr: address('api_addr'),
    rtmps_addr: address('rtmps_addr'),
    read_timeout: seconds('read_timeout'),
    write_timeout: seconds('write_timeout'),
    gop_num: int('gop_num', 0, 100),
    hls_fragment: asNumber('hls_fragment', get('hls_fragment'), 0.5, 60, false),
    hls_window: int('hls_window', 1, 100),
    hls_keep_after_end: bool('hls_keep_after_end'),
    flv_archive: bool('flv_archive'),
    flv_dir: nonEmpty('flv_dir', get('flv_dir')),
    rtmp_noauth: bool('rtmp_noauth'),
    enable_rtmps: bool('enable_rtmps'),
    rtmps_cert: str('rtmps_cert'),
    rtmps_key: str('rtmps_key'),
    redis_addr: asRedisAddress(get('redis_addr')),
    redis_pwd: str('redis_pwd'),
    jwt: {
      secret: str('jwt.secret'),
      algorithm: asChoice('jwt.algorithm', get('jwt.algorithm'), JWT_ALGORITHMS, (v) =>
        v.toUpperCase(),
      ),
    },
    max_message_size: int('max_message_size', MIN_MESSAGE_SIZE_BYTES, MAX_MESSAGE_SIZE_LIMIT_BYTES),
    max_connections: int('max_connections', 1, 1_000_000),
    max_connections_per_ip: int('max_connections_per_ip', 1, 1_000_000),
    server: asServers(get('server')),
    webhooks: asWebhooks(get('webhooks')),
    webhook_secret: str('webhook_secret'),
    on_publish: asHttpUrl('on_publish', get('on_publish')),
    config_file: configFile,
  };
  if (config.enable_rtmps || config.rtmps_addr) checkTlsFiles(config);
  return config;
}

function fail(key: string, source: Sourced, rule: string): never {
  const shown = typeof source.value === 'string' ? source.value : JSON.stringify(source.value);
  const from = source.origin === 'default' ? '' : ` from ${source.origin}`;
  throw new ConfigError(`config ${key} ${rule} (got ${JSON.stringify(shown)}${from})`);
}

function asString(key: string, source: Sourced): string {
  const { value } = source;
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return fail(key, source, 'must be a string');
}

function nonEmpty(key: string, source: Sourced): string {
  const text = asString(key, source).trim();
  if (text === '') fail(key, source, 'must not be empty');
  return text;
}

function asBool(key: string, source: Sourced): boolean {
  const { value } = source;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const lower = value.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(lower)) return true;
    if (['false', '0', 'no', 'off', ''].includes(lower)) return false;
  }
  return fail(key, source, 'must be true or false');
}

function asNumber(key: string, source: Sourced, min: number, max: number, whole: boolean): number {
  const { value } = source;
  const number =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value)
        ? Number(value)
        : NaN;
  const kind = whole ? 'a whole number' : 'a number';
  if (
    !Number.isFinite(number) ||
    (whole && !Number.isInteger(number)) ||
    number < min ||
    number > max
  ) {
    fail(key, source, `must be ${kind} from ${min} to ${max}`);
  }
  return number;
}

function asChoice<T extends string>(
  key: string,
  source: Sourced,
  choices: readonly T[],
  normalise: (v: string) => string = (v) => v.toLowerCase(),
): T {
  const text = typeof source.value === 'string' ? normalise(source.value.trim()) : '';
  const found = choices.find((choice) => choice === text);
  if (!found) fail(key, source, `must be one of ${choices.join(', ')}`);
  return found;
}

function asAddress(key: string, source: Sourced): ListenAddress | null {
  if (typeof source.value !== 'string') {
    return fail(key, source, 'must be an address such as ":1935" or "127.0.0.1:1935"');
  }
  try {
    return parseListenAddress(source.value);
  } catch (error) {
    return fail(key, source, errorText(error));
  }
}

function asRedisAddress(source: Sourced): string {
  const text = asString('redis_addr', source).trim();
  if (text === '') return '';
  if (
    !/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$/.test(text) ||
    Number(text.split(':').pop()) > 65535
  ) {
    fail('redis_addr', source, 'must be host:port, for example "127.0.0.1:6379"');
  }
  return text;
}

function asHttpUrl(key: string, source: Sourced): string {
  const text = asString(key, source).trim();
  if (text === '') return '';
  if (!isHttpUrl(text)) fail(key, source, 'must be an http:// or https:// URL');
  return text;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function asWebhooks(source: Sourced): WebhookEntry[] {
  let value = source.value;
  if (typeof value === 'string') {
    try {
      value = value.trim() === '' ? [] : (JSON.parse(value) as unknown);
    } catch {
      fail('webhooks', source, 'must be a JSON list of webhooks when given as text');
    }
  }
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) fail('webhooks', source, 'must be a list of {url, events, secret}');
  return value.map((item: unknown, index: number): WebhookEntry => {
    const where = `webhooks[${index}]`;
    if (!isPlainObject(item)) fail(where, source, 'must be a mapping with url, events, secret');
    const field = (name: string): Sourced => ({ value: item[name], origin: source.origin });
    for (const name of Object.keys(item)) {
      if (!['url', 'events', 'secret'].includes(name))
        fail(`${where}.${name}`, field(name), 'is not a known webhook setting');
    }
    const url = asString(`${where}.url`, field('url'));
    if (!isHttpUrl(url)) fail(`${where}.url`, field('url'), 'must be an http:// or https:// URL');
    const events = item.events ?? [];
    if (
      !Array.isArray(events) ||
      !events.every(
        (e) => typeof e === 'string' && ALL_STREAM_EVENTS.includes(e as StreamEventName),
      )
    ) {
      fail(
        `${where}.events`,
        field('events'),
        `must be a list of event names: ${ALL_STREAM_EVENTS.join(', ')}`,
      );
    }
    return {
      url,
      events: events as StreamEventName[],
      secret: asString(`${where}.secret`, field('secret')),
    };
  });
}

function asServers(source: Sourced): AppEntry[] {
  let value = source.value;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      fail('server', source, 'must be a JSON list of apps when given as text');
    }
  }
  if (!Array.isArray(value) || value.length === 0) {
    fail('server', source, 'must be a non-empty list of apps');
  }
  const seen = new Set<string>();
  return value.map((item: unknown, index: number): AppEntry => {
    const where = `server[${index}]`;
    if (!isPlainObject(item))
      fail(where, source, 'must be a mapping with appname, live, hls, flv, api');
    const field = (name: string): Sourced => ({ value: item[name], origin: source.origin });
    const appname = asString(`${where}.appname`, field('appname'));
    if (!isValidName(appname)) fail(`${where}.appname`, field('appname'), NAME_RULE);
    if (seen.has(appname)) fail(`${where}.appname`, field('appname'), 'is listed twice');
    seen.add(appname);
    const flag = (name: string) =>
      item[name] === undefined ? false : asBool(`${where}.${name}`, field(name));
    for (const name of Object.keys(item)) {
      if (!['appname', 'live', 'hls', 'flv', 'api', 'static_push'].includes(name)) {
        fail(`${where}.${name}`, field(name), 'is not a known app setting');
      }
    }
    const pushes = item.static_push ?? [];
    if (
      !Array.isArray(pushes) ||
      !pushes.every((url) => typeof url === 'string' && isRtmpUrl(url))
    ) {
      fail(
        `${where}.static_push`,
        field('static_push'),
        'must be a list of rtmp:// or rtmps:// URLs',
      );
    }
    return {
      appname,
      live: flag('live'),
      hls: flag('hls'),
      flv: flag('flv'),
      api: flag('api'),
      static_push: (pushes as string[]).map((url) => url.replace(/\/+$/, '')),
    };
  });
}

function isRtmpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'rtmp:' || url.protocol === 'rtmps:') && url.hostname !== '';
  } catch {
    return false;
  }
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
