/**
 * HLS variants side by side, in one run (see bench/README.md "HLS variants"):
 *   1. server side: how long after a video frame arrives its segment (mpegts, fmp4) or part (lowlatency)
 *      can be downloaded, p50/p99, measured in media time through the real segmenters (no clock noise);
 *   2. player side: hls.js `latency` in headless Chromium against the built server and a live ffmpeg
 *      publish, per variant;
 *   3. delivery: N concurrent clients fetching one segment from ours (memory) and from nginx (the same
 *      bytes from disk), CPU seconds per delivered Gbit, as a ratio.
 *
 *   npx ts-node --transpile-only bench/hls-variants.ts [--seconds 10] [--connections 50]
 *   (LIVEGO_SERVER_ENTRY=path/to/main.js runs another build)
 */
import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacketType } from '../src/stream/core/media-packet';
import { CmafSegmenter } from '../src/stream/protocols/hls/cmaf-segmenter';
import { HlsSegmenter } from '../src/stream/protocols/hls/hls-segmenter';
import { makeTestFlv } from '../src/stream/testing/ffmpeg-tools';
import { readFlvFile } from '../src/stream/testing/flv-file-reader';
import { closeAllBrowsers, launchBrowser, playHls } from '../test/helpers/browser';
import { freePorts, hasCommand, processTree, sample } from './lib/proc';

const VARIANTS = ['mpegts', 'fmp4', 'lowlatency'] as const;
type Variant = (typeof VARIANTS)[number];
/** The built server (or another build, as the e2e tests take it). */
const SERVER_ENTRY =
  process.env.LIVEGO_SERVER_ENTRY ?? join(__dirname, '..', 'dist', 'src', 'main.js');
const FRAGMENT_SECONDS = 1;
const PART_SECONDS = 0.2;

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : NaN;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** 1. Frame-to-downloadable delay through each segmenter, in media time. */
function availability(clip: string): Record<Variant, { p50: number; p99: number }> {
  const packets = readFlvFile(readFileSync(clip));
  const result = {} as Record<Variant, { p50: number; p99: number }>;
  for (const variant of VARIANTS) {
    let emittedMs = 0;
    const emit = (seconds: number) => (emittedMs += seconds * 1000);
    let push: (packet: (typeof packets)[number]) => void;
    if (variant === 'mpegts') {
      const segmenter = new HlsSegmenter({ fragmentSeconds: FRAGMENT_SECONDS });
      push = (packet) => {
        const segment = segmenter.push(packet);
        if (segment) emit(segment.durationSeconds);
      };
    } else {
      const segmenter = new CmafSegmenter(
        {
          fragmentSeconds: FRAGMENT_SECONDS,
          partSeconds: variant === 'lowlatency' ? PART_SECONDS : undefined,
        },
        {
          part: (part) => emit(part.durationSeconds),
          segment: (segment) => {
            if (variant === 'fmp4') emit(segment.durationSeconds);
          },
        },
      );
      push = (packet) => segmenter.push(packet);
    }
    const first = packets.find((packet) => packet.type === PacketType.Video)?.timestamp ?? 0;
    const waiting: number[] = [];
    const delays: number[] = [];
    for (const packet of packets) {
      const at = packet.timestamp - first;
      if (packet.type === PacketType.Video && packet.payload[1] === 1) waiting.push(at);
      push(packet);
      while (waiting.length > 0 && waiting[0] < emittedMs) delays.push(at - (waiting.shift() ?? 0));
    }
    result[variant] = { p50: percentile(delays, 50), p99: percentile(delays, 99) };
  }
  return result;
}

interface Server {
  readonly process: ChildProcess;
  readonly hlsPort: number;
  readonly rtmpPort: number;
}

async function startServer(variant: Variant, cwd: string): Promise<Server> {
  const [rtmpPort, hlsPort, apiPort] = await freePorts(3);
  const child = spawn(
    process.execPath,
    [
      SERVER_ENTRY,
      `--rtmp_addr=127.0.0.1:${rtmpPort}`,
      `--hls_addr=127.0.0.1:${hlsPort}`,
      `--api_addr=127.0.0.1:${apiPort}`,
      '--httpflv_addr=',
      '--rtmp_noauth=true',
      `--hls_variant=${variant}`,
      `--hls_fragment=${FRAGMENT_SECONDS}`,
      `--hls_part_duration=${PART_SECONDS}`,
      '--hls_window=30',
      '--level=warn',
    ],
    { cwd, stdio: 'ignore' },
  );
  await waitUntil(
    'the server',
    async () => (await fetch(`http://127.0.0.1:${apiPort}/healthz`)).ok,
    10000,
  );
  return { process: child, hlsPort, rtmpPort };
}

function publish(rtmpPort: number): ChildProcess {
  return spawn(
    'ffmpeg',
    [
      ...[
        '-hide_banner',
        '-loglevel',
        'error',
        '-re',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=640x360:rate=25',
      ],
      ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100'],
      ...[
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-tune',
        'zerolatency',
        '-g',
        '25',
        '-b:v',
        '2M',
      ],
      ...[
        '-pix_fmt',
        'yuv420p',
        '-c:a',
        'aac',
        '-f',
        'flv',
        `rtmp://127.0.0.1:${rtmpPort}/live/cam`,
      ],
    ],
    { stdio: 'ignore' },
  );
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function playlist(server: Server): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${server.hlsPort}/live/cam.m3u8`);
  return response.ok ? response.text() : '';
}

/** 2. hls.js latency: the median of one reading a second over `seconds`, after 4 s of playback. */
async function playerLatency(server: Server, variant: Variant, seconds: number): Promise<number> {
  const browser = await launchBrowser();
  try {
    const player = await playHls(
      browser,
      `http://127.0.0.1:${server.hlsPort}/live/cam.m3u8`,
      variant === 'lowlatency' ? { lowLatencyMode: true } : {},
    );
    await player.waitForPlayback(4, 30000);
    const readings: number[] = [];
    for (let i = 0; i < seconds; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      readings.push(await player.latency());
    }
    return percentile(readings, 50);
  } finally {
    await closeAllBrowsers();
  }
}

