import { ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { BenchContext, joinReference, publishUrl, ROOM, targetOf } from '../lib/context';
import { Percentiles, percentilesOf } from '../lib/histogram';
import { LoadClient } from '../lib/load-client';
import { LOAD_FLAGS, PeerServer, startPeer } from '../lib/peers';
import { freePorts, sample, sleep, stopChild } from '../lib/proc';
import { LoopPublisher } from '../lib/publisher';
import { probeFirstKeyframe } from '../lib/targets';

/**
 * README "Cluster" "Play anywhere", measured: N HTTP-FLV players spread over two edges of one origin (three
 * instances of ours and one redis-server). Origin egress should be one stream per edge whatever N is;
 * an edge should cost what a single node costs per delivered Gbit; a new player on an edge should get
 * its first key frame as fast as on the origin.
 */
export interface ClusterRun {
  readonly available: boolean;
  readonly reason?: string;
  readonly players: number;
  readonly windowSeconds: number;
  /** The origin's players during the window: the edges' upstreams (protocol `relay`). */
  readonly originPlayers: number;
  /** What the origin sent to players in the window, in streams of the clip's rate. */
  readonly originEgressStreams: number;
  readonly single: { readonly cpuSecondsPerGbit: number; readonly deliveredGbps: number };
  readonly edges: { readonly cpuSecondsPerGbit: number; readonly deliveredGbps: number };
  /** edges / single − 1. */
  readonly edgeCostDelta: number;
  /** First key frame of the first player on an edge (the pull starts then), ms. */
  readonly coldFirstKeyframeMs: number | undefined;
  /** First key frame of new players on an edge already pulling the room. */
  readonly edgeFirstKeyframe: Percentiles;
  readonly originFirstKeyframe: Percentiles;
  readonly errors: string[];
}

const START_CONCURRENCY = 64;

export async function runCluster(ctx: BenchContext): Promise<ClusterRun> {
  const { options } = ctx;
  const players = Math.max(2, options.players[0] ?? 200);
  const empty = {
    players,
    windowSeconds: 0,
    originPlayers: 0,
    originEgressStreams: NaN,
    single: { cpuSecondsPerGbit: NaN, deliveredGbps: NaN },
    edges: { cpuSecondsPerGbit: NaN, deliveredGbps: NaN },
    edgeCostDelta: NaN,
    coldFirstKeyframeMs: undefined,
    edgeFirstKeyframe: percentilesOf([]),
    originFirstKeyframe: percentilesOf([]),
    errors: [],
  };
  if (!ctx.peers.includes('ours')) return { ...empty, available: false, reason: 'ours not built' };
  const perEdge = Math.floor(players / 2);
  ctx.log(
    `cluster: two single nodes with ${perEdge} HTTP-FLV players each, then ${players} over two edges of one origin`,
  );
  const single = await singleNodes(ctx, perEdge);
  const redis = await startRedis();
  if (!redis) return { ...empty, available: false, reason: 'redis-server not installed' };
  const cluster = (id: string) => [
    ...LOAD_FLAGS,
    `--redis_addr=127.0.0.1:${redis.port}`,
    '--cluster.enabled=true',
    `--cluster.node_id=${id}`,
  ];
  // Edges on the server core (what is measured); the origin (one publisher, two upstreams) on the load core.
  const servers: PeerServer[] = [];
  const loads: LoadClient[] = [];
  let publisher: LoopPublisher | undefined;
  try {
    const origin = await startPeer('ours', {
      core: options.loadCore,
      extraFlags: cluster('origin'),
    });
    servers.push(origin);
    const edges = [
      await startPeer('ours', { core: options.serverCore, extraFlags: cluster('edge-1') }),
      await startPeer('ours', { core: options.serverCore, extraFlags: cluster('edge-2') }),
    ];
    servers.push(...edges);
    publisher = new LoopPublisher(ctx.clip.path, publishUrl(origin), options.loadCore);
    const originReference = await joinReference(targetOf(origin, 'flv'));
    await sleep(2000); // a full GOP in the origin's cache
    // The first player on an edge starts its pull.
    const coldStart = performance.now();
    const edgeReference = await joinReference(targetOf(edges[0], 'flv'));
    const coldFirstKeyframeMs = performance.now() - coldStart;
    const errors: string[] = [];
    for (const [index, edge] of edges.entries()) {
      const load = new LoadClient(options.loadCore);
      loads.push(load);
      const started = await load.start({
        cmd: 'start',
        target: targetOf(edge, 'flv'),
        count: index === 0 ? perEdge : players - perEdge,
        rate: options.rate,
        concurrency: START_CONCURRENCY,
      });
      errors.push(...started.errors);
    }
    await sleep(options.warmup * 1000);
    const before = edges.map((edge) => sample(edge.pids));
    const originBefore = await originPlayerBytes(origin);
    for (const load of loads) await load.windowStart(undefined);
    const reference0 = edgeReference.bytes;
    await sleep(options.seconds * 1000);
    const windows = await Promise.all(loads.map((load) => load.windowEnd()));
    const after = edges.map((edge) => sample(edge.pids));
    const originAfter = await originPlayerBytes(origin);
    const windowSeconds = (after[0].atMs - before[0].atMs) / 1000;
    // Each edge's CPU over what it delivered (the reference player is on the first edge); their mean.
    const gbits = windows.map(
      (window, index) =>
        ((window.bytes.reduce((a, b) => a + b, 0) +
          (index === 0 ? edgeReference.bytes - reference0 : 0)) *
          8) /
        1e9,
    );
    const gbit = gbits[0] + gbits[1];
    const edgeCost =
      gbits
        .map((edgeGbit, index) => (after[index].cpuSeconds - before[index].cpuSeconds) / edgeGbit)
        .reduce((a, b) => a + b, 0) / gbits.length;
    const edgeProbes = await probeFirstKeyframe(targetOf(edges[1], 'flv'), options.probes);
    const originProbes = await probeFirstKeyframe(targetOf(origin, 'flv'), options.probes);
    edgeReference.close();
    originReference.close();
    // The origin's own reference player is one of its players, and not an upstream.
    const originEgressBytes = originAfter.relayBytes - originBefore.relayBytes;
    const result: ClusterRun = {
      available: true,
      players,
      windowSeconds,
      originPlayers: originAfter.relays,
      originEgressStreams: (originEgressBytes * 8) / (ctx.clip.mediaBitsPerSecond * windowSeconds),
      single,
      edges: { cpuSecondsPerGbit: edgeCost, deliveredGbps: gbit / windowSeconds },
      edgeCostDelta: edgeCost / single.cpuSecondsPerGbit - 1,
      coldFirstKeyframeMs,
      edgeFirstKeyframe: percentilesOf(edgeProbes.values),
      originFirstKeyframe: percentilesOf(originProbes.values),
      errors: errors.slice(0, 5),
    };
    ctx.log(
      `  cluster: origin upstreams ${result.originPlayers}, egress ${result.originEgressStreams.toFixed(2)} streams; ` +
        `edge ${edgeCost.toFixed(3)} vs single ${single.cpuSecondsPerGbit.toFixed(3)} CPU-s/Gbit`,
    );
    return result;
  } catch (error) {
    ctx.log(`  cluster: FAILED: ${String(error)}\n${servers.map((s) => s.logTail()).join('\n')}`);
    return { ...empty, single, available: false, reason: String(error) };
  } finally {
    for (const load of loads) await load.close();
    await publisher?.stop();
    for (const server of servers.reverse()) await server.stop();
    await stopChild(redis.child);
  }
}

/**
 * What an edge is compared with: two independent nodes without the cluster, side by side on the same core
 * as the edges, each with its own publisher and N/2 players (so both sides share the core alike and each
 * process carries the same fixed cost). Their mean CPU-seconds per delivered Gbit.
 */
async function singleNodes(ctx: BenchContext, perNode: number): Promise<ClusterRun['single']> {
  const { options, clip } = ctx;
  const servers: PeerServer[] = [];
  const publishers: LoopPublisher[] = [];
  const loads: LoadClient[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const server = await startPeer('ours', { core: options.serverCore, extraFlags: LOAD_FLAGS });
      servers.push(server);
      publishers.push(new LoopPublisher(clip.path, publishUrl(server), options.loadCore));
    }
    const references = await Promise.all(
      servers.map((server) => joinReference(targetOf(server, 'flv'))),
    );
    await sleep(2000);
    for (const server of servers) {
      const load = new LoadClient(options.loadCore);
      loads.push(load);
      await load.start({
        cmd: 'start',
        target: targetOf(server, 'flv'),
        count: perNode,
        rate: options.rate,
        concurrency: START_CONCURRENCY,
      });
    }
    await sleep(options.warmup * 1000);
    const before = servers.map((server) => sample(server.pids));
    const references0 = references.map((reference) => reference.bytes);
    for (const load of loads) await load.windowStart(undefined);
    await sleep(options.seconds * 1000);
    const windows = await Promise.all(loads.map((load) => load.windowEnd()));
    const after = servers.map((server) => sample(server.pids));
    const gbits = windows.map(
      (window, i) =>
        ((window.bytes.reduce((a, b) => a + b, 0) + references[i].bytes - references0[i]) * 8) /
        1e9,
    );
    for (const reference of references) reference.close();
    const costs = gbits.map((gbit, i) => (after[i].cpuSeconds - before[i].cpuSeconds) / gbit);
    return {
      cpuSecondsPerGbit: (costs[0] + costs[1]) / 2,
      deliveredGbps: (gbits[0] + gbits[1]) / ((after[0].atMs - before[0].atMs) / 1000),
    };
  } finally {
    for (const load of loads) await load.close();
    for (const publisher of publishers) await publisher.stop();
    for (const server of servers) await server.stop();
  }
}

