/**
 * Hostile peers: what one bad session costs everybody else. For every session and peer, a fresh server
 * with one bystander (the bench publisher and a reference RTMP player) and an HTTP probe every 100 ms;
 * then the offender runs for a bounded window while the probe's worst latency, the server's RSS and the
 * bystander's frame rate are recorded, and whether the server closed the offender.
 */
import { get } from 'node:http';
import { connect as netConnect, Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { encodeAmf0 } from '../../test/helpers/amf0';
import { c0c1, HostilePeer, HANDSHAKE_BYTES } from '../../test/fuzz/hostile-kit';
import { BenchContext, joinReference, publishUrl, targetOf } from '../lib/context';
import {
  commandChunks,
  connectPayload,
  createStreamMessage,
  growingCommand,
  MESSAGE_BYTES,
  WIDE_COMMANDS,
  WideCommand,
  widePayload,
  WideShape,
} from '../lib/hostile-wire';
import type { HostileSessionName } from '../lib/options';
import { PeerName, PeerServer, startPeer } from '../lib/peers';
import { cpuPercent, ProcSample, sample, sleep } from '../lib/proc';
import { LoopPublisher } from '../lib/publisher';
import type { ReferencePlayer } from '../lib/targets';

/** What each session does, for the table. */
export const HOSTILE_LABELS: Record<HostileSessionName, string> = {
  amf: 'wide AMF0 values (64 KiB commands)',
  'amf-8m': 'wide AMF0 value, one 8 MiB connect',
  grow: 'command grows to 8 MiB mid-message',
  noread: 'createStream loop, never reads',
  conns: 'many connections, one address',
  'slowloris-flv': 'slowloris, HTTP-FLV',
  'slowloris-hls': 'slowloris, HLS',
};

/** HTTP probe period (one request at a time: a slow answer delays the next). */
const PROBE_INTERVAL_MS = 100;
/** A probe without an answer after this long is abandoned (its age still counts as its latency). */
const PROBE_TIMEOUT_MS = 30000;
/** The server is idle with its bystander this long before the offender starts. */
const QUIET_MS = 1500;
const SAMPLE_INTERVAL_MS = 100;
const FPS_BUCKET_MS = 1000;
/** A stopped server gets this long for SIGTERM before SIGKILL: a frozen one never runs its handler. */
const STOP_GRACE_MS = 2000;
/** Each step of an offender (TCP connect, handshake, a reply) waits at most this long. */
const STEP_TIMEOUT_MS = 3000;
/** Wide commands sent back to back in one connection of the AMF session. */
const WIDE_REPEAT = 3;
/** Transaction id of the small createStream sent after the wide commands (its _result ends a variant). */
const FOLLOW_UP_TRANS_ID = 7;
/** The never-reading peer sends at most this much. */
const NOREAD_MAX_BYTES = 4 * 1024 ** 3;
/** createStream commands per write of the never-reading peer (~60 KiB). */
const NOREAD_BATCH = 1600;
/** TCP connects in flight at once (connections and slowloris sessions). */
const CONNECT_CONCURRENCY = 64;
/** A slowloris connection sends one more header line this often. */
const SLOWLORIS_LINE_MS = 1000;

export interface ProbeStats {
  readonly count: number;
  readonly p50Ms: number;
  readonly worstMs: number;
  /** The worst probe was still unanswered when the window ended (worstMs is its age then). */
  readonly unanswered: boolean;
  readonly failures: number;
}

/** One wide-AMF variant: how the server dealt with it. */
export interface VariantResult {
  readonly variant: string;
  /** `answered`: the follow-up createStream got its _result; `closed`: the server closed first. */
  readonly outcome: 'answered' | 'closed' | 'no answer' | 'window ended' | 'no handshake';
  /** From the first wide command sent to the outcome. */
  readonly ms: number;
}

export interface OffenderReport {
  /** Offender connections opened. */
  readonly connections: number;
  /** Of those, closed by the server (not by the bench). */
  readonly closedByServer: number;
  /** ms from the session start to the server's first close of an offender connection. */
  readonly firstCloseMs: number | undefined;
  /** Offender connections still open when the window ended. */
  readonly openAtEnd: number;
  readonly bytesSent: number;
  readonly variants?: VariantResult[];
  readonly note?: string;
}

export interface HostileRun {
  readonly session: HostileSessionName;
  readonly peer: PeerName;
  readonly seconds: number;
  readonly quiet: { readonly probe: ProbeStats; readonly fps: number };
  readonly probe: ProbeStats;
  readonly rssStartMB: number;
  readonly rssMaxMB: number;
  readonly rssEndMB: number;
  readonly serverCpuPercent: number;
  /** Bystander video frames per second over the window, and its slowest 1 s. */
  readonly fps: number;
  readonly minFps: number;
  readonly bystanderClosed: boolean;
  readonly offender: OffenderReport;
  /** The server process was gone at the end of the window. */
  readonly serverExited: boolean;
  /** Worst event-loop delay of the bench process itself in the window (its own probes are that late). */
  readonly benchLagMs: number;
  readonly error?: string;
  readonly skipped?: string;
}

/** Everything an offender opened, so that the bench can close it on every path. */
class Sockets {
  readonly all = new Set<Socket>();

  add(socket: Socket): Socket {
    this.all.add(socket);
    socket.once('close', () => this.all.delete(socket));
    return socket;
  }

  closeAll(): void {
    for (const socket of this.all) socket.destroy();
    this.all.clear();
  }
}

/** Counts the offender connections the server closes (not those the bench closes itself). */
class CloseTracker {
  connections = 0;
  closedByServer = 0;
  firstCloseMs: number | undefined;
  bytesSent = 0;
  private readonly open = new Set<Socket>();
  private readonly ours = new WeakSet<Socket>();

  constructor(private readonly t0: number) {}

  track(socket: Socket): void {
    this.connections++;
    this.open.add(socket);
    socket.once('close', () => {
      this.open.delete(socket);
      if (this.ours.has(socket)) return;
      this.closedByServer++;
      this.firstCloseMs ??= performance.now() - this.t0;
    });
  }

  /** The bench closes `socket`: not counted as closed by the server. */
  release(socket: Socket): void {
    this.ours.add(socket);
    socket.destroy();
  }

  report(extra: Partial<OffenderReport> = {}): OffenderReport {
    return {
      connections: this.connections,
      closedByServer: this.closedByServer,
      firstCloseMs: this.firstCloseMs,
      openAtEnd: this.open.size,
      bytesSent: this.bytesSent,
      ...extra,
    };
  }
}

/** One GET at a time every PROBE_INTERVAL_MS; records when each started and how long it took. */
class HttpProbe {
  private readonly records: { at: number; ms: number | undefined; failed: boolean }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly port: number,
    private readonly path: string,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), PROBE_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Probes begun in [from, to): an unanswered one counts with its age at `to`. */
  stats(from: number, to: number): ProbeStats {
    const inWindow = this.records.filter((r) => r.at >= from && r.at < to);
    // A probe answered after `to` counts with its age at `to`, as one still waiting.
    const pending = (r: (typeof inWindow)[number]) => r.ms === undefined || r.at + r.ms > to;
    const latencies = inWindow.map((r) => (pending(r) ? to - r.at : (r.ms as number)));
    const sorted = [...latencies].sort((a, b) => a - b);
    const worstMs = sorted.length ? sorted[sorted.length - 1] : to - from;
    return {
      count: inWindow.length,
      p50Ms: sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : NaN,
      worstMs,
      unanswered: inWindow.some((r) => pending(r) && to - r.at >= worstMs),
      failures: inWindow.filter((r) => r.failed).length,
    };
  }

  private tick(): void {
    if (this.busy || this.records.length > 100000) return;
    this.busy = true;
    const record = { at: performance.now(), ms: undefined as number | undefined, failed: false };
    this.records.push(record);
    const done = (failed: boolean) => {
      if (record.ms !== undefined) return;
      record.ms = performance.now() - record.at;
      record.failed = failed;
      this.busy = false;
    };
    const request = get(
      {
        host: '127.0.0.1',
        port: this.port,
        path: this.path,
        agent: false,
        timeout: PROBE_TIMEOUT_MS,
      },
      (response) => {
        response.resume();
        response.once('end', () => done(false));
        response.once('error', () => done(true));
      },
    );
    request.once('timeout', () => request.destroy(new Error('probe timeout')));
    request.once('error', () => done(true));
  }
}

