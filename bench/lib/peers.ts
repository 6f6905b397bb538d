import { ChildProcess } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePorts, hasCommand, processTree, sleep, spawnPinned, stopChild } from './proc';

export type PeerName = 'ours' | 'nms' | 'nginx';
export const PEER_NAMES: readonly PeerName[] = ['ours', 'nms', 'nginx'];

export const PEER_LABELS: Record<PeerName, string> = {
  ours: 'livego-nest (this server)',
  nms: 'node-media-server 4.4.3',
  nginx: 'nginx-rtmp (1 worker)',
};

export const REPO_ROOT = resolve(__dirname, '..', '..');
const SERVER_ENTRY = join(REPO_ROOT, 'dist', 'src', 'main.js');
/** What ours runs from: dist/, or the run's private copy of it (snapshotServer). */
let serverEntry = SERVER_ENTRY;

/**
 * Copies dist/ into bench/.cache/server-<pid>/ and runs ours from there for the rest of the run, so a
 * rebuild of dist/ meanwhile (others working on the same tree) can neither break nor change the server
 * under test. Packages still resolve from the repo's node_modules. Returns the cleanup.
 */
export async function snapshotServer(distDir: string): Promise<() => void> {
  const dir = join(__dirname, '..', '.cache', `server-${process.pid}`);
  for (let attempt = 1; ; attempt++) {
    rmSync(dir, { recursive: true, force: true });
    try {
      cpSync(distDir, dir, { recursive: true });
      if (existsSync(join(dir, 'src', 'main.js')) && existsSync(join(dir, 'src', 'app.module.js')))
        break;
    } catch {
      // dist/ changed under the copy: try again
    }
    if (attempt >= 5) throw new Error(`${distDir} could not be copied whole (is a build running?)`);
    await sleep(3000);
  }
  serverEntry = join(dir, 'src', 'main.js');
  return () => rmSync(dir, { recursive: true, force: true });
}
const NGINX_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
const READY_TIMEOUT_MS = 30000;

