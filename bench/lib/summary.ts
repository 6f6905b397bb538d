import type { ApiRun } from '../scenarios/api';
import type { HlsRun } from '../scenarios/hls';
import { HOSTILE_LABELS, HostileRun } from '../scenarios/hostile';
import { KEPT_UP_SHARE, LadderRun } from '../scenarios/ladder';
import type { SlowRun } from '../scenarios/slow';
import type { PlayProtocol } from './load-protocol';
import type { PeerName } from './peers';
import { Cell, format, percent, ratio, table } from './report';

/** Load process above this CPU share: the client, not the server, may be the limit. */
const LOAD_BOUND_PERCENT = 90;
/** A step "fed" its players when this share kept up and the reference got this share of the clip rate. */
const FED_SHARE = 0.95;
/** RSS slopes below this (MB/s) are taken as flat. */
const MIN_GROWTH_MBPS = 0.05;

const PROTOCOL_LABEL: Record<PlayProtocol, string> = { rtmp: 'RTMP', flv: 'HTTP-FLV' };

function capacity(run: LadderRun): number | undefined {
  const fed = run.steps.filter(
    (s) => s.keptUpShare >= FED_SHARE && s.referenceMbps >= FED_SHARE * s.nominalMbps,
  );
  return fed.length > 0 ? Math.max(...fed.map((s) => s.players)) : undefined;
}

export function printLadder(runs: readonly LadderRun[], peers: readonly PeerName[]): string {
  const parts: string[] = [];
  const protocols = [...new Set(runs.map((r) => r.protocol))];
  for (const protocol of protocols) {
    const label = PROTOCOL_LABEL[protocol];
    const mine = runs.filter((r) => r.protocol === protocol);
    const rows: Cell[][] = [];
    const players = [...new Set(mine.flatMap((r) => r.steps.map((s) => s.players)))].sort(
      (a, b) => a - b,
    );
    for (const n of players) {
      for (const run of mine) {
        const s = run.steps.find((step) => step.players === n);
        if (!s) continue;
        rows.push([
          run.peer,
          n,
          s.failed + s.notStarted > 0
            ? `${s.connected} (${s.failed + s.notStarted} failed)`
            : s.connected,
          percent(s.keptUpShare),
          `${format(s.referenceMbps)} / ${format(s.nominalMbps)}`,
          s.deliveredGbps,
          s.serverCpuPercent,
          s.cpuSecondsPerGbit,
          `${format(s.serverRssMB)} (${format(s.serverRssMaxMB)})`,
          `${format(s.latency.p50)} / ${format(s.latency.p95)}`,
          `${format(s.probeFirstKeyframe.p50)}${s.probeFailures ? ` (${s.probeFailures} none)` : ''}`,
          s.loadCpuPercent > LOAD_BOUND_PERCENT
            ? `${format(s.loadCpuPercent)} !`
            : s.loadCpuPercent,
          s.tcpSegmentsPerMB,
        ]);
      }
    }
    parts.push(
      table(
        `${label}: N players of one stream (window ${format(mine[0]?.steps[0]?.windowSeconds)} s)`,
        [
          'peer',
          'N',
          'connected',
          `kept up (≥${KEPT_UP_SHARE * 100} % of ref)`,
          'ref / clip Mbit/s',
          'delivered Gbit/s',
          'server CPU %',
          'CPU-s per Gbit',
          'RSS MB (max)',
          'latency p50 / p95 ms',
          'new player 1st key frame ms',
          'load CPU %',
          'TCP segs per MB',
        ],
        rows,
      ),
    );
    parts.push(
      table(
        `${label}: idle (publisher + 1 player) and capacity`,
        [
          'peer',
          'idle CPU %',
          'idle RSS MB',
          '1st key frame p50 / max ms',
          'largest N fed (≥95 % kept up)',
          'notes',
        ],
        mine.map((run) => [
          run.peer,
          run.idle?.cpuPercent,
          run.idle?.rssMB,
          run.idle
            ? `${format(run.idle.firstKeyframe.p50)} / ${format(run.idle.firstKeyframe.max)}`
            : undefined,
          capacity(run) ?? 'none',
          [
            run.error ? `error: ${run.error.slice(0, 120)}` : '',
            run.skippedSteps.length
              ? `skipped ${run.skippedSteps.join(', ')} (< 50 % kept up before)`
              : '',
            run.steps.some((s) => s.loadCpuPercent > LOAD_BOUND_PERCENT)
              ? 'load process saturated at some N (!)'
              : '',
          ]
            .filter(Boolean)
            .join('; '),
        ]),
      ),
    );
    const ours = mine.find((r) => r.peer === 'ours');
    for (const other of mine.filter((r) => r.peer !== 'ours')) {
      if (!ours || !peers.includes(other.peer)) continue;
      const ratioRows: Cell[][] = players.map((n) => {
        const a = ours.steps.find((s) => s.players === n);
        const b = other.steps.find((s) => s.players === n);
        return [
          n,
          a && b ? `${percent(a.keptUpShare)} vs ${percent(b.keptUpShare)}` : undefined,
          ratio(a?.serverCpuPercent, b?.serverCpuPercent),
          ratio(a?.cpuSecondsPerGbit, b?.cpuSecondsPerGbit),
          ratio(a?.serverRssMB, b?.serverRssMB),
          ratio(a?.latency.p95, b?.latency.p95),
          ratio(a?.probeFirstKeyframe.p50, b?.probeFirstKeyframe.p50),
        ];
      });
      ratioRows.push([
        'idle',
        undefined,
        ratio(ours.idle?.cpuPercent, other.idle?.cpuPercent),
        undefined,
        ratio(ours.idle?.rssMB, other.idle?.rssMB),
        undefined,
        ratio(ours.idle?.firstKeyframe.p50, other.idle?.firstKeyframe.p50),
      ]);
      parts.push(
        table(
          `${label}: ours / ${other.peer} (below 1× = ours uses less / is faster)`,
          [
            'N',
            'kept up ours vs peer',
            'CPU %',
            'CPU-s per Gbit',
            'RSS',
            'latency p95',
            '1st key frame p50',
          ],
          ratioRows,
        ),
      );
    }
  }
  return parts.join('\n');
}

