import { z } from 'zod';
import { ALL_STREAM_EVENTS, StreamEventName } from '../events/stream-events';
import { errorText } from '../common/errors';
import { isValidName, NAME_RULE } from '../common/names';
import { parseHttpUrl, parseRtmpPrefix } from '../common/urls';
import { parseListenAddress } from './listen-address';

/*
 * The one declaration of every configuration key: its name, type, rule, default and doc line. The loader
 * (config.loader.ts), the typed AppConfig (app-config.ts), the README table, `.env.example` and the
 * `livego.yaml` check all follow from it. A new key is one `key(...)` line in CONFIG_SHAPE.
 *
 * Values arrive as YAML values or as text (`.env`, environment, flags), so every rule accepts both.
 * Messages complete the sentence "config <key> …", which the loader prints with the value and its source.
 */

/** What the README, `.env.example` and the loader need to know about one key beyond its schema. */
export interface KeyInfo {
  readonly doc: string;
  /** The default as an operator writes it (the schema's input), or undefined for lists. */
  readonly fallback: unknown;
  /** A value-less flag (`--rtmp_noauth`) means true. */
  readonly boolean: boolean;
  /** Never shown in messages or logs. */
  readonly secret: boolean;
  /** Lists (`server`, `webhooks`): given as JSON text in `.env`, the environment or a flag. */
  readonly list: boolean;
  /** The default in words, where its value would not read well in the README. */
  readonly shownDefault?: string;
}

const KEY_INFO = new WeakMap<z.ZodTypeAny, KeyInfo>();
const BOOLEANS = new WeakSet<z.ZodTypeAny>();
const LISTS = new WeakSet<z.ZodTypeAny>();

interface KeyOptions {
  readonly secret?: boolean;
  readonly shownDefault?: string;
}

/** One key: a rule, its default (as written in livego.yaml) and its doc line. */
function key<T extends z.ZodTypeAny>(
  schema: T,
  fallback: z.input<T>,
  doc: string,
  options: KeyOptions = {},
): z.ZodDefault<T> {
  const declared = schema.default(fallback);
  KEY_INFO.set(declared, {
    doc,
    fallback,
    boolean: BOOLEANS.has(schema),
    secret: options.secret ?? false,
    list: LISTS.has(schema),
    shownDefault: options.shownDefault,
  });
  return declared;
}

/** Keys under one name (`jwt.secret`, `jwt.algorithm`), written as a YAML mapping. */
function group<T extends z.ZodRawShape>(shape: T) {
  const schema = z.object(shape).strip();
  return schema.default({} as z.input<typeof schema>);
}

// ---- one rule per kind of value ----------------------------------------------------------------------

const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off'];

function bool() {
  const schema = z.preprocess(
    (value) => {
      if (typeof value !== 'string') return value;
      const lower = value.trim().toLowerCase();
      if (TRUE_WORDS.includes(lower)) return true;
      if (FALSE_WORDS.includes(lower)) return false;
      return value;
    },
    z.boolean({ errorMap: () => ({ message: 'must be true or false' }) }),
  );
  BOOLEANS.add(schema);
  return schema;
}

/** Text as written; YAML numbers and booleans are read as their text, null as empty. */
function text() {
  return z.preprocess(
    (value) =>
      value === null
        ? ''
        : typeof value === 'number' || typeof value === 'boolean'
          ? String(value)
          : value,
    z.string({ errorMap: () => ({ message: 'must be a string' }) }),
  );
}

function nonEmptyText() {
  return text()
    .transform((value) => value.trim())
    .refine((value) => value !== '', 'must not be empty');
}

function number(min: number, max: number, whole: boolean) {
  const message = `must be ${whole ? 'a whole number' : 'a number'} from ${min} to ${max}`;
  const base = z.number({ errorMap: () => ({ message }) }).finite(message);
  return z.preprocess(
    (value) =>
      typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value,
    (whole ? base.int(message) : base).min(min, message).max(max, message),
  );
}

function choice<T extends string>(values: readonly [T, ...T[]], normalise: (v: string) => string) {
  const message = `must be one of ${values.join(', ')}`;
  return z.preprocess(
    (value) => (typeof value === 'string' ? normalise(value.trim()) : value),
    z.enum(values as [T, ...T[]], { errorMap: () => ({ message }) }),
  );
}

