import { ChildProcess, spawn } from 'node:child_process';
import { call } from './http';
import { publish, Publisher } from './media';
import { ServerProcess } from './server';
import { sleep, waitFor } from './wait';

const viewers = new Set<ChildProcess>();

// A crashed test run must not leave viewers behind.
process.once('exit', () => {
  for (const child of viewers) child.kill('SIGKILL');
});

/**
 * A real viewer: ffmpeg decodes an HTTP-FLV URL for as long as it runs and reports (every 0.5 s) how
 * many frames it decoded, so that a test sees frames keep coming while something else happens.
 */
export class FlvViewer {
  frames = 0;
  /** When the frame count last grew (ms since the epoch). */
  lastFrameAt = 0;
  exitCode: number | null | undefined;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private stderrText = '';
  private worstGap = 0;
  /** [time (ms since the epoch), frames decoded by then], one per progress report. */
  private readonly samples: [number, number][] = [];

  constructor(url: string) {
    this.child = spawn(
      'ffmpeg',
      ['-v', 'error', '-i', url, '-progress', 'pipe:1', '-stats_period', '0.5', '-f', 'null', '-'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    viewers.add(this.child);
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      for (const match of chunk.matchAll(/^frame=(\d+)$/gm)) {
        const frames = Number(match[1]);
        const now = Date.now();
        if (this.samples.length < 100_000) this.samples.push([now, frames]);
        if (frames <= this.frames) continue;
        if (this.lastFrameAt) this.worstGap = Math.max(this.worstGap, now - this.lastFrameAt);
        this.frames = frames;
        this.lastFrameAt = now;
      }
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (this.stderrText.length < 16 * 1024) this.stderrText += chunk;
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        viewers.delete(this.child);
        this.exitCode = code;
        resolve();
      }),
    );
  }

  get stderr(): string {
    return this.stderrText;
  }

  /** The longest time between two reports that had more frames, since the last call (ms). */
  takeWorstGap(): number {
    const gap = Math.max(this.worstGap, this.lastFrameAt ? Date.now() - this.lastFrameAt : 0);
    this.worstGap = 0;
    return gap;
  }

  /** Frames decoded by `time` (the last report at or before it). */
  framesAt(time: number): number {
    let frames = 0;
    for (const [at, count] of this.samples) {
      if (at > time) break;
      frames = count;
    }
    return frames;
  }

  /** Frames per second decoded between two moments (ms since the epoch). */
  fps(from: number, to: number): number {
    return ((this.framesAt(to) - this.framesAt(from)) * 1000) / Math.max(1, to - from);
  }

  /** Resolves once more than `frames` frames were decoded; rejects after `timeoutMs`. */
  async waitForFrames(frames: number, timeoutMs = 15000): Promise<void> {
    await waitFor(async () => (this.frames > frames ? true : undefined), timeoutMs, 100).catch(
      () => {
        throw new Error(
          `viewer stuck at ${this.frames} frames (exit ${this.exitCode}): ${this.stderr}`,
        );
      },
    );
  }

  async stop(): Promise<void> {
    if (this.exitCode === undefined) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** An ffmpeg encoder publishing into the server and an ffmpeg viewer decoding it over HTTP-FLV. */
export class MediaBystander {
  private constructor(
    readonly encoder: Publisher,
    readonly viewer: FlvViewer,
  ) {}

  static async start(server: ServerProcess, room: string, seconds = 300): Promise<MediaBystander> {
    const key = (await call<string>(server.apiUrl(`/control/get?room=${room}`))).json?.data;
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`, { seconds });
    const url = `http://127.0.0.1:${server.ports.httpflv_addr}/live/${room}.flv`;
    await waitFor(
      async () => ((await call(url, { method: 'HEAD' })).status === 200 ? true : undefined),
      15000,
    );
    const viewer = new FlvViewer(url);
    await viewer.waitForFrames(0);
    return new MediaBystander(encoder, viewer);
  }

  async stop(): Promise<void> {
    await this.viewer.stop();
    await this.encoder.stop();
  }
}

/** Asks `/healthz` every `intervalMs` until stopped and keeps the worst answer time. */
export class HealthProbe {
  worstMs = 0;
  answers = 0;
  failures: string[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly server: ServerProcess,
    intervalMs = 100,
    maxMs = 120_000,
  ) {
    this.loop = this.run(intervalMs, Date.now() + maxMs);
  }

  private async run(intervalMs: number, deadline: number): Promise<void> {
    while (this.running && Date.now() < deadline) {
      const started = Date.now();
      try {
        const response = await call(this.server.apiUrl('/healthz'));
        if (response.status !== 200) this.failures.push(`status ${response.status}`);
        this.answers++;
      } catch (error) {
        this.failures.push(error instanceof Error ? error.message : String(error));
      }
      this.worstMs = Math.max(this.worstMs, Date.now() - started);
      await sleep(intervalMs);
    }
  }

  /** Stops asking and returns the worst answer time (ms) and how many answers came. */
  async stop(): Promise<{ worstMs: number; answers: number; failures: string[] }> {
    this.running = false;
    await this.loop;
    return { worstMs: this.worstMs, answers: this.answers, failures: this.failures };
  }
}