/** A server under test, running pinned to its core. */
export interface PeerServer {
  readonly name: PeerName;
  readonly rtmpPort: number;
  /** HTTP-FLV port, or undefined when the peer has none (nginx-rtmp). */
  readonly flvPort: number | undefined;
  /** Control API port (ours only). */
  readonly apiPort: number | undefined;
  /** HLS port (ours, when started with `hls: true`). */
  readonly hlsPort: number | undefined;
  /** Root pid; processTree(pid) is what is measured (nginx: master + worker). */
  readonly pid: number;
  /** Pids to sample: the root and its descendants, found once the server is up. */
  readonly pids: readonly number[];
  /** Last lines of its log, for failures. */
  logTail(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 6 s; a frozen server never runs its handler). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * For load scenarios: every player of the bench comes from 127.0.0.1, so ours' per-address limit
 * (max_connections_per_ip, 100 by default) is lifted there; the hostile scenario keeps the default.
 */
export const LOAD_FLAGS: readonly string[] = ['--max_connections_per_ip=100000'];

export interface PeerStartOptions {
  readonly core: number;
  /** Extra `--key=value` flags for ours (JWT, Redis). */
  readonly extraFlags?: readonly string[];
  /** Ours also serves HLS on a free port (otherwise `--hls_addr=`). */
  readonly hls?: boolean;
}

/** Why a peer cannot run on this machine, or undefined when it can. */
export function peerUnavailable(name: PeerName): string | undefined {
  if (name === 'ours' && !existsSync(serverEntry))
    return `${serverEntry} missing: run npx nest build`;
  if (name === 'nginx') {
    if (!hasCommand('nginx') && !existsSync('/usr/sbin/nginx'))
      return 'nginx not installed (apt-get install -y nginx libnginx-mod-rtmp)';
    if (!existsSync(NGINX_RTMP_MODULE))
      return `${NGINX_RTMP_MODULE} missing (apt-get install -y libnginx-mod-rtmp)`;
  }
  return undefined;
}

export async function startPeer(name: PeerName, options: PeerStartOptions): Promise<PeerServer> {
  const dir = mkdtempSync(join(tmpdir(), `livego-bench-${name}-`));
  const logPath = join(dir, 'server.log');
  const logFd = openSync(logPath, 'a');
  const [rtmpPort, flvPort, apiPort, hlsPort] = await freePorts(4);
  let child: ChildProcess;
  let ready: () => Promise<void>;
  let peerFlv: number | undefined = flvPort;
  let peerApi: number | undefined;
  let peerHls: number | undefined;
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, NO_COLOR: '1' };
  const stdio: ['ignore', number, number] = ['ignore', logFd, logFd];
  if (name === 'ours') {
    peerApi = apiPort;
    peerHls = options.hls ? hlsPort : undefined;
    const flags = [
      `--rtmp_addr=127.0.0.1:${rtmpPort}`,
      `--httpflv_addr=127.0.0.1:${flvPort}`,
      peerHls === undefined ? '--hls_addr=' : `--hls_addr=127.0.0.1:${peerHls}`,
      `--api_addr=127.0.0.1:${apiPort}`,
      '--rtmp_noauth=true',
      '--level=info',
      ...(options.extraFlags ?? []),
    ];
    child = spawnPinned(options.core, process.execPath, [serverEntry, ...flags], {
      cwd: dir,
      env,
      stdio,
    });
    ready = () => waitForHttp(apiPort, '/healthz');
  } else if (name === 'nms') {
    child = spawnPinned(
      options.core,
      process.execPath,
      ['-e', NMS_SCRIPT, JSON.stringify(nmsConfig(dir, rtmpPort, flvPort))],
      {
        cwd: dir,
        env,
        stdio,
      },
    );
    ready = async () => {
      await waitForTcp(rtmpPort);
      await waitForTcp(flvPort);
    };
  } else {
    peerFlv = undefined;
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxConfig(dir, rtmpPort));
    child = spawnPinned(
      options.core,
      'nginx',
      ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')],
      {
        cwd: dir,
        env,
        stdio,
      },
    );
    ready = () => waitForTcp(rtmpPort);
  }
  closeSync(logFd);
  const logTail = () => {
    const files = [logPath, join(dir, 'error.log')].filter((file) => existsSync(file));
    return files
      .map((file) => readFileSync(file, 'utf8').split('\n').slice(-30).join('\n'))
      .join('\n');
  };
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) =>
      reject(new Error(`${name} exited (${signal ?? code}) during start-up:\n${logTail()}`)),
    ),
  );
  exited.catch(() => undefined);
  try {
    await Promise.race([ready(), exited]);
  } catch (error) {
    await stopChild(child, 2000);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  await sleep(300); // nginx forks its worker after binding
  const pid = child.pid as number;
  return {
    name,
    rtmpPort,
    flvPort: peerFlv,
    apiPort: peerApi,
    hlsPort: peerHls,
    pid,
    pids: processTree(pid),
    logTail,
    async stop(graceMs = 6000) {
      await stopChild(child, graceMs);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * node-media-server as a user runs it, in plain JavaScript (no ts-node in its memory): RTMP + HTTP-FLV,
 * web admin and recording off, its store in the temp dir. Its constructor forces debug logging; we set
 * `info`, the same level ours runs at.
 */
const NMS_SCRIPT = `
const config = JSON.parse(process.argv[1]);
const NodeMediaServer = require(config.modulePath);
const logger = require(config.loggerPath);
const nms = new NodeMediaServer(config.nms);
logger.level = 'info';
nms.run();
const stop = () => nms.stop().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
`;

function nmsConfig(dir: string, rtmpPort: number, httpPort: number): object {
  const modulePath = require.resolve('node-media-server', { paths: [REPO_ROOT] });
  return {
    modulePath,
    loggerPath: join(modulePath, '..', 'core', 'logger.js'),
    nms: {
      bind: '127.0.0.1',
      rtmp: { port: rtmpPort },
      http: { port: httpPort },
      webadmin: { enable: false },
      store: { path: join(dir, 'data') },
    },
  };
}

/** nginx-rtmp: one worker, no daemon, live application without recording; everything in `dir`. */
function nginxConfig(dir: string, rtmpPort: number): string {
  return `# generated by bench/lib/peers.ts
load_module ${NGINX_RTMP_MODULE};
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events {
  worker_connections 16384;
}
rtmp {
  server {
    listen 127.0.0.1:${rtmpPort};
    chunk_size 4096;
    application live {
      live on;
      record off;
    }
  }
}
`;
}

async function waitForTcp(port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolveOk) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolveOk(true);
      });
      socket.once('error', () => resolveOk(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${READY_TIMEOUT_MS} ms`);
}

async function waitForHttp(port: number, path: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`http://127.0.0.1:${port}${path} did not answer within ${READY_TIMEOUT_MS} ms`);
}