/** A listener address (`:1935`, `127.0.0.1:1935`, `[::1]:1935`); empty turns the listener off. */
function address() {
  return z
    .string({
      errorMap: () => ({ message: 'must be an address such as ":1935" or "127.0.0.1:1935"' }),
    })
    .transform((value, ctx) => {
      try {
        return parseListenAddress(value);
      } catch (error) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: errorText(error) });
        return z.NEVER;
      }
    });
}

/** Applies one of the validators in common/urls.ts (the ones run-time code uses) to a text value. */
function checked(parse: (value: string) => string, optional: boolean) {
  return text().transform((value, ctx) => {
    if (optional && value.trim() === '') return '';
    try {
      return parse(value);
    } catch (error) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: errorText(error) });
      return z.NEVER;
    }
  });
}

function hostPort() {
  return text()
    .transform((value) => value.trim())
    .refine(
      (value) =>
        value === '' ||
        (/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$/.test(value) &&
          Number(value.split(':').pop()) <= 65535),
      'must be host:port, for example "127.0.0.1:6379"',
    );
}

/** `host:port,host:port` (spaces allowed), or empty. */
function hostPortList() {
  return text()
    .transform((value) => value.trim())
    .refine(
      (value) =>
        value === '' ||
        value
          .split(',')
          .every((item) => /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$/.test(item.trim())),
      'must be host:port items separated by commas, for example "10.0.0.1:26379,10.0.0.2:26379"',
    );
}

