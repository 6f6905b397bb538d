/**
 * The load process: N lightweight players in one Node process, pinned by the orchestrator to its own
 * core. Driven over IPC (see lib/load-protocol.ts); exits when the orchestrator goes away.
 */
import { Histogram, percentilesOf } from './lib/histogram';
import type {
  LoadEnvelope,
  LoadReply,
  LoadReplyEnvelope,
  LoadRequest,
  ResumeReply,
  StartReply,
  WindowReply,
} from './lib/load-protocol';
import { RAMP_GRACE_MS, RAMP_LAST_START_MS } from './lib/load-protocol';
import { Player, VideoSink } from './lib/player';
import { createPlayer, startPlayer } from './lib/targets';

const STOP_WAIT_MS = 5000;
const MAX_ERRORS_REPORTED = 5;

/** Records publish → player latency of every video frame while a window is open. */
class LatencySink implements VideoSink {
  readonly histogram = new Histogram();
  private base: number | undefined;

  open(base: number | undefined): void {
    this.histogram.clear();
    this.base = base;
  }

  close(): void {
    this.base = undefined;
  }

  video(timestampMs: number): void {
    if (this.base === undefined) return;
    this.histogram.add(Date.now() - timestampMs - this.base);
  }
}

const sink = new LatencySink();
let players: Player[] = [];
let windowStart: { at: number; bytes: number[]; players: Player[] } | undefined;

async function startPlayers(request: Extract<LoadRequest, { cmd: 'start' }>): Promise<StartReply> {
  const started = performance.now();
  const errors: string[] = [];
  let failed = 0;
  let connected = 0;
  let notStarted = 0;
  /** Cleared at the hard deadline: players that finish connecting later are closed, not counted. */
  let open = true;
  const inFlight = new Set<Promise<void>>();
  const deadline = started + (request.count * 1000) / request.rate + RAMP_GRACE_MS;
  for (let i = 0; i < request.count; i++) {
    const due = started + (i * 1000) / request.rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    while (inFlight.size >= request.concurrency) await Promise.race(inFlight);
    if (performance.now() > deadline) {
      notStarted = request.count - i;
      break;
    }
    const player = createPlayer(request.target, sink);
    const attempt = startPlayer(player, request.target).then(
      () => {
        if (!open) return player.close();
        connected++;
        players.push(player);
      },
      (error: unknown) => {
        player.close();
        if (!open) return;
        failed++;
        if (errors.length < MAX_ERRORS_REPORTED) errors.push(String(error));
      },
    );
    const tracked = attempt.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  }
  // Players still connecting this long after the ramp deadline count as failed.
  const hardDeadline = Math.max(deadline, performance.now()) + RAMP_LAST_START_MS;
  await Promise.race([
    Promise.all(inFlight),
    new Promise((resolve) => setTimeout(resolve, hardDeadline - performance.now())),
  ]);
  open = false;
  failed += inFlight.size;
  if (inFlight.size > 0 && errors.length < MAX_ERRORS_REPORTED)
    errors.push(`${inFlight.size} still connecting at the ramp deadline`);
  return { connected, failed, notStarted, errors, ms: performance.now() - started };
}

function openWindow(base: number | undefined): Record<string, never> {
  sink.open(base);
  windowStart = {
    at: performance.now(),
    bytes: players.map((p) => p.stats.bytes),
    players: [...players],
  };
  return {};
}

function closeWindow(): WindowReply {
  sink.close();
  const start = windowStart;
  if (!start) throw new Error('window-end without window-start');
  windowStart = undefined;
  const bytes = start.players.map((p, i) => p.stats.bytes - start.bytes[i]);
  const closed = start.players.filter((p) => p.stats.closed).length;
  const keyframes = players
    .map((p) => p.stats.firstKeyframeMs)
    .filter((ms): ms is number => ms !== undefined);
  return {
    bytes,
    closed,
    latency: sink.histogram.summary(),
    firstKeyframe: percentilesOf(keyframes),
    seconds: (performance.now() - start.at) / 1000,
  };
}

let paused: Player[] = [];

async function resume(waitMs: number): Promise<ResumeReply> {
  const list = paused;
  paused = [];
  for (const p of list) p.resume();
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  return { paused: list.length, closedByServer: list.filter((p) => p.stats.closed).length };
}

async function stopAll(): Promise<Record<string, never>> {
  const list = players;
  players = [];
  paused = [];
  for (const p of list) p.close();
  await Promise.race([
    Promise.all(list.map((p) => p.closed)),
    new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS)),
  ]);
  return {};
}

async function handle(request: LoadRequest): Promise<LoadReply> {
  switch (request.cmd) {
    case 'start':
      return startPlayers(request);
    case 'window-start':
      return openWindow(request.latencyBaseMs);
    case 'window-end':
      return closeWindow();
    case 'pause':
      paused = players.slice(0, request.count);
      for (const p of paused) p.pause();
      return {};
    case 'resume':
      return resume(request.waitMs);
    case 'stop':
      return stopAll();
  }
}

process.on('message', (message: LoadEnvelope) => {
  handle(message.request).then(
    (reply) => process.send?.({ id: message.id, reply } satisfies LoadReplyEnvelope),
    (error: unknown) =>
      process.send?.({ id: message.id, error: String(error) } satisfies LoadReplyEnvelope),
  );
});
process.on('disconnect', () => process.exit(0));