interface Delivery {
  readonly gbit: number;
  readonly cpuSeconds: number;
  readonly cpuPerGbit: number;
}

/** Fetches `url` from `connections` clients for `seconds`; CPU of `pids` per delivered Gbit. */
async function deliver(
  url: string,
  pids: number[],
  seconds: number,
  connections: number,
): Promise<Delivery> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const autocannon = require('autocannon') as (
    options: object,
  ) => Promise<{ throughput: { total: number } }>;
  const before = sample(pids);
  const result = await autocannon({ url, connections, duration: seconds });
  const after = sample(pids);
  const gbit = (result.throughput.total * 8) / 1e9;
  const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
  return { gbit, cpuSeconds, cpuPerGbit: cpuSeconds / gbit };
}

async function nginxServing(
  dir: string,
): Promise<{ process: ChildProcess; port: number } | undefined> {
  if (!hasCommand('nginx')) return undefined;
  const [port] = await freePorts(1);
  // nginx's worker runs as an unprivileged user: it must be able to read the folder.
  chmodSync(dir, 0o755);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off; worker_processes 1; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'error.log')};
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on;
  types { video/mp2t ts; }
  server { listen 127.0.0.1:${port}; root ${dir}; } }\n`,
  );
  const child = spawn('nginx', ['-c', conf, '-p', dir], { stdio: 'ignore' });
  await waitUntil(
    'nginx',
    async () => (await fetch(`http://127.0.0.1:${port}/nginx.conf`)).ok,
    5000,
  );
  return { process: child, port };
}

async function main(): Promise<void> {
  const seconds = option('seconds', 10);
  const connections = option('connections', 50);
  if (!existsSync(join(__dirname, '..', 'dist', 'src', 'main.js')))
    throw new Error('npm run build first');
  const dir = mkdtempSync(join(tmpdir(), 'bench-hls-'));
  const children: ChildProcess[] = [];
  try {
    const clip = join(dir, 'clip.flv');
    makeTestFlv(clip, { seconds: 30 });
    const ready = availability(clip);
    const latency = {} as Record<Variant, number>;
    let delivery: { ours: Delivery; nginx?: Delivery; bytes: number } | undefined;
    for (const variant of VARIANTS) {
      const server = await startServer(variant, dir);
      children.push(server.process);
      const encoder = publish(server.rtmpPort);
      children.push(encoder);
      await waitUntil(
        'a playlist',
        async () => (await playlist(server)).includes('#EXTINF'),
        20000,
      );
      latency[variant] = await playerLatency(server, variant, seconds);
      if (variant === 'mpegts') {
        const name =
          (await playlist(server)).split('\n').find((line) => line.endsWith('.ts')) ?? '';
        const bytes = Buffer.from(
          await (await fetch(`http://127.0.0.1:${server.hlsPort}/live/${name}`)).arrayBuffer(),
        );
        writeFileSync(join(dir, 'segment.ts'), bytes);
        encoder.kill('SIGSTOP'); // the encoder's CPU stays out of the delivery figures
        const ours = await deliver(
          `http://127.0.0.1:${server.hlsPort}/live/${name}`,
          processTree(server.process.pid ?? 0),
          seconds,
          connections,
        );
        const nginx = await nginxServing(dir);
        let theirs: Delivery | undefined;
        if (nginx) {
          children.push(nginx.process);
          theirs = await deliver(
            `http://127.0.0.1:${nginx.port}/segment.ts`,
            processTree(nginx.process.pid ?? 0),
            seconds,
            connections,
          );
          nginx.process.kill('SIGTERM');
        }
        delivery = { ours, nginx: theirs, bytes: bytes.length };
        encoder.kill('SIGCONT');
      }
      encoder.kill('SIGKILL');
      server.process.kill('SIGTERM');
      await new Promise((resolve) => server.process.once('exit', resolve));
    }
    const lines = [
      '| variant | frame → downloadable p50 / p99 | hls.js latency | latency ÷ mpegts |',
      '|---|---|---|---|',
    ];
    for (const variant of VARIANTS) {
      const { p50, p99 } = ready[variant];
      lines.push(
        `| ${variant} | ${p50} ms / ${p99} ms | ${latency[variant].toFixed(2)} s | ${(latency[variant] / latency.mpegts).toFixed(2)} |`,
      );
    }
    if (delivery) {
      const { ours, nginx, bytes } = delivery;
      lines.push(
        '',
        `delivery of one ${(bytes / 1e6).toFixed(2)} MB segment to ${connections} clients for ${seconds} s:`,
        `ours ${ours.gbit.toFixed(2)} Gbit in ${ours.cpuSeconds.toFixed(2)} CPU s (${ours.cpuPerGbit.toFixed(2)} CPU s/Gbit)`,
        nginx
          ? `nginx ${nginx.gbit.toFixed(2)} Gbit in ${nginx.cpuSeconds.toFixed(2)} CPU s (${nginx.cpuPerGbit.toFixed(2)} CPU s/Gbit); ours ÷ nginx = ${(ours.cpuPerGbit / nginx.cpuPerGbit).toFixed(2)}`
          : 'nginx: not installed (apt-get install nginx), not compared',
      );
    }
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