/** A list, given as YAML or as JSON text (`.env`, environment, flags). */
function list<T extends z.ZodTypeAny>(item: T, what: string, nonEmpty: boolean) {
  const items = z.array(item, { errorMap: () => ({ message: `must be a list of ${what}` }) });
  const schema = z.preprocess(
    (value, ctx) => {
      if (value === null) return [];
      if (typeof value !== 'string') return value;
      if (value.trim() === '') return [];
      try {
        return JSON.parse(value) as unknown;
      } catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a JSON list of ${what}` });
        return z.NEVER;
      }
    },
    nonEmpty ? items.nonempty(`must be a non-empty list of ${what}`) : items,
  );
  LISTS.add(schema);
  return schema;
}

/** `unrecognized_keys` issues carry the setting's kind; the loader names the key itself. */
function entry<T extends z.ZodRawShape>(shape: T, kind: string) {
  return z
    .object(shape, {
      errorMap: (issue, ctx) =>
        issue.code === z.ZodIssueCode.invalid_type
          ? { message: `must be a mapping of ${Object.keys(shape).join(', ')}` }
          : issue.code === z.ZodIssueCode.unrecognized_keys
            ? { message: `is not a known ${kind} setting` }
            : { message: ctx.defaultError },
    })
    .strict();
}

const appEntry = entry(
  {
    appname: text().refine(isValidName, NAME_RULE),
    live: bool().default(false),
    hls: bool().default(false),
    flv: bool().default(false),
    api: bool().default(false),
    static_push: z
      .array(checked(parseRtmpPrefix, false), {
        errorMap: () => ({ message: 'must be a list of rtmp:// or rtmps:// URL prefixes' }),
      })
      .default([]),
  },
  'app',
);

const webhookEntry = entry(
  {
    url: checked(parseHttpUrl, false),
    events: z
      .array(
        z.enum(ALL_STREAM_EVENTS as [StreamEventName, ...StreamEventName[]], {
          errorMap: () => ({ message: `must be an event name: ${ALL_STREAM_EVENTS.join(', ')}` }),
        }),
        { errorMap: () => ({ message: 'must be a list of event names' }) },
      )
      .default([]),
    secret: text().default(''),
  },
  'webhook',
);

const appList = list(appEntry, 'apps', true).superRefine((apps, ctx) => {
  const seen = new Set<string>();
  apps.forEach((app, index) => {
    if (seen.has(app.appname)) {
      ctx.addIssue({ code: 'custom', path: [index, 'appname'], message: 'is listed twice' });
    }
    seen.add(app.appname);
  });
});

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const HLS_VARIANTS = ['mpegts', 'fmp4', 'lowlatency'] as const;
const MAX_TIMEOUT_SECONDS = 3600;
const MIN_MESSAGE_SIZE_BYTES = 4096;
/** Largest `max_message_size` we allow: 64 MiB. */
const MAX_MESSAGE_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
const seconds = () => number(0.001, MAX_TIMEOUT_SECONDS, false);
const lower = (v: string) => v.toLowerCase();
const upper = (v: string) => v.toUpperCase();

// ---- the keys ----------------------------------------------------------------------------------------

/** Every configuration key, once. Keys are LiveGo's, so messages name what the operator wrote. */
// prettier-ignore
export const CONFIG_SHAPE = {
  level: key(choice(LOG_LEVELS, lower), 'info', 'log level: `error`, `warn`, `info`, `debug`'),
  rtmp_addr: key(address(), ':1935', 'RTMP publish and play (TLS instead when `enable_rtmps`)'),
  httpflv_addr: key(address(), ':7001', 'HTTP-FLV play and `/streams`'),
  hls_addr: key(address(), ':7002', 'HLS playlists and segments'),
  api_addr: key(address(), ':8090', 'control API, stats, health, metrics'),
  rtmps_addr: key(address(), '', 'an extra TLS listener, so plain RTMP stays on `rtmp_addr`'),
  read_timeout: key(seconds(), 10, 'seconds: handshake and connect must arrive within it; an idle publisher is closed after it'),
  write_timeout: key(seconds(), 10, 'seconds: a player that cannot take data for this long is closed'),
  gop_num: key(number(0, 100, true), 1, 'GOPs cached per stream for instant start (0 turns the cache off)'),
  hls_fragment: key(number(0.5, 60, false), 3, 'target HLS segment length in seconds (cut on keyframes)'),
  hls_window: key(number(1, 100, true), 3, 'segments listed in a live playlist'),
  hls_keep_after_end: key(bool(), false, 'keep serving the last playlist after the publisher leaves'),
  hls_variant: key(choice(HLS_VARIANTS, lower), 'mpegts', 'HLS segments: `mpegts` (LiveGo), `fmp4` (CMAF) or `lowlatency` (LL-HLS parts on fMP4)'),
  hls_part_duration: key(number(0.05, 2, false), 0.2, 'seconds: LL-HLS part target (`hls_variant: lowlatency`)'),
  hls_dir: key(text(), '', 'keep HLS segments in this folder instead of memory (written atomically, removed when they leave the window)'),
  hls_on_demand: key(bool(), false, 'mux HLS only while someone fetches it; the first request waits for the first segment'),
  flv_archive: key(bool(), false, 'record every publish to `flv_dir/{app}/{room}_{unix}.flv`'),
  flv_dir: key(nonEmptyText(), 'tmp', 'archive folder'),
  rtmp_noauth: key(bool(), false, 'also accept the room name as the publish name'),
  enable_rtmps: key(bool(), false, 'RTMP over TLS on `rtmp_addr`'),
  rtmps_cert: key(text(), 'server.crt', 'PEM certificate file for RTMPS'),
  rtmps_key: key(text(), 'server.key', 'PEM private key file for RTMPS'),
  redis_addr: key(hostPort(), '', 'keys live in Redis at `host:port` when set; in memory otherwise'),
  redis_pwd: key(text(), '', 'Redis password', { secret: true }),
  redis_sentinels: key(hostPortList(), '', 'Redis through Sentinel instead of `redis_addr`: `host:port,host:port` of the sentinels'),
  redis_master_name: key(text(), 'mymaster', 'the master name the sentinels watch (`redis_sentinels`)'),
  cluster: group({
    enabled: key(bool(), false, 'many instances act as one service (README "Cluster"); needs the Redis store'),
    advertise: key(checked(parseAdvertise, true), '', '`rtmp://host:port` other nodes reach this one at; default: `rtmp_addr` when it names a host', { shownDefault: 'from `rtmp_addr`' }),
    node_id: key(checked(parseNodeId, true), '', 'this node\'s name in the cluster (`[0-9A-Za-z_.-]`, up to 64)', { shownDefault: 'random' }),
    ttl: key(number(2, 300, false), 10, 'seconds a room claim and a node heartbeat live in Redis without a refresh (refreshed every quarter of it)'),
  }),
  jwt: group({
    secret: key(text(), '', 'when set, the API requires a JWT signed with it', { secret: true }),
    algorithm: key(choice(JWT_ALGORITHMS, upper), 'HS256', 'JWT algorithm: `HS256`, `HS384`, `HS512`'),
  }),
  max_message_size: key(number(MIN_MESSAGE_SIZE_BYTES, MAX_MESSAGE_SIZE_LIMIT_BYTES, true), 8 * 1024 * 1024, 'largest RTMP message accepted, bytes'),
  max_connections: key(number(1, 1_000_000, true), 10000, 'RTMP connections held at once; more are refused'),
  max_connections_per_ip: key(number(1, 1_000_000, true), 100, 'RTMP connections one address may hold at once; more are refused'),
  api_cors_origins: key(list(checked(parseOrigin, false), 'origins', false), [], 'origins allowed to call the API from a browser (`*` for any); empty sends no CORS headers'),
  console: key(bool(), true, 'the web console at `/console` on `api_addr` (it uses the API, so it needs a token exactly when the API does)'),
  server: key(appList, [{ appname: 'live', live: true, hls: true, flv: true, api: true }], 'per app: `appname`, `live`, `hls`, `flv`, `api`, `static_push` (RTMP URL prefixes each publish is pushed to)', { shownDefault: 'one app `live` with `live`, `hls`, `flv`, `api` true' }),
  webhooks: key(list(webhookEntry, 'webhooks {url, events, secret}', false), [], '`url`, `events` (empty = all), `secret`: stream events POSTed as signed JSON', { secret: true }),
  webhook_secret: key(text(), '', 'HMAC key for webhooks without their own `secret`, and for `on_publish`', { secret: true }),
  on_publish: key(checked(parseHttpUrl, true), '', 'URL asked before each publish; any answer but 2xx (or none within 3 s) refuses it', { secret: true }),
} satisfies z.ZodRawShape;