/** Where the probe asks: ours' health check on its API port; node-media-server's HTTP port (a 404). */
function probeTarget(server: PeerServer): { port: number; path: string } {
  if (server.name === 'ours' && server.apiPort !== undefined)
    return { port: server.apiPort, path: '/healthz' };
  if (server.flvPort !== undefined) return { port: server.flvPort, path: '/healthz' };
  throw new Error(`${server.name} has no HTTP listener to probe`);
}

/** Resolves once `condition()` holds (true), or false after `ms` / at `deadline`. */
async function until(condition: () => boolean, ms: number, deadline = Infinity): Promise<boolean> {
  const end = Math.min(performance.now() + ms, deadline);
  while (!condition()) {
    if (performance.now() >= end) return false;
    await sleep(5);
  }
  return true;
}

/** HostilePeer.open with a timeout (a frozen server's backlog may still accept, or not). */
async function openPeer(port: number, sockets: Sockets, ms: number): Promise<HostilePeer> {
  let timer: NodeJS.Timeout | undefined;
  const opening = HostilePeer.open(port);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('TCP connect timed out')), ms);
  });
  try {
    const peer = await Promise.race([opening, timeout]);
    sockets.add(peer.socket);
    return peer;
  } catch (error) {
    void opening.then((peer) => peer.close()).catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The simple handshake (C2 echoes S1), bounded; false when the server did not answer in time. */
async function handshake(peer: HostilePeer, deadline: number): Promise<boolean> {
  peer.send(c0c1());
  const ok = await until(
    () => peer.received >= 1 + 2 * HANDSHAKE_BYTES || peer.isClosed,
    STEP_TIMEOUT_MS,
    deadline,
  );
  if (!ok || peer.isClosed) return false;
  peer.send(peer.bytes.subarray(1, 1 + HANDSHAKE_BYTES));
  return true;
}

const CONNECT_SUCCESS = Buffer.from('NetConnection.Connect.Success');
const FOLLOW_UP_RESULT = encodeAmf0('_result', FOLLOW_UP_TRANS_ID);

/** Sends a normal connect and waits for NetConnection.Connect.Success. */
async function connectNormally(peer: HostilePeer, port: number, deadline: number) {
  peer.send(commandChunks(connectPayload(port)));
  return until(
    () => peer.isClosed || peer.bytes.includes(CONNECT_SUCCESS),
    STEP_TIMEOUT_MS,
    deadline,
  ).then((ok) => ok && !peer.isClosed);
}

/** Writes `bytes`, waiting for the socket to drain, the server to close it, or the deadline. */
async function writeBounded(socket: Socket, bytes: Buffer, deadline: number): Promise<void> {
  if (socket.destroyed || socket.write(bytes)) return;
  let done: () => void = () => undefined;
  const timer = setTimeout(() => done(), Math.max(0, deadline - performance.now()));
  await new Promise<void>((resolve) => {
    done = resolve;
    socket.once('drain', resolve);
    socket.once('close', resolve);
  });
  clearTimeout(timer);
  socket.off('drain', done);
  socket.off('close', done);
}

/** Sleeps until `deadline` (performance.now() ms). */
const sleepUntil = (deadline: number) => sleep(Math.max(0, deadline - performance.now()));

interface SessionArgs {
  readonly server: PeerServer;
  readonly t0: number;
  readonly deadline: number;
  readonly sockets: Sockets;
  readonly ctx: BenchContext;
}

/** The variants of the AMF session, in order: every command with a strict array, the echoed ones with each shape. */
function amfVariants(): { command: WideCommand; shape: WideShape; afterConnect: boolean }[] {
  const list: { command: WideCommand; shape: WideShape; afterConnect: boolean }[] = [];
  for (const command of WIDE_COMMANDS) {
    for (const afterConnect of [false, true])
      list.push({ command, shape: 'strict-array', afterConnect });
  }
  for (const shape of ['object', 'long-string'] as const) {
    for (const command of ['connect', 'connect-objectEncoding', 'createStream'] as const) {
      for (const afterConnect of [false, true]) list.push({ command, shape, afterConnect });
    }
  }
  return list;
}

export function variantName(v: {
  command: WideCommand;
  shape: WideShape;
  afterConnect: boolean;
}): string {
  const where = v.command.startsWith('connect')
    ? v.afterConnect
      ? 'second connect'
      : 'first command'
    : v.afterConnect
      ? 'after connect'
      : 'before connect';
  return `${v.command} (${where}), ${v.shape}`;
}

/**
 * Session 1: each variant on a fresh connection: (connect,) then the wide command WIDE_REPEAT times back
 * to back and a small createStream; the variant ends at that createStream's _result, at the server's
 * close, or after STEP_TIMEOUT_MS. Variants run one after the other, in rounds, until the window ends.
 */
async function amfSession(args: SessionArgs): Promise<OffenderReport> {
  const { server, deadline, sockets, t0 } = args;
  const port = server.rtmpPort;
  const tracker = new CloseTracker(t0);
  const variants = amfVariants().map((v) => ({
    ...v,
    name: variantName(v),
    bytes: Buffer.concat(
      Array.from({ length: WIDE_REPEAT }, () =>
        commandChunks(widePayload(v.command, v.shape, port)),
      ),
    ),
  }));
  const firstRound: VariantResult[] = [];
  const followUp = createStreamMessage(FOLLOW_UP_TRANS_ID);
  let rounds = 0;
  while (performance.now() < deadline && rounds < 100) {
    rounds++;
    for (const variant of variants) {
      if (performance.now() >= deadline) break;
      let result: VariantResult;
      let peer: HostilePeer | undefined;
      try {
        peer = await openPeer(port, sockets, STEP_TIMEOUT_MS);
        tracker.track(peer.socket);
        const ready =
          (await handshake(peer, deadline)) &&
          (!variant.afterConnect || (await connectNormally(peer, port, deadline)));
        if (!ready) {
          const outcome = performance.now() >= deadline ? 'window ended' : 'no handshake';
          result = { variant: variant.name, outcome, ms: NaN };
        } else {
          const sent = performance.now();
          peer.send(variant.bytes);
          peer.send(followUp);
          tracker.bytesSent += variant.bytes.length + followUp.length;
          const p = peer;
          await until(
            () => p.isClosed || p.bytes.includes(FOLLOW_UP_RESULT),
            STEP_TIMEOUT_MS,
            deadline,
          );
          const ms = performance.now() - sent;
          result = {
            variant: variant.name,
            outcome: p.bytes.includes(FOLLOW_UP_RESULT)
              ? 'answered'
              : p.isClosed
                ? 'closed'
                : performance.now() >= deadline
                  ? 'window ended'
                  : 'no answer',
            ms,
          };
        }
      } catch {
        result = { variant: variant.name, outcome: 'no handshake', ms: NaN };
      }
      if (peer) tracker.release(peer.socket);
      if (rounds === 1) firstRound.push(result);
    }
  }
  return tracker.report({
    variants: firstRound,
    note: `${rounds} round(s) of ${variants.length} variants`,
  });
}

/**
 * One large write on one connection (after a normal connect when `connectFirst`), then a small
 * createStream: the session notes whether and when that got its _result, or the server closed.
 */
async function bigWriteSession(
  args: SessionArgs,
  bytes: Buffer,
  connectFirst: boolean,
): Promise<OffenderReport> {
  const { server, deadline, sockets, t0 } = args;
  const tracker = new CloseTracker(t0);
  const peer = await openPeer(server.rtmpPort, sockets, STEP_TIMEOUT_MS);
  tracker.track(peer.socket);
  peer.keepBytes = true;
  if (
    !(await handshake(peer, deadline)) ||
    (connectFirst && !(await connectNormally(peer, server.rtmpPort, deadline)))
  )
    return tracker.report({ note: 'no handshake / connect' });
  const before = peer.bytes.length;
  await writeBounded(peer.socket, bytes, deadline);
  tracker.bytesSent += bytes.length;
  peer.send(createStreamMessage(FOLLOW_UP_TRANS_ID));
  const answered = () => peer.bytes.subarray(before).includes(FOLLOW_UP_RESULT);
  await until(() => peer.isClosed || answered(), Infinity, deadline);
  return tracker.report({
    note: answered()
      ? `the createStream after it answered at ${((performance.now() - t0) / 1000).toFixed(1)} s`
      : peer.isClosed
        ? 'closed without answering'
        : 'no answer by the end',
  });
}

/** Session 3: connect, stop reading, then createStream in a loop as fast as the server takes them. */
async function noreadSession(args: SessionArgs): Promise<OffenderReport> {
  const { server, deadline, sockets, t0 } = args;
  const tracker = new CloseTracker(t0);
  const peer = await openPeer(server.rtmpPort, sockets, STEP_TIMEOUT_MS);
  tracker.track(peer.socket);
  if (
    !(await handshake(peer, deadline)) ||
    !(await connectNormally(peer, server.rtmpPort, deadline))
  )
    return tracker.report({ note: 'no handshake / connect' });
  peer.keepBytes = false;
  peer.socket.pause();
  const batch = Buffer.concat(
    Array.from({ length: NOREAD_BATCH }, (_, i) => createStreamMessage(2 + i)),
  );
  while (performance.now() < deadline && !peer.isClosed && tracker.bytesSent < NOREAD_MAX_BYTES) {
    await writeBounded(peer.socket, batch, deadline);
    tracker.bytesSent += batch.length;
    // Let timers (the probe, the samplers) run between writes.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return tracker.report({
    note: `${(tracker.bytesSent / 1e6).toFixed(0)} MB of createStream sent`,
  });
}

