import { BenchContext, joinReference, peerPlays, publishUrl, targetOf } from '../lib/context';
import { Percentiles, percentilesOf } from '../lib/histogram';
import { LoadClient } from '../lib/load-client';
import type { PlayProtocol } from '../lib/load-protocol';
import { LOAD_FLAGS, PeerName, startPeer } from '../lib/peers';
import { cpuPercent, sample, sleep, tcpOutSegments } from '../lib/proc';
import { LoopPublisher } from '../lib/publisher';
import { probeFirstKeyframe } from '../lib/targets';

/** A player kept up when it received at least this share of the reference player's bytes. */
export const KEPT_UP_SHARE = 0.95;
/** Ladder steps stop for a peer once fewer than this share of players keep up (saves minutes). */
const GIVE_UP_SHARE = 0.5;
const START_CONCURRENCY = 64;
const SETTLE_AFTER_STOP_MS = 1500;
const IDLE_SECONDS = 3;

export interface LadderStep {
  readonly players: number;
  readonly connected: number;
  readonly failed: number;
  /** Not begun: the ramp ran out of time (the server answered handshakes too slowly). */
  readonly notStarted: number;
  readonly rampSeconds: number;
  readonly windowSeconds: number;
  /** What the reference player got during the window, Mbit/s, and the clip's nominal rate. */
  readonly referenceMbps: number;
  readonly nominalMbps: number;
  readonly keptUp: number;
  readonly keptUpShare: number;
  readonly closedDuringWindow: number;
  readonly deliveredGbit: number;
  readonly deliveredGbps: number;
  readonly serverCpuSeconds: number;
  readonly serverCpuPercent: number;
  readonly cpuSecondsPerGbit: number;
  readonly serverRssMB: number;
  readonly serverRssMaxMB: number;
  readonly loadCpuPercent: number;
  /**
   * TCP segments the machine sent per MB delivered during the window (system-wide: the server's data
   * segments and the players' ACKs). Fewer, larger segments mean less kernel work per byte.
   */
  readonly tcpSegmentsPerMB: number;
  /** Publish → player latency above the unloaded reference's best, ms (video frames in the window). */
  readonly latency: Percentiles;
  /** First key frame of the load players as they joined (during the ramp). */
  readonly joinFirstKeyframe: Percentiles;
  /** First key frame of new players joining after the window, with the load still on. */
  readonly probeFirstKeyframe: Percentiles;
  readonly probeFailures: number;
  readonly errors: string[];
}

export interface LadderRun {
  readonly peer: PeerName;
  readonly protocol: PlayProtocol;
  /** Publisher + reference player only. */
  readonly idle?: {
    readonly cpuPercent: number;
    readonly rssMB: number;
    readonly firstKeyframe: Percentiles;
    readonly probeFailures: number;
  };
  readonly steps: LadderStep[];
  readonly skippedSteps: number[];
  readonly error?: string;
}

export async function runLadder(ctx: BenchContext): Promise<LadderRun[]> {
  const runs: LadderRun[] = [];
  for (const protocol of ctx.options.protocols) {
    for (const peer of ctx.peers) {
      if (!peerPlays(peer, protocol)) continue;
      ctx.log(`ladder ${protocol} × ${peer}: ${ctx.options.players.join(', ')} players`);
      runs.push(await ladderFor(ctx, peer, protocol));
    }
  }
  return runs;
}

