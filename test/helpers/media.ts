import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir } from './server';
import { withTimeout } from './wait';

const running = new Set<ChildProcess>();

/** A running ffmpeg publisher. */
export interface Publisher {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  stderr(): string;
  stop(): Promise<void>;
}

export interface PublishOptions {
  /** GOP length in frames at 25 fps (25 = one keyframe a second). */
  readonly gop?: number;
  readonly seconds?: number;
  readonly audio?: boolean;
  readonly video?: boolean;
}

/**
 * Publishes a synthetic H.264 + AAC stream in real time (`-re`) with ffmpeg, as an encoder would.
 * The test source is small (320x240, ultrafast) so that encoding does not load the machine.
 */
export function publish(url: string, options: PublishOptions = {}): Publisher {
  const { gop = 25, seconds = 60, audio = true, video = true } = options;
  const args = ['-hide_banner', '-loglevel', 'error', '-re'];
  if (video) args.push('-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=25:duration=${seconds}`);
  if (audio)
    args.push('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`);
  if (video)
    args.push(
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-g',
      String(gop),
      '-pix_fmt',
      'yuv420p',
    );
  if (audio) args.push('-c:a', 'aac', '-b:a', '64k');
  args.push('-f', 'flv', url);
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return {
    process: child,
    exited,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      if ((await withTimeout(exited, 3000)) === undefined) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface ProbeResult {
  readonly ok: boolean;
  readonly codecs: string[];
  readonly stderr: string;
}

/** ffprobe's view of a URL: the codec names of its streams. */
export function probe(url: string, timeoutSeconds = 10): ProbeResult {
  const result = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-rw_timeout',
      String(timeoutSeconds * 1_000_000),
      '-show_entries',
      'stream=codec_name',
      '-of',
      'json',
      url,
    ],
    { encoding: 'utf8', timeout: (timeoutSeconds + 5) * 1000 },
  );
  let codecs: string[] = [];
  try {
    const parsed = JSON.parse(result.stdout) as { streams?: { codec_name: string }[] };
    codecs = (parsed.streams ?? []).map((s) => s.codec_name).sort();
  } catch {
    codecs = [];
  }
  return { ok: result.status === 0, codecs, stderr: result.stderr ?? '' };
}

export interface DecodeResult {
  readonly videoFrames: number;
  readonly audioFrames: number;
  /** Lines ffmpeg printed at `-v error`: decoding errors. */
  readonly errors: string[];
  readonly status: number | null;
}

/** Decodes `seconds` of a URL with ffmpeg and counts the frames it produced per stream. */
export function decode(url: string, seconds = 2, extraInput: string[] = []): DecodeResult {
  const result = spawnSync(
    'ffmpeg',
    ['-v', 'error', ...extraInput, '-i', url, '-t', String(seconds), '-f', 'framecrc', '-'],
    { encoding: 'utf8', timeout: (seconds + 20) * 1000, maxBuffer: 64 * 1024 * 1024 },
  );
  const frames = (result.stdout ?? '').split('\n').filter((line) => /^\d+,/.test(line));
  const count = (index: string) => frames.filter((line) => line.startsWith(`${index},`)).length;
  // framecrc lists streams in input order; identify video by probing the header comment lines.
  const header = (result.stdout ?? '').split('\n').filter((line) => line.startsWith('#'));
  const videoIndex =
    header.find((line) => /#dimensions \d+/.test(line))?.match(/#dimensions (\d+)/)?.[1] ?? '0';
  const audioIndex = videoIndex === '0' ? '1' : '0';
  return {
    videoFrames: count(videoIndex),
    audioFrames: count(audioIndex),
    errors: (result.stderr ?? '').split('\n').filter((line) => line.trim() !== ''),
    status: result.status,
  };
}

/** A self-signed certificate and key for 127.0.0.1, written by openssl into a temp dir. */
export function selfSignedCertificate(): { cert: string; key: string } {
  const dir = makeTempDir();
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  const result = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`openssl failed: ${result.stderr}`);
  return { cert, key };
}

/** Kills every ffmpeg this file started (test teardown). */
export function stopAllPublishers(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}