/**
 * Opens up to `count` connections with CONNECT_CONCURRENCY TCP connects in flight, until the deadline;
 * `onOpen` runs on each connected socket.
 */
async function openMany(
  port: number,
  count: number,
  deadline: number,
  sockets: Sockets,
  tracker: CloseTracker,
  onOpen: (socket: Socket) => void,
): Promise<{ failed: number }> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < count && performance.now() < deadline) {
      next++;
      const socket = sockets.add(netConnect({ host: '127.0.0.1', port }));
      socket.on('error', () => undefined);
      const connected = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), STEP_TIMEOUT_MS);
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve(true);
        });
        socket.once('close', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      if (!connected) {
        failed++;
        socket.destroy();
        continue;
      }
      tracker.track(socket);
      onOpen(socket);
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
  return { failed };
}

/** Session 4: `count` connections from 127.0.0.1, each does the handshake and connect, then idles. */
async function connsSession(args: SessionArgs, count: number): Promise<OffenderReport> {
  const { server, deadline, sockets, t0 } = args;
  const tracker = new CloseTracker(t0);
  const connect = commandChunks(connectPayload(server.rtmpPort));
  let handshaken = 0;
  const { failed } = await openMany(
    server.rtmpPort,
    count,
    deadline,
    sockets,
    tracker,
    (socket) => {
      const head: Buffer[] = [];
      let have = 0;
      const onData = (data: Buffer) => {
        head.push(data);
        have += data.length;
        if (have < 1 + 2 * HANDSHAKE_BYTES) return;
        socket.off('data', onData);
        socket.resume(); // keep draining whatever else comes
        handshaken++;
        socket.write(Buffer.concat(head).subarray(1, 1 + HANDSHAKE_BYTES));
        socket.write(connect);
      };
      socket.on('data', onData);
      socket.write(c0c1());
      tracker.bytesSent += 1 + HANDSHAKE_BYTES;
    },
  );
  await sleepUntil(deadline);
  return tracker.report({
    note: `${handshaken} handshaken${failed ? `, ${failed} TCP connects failed` : ''}`,
  });
}

