import type { PlayProtocol } from './load-protocol';
import { PEER_NAMES, PeerName } from './peers';

/** The sessions of the hostile scenario (bench/scenarios/hostile.ts). */
export type HostileSessionName =
  'amf' | 'amf-8m' | 'grow' | 'noread' | 'conns' | 'slowloris-flv' | 'slowloris-hls';
export const HOSTILE_SESSIONS: readonly HostileSessionName[] = [
  'amf',
  'amf-8m',
  'grow',
  'noread',
  'conns',
  'slowloris-flv',
  'slowloris-hls',
];

export type ScenarioName = 'ladder' | 'slow' | 'api' | 'hls' | 'hostile' | 'cluster';
export const SCENARIOS: readonly ScenarioName[] = [
  'ladder',
  'slow',
  'api',
  'hls',
  'hostile',
  'cluster',
];
const PROTOCOLS: readonly PlayProtocol[] = ['rtmp', 'flv'];

export interface BenchOptions {
  readonly scenarios: readonly ScenarioName[];
  readonly peers: readonly PeerName[];
  readonly protocols: readonly PlayProtocol[];
  /** Ladder of player counts. */
  readonly players: readonly number[];
  /** Measurement window of each ladder step, s. */
  readonly seconds: number;
  /** Settling time after the last player joined, before the window, s. */
  readonly warmup: number;
  /** New players per second while a step ramps up. */
  readonly rate: number;
  /** New first-key-frame probes per step (and when idle). */
  readonly probes: number;
  readonly slowPlayers: number;
  readonly slowSeconds: number;
  readonly apiSeconds: number;
  readonly apiConnections: number;
  readonly publishes: number;
  readonly hlsLoops: number;
  /** Hostile sessions to run, and each one's window, s. */
  readonly hostileSessions: readonly HostileSessionName[];
  readonly hostileSeconds: number;
  /** Connections the `conns` session opens from one address. */
  readonly hostileConnections: number;
  /** Unfinished HTTP requests of a slowloris session. */
  readonly slowlorisConnections: number;
  /** Core the server under test is pinned to; load, publisher and bench use the other. */
  readonly serverCore: number;
  readonly loadCore: number;
  readonly build: boolean;
  /** Build of ours to run (a dist/ folder); default the repo's dist/. */
  readonly dist: string | undefined;
  readonly quick: boolean;
  readonly out: string | undefined;
}

const DEFAULTS: BenchOptions = {
  scenarios: SCENARIOS,
  peers: PEER_NAMES,
  protocols: PROTOCOLS,
  players: [250, 500, 1000, 2000],
  seconds: 12,
  warmup: 3,
  rate: 200,
  probes: 3,
  slowPlayers: 50,
  slowSeconds: 90,
  apiSeconds: 10,
  apiConnections: 32,
  publishes: 200,
  hlsLoops: 10,
  hostileSessions: HOSTILE_SESSIONS,
  hostileSeconds: 12,
  hostileConnections: 2000,
  slowlorisConnections: 1000,
  serverCore: 0,
  loadCore: 1,
  build: false,
  dist: undefined,
  quick: false,
  out: undefined,
};

/** `--quick`: a ~4.5 minute smoke run of every scenario. Explicit flags still win. */
const QUICK: Partial<BenchOptions> = {
  players: [200],
  seconds: 5,
  warmup: 1,
  probes: 2,
  slowPlayers: 20,
  slowSeconds: 10,
  apiSeconds: 2,
  publishes: 30,
  hlsLoops: 2,
  hostileSeconds: 5,
  hostileConnections: 500,
  slowlorisConnections: 200,
};

