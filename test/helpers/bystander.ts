import { ChildProcess, spawn } from 'node:child_process';
import { withTimeout } from './wait';

/**
 * A viewer that decodes a stream with ffmpeg for as long as it runs and reports how many video frames it
 * had decoded at each moment (ffmpeg's `-progress`, twice a second): a frame rate over any window.
 */
export class DecodingViewer {
  /** [time (ms since epoch), frames decoded so far]. */
  private readonly samples: [number, number][] = [];
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    let pending = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^frame=(\d+)/.exec(line);
        if (match) this.samples.push([Date.now(), Number(match[1])]);
      }
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static start(url: string): DecodingViewer {
    const child = spawn(
      'ffmpeg',
      [
        '-v',
        'error',
        '-i',
        url,
        '-map',
        '0:v',
        '-f',
        'null',
        '-',
        '-stats_period',
        '0.5',
        '-progress',
        'pipe:1',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    return new DecodingViewer(child);
  }

  /** Frames decoded by `time` (the last sample at or before it). */
  framesAt(time: number): number {
    let frames = 0;
    for (const [at, count] of this.samples) {
      if (at > time) break;
      frames = count;
    }
    return frames;
  }

  /** Video frames per second decoded between two moments. */
  fps(from: number, to: number): number {
    return ((this.framesAt(to) - this.framesAt(from)) * 1000) / Math.max(1, to - from);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await withTimeout(this.exited, 3000);
  }
}

/** Asks `url` every `intervalMs` (each request may take up to 10 s) and keeps the worst latency seen. */
export class LatencyProbe {
  worstMs = 0;
  failures = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly url: string,
    intervalMs = 100,
  ) {
    this.loop = (async () => {
      while (this.running) {
        const started = performance.now();
        try {
          const response = await fetch(this.url, { signal: AbortSignal.timeout(10_000) });
          await response.arrayBuffer();
          if (response.status !== 200) this.failures++;
        } catch {
          this.failures++;
        }
        this.worstMs = Math.max(this.worstMs, performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    })();
  }

  async stop(): Promise<{ worstMs: number; failures: number }> {
    this.running = false;
    await this.loop;
    return { worstMs: this.worstMs, failures: this.failures };
  }
}