/**
 * Session 5: `count` HTTP requests that never finish their head: the request line and Host, then one
 * more header line every SLOWLORIS_LINE_MS.
 */
async function slowlorisSession(
  args: SessionArgs,
  port: number,
  path: string,
  count: number,
): Promise<OffenderReport> {
  const { deadline, sockets, t0 } = args;
  const tracker = new CloseTracker(t0);
  const open = new Set<Socket>();
  let answered = 0;
  let line = 0;
  const timer = setInterval(() => {
    line++;
    const bytes = Buffer.from(`X-Slow-${line}: ${'x'.repeat(8)}\r\n`);
    for (const socket of open) {
      socket.write(bytes);
      tracker.bytesSent += bytes.length;
    }
  }, SLOWLORIS_LINE_MS);
  try {
    const { failed } = await openMany(port, count, deadline, sockets, tracker, (socket) => {
      open.add(socket);
      socket.once('close', () => open.delete(socket));
      socket.once('data', () => answered++);
      const head = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
      socket.write(head);
      tracker.bytesSent += head.length;
    });
    await sleepUntil(deadline);
    return tracker.report({
      note: `${answered} got an answer${failed ? `, ${failed} TCP connects failed` : ''}`,
    });
  } finally {
    clearInterval(timer);
  }
}