/** The origin's `relay` players (edges' upstreams) of the bench room and the bytes they were sent. */
async function originPlayerBytes(
  origin: PeerServer,
): Promise<{ relays: number; relayBytes: number }> {
  const answer = await fetch(`http://127.0.0.1:${origin.apiPort}/stat/livestat`);
  const body = (await answer.json()) as {
    data: {
      players: {
        key: string;
        protocol: string;
        video_total_bytes: number;
        audio_total_bytes: number;
      }[];
    };
  };
  const relays = body.data.players.filter(
    (item) => item.key === `live/${ROOM}` && item.protocol === 'relay',
  );
  return {
    relays: relays.length,
    relayBytes: relays.reduce(
      (sum, item) => sum + item.video_total_bytes + item.audio_total_bytes,
      0,
    ),
  };
}

async function startRedis(): Promise<{ port: number; child: ChildProcess } | undefined> {
  const [port] = await freePorts(1);
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore', cwd: tmpdir() },
  );
  const failed = await Promise.race([
    new Promise<boolean>((resolve) => child.once('error', () => resolve(true))),
    sleep(500).then(() => false),
  ]);
  return failed ? undefined : { port, child };
}

/** The report's section. */
export function printCluster(run: ClusterRun): string {
  if (!run.available) return `## cluster\n\nnot run: ${run.reason ?? '?'}`;
  const ms = (p: Percentiles) => `${p.p50.toFixed(0)} / ${p.max.toFixed(0)} ms`;
  return [
    '## cluster: N HTTP-FLV players over two edges of one origin',
    '',
    '| measure | value |',
    '| --- | --- |',
    `| players (split over two edges; the comparison: two single nodes with as many each) | ${run.players} |`,
    `| origin upstreams (relay players) during the window | ${run.originPlayers} |`,
    `| origin egress to the edges | ${run.originEgressStreams.toFixed(2)} × the clip's rate |`,
    `| edge CPU-s per delivered Gbit (mean of the two) | ${run.edges.cpuSecondsPerGbit.toFixed(3)} (${run.edges.deliveredGbps.toFixed(2)} Gbit/s in all) |`,
    `| single node CPU-s per delivered Gbit (mean of the two) | ${run.single.cpuSecondsPerGbit.toFixed(3)} (${run.single.deliveredGbps.toFixed(2)} Gbit/s in all) |`,
    `| edge cost vs single node | ${(run.edgeCostDelta * 100).toFixed(1)} % |`,
    `| first key frame, first player on an edge (starts the pull) | ${run.coldFirstKeyframeMs?.toFixed(0) ?? '?'} ms |`,
    `| first key frame on an edge already pulling, p50 / max | ${ms(run.edgeFirstKeyframe)} |`,
    `| first key frame on the origin, p50 / max | ${ms(run.originFirstKeyframe)} |`,
  ].join('\n');
}
