import { BenchContext, joinReference, peerPlays, publishUrl, targetOf } from '../lib/context';
import { LoadClient } from '../lib/load-client';
import type { PlayProtocol } from '../lib/load-protocol';
import { LOAD_FLAGS, PeerName, PeerServer, startPeer } from '../lib/peers';
import { cpuPercent, ProcSample, sample, sleep } from '../lib/proc';
import { LoopPublisher } from '../lib/publisher';
import { slope } from '../lib/report';
import type { ReferencePlayer } from '../lib/targets';

/** Players read normally this long before they stall. */
const READ_BEFORE_STALL_MS = 3000;
/** After the stall they read again this long, to see which ones the server had closed. */
const RESUME_WAIT_MS = 3000;
const SAMPLE_INTERVAL_MS = 1000;

export interface SlowRun {
  readonly peer: PeerName;
  readonly protocol: PlayProtocol;
  readonly stalledPlayers: number;
  readonly stallSeconds: number;
  readonly rssStartMB: number;
  readonly rssEndMB: number;
  readonly rssMaxMB: number;
  /** Least-squares slope of server RSS during the stall, MB/s. */
  readonly rssSlopeMBps: number;
  readonly serverCpuPercent: number;
  /** Stalled players the server had disconnected by the end (bounded queue + write_timeout). */
  readonly closedByServer: number;
  /** A healthy viewer during the stall, Mbit/s (nominal: the clip's rate). */
  readonly referenceMbps: number;
  readonly nominalMbps: number;
  /** RSS samples [s since stall, MB]. */
  readonly samples: [number, number][];
  readonly error?: string;
}

interface Instance {
  readonly peer: PeerName;
  readonly protocol: PlayProtocol;
  readonly server: PeerServer;
  readonly publisher: LoopPublisher;
  readonly load: LoadClient;
  reference?: ReferencePlayer;
}

/**
 * Readers that stop reading. Every (peer, protocol) pair gets its own server, publisher, reference
 * player and load process, and all stall in the same window: the load is small (a few % of a core per
 * server), RSS is per process, and the pairs share the window's noise.
 */
export async function runSlowReaders(ctx: BenchContext): Promise<SlowRun[]> {
  const { options, clip } = ctx;
  const pairs = options.protocols.flatMap((protocol) =>
    ctx.peers.filter((peer) => peerPlays(peer, protocol)).map((peer) => ({ peer, protocol })),
  );
  if (pairs.length === 0) return [];
  ctx.log(
    `slow readers: ${options.slowPlayers} players stall for ${options.slowSeconds} s on ` +
      `${pairs.map((p) => `${p.peer}/${p.protocol}`).join(', ')} at once`,
  );
  const instances: Instance[] = [];
  try {
    for (const { peer, protocol } of pairs) {
      const server = await startPeer(peer, { core: options.serverCore, extraFlags: LOAD_FLAGS });
      instances.push({
        peer,
        protocol,
        server,
        publisher: new LoopPublisher(clip.path, publishUrl(server), options.loadCore),
        load: new LoadClient(options.loadCore),
      });
    }
    for (const instance of instances) {
      const target = targetOf(instance.server, instance.protocol);
      instance.reference = await joinReference(target);
      const started = await instance.load.start({
        cmd: 'start',
        target,
        count: options.slowPlayers,
        rate: 100,
        concurrency: 16,
      });
      if (started.failed + started.notStarted > 0)
        throw new Error(`${instance.peer}/${instance.protocol}: ${started.errors.join('; ')}`);
    }
    await sleep(READ_BEFORE_STALL_MS);
    await Promise.all(instances.map((instance) => instance.load.pause(options.slowPlayers)));
    const first = instances.map((instance) => sample(instance.server.pids));
    const reference0 = instances.map((instance) => instance.reference?.bytes ?? 0);
    const series: ProcSample[][] = first.map((s) => [s]);
    const end = first[0].atMs + options.slowSeconds * 1000;
    while (performance.now() < end) {
      await sleep(Math.min(SAMPLE_INTERVAL_MS, end - performance.now()));
      instances.forEach((instance, i) => series[i].push(sample(instance.server.pids)));
    }
    const referenceBytes = instances.map(
      (instance, i) => (instance.reference?.bytes ?? 0) - reference0[i],
    );
    const resumed = await Promise.all(
      instances.map((instance) => instance.load.resume(RESUME_WAIT_MS)),
    );
    return instances.map((instance, i) => {
      const points = series[i];
      const t0 = points[0].atMs;
      const xs = points.map((p) => (p.atMs - t0) / 1000);
      const ys = points.map((p) => p.rssBytes / 1e6);
      const last = points[points.length - 1];
      const seconds = (last.atMs - t0) / 1000;
      return {
        peer: instance.peer,
        protocol: instance.protocol,
        stalledPlayers: options.slowPlayers,
        stallSeconds: seconds,
        rssStartMB: ys[0],
        rssEndMB: ys[ys.length - 1],
        rssMaxMB: Math.max(...ys),
        rssSlopeMBps: slope(xs, ys),
        serverCpuPercent: cpuPercent(points[0], last),
        closedByServer: resumed[i].closedByServer,
        referenceMbps: (referenceBytes[i] * 8) / 1e6 / seconds,
        nominalMbps: clip.mediaBitsPerSecond / 1e6,
        samples: xs.map((x, j) => [Math.round(x * 10) / 10, Math.round(ys[j] * 10) / 10]),
      };
    });
  } catch (error) {
    ctx.log(`  slow readers: FAILED: ${String(error)}`);
    return pairs.map(({ peer, protocol }) => ({
      peer,
      protocol,
      stalledPlayers: options.slowPlayers,
      stallSeconds: 0,
      rssStartMB: NaN,
      rssEndMB: NaN,
      rssMaxMB: NaN,
      rssSlopeMBps: NaN,
      serverCpuPercent: NaN,
      closedByServer: 0,
      referenceMbps: NaN,
      nominalMbps: clip.mediaBitsPerSecond / 1e6,
      samples: [],
      error: String(error),
    }));
  } finally {
    for (const instance of instances) {
      instance.reference?.close();
      await instance.load.close();
      await instance.publisher.stop();
      await instance.server.stop();
    }
  }
}