/** Samples the server (RSS, CPU) and the bystander (frames) in the background. */
class Sampler {
  readonly proc: ProcSample[] = [];
  readonly frames: [number, number][] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly server: PeerServer,
    private readonly reference: ReferencePlayer,
  ) {}

  start(): void {
    this.take();
    this.timer = setInterval(() => this.take(), SAMPLE_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.take();
  }

  /** Frames per second between `from` and `to`, and the slowest FPS_BUCKET_MS bucket. */
  fps(from: number, to: number): { fps: number; minFps: number } {
    // Frames received by `time`, interpolated between the samples around it.
    const at = (time: number): number => {
      const points = this.frames;
      if (points.length === 0) return 0;
      if (time <= points[0][0]) return points[0][1];
      for (let i = 1; i < points.length; i++) {
        const [t, f] = points[i];
        if (t < time) continue;
        const [tp, fp] = points[i - 1];
        return t === tp ? f : fp + ((f - fp) * (time - tp)) / (t - tp);
      }
      return points[points.length - 1][1];
    };
    const seconds = (to - from) / 1000;
    let minFps = Infinity;
    for (let t = from; t + FPS_BUCKET_MS <= to + 1; t += FPS_BUCKET_MS)
      minFps = Math.min(minFps, ((at(t + FPS_BUCKET_MS) - at(t)) * 1000) / FPS_BUCKET_MS);
    return {
      fps: seconds > 0 ? (at(to) - at(from)) / seconds : NaN,
      minFps: Number.isFinite(minFps) ? minFps : NaN,
    };
  }

  /** Takes a sample now (window boundaries). */
  mark(): void {
    this.take();
  }

  private take(): void {
    this.proc.push(sample(this.server.pids));
    this.frames.push([performance.now(), this.reference.videoFrames]);
  }
}