export const USAGE = `Usage: npx ts-node --transpile-only bench/run.ts [options]   (npm run bench -- [options])

  --quick                  ~4.5 min smoke run (ladder ${QUICK.players?.join(',')}, ${QUICK.seconds} s windows, ${QUICK.slowSeconds} s stall)
  --scenarios LIST         ${SCENARIOS.join(',')} (default: all)
  --peers LIST             ${PEER_NAMES.join(',')} (default: all; nginx is skipped when not installed)
  --protocols LIST         rtmp,flv (default: both; nginx-rtmp has no HTTP-FLV)
  --players LIST           ladder of player counts (default ${DEFAULTS.players.join(',')})
  --seconds N              measurement window per step (default ${DEFAULTS.seconds})
  --warmup N               settle time after ramp-up (default ${DEFAULTS.warmup})
  --rate N                 new players per second while ramping (default ${DEFAULTS.rate})
  --probes N               new players timed to their first key frame per step (default ${DEFAULTS.probes})
  --slow-players N         readers that stop reading (default ${DEFAULTS.slowPlayers})
  --slow-seconds N         how long they stall (default ${DEFAULTS.slowSeconds})
  --api-seconds N          autocannon duration per API target (default ${DEFAULTS.apiSeconds})
  --api-connections N      autocannon connections (default ${DEFAULTS.apiConnections})
  --publishes N            publishes timed for admission latency (default ${DEFAULTS.publishes})
  --hls-loops N            clip loops fed through the HLS segmenter (default ${DEFAULTS.hlsLoops})
  --hostile-sessions LIST  ${HOSTILE_SESSIONS.join(',')} (default: all)
  --hostile-seconds N      window of each hostile session (default ${DEFAULTS.hostileSeconds})
  --hostile-connections N  connections of the \`conns\` session (default ${DEFAULTS.hostileConnections})
  --slowloris-connections N  unfinished HTTP requests of a slowloris session (default ${DEFAULTS.slowlorisConnections})
  --server-core N          core of the server under test (default ${DEFAULTS.serverCore})
  --load-core N            core of the load, publisher and bench (default ${DEFAULTS.loadCore})
  --build                  run \`npx nest build\` first (always done when dist/src/main.js is missing)
  --dist DIR               run ours from this build (a dist/ folder) instead of the repo's dist/
  --out FILE               JSON results path (default bench/results/run-<time>.json)
  --help
`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!match) throw new Error(`unexpected argument ${argv[i]}\n\n${USAGE}`);
    const [, name, inline] = match;
    if (name === 'quick' || name === 'build' || name === 'help') flags.set(name, 'true');
    else if (inline !== undefined) flags.set(name, inline);
    else if (i + 1 < argv.length) flags.set(name, argv[++i]);
    else throw new Error(`--${name} needs a value`);
  }
  if (flags.has('help')) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = flags.has('quick');
  const base: BenchOptions = { ...DEFAULTS, ...(quick ? QUICK : {}), quick };
  const take = <T>(name: string, parse: (text: string) => T, fallback: T): T => {
    const text = flags.get(name);
    flags.delete(name);
    return text === undefined ? fallback : parse(text);
  };
  const options: BenchOptions = {
    ...base,
    scenarios: take('scenarios', (t) => list(t, SCENARIOS, 'scenario'), base.scenarios),
    peers: take('peers', (t) => list(t, PEER_NAMES, 'peer'), base.peers),
    protocols: take('protocols', (t) => list(t, PROTOCOLS, 'protocol'), base.protocols),
    players: take('players', (t) => t.split(',').map((n) => positive('players', n)), base.players),
    seconds: take('seconds', (t) => positive('seconds', t), base.seconds),
    warmup: take('warmup', (t) => nonNegative('warmup', t), base.warmup),
    rate: take('rate', (t) => positive('rate', t), base.rate),
    probes: take('probes', (t) => nonNegative('probes', t), base.probes),
    slowPlayers: take('slow-players', (t) => positive('slow-players', t), base.slowPlayers),
    slowSeconds: take('slow-seconds', (t) => positive('slow-seconds', t), base.slowSeconds),
    apiSeconds: take('api-seconds', (t) => positive('api-seconds', t), base.apiSeconds),
    apiConnections: take(
      'api-connections',
      (t) => positive('api-connections', t),
      base.apiConnections,
    ),
    publishes: take('publishes', (t) => positive('publishes', t), base.publishes),
    hlsLoops: take('hls-loops', (t) => positive('hls-loops', t), base.hlsLoops),
    hostileSessions: take(
      'hostile-sessions',
      (t) => list(t, HOSTILE_SESSIONS, 'hostile session'),
      base.hostileSessions,
    ),
    hostileSeconds: take(
      'hostile-seconds',
      (t) => positive('hostile-seconds', t),
      base.hostileSeconds,
    ),
    hostileConnections: take(
      'hostile-connections',
      (t) => positive('hostile-connections', t),
      base.hostileConnections,
    ),
    slowlorisConnections: take(
      'slowloris-connections',
      (t) => positive('slowloris-connections', t),
      base.slowlorisConnections,
    ),
    serverCore: take('server-core', (t) => nonNegative('server-core', t), base.serverCore),
    loadCore: take('load-core', (t) => nonNegative('load-core', t), base.loadCore),
    build: take('build', () => true, base.build),
    dist: take('dist', (t) => t, base.dist),
    out: take('out', (t) => t, base.out),
  };
  flags.delete('quick');
  if (flags.size > 0) throw new Error(`unknown option --${[...flags.keys()][0]}\n\n${USAGE}`);
  // Every loop of the bench is bounded by these.
  if (options.players.some((n) => n > 20000)) throw new Error('--players: at most 20000');
  if (options.seconds > 600 || options.slowSeconds > 900 || options.hostileSeconds > 600)
    throw new Error('windows above 10-15 min refused');
  if (options.hostileConnections > 10000 || options.slowlorisConnections > 10000)
    throw new Error('--hostile-connections, --slowloris-connections: at most 10000');
  return options;
}

function list<T extends string>(text: string, allowed: readonly T[], what: string): T[] {
  const items = text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw new Error(`unknown ${what} "${item}" (${allowed.join(', ')})`);
  }
  return items as T[];
}

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name}: a positive number, got "${text}"`);
  return value;
}

function nonNegative(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`--${name}: a number ≥ 0, got "${text}"`);
  return value;
}