async function ladderFor(
  ctx: BenchContext,
  peer: PeerName,
  protocol: PlayProtocol,
): Promise<LadderRun> {
  const { options, clip } = ctx;
  const steps: LadderStep[] = [];
  const skippedSteps: number[] = [];
  const server = await startPeer(peer, { core: options.serverCore, extraFlags: LOAD_FLAGS });
  const publisher = new LoopPublisher(clip.path, publishUrl(server), options.loadCore);
  const load = new LoadClient(options.loadCore);
  let idle: LadderRun['idle'];
  try {
    const target = targetOf(server, protocol);
    const reference = await joinReference(target);
    try {
      await sleep(2000); // a full GOP in the cache
      const before = sample(server.pids);
      const probes = await probeFirstKeyframe(target, options.probes);
      await sleep(Math.max(0, IDLE_SECONDS * 1000 - (performance.now() - before.atMs)));
      const after = sample(server.pids);
      idle = {
        cpuPercent: cpuPercent(before, after),
        rssMB: after.rssBytes / 1e6,
        firstKeyframe: percentilesOf(probes.values),
        probeFailures: probes.failed,
      };
      for (const players of options.players) {
        if (steps.length > 0 && steps[steps.length - 1].keptUpShare < GIVE_UP_SHARE) {
          skippedSteps.push(players);
          continue;
        }
        if (!publisher.running) throw new Error(`the publisher stopped: ${publisher.errors}`);
        const step = await ladderStep(ctx, { server, load, reference, target, players });
        steps.push(step);
        ctx.log(
          `  ${peer} ${protocol} ${players}: kept up ${(step.keptUpShare * 100).toFixed(1)} %, ` +
            `CPU ${step.serverCpuPercent.toFixed(0)} %, ${step.cpuSecondsPerGbit.toFixed(3)} CPU-s/Gbit, ` +
            `RSS ${step.serverRssMB.toFixed(0)} MB, load CPU ${step.loadCpuPercent.toFixed(0)} %`,
        );
      }
    } finally {
      reference.close();
    }
    return { peer, protocol, idle, steps, skippedSteps };
  } catch (error) {
    ctx.log(`  ${peer} ${protocol}: FAILED: ${String(error)}\n${server.logTail()}`);
    return { peer, protocol, idle, steps, skippedSteps, error: String(error) };
  } finally {
    await load.close();
    await publisher.stop();
    await server.stop();
  }
}

interface StepInput {
  readonly server: Awaited<ReturnType<typeof startPeer>>;
  readonly load: LoadClient;
  readonly reference: Awaited<ReturnType<typeof joinReference>>;
  readonly target: ReturnType<typeof targetOf>;
  readonly players: number;
}

async function ladderStep(ctx: BenchContext, input: StepInput): Promise<LadderStep> {
  const { options, clip } = ctx;
  const { server, load, reference, target, players } = input;
  const started = await load.start({
    cmd: 'start',
    target,
    count: players,
    rate: options.rate,
    concurrency: START_CONCURRENCY,
  });
  await sleep(options.warmup * 1000);
  const server0 = sample(server.pids);
  const load0 = sample([load.pid]);
  const reference0 = reference.bytes;
  const segments0 = tcpOutSegments();
  await load.windowStart(reference.latencyBase);
  let rssMax = server0.rssBytes;
  const end = server0.atMs + options.seconds * 1000;
  while (performance.now() < end) {
    await sleep(Math.min(1000, end - performance.now()));
    rssMax = Math.max(rssMax, sample(server.pids).rssBytes);
  }
  const window = await load.windowEnd();
  const server1 = sample(server.pids);
  const load1 = sample([load.pid]);
  const segments1 = tcpOutSegments();
  const referenceBytes = reference.bytes - reference0;
  const probes = await probeFirstKeyframe(target, options.probes);
  await load.stopPlayers();
  await sleep(SETTLE_AFTER_STOP_MS);

  const windowSeconds = (server1.atMs - server0.atMs) / 1000;
  const threshold = KEPT_UP_SHARE * referenceBytes;
  const keptUp = window.bytes.filter((bytes) => bytes >= threshold).length;
  const deliveredGbit = ((window.bytes.reduce((a, b) => a + b, 0) + referenceBytes) * 8) / 1e9;
  const serverCpuSeconds = server1.cpuSeconds - server0.cpuSeconds;
  return {
    players,
    connected: started.connected,
    failed: started.failed,
    notStarted: started.notStarted,
    rampSeconds: started.ms / 1000,
    windowSeconds,
    referenceMbps: (referenceBytes * 8) / 1e6 / windowSeconds,
    nominalMbps: clip.mediaBitsPerSecond / 1e6,
    keptUp,
    keptUpShare: keptUp / players,
    closedDuringWindow: window.closed,
    deliveredGbit,
    deliveredGbps: deliveredGbit / windowSeconds,
    serverCpuSeconds,
    serverCpuPercent: cpuPercent(server0, server1),
    cpuSecondsPerGbit: deliveredGbit > 0 ? serverCpuSeconds / deliveredGbit : NaN,
    serverRssMB: server1.rssBytes / 1e6,
    serverRssMaxMB: Math.max(rssMax, server1.rssBytes) / 1e6,
    loadCpuPercent: cpuPercent(load0, load1),
    tcpSegmentsPerMB:
      deliveredGbit > 0 ? (segments1 - segments0) / ((deliveredGbit * 1e9) / 8 / 1e6) : NaN,
    latency: window.latency,
    joinFirstKeyframe: window.firstKeyframe,
    probeFirstKeyframe: percentilesOf(probes.values),
    probeFailures: probes.failed,
    errors: started.errors,
  };
}