export function printSlow(runs: readonly SlowRun[]): string {
  const rows: Cell[][] = runs.map((r) => [
    PROTOCOL_LABEL[r.protocol],
    r.peer,
    r.stalledPlayers,
    r.stallSeconds,
    r.rssStartMB,
    r.rssEndMB,
    r.rssMaxMB,
    r.rssSlopeMBps,
    r.closedByServer,
    r.serverCpuPercent,
    `${format(r.referenceMbps)} / ${format(r.nominalMbps)}`,
    r.error ? r.error.slice(0, 80) : '',
  ]);
  const parts = [
    table(
      'Readers that stop reading (every peer and protocol in the same window)',
      [
        'protocol',
        'peer',
        'stalled',
        'seconds',
        'RSS start MB',
        'RSS end MB',
        'RSS max MB',
        'RSS slope MB/s',
        'closed by server',
        'server CPU %',
        'healthy viewer / clip Mbit/s',
        'error',
      ],
      rows,
    ),
  ];
  const ratioRows: Cell[][] = [];
  for (const protocol of [...new Set(runs.map((r) => r.protocol))]) {
    const ours = runs.find((r) => r.protocol === protocol && r.peer === 'ours');
    for (const other of runs.filter((r) => r.protocol === protocol && r.peer !== 'ours')) {
      if (!ours) continue;
      // A ratio of slopes means something only when both grow; flat or shrinking RSS is just noise.
      const growing = ours.rssSlopeMBps > MIN_GROWTH_MBPS && other.rssSlopeMBps > MIN_GROWTH_MBPS;
      ratioRows.push([
        PROTOCOL_LABEL[protocol],
        other.peer,
        `${format(ours.rssSlopeMBps)} vs ${format(other.rssSlopeMBps)}`,
        growing ? ratio(ours.rssSlopeMBps, other.rssSlopeMBps) : 'n/a (not both growing)',
        `${format(ours.rssEndMB - ours.rssStartMB)} vs ${format(other.rssEndMB - other.rssStartMB)}`,
        ratio(ours.rssMaxMB, other.rssMaxMB),
      ]);
    }
  }
  if (ratioRows.length > 0)
    parts.push(
      table(
        'Slow readers: ours vs peer',
        [
          'protocol',
          'peer',
          'RSS slope MB/s ours vs peer',
          'slope ratio',
          'RSS growth MB ours vs peer',
          'RSS max ratio',
        ],
        ratioRows,
      ),
    );
  return parts.join('\n');
}

