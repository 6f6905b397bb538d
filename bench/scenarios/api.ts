import { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { sign } from 'jsonwebtoken';
import { APP, BenchContext } from '../lib/context';
import { Percentiles, percentilesOf } from '../lib/histogram';
import { LOAD_FLAGS, REPO_ROOT, startPeer } from '../lib/peers';
import {
  cpuPercent,
  freePorts,
  hasCommand,
  sample,
  sleep,
  spawnPinned,
  stopChild,
} from '../lib/proc';
import { RtmpPlayer } from '../lib/rtmp-player';

const JWT_SECRET = 'bench-secret-not-for-production-0123456789';
const AUTOCANNON_VERSION = '8.0.0';
const PUBLISH_START = 'NetStream.Publish.Start';

export interface ApiTargetResult {
  readonly target: string;
  /** autocannon: mean requests per second, latency percentiles (ms), non-2xx answers. */
  readonly requestsPerSecond?: number;
  readonly latencyP50Ms?: number;
  readonly latencyP99Ms?: number;
  readonly non2xx?: number;
  readonly errors?: number;
  readonly serverCpuPercent?: number;
  /** Server CPU per 1000 requests, ms. */
  readonly cpuMsPer1000?: number;
  readonly serverRssMB?: number;
  readonly note?: string;
}

export interface AdmissionResult {
  readonly target: string;
  /** `publish` sent → `NetStream.Publish.Start` received, ms. */
  readonly latency: Percentiles;
  readonly failures: number;
  readonly note?: string;
}

export interface ApiRun {
  readonly autocannon: string | undefined;
  readonly connections: number;
  readonly seconds: number;
  readonly api: ApiTargetResult[];
  readonly admission: AdmissionResult[];
  readonly notes: string[];
}

export async function runApi(ctx: BenchContext): Promise<ApiRun> {
  const { options } = ctx;
  const notes: string[] = [];
  const autocannon = findAutocannon();
  if (!autocannon)
    notes.push('autocannon not found (npm i -D autocannon, or npx): API req/s skipped');
  const token = sign({ sub: 'bench' }, JWT_SECRET, { algorithm: 'HS256' });
  const api: ApiTargetResult[] = [];
  const admission: AdmissionResult[] = [];

  let redis: { port: number; child: ChildProcess } | undefined;
  if (hasCommand('redis-server')) redis = await startRedis(options.loadCore);
  else notes.push('redis-server not installed: the Redis store was skipped');

  try {
    const stores: { label: string; flags: string[] }[] = [
      { label: 'ours, memory store', flags: [] },
    ];
    if (redis)
      stores.push({ label: 'ours, Redis store', flags: [`--redis_addr=127.0.0.1:${redis.port}`] });
    if (!ctx.peers.includes('ours')) notes.push('ours not selected: API and admission skipped');
    for (const store of ctx.peers.includes('ours') ? stores : []) {
      ctx.log(`api: ${store.label}`);
      const server = await startPeer('ours', {
        core: options.serverCore,
        extraFlags: [
          `--jwt.secret=${JWT_SECRET}`,
          '--rtmp_noauth=false',
          '--level=warn',
          ...LOAD_FLAGS,
          ...store.flags,
        ],
      });
      try {
        const base = `http://127.0.0.1:${server.apiPort}`;
        const key = await getKey(`${base}/control/get?room=bench`, token);
        if (autocannon) {
          api.push(
            await loadApi(
              ctx,
              store.label,
              autocannon,
              `${base}/control/get?room=x`,
              token,
              server.pids,
            ),
          );
        }
        admission.push(await timePublishes(store.label, server.rtmpPort, key, options.publishes));
      } finally {
        await server.stop();
      }
    }
    // Two baselines: the secret as a string (what passport-jwt hands jsonwebtoken, which then tries
    // createPublicKey() on it for every token before falling back to HMAC) and as a KeyObject.
    for (const keyObject of autocannon ? [false, true] : []) {
      const label = `baseline: node:http + jsonwebtoken HS256 + Map, secret as ${keyObject ? 'KeyObject' : 'string'}`;
      ctx.log(`api: ${label}`);
      const baseline = await startBaseline(options.serverCore, keyObject);
      try {
        api.push(
          await loadApi(
            ctx,
            label,
            autocannon as string[],
            `http://127.0.0.1:${baseline.port}/control/get?room=x`,
            token,
            [baseline.child.pid as number],
          ),
        );
      } finally {
        await stopChild(baseline.child);
      }
    }
    if (ctx.peers.includes('nms')) {
      ctx.log('admission: node-media-server (no key check: the floor)');
      const nms = await startPeer('nms', { core: options.serverCore });
      try {
        const result = await timePublishes(
          'node-media-server (no auth)',
          nms.rtmpPort,
          'bench',
          options.publishes,
        );
        admission.push({ ...result, note: 'no key lookup at all' });
      } finally {
        await nms.stop();
      }
    }
  } finally {
    if (redis) await stopChild(redis.child);
  }
  return {
    autocannon: autocannon?.join(' '),
    connections: options.apiConnections,
    seconds: options.apiSeconds,
    api,
    admission,
    notes,
  };
}

/** Local autocannon (devDependency) first, else through npx. */
function findAutocannon(): string[] | undefined {
  const local = join(REPO_ROOT, 'node_modules', '.bin', 'autocannon');
  if (existsSync(local)) return [local];
  if (!hasCommand('npx')) return undefined;
  return ['npx', '--yes', `autocannon@${AUTOCANNON_VERSION}`];
}

async function getKey(url: string, token: string): Promise<string> {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10000),
  });
  const body = (await response.json()) as { status: number; data: unknown };
  if (response.status !== 200 || typeof body.data !== 'string')
    throw new Error(`GET ${url}: ${response.status} ${JSON.stringify(body)}`);
  return body.data;
}