function runSession(name: HostileSessionName, args: SessionArgs): Promise<OffenderReport> {
  const { options } = args.ctx;
  const { server } = args;
  switch (name) {
    case 'amf':
      return amfSession(args);
    case 'amf-8m':
      // The first command: connect whose objectEncoding is a strict array of 8.4 M nulls, declared in
      // its type-0 chunk (ours refuses commands over 64 KiB there; node-media-server has no limit).
      return bigWriteSession(
        args,
        commandChunks(
          widePayload('connect-objectEncoding', 'strict-array', server.rtmpPort, MESSAGE_BYTES),
        ),
        false,
      );
    case 'grow':
      return bigWriteSession(args, growingCommand(), true);
    case 'noread':
      return noreadSession(args);
    case 'conns':
      return connsSession(args, options.hostileConnections);
    case 'slowloris-flv':
      return slowlorisSession(
        args,
        server.flvPort as number,
        '/live/bench.flv',
        options.slowlorisConnections,
      );
    case 'slowloris-hls':
      return slowlorisSession(
        args,
        server.hlsPort as number,
        '/live/bench.m3u8',
        options.slowlorisConnections,
      );
  }
}

/** Why `session` does not apply to `peer`, or undefined. */
function notApplicable(session: HostileSessionName, peer: PeerName): string | undefined {
  if (peer === 'nginx') return 'nginx-rtmp has no HTTP listener to probe';
  if (session === 'slowloris-hls' && peer !== 'ours') return 'no HLS listener';
  return undefined;
}

const mb = (bytes: number) => bytes / 1e6;