export function printApi(run: ApiRun): string {
  const parts = [
    table(
      `Control API: GET /control/get?room=x with a JWT (autocannon -c ${run.connections} -d ${run.seconds})`,
      [
        'target',
        'req/s',
        'p50 ms',
        'p99 ms',
        'non-2xx',
        'errors',
        'server CPU %',
        'CPU ms per 1000 req',
        'RSS MB',
        'note',
      ],
      run.api.map((r) => [
        r.target,
        r.requestsPerSecond,
        r.latencyP50Ms,
        r.latencyP99Ms,
        r.non2xx,
        r.errors,
        r.serverCpuPercent,
        r.cpuMsPer1000,
        r.serverRssMB,
        r.note ?? '',
      ]),
    ),
  ];
  // Ours passes the secret as a string, like the first baseline: that is the like-for-like pair.
  const baseline = run.api.find((r) => r.target.startsWith('baseline'));
  if (baseline) {
    parts.push(
      table(
        'Control API: each / the baseline with the secret as a string (how ours passes it)',
        ['target', 'req/s ratio', 'CPU per request ratio', 'p99 ratio'],
        run.api
          .filter((r) => r !== baseline)
          .map((r) => [
            r.target,
            ratio(r.requestsPerSecond, baseline.requestsPerSecond),
            ratio(r.cpuMsPer1000, baseline.cpuMsPer1000),
            ratio(r.latencyP99Ms, baseline.latencyP99Ms),
          ]),
      ),
    );
  }
  parts.push(
    table(
      'Publish admission: `publish` → NetStream.Publish.Start, sequential fresh connections',
      ['target', 'publishes', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'failures', 'note'],
      run.admission.map((r) => [
        r.target,
        r.latency.count,
        r.latency.p50,
        r.latency.p95,
        r.latency.p99,
        r.latency.max,
        r.failures,
        r.note ?? '',
      ]),
    ),
  );
  if (run.notes.length > 0) parts.push(run.notes.map((note) => `note: ${note}`).join('\n'));
  return parts.join('\n');
}

export function printHls(run: HlsRun): string {
  if (!run.available)
    return `\n### HLS muxing CPU per stream\n\nTODO: not measured: ${run.reason ?? ''}\n`;
  return [
    table(
      'HLS muxing CPU per 2.6 Mbit/s stream (src/stream/protocols/hls HlsSegmenter, in-process, pinned)',
      [
        'media s',
        'CPU s',
        'CPU % of a core per stream',
        'streams per core',
        'µs per packet',
        'segments',
        'TS bytes / FLV bytes',
      ],
      [
        [
          run.mediaSeconds,
          run.cpuSeconds,
          run.cpuPercentPerStream,
          run.streamsPerCore,
          run.microsecondsPerPacket,
          run.segments,
          run.tsOverhead,
        ],
      ],
    ),
    `note: ${run.endToEnd}.`,
  ].join('\n');
}

const seconds = (ms: number | undefined) => (ms === undefined ? '—' : `${format(ms / 1000)} s`);

function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : NaN;
}

function offenderCell(run: HostileRun): string {
  if (run.skipped) return `n/a (${run.skipped})`;
  if (run.error) return `error: ${run.error.slice(0, 80)}`;
  const o = run.offender;
  const exited = run.serverExited ? '; server exited' : '';
  if (o.connections === 1)
    return `${o.closedByServer ? `closed at ${seconds(o.firstCloseMs)}` : 'not closed'}${exited}`;
  return `${o.closedByServer}/${o.connections} closed${o.closedByServer ? ` (first at ${seconds(o.firstCloseMs)})` : ''}${exited}`;
}

function probeCell(run: HostileRun | undefined): Cell {
  if (!run || run.skipped || run.error) return undefined;
  const worst = format(run.probe.worstMs);
  return run.probe.unanswered ? `≥ ${worst} (no answer)` : worst;
}