interface AutocannonJson {
  requests?: { average?: number; mean?: number; total?: number };
  latency?: { p50?: number; p99?: number };
  non2xx?: number;
  errors?: number;
  timeouts?: number;
}

async function loadApi(
  ctx: BenchContext,
  label: string,
  autocannon: string[],
  url: string,
  token: string,
  pids: readonly number[],
): Promise<ApiTargetResult> {
  const { options } = ctx;
  // Warm the route (key created, JIT) before measuring.
  for (let i = 0; i < 200; i++)
    await fetch(url, { headers: { authorization: `Bearer ${token}` } }).then((r) =>
      r.arrayBuffer(),
    );
  const args = [
    ...autocannon.slice(1),
    '-j',
    '-c',
    String(options.apiConnections),
    '-d',
    String(options.apiSeconds),
    '-H',
    `Authorization=Bearer ${token}`,
    url,
  ];
  const before = sample(pids);
  const output = await runPinned(
    options.loadCore,
    autocannon[0],
    args,
    (options.apiSeconds + 120) * 1000,
  );
  const after = sample(pids);
  let json: AutocannonJson;
  try {
    json = JSON.parse(output.stdout.slice(output.stdout.indexOf('{'))) as AutocannonJson;
  } catch {
    return { target: label, note: `autocannon output unreadable: ${output.stderr.slice(-300)}` };
  }
  const total = json.requests?.total ?? 0;
  return {
    target: label,
    requestsPerSecond: json.requests?.average ?? json.requests?.mean,
    latencyP50Ms: json.latency?.p50,
    latencyP99Ms: json.latency?.p99,
    non2xx: json.non2xx,
    errors: (json.errors ?? 0) + (json.timeouts ?? 0),
    serverCpuPercent: cpuPercent(before, after),
    cpuMsPer1000: total > 0 ? ((after.cpuSeconds - before.cpuSeconds) * 1e6) / total : undefined,
    serverRssMB: after.rssBytes / 1e6,
  };
}

function runPinned(
  core: number,
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnPinned(core, command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: REPO_ROOT,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve({ stdout, stderr });
    });
  });
}

/** Times `count` publishes one after the other on fresh connections. */
async function timePublishes(
  label: string,
  port: number,
  name: string,
  count: number,
): Promise<AdmissionResult> {
  const values: number[] = [];
  let failures = 0;
  let lastCode = '';
  for (let i = 0; i < count; i++) {
    const client = new RtmpPlayer({ host: '127.0.0.1', port, timeoutMs: 5000 }, APP);
    try {
      const { code, ms } = await client.publish(name);
      lastCode = code;
      if (code === PUBLISH_START) values.push(ms);
      else failures++;
    } catch (error) {
      failures++;
      lastCode = String(error);
    } finally {
      client.close();
      await client.closed;
    }
  }
  return {
    target: label,
    latency: percentilesOf(values),
    failures,
    note: failures > 0 ? `last failure: ${lastCode}` : undefined,
  };
}

/** A bare node:http server doing what /control/get does: HS256 verify, a Map lookup, a JSON envelope. */
const BASELINE_SCRIPT = `
const http = require('node:http');
const { randomBytes } = require('node:crypto');
const config = JSON.parse(process.argv[1]);
const jwt = require(config.jsonwebtoken);
const secret = config.keyObject ? require('node:crypto').createSecretKey(Buffer.from(config.secret)) : config.secret;
const keys = new Map();
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const newKey = () => Array.from(randomBytes(48), (b) => ALPHABET[b % 62]).join('');
const send = (res, status, data) => {
  const body = JSON.stringify({ status, data });
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
};
http.createServer((req, res) => {
  const auth = req.headers.authorization || '';
  try {
    jwt.verify(auth.startsWith('Bearer ') ? auth.slice(7) : '', secret, { algorithms: ['HS256'] });
  } catch (error) {
    return send(res, 401, error.message);
  }
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/control/get') return send(res, 404, 'not found');
  const room = url.searchParams.get('room');
  if (!room) return send(res, 400, 'room required');
  let key = keys.get(room);
  if (!key) keys.set(room, (key = newKey()));
  send(res, 200, key);
}).listen(config.port, '127.0.0.1', () => process.stdout.write('ready\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

async function startBaseline(
  core: number,
  keyObject: boolean,
): Promise<{ port: number; child: ChildProcess }> {
  const [port] = await freePorts(1);
  const config = {
    port,
    keyObject,
    secret: JWT_SECRET,
    jsonwebtoken: require.resolve('jsonwebtoken', { paths: [REPO_ROOT] }),
  };
  const child = spawnPinned(
    core,
    process.execPath,
    ['-e', BASELINE_SCRIPT, JSON.stringify(config)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('baseline server did not start')), 10000);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', () => reject(new Error('baseline server exited')));
  });
  return { port, child };
}

async function startRedis(core: number): Promise<{ port: number; child: ChildProcess }> {
  const [port] = await freePorts(1);
  const child = spawnPinned(
    core,
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const pong = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('+PONG'));
      });
      socket.once('error', () => resolve(false));
    });
    if (pong) return { port, child };
    await sleep(100);
  }
  await stopChild(child);
  throw new Error('redis-server did not answer PING');
}