async function runOne(
  ctx: BenchContext,
  session: HostileSessionName,
  peer: PeerName,
): Promise<HostileRun> {
  const { options, clip } = ctx;
  const seconds = options.hostileSeconds;
  const sockets = new Sockets();
  let server: PeerServer | undefined;
  let publisher: LoopPublisher | undefined;
  let reference: ReferencePlayer | undefined;
  let probe: HttpProbe | undefined;
  let sampler: Sampler | undefined;
  const lag = monitorEventLoopDelay({ resolution: 10 });
  try {
    server = await startPeer(peer, { core: options.serverCore, hls: session === 'slowloris-hls' });
    publisher = new LoopPublisher(clip.path, publishUrl(server), options.loadCore);
    reference = await joinReference(targetOf(server, 'rtmp'));
    const target = probeTarget(server);
    probe = new HttpProbe(target.port, target.path);
    probe.start();
    sampler = new Sampler(server, reference);
    sampler.start();
    const quietFrom = performance.now();
    await sleep(QUIET_MS);
    sampler.mark();
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    lag.enable();
    const offender = await runSession(session, { server, t0, deadline, sockets, ctx });
    await sleepUntil(deadline);
    const t1 = performance.now();
    lag.disable();
    sampler.stop();
    const window = sampler.proc.filter((s) => s.atMs >= t0 - SAMPLE_INTERVAL_MS);
    const rss = window.map((s) => mb(s.rssBytes)).filter((v) => v > 0);
    const last = window[window.length - 1];
    const { fps, minFps } = sampler.fps(t0, t1);
    return {
      session,
      peer,
      seconds: (t1 - t0) / 1000,
      quiet: { probe: probe.stats(quietFrom, t0), fps: sampler.fps(quietFrom, t0).fps },
      probe: probe.stats(t0, t1),
      rssStartMB: rss[0] ?? NaN,
      rssMaxMB: rss.length ? Math.max(...rss) : NaN,
      rssEndMB: rss[rss.length - 1] ?? NaN,
      serverCpuPercent: window.length > 1 ? cpuPercent(window[0], last) : NaN,
      fps,
      minFps,
      bystanderClosed: reference.closed,
      offender,
      serverExited: last === undefined || last.processes === 0,
      benchLagMs: lag.max / 1e6,
    };
  } catch (error) {
    ctx.log(`  hostile ${session} on ${peer}: FAILED: ${String(error)}`);
    return failedRun(session, peer, String(error));
  } finally {
    lag.disable();
    sampler?.stop();
    probe?.stop();
    sockets.closeAll();
    reference?.close();
    await publisher?.stop();
    await server?.stop(STOP_GRACE_MS);
  }
}

function failedRun(
  session: HostileSessionName,
  peer: PeerName,
  error?: string,
  skipped?: string,
): HostileRun {
  const none: ProbeStats = { count: 0, p50Ms: NaN, worstMs: NaN, unanswered: false, failures: 0 };
  return {
    session,
    peer,
    seconds: 0,
    quiet: { probe: none, fps: NaN },
    probe: none,
    rssStartMB: NaN,
    rssMaxMB: NaN,
    rssEndMB: NaN,
    serverCpuPercent: NaN,
    fps: NaN,
    minFps: NaN,
    bystanderClosed: false,
    offender: {
      connections: 0,
      closedByServer: 0,
      firstCloseMs: undefined,
      openAtEnd: 0,
      bytesSent: 0,
    },
    serverExited: false,
    benchLagMs: NaN,
    error,
    skipped,
  };
}

/** Every session of `--hostile-sessions`, one after the other, each peer on a fresh server. */
export async function runHostile(ctx: BenchContext): Promise<HostileRun[]> {
  const { options } = ctx;
  const runs: HostileRun[] = [];
  for (const session of options.hostileSessions) {
    for (const peer of ctx.peers) {
      const reason = notApplicable(session, peer);
      if (reason) {
        if (peer !== 'nginx') runs.push(failedRun(session, peer, undefined, reason));
        continue;
      }
      ctx.log(
        `hostile ${session} (${HOSTILE_LABELS[session]}) on ${peer}, ${options.hostileSeconds} s`,
      );
      const run = await runOne(ctx, session, peer);
      if (!run.error)
        ctx.log(
          `  probe worst ${run.probe.worstMs.toFixed(0)} ms, RSS +${(run.rssMaxMB - run.rssStartMB).toFixed(0)} MB, ` +
            `bystander ${run.fps.toFixed(1)} fps, offender closed ${run.offender.closedByServer}/${run.offender.connections}`,
        );
      runs.push(run);
    }
  }
  return runs;
}