export function printHostile(runs: readonly HostileRun[]): string {
  if (runs.length === 0) return '';
  const peers = [...new Set(runs.map((r) => r.peer))];
  const both = peers.includes('ours') && peers.includes('nms');
  const find = (session: string, peer: string) =>
    runs.find((r) => r.session === session && r.peer === peer);
  const valid = (run: HostileRun | undefined) =>
    run && !run.skipped && !run.error ? run : undefined;
  const growth = (run: HostileRun | undefined) => {
    const r = valid(run);
    return r ? r.rssMaxMB - r.rssStartMB : undefined;
  };
  const sessions = [...new Set(runs.map((r) => r.session))];
  const header = ['session'];
  for (const peer of peers) header.push(`probe worst ms, ${peer}`);
  if (both) header.push('ours ÷ nms');
  for (const peer of peers) header.push(`RSS growth MB, ${peer}`);
  if (both) header.push('ours ÷ nms');
  for (const peer of peers) header.push(`bystander fps (slowest 1 s), ${peer}`);
  for (const peer of peers) header.push(`offender, ${peer}`);
  const rows: Cell[][] = sessions.map((session) => {
    const row: Cell[] = [`${session}: ${HOSTILE_LABELS[session]}`];
    for (const peer of peers) row.push(probeCell(find(session, peer)));
    if (both)
      row.push(
        ratio(
          valid(find(session, 'ours'))?.probe.worstMs,
          valid(find(session, 'nms'))?.probe.worstMs,
        ),
      );
    for (const peer of peers) row.push(growth(find(session, peer)));
    if (both) row.push(ratio(growth(find(session, 'ours')), growth(find(session, 'nms'))));
    for (const peer of peers) {
      const r = valid(find(session, peer));
      row.push(
        r
          ? `${format(r.fps)} (${format(r.minFps)})${r.bystanderClosed ? ' closed' : ''}`
          : undefined,
      );
    }
    for (const peer of peers) {
      const r = find(session, peer);
      row.push(r ? offenderCell(r) : undefined);
    }
    return row;
  });
  const window = runs.find((r) => !r.skipped && !r.error)?.seconds;
  const parts = [
    table(
      `Hostile sessions: one at a time, each on a fresh server with a publisher and one player (window ${format(window)} s)`,
      header,
      rows,
    ),
  ];
  const quiet = peers.map((peer) => {
    const mine = runs.filter((r) => r.peer === peer && !r.skipped && !r.error);
    return (
      `${peer}: probe worst ${format(median(mine.map((r) => r.quiet.probe.worstMs)))} ms, ` +
      `bystander ${format(median(mine.map((r) => r.quiet.fps)))} fps`
    );
  });
  parts.push(
    `quiet ${format(1.5)} s before each offender (median over sessions): ${quiet.join('; ')}`,
  );
  const amf = runs.filter((r) => r.session === 'amf' && r.offender.variants);
  if (amf.length > 0) {
    const names = [
      ...new Set(amf.flatMap((r) => (r.offender.variants ?? []).map((v) => v.variant))),
    ];
    parts.push(
      table(
        `amf: each variant (first round), ${'time from the wide commands to the follow-up createStream _result or the close'}`,
        ['variant', ...amf.map((r) => r.peer)],
        names.map((name) => [
          name,
          ...amf.map((r) => {
            const v = r.offender.variants?.find((x) => x.variant === name);
            if (!v) return 'not reached';
            return Number.isFinite(v.ms) ? `${v.outcome} ${format(v.ms)} ms` : v.outcome;
          }),
        ]),
      ),
    );
  }
  const notes = runs
    .filter((r) => !r.skipped && !r.error)
    .map(
      (r) =>
        `${r.session}/${r.peer}: ${r.offender.note ?? ''}` +
        `${r.offender.note ? '; ' : ''}server CPU ${format(r.serverCpuPercent)} %, ` +
        `RSS ${format(r.rssStartMB)} → max ${format(r.rssMaxMB)} → end ${format(r.rssEndMB)} MB, ` +
        `${format(r.offender.bytesSent / 1e6)} MB sent, bench loop lag max ${format(r.benchLagMs)} ms`,
    );
  parts.push(notes.map((note) => `- ${note}`).join('\n'));
  return parts.join('\n');
}
