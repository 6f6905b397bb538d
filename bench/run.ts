/**
 * Streaming benchmark: this server against node-media-server 4.4.3 and nginx-rtmp, each pinned to one
 * core with the load on the other. See bench/README.md. Usage: npx ts-node --transpile-only bench/run.ts
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { BenchContext } from './lib/context';
import { describeEnvironment } from './lib/environment';
import { ensureClip } from './lib/fixture';
import { parseOptions } from './lib/options';
import { PEER_LABELS, peerUnavailable, REPO_ROOT, snapshotServer } from './lib/peers';
import { HAS_TASKSET, hasCommand, pinProcess, terminateChildren } from './lib/proc';
import { printApi, printHls, printHostile, printLadder, printSlow } from './lib/summary';
import { runApi } from './scenarios/api';
import { printCluster, runCluster } from './scenarios/cluster';
import { runHls } from './scenarios/hls';
import { runHostile } from './scenarios/hostile';
import { runLadder } from './scenarios/ladder';
import { runSlowReaders } from './scenarios/slow';

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = performance.now();
  const log = (line: string) => {
    const seconds = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
    process.stderr.write(`[${seconds} s] ${line}\n`);
  };
  if (!HAS_TASKSET)
    log('WARNING: taskset not found: nothing is pinned, figures mix server and load CPU');
  if (!hasCommand('ffmpeg')) throw new Error('ffmpeg is needed (apt-get install -y ffmpeg)');
  const distDir = resolve(options.dist ?? join(REPO_ROOT, 'dist'));
  const entry = join(distDir, 'src', 'main.js');
  if (options.peers.includes('ours') && !options.dist && (options.build || !existsSync(entry))) {
    log('building the server (npx nest build)');
    const build = spawnSync('npx', ['nest', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npx nest build failed');
  }
  if (options.peers.includes('ours') && existsSync(entry)) {
    const removeSnapshot = await snapshotServer(distDir);
    process.once('exit', removeSnapshot);
  }
  // Read before pinning: nproc counts the cores this process may use.
  const environment = describeEnvironment(HAS_TASKSET, REPO_ROOT, entry);
  // The bench itself (reference player, probes, ffmpeg publishers) lives on the load core.
  pinProcess(process.pid, options.loadCore);
  const skipped: Record<string, string> = {};
  const peers = options.peers.filter((peer) => {
    const reason = peerUnavailable(peer);
    if (reason) {
      skipped[peer] = reason;
      log(`skipping ${peer}: ${reason}`);
    }
    return reason === undefined;
  });

  const clip = ensureClip(log);
  log(
    `clip: ${clip.durationSeconds.toFixed(1)} s, ${(clip.mediaBitsPerSecond / 1e6).toFixed(2)} Mbit/s, ` +
      `key frame every ${clip.keyframeIntervalSeconds.toFixed(2)} s`,
  );
  const ctx: BenchContext = { options, clip, peers, log };
  const results: Record<string, unknown> = {
    options,
    environment,
    clip: { ...clip, path: relative(REPO_ROOT, clip.path) },
    peers: Object.fromEntries(peers.map((peer) => [peer, PEER_LABELS[peer]])),
    skipped,
  };
  const out =
    options.out ?? join(__dirname, 'results', `run-${environment.date.replace(/[:.]/g, '-')}.json`);
  const save = () => {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  };

  const sections: string[] = [
    `# livego-nest bench, ${environment.date}`,
    `${environment.cpuModel}, nproc ${environment.nproc}, ${environment.memoryGiB} GiB, ` +
      `Linux ${environment.kernel}, Node ${environment.node}, load average ${environment.loadAverage}`,
    `server pinned to core ${options.serverCore}; load process, publisher and bench on core ${options.loadCore}` +
      (HAS_TASKSET ? '' : ' (NOT pinned: taskset missing)'),
    `commit ${environment.gitCommit ?? '?'}${environment.srcDirty ? ' + uncommitted src/ changes' : ''}, ` +
      `dist built ${environment.distBuiltAt ?? '?'}` +
      (options.dist ? ` (ours from --dist ${relative(REPO_ROOT, distDir) || '.'})` : ''),
    `clip ${clip.durationSeconds.toFixed(1)} s 720p30 H.264 + AAC, ${(clip.mediaBitsPerSecond / 1e6).toFixed(2)} Mbit/s`,
    ...Object.entries(skipped).map(([peer, reason]) => `skipped ${peer}: ${reason}`),
  ];
  const emit = (text: string) => {
    sections.push(text);
    process.stdout.write(`${text}\n`);
  };
  process.stdout.write(`${sections.join('\n')}\n`);

  if (options.scenarios.includes('ladder')) {
    const ladder = await runLadder(ctx);
    results.ladder = ladder;
    save();
    emit(printLadder(ladder, peers));
  }
  if (options.scenarios.includes('slow')) {
    const slow = await runSlowReaders(ctx);
    results.slow = slow;
    save();
    emit(printSlow(slow));
  }
  if (options.scenarios.includes('api')) {
    const api = await runApi(ctx);
    results.api = api;
    save();
    emit(printApi(api));
  }
  if (options.scenarios.includes('hls')) {
    const hls = await runHls(ctx);
    results.hls = hls;
    save();
    emit(printHls(hls));
  }
  if (options.scenarios.includes('hostile')) {
    const hostile = await runHostile(ctx);
    results.hostile = hostile;
    save();
    emit(printHostile(hostile));
  }
  if (options.scenarios.includes('cluster')) {
    const cluster = await runCluster(ctx);
    results.cluster = cluster;
    save();
    emit(printCluster(cluster));
  }
  results.elapsedSeconds = (performance.now() - started) / 1000;
  results.report = sections.join('\n');
  save();
  log(
    `done in ${(results.elapsedSeconds as number).toFixed(0)} s; raw results: ${relative(process.cwd(), out)}`,
  );
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    terminateChildren();
    process.exit(130);
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  terminateChildren();
  process.exit(1);
});