/** `cluster.advertise`: `rtmp://host:port` (a port is required, no path). */
function parseAdvertise(value: string): string {
  const match = /^rtmps?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})\/?$/.exec(value.trim());
  if (!match || Number(match[2]) > 65535 || Number(match[2]) === 0)
    throw new Error('must be rtmp://host:port (or rtmps://), an address other nodes can reach');
  return `${value.trim().startsWith('rtmps') ? 'rtmps' : 'rtmp'}://${match[1]}:${match[2]}`;
}

/** `cluster.node_id`: a short name safe in Redis keys and logs. */
function parseNodeId(value: string): string {
  const trimmed = value.trim();
  if (!/^[0-9A-Za-z_.-]{1,64}$/.test(trimmed))
    throw new Error('must be 1 to 64 characters of [0-9A-Za-z_.-]');
  return trimmed;
}

/** An origin for `api_cors_origins`: `*`, or `scheme://host[:port]` exactly as a browser sends it. */
function parseOrigin(value: string): string {
  const trimmed = value.trim();
  if (trimmed === '*') return trimmed;
  let url: URL | undefined;
  try {
    url = new URL(trimmed);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.origin !== trimmed.replace(/\/$/, '')) {
    throw new Error('must list "*" or origins such as "https://console.example.net"');
  }
  return url.origin;
}

export const configSchema = z.object(CONFIG_SHAPE).strip();

/** The validated values, as the schema produces them. */
export type ConfigValues = z.output<typeof configSchema>;

/** One configuration key with a value of its own (`jwt.secret`, not `jwt`). */
export interface ConfigKey extends KeyInfo {
  /** Dotted name: `rtmp_addr`, `jwt.secret`. */
  readonly name: string;
  /** Environment variable: upper case, `.` → `_`. */
  readonly env: string;
}

/** `jwt.secret` → `JWT_SECRET`. */
export function envName(name: string): string {
  return name.toUpperCase().replace(/\./g, '_');
}

function collectKeys(shape: z.ZodRawShape, prefix: string): ConfigKey[] {
  return Object.entries(shape).flatMap(([name, schema]): ConfigKey[] => {
    const dotted = prefix + name;
    const info = KEY_INFO.get(schema);
    if (info) return [{ ...info, name: dotted, env: envName(dotted) }];
    const inner: unknown = schema instanceof z.ZodDefault ? schema.removeDefault() : schema;
    if (inner instanceof z.ZodObject)
      return collectKeys(inner.shape as z.ZodRawShape, `${dotted}.`);
    throw new Error(`config key ${dotted} is declared without key()`);
  });
}

/** Every key, in declaration order. */
export const CONFIG_KEYS: readonly ConfigKey[] = collectKeys(CONFIG_SHAPE, '');
