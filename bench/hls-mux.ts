/**
 * HLS muxing cost per stream, in-process: the clip's FLV tags fed through src/stream/protocols/hls's segmenter as
 * a publisher would feed them, looped with continuous timestamps. Run pinned by bench/run.ts; prints one
 * JSON line (HlsMuxResult). Usage: hls-mux.ts <clip.flv> <loops>
 */
import { readFileSync } from 'node:fs';
import { readFlvTags } from './lib/fixture';

export interface HlsMuxResult {
  readonly available: boolean;
  readonly reason?: string;
  readonly mediaSeconds?: number;
  readonly cpuSeconds?: number;
  /** CPU per stream, % of one core (CPU-s per media second × 100). */
  readonly cpuPercentPerStream?: number;
  /** Streams one core could mux at this cost. */
  readonly streamsPerCore?: number;
  readonly microsecondsPerPacket?: number;
  readonly segments?: number;
  /** MPEG-TS bytes out / FLV payload bytes in. */
  readonly tsOverhead?: number;
  readonly heapMB?: number;
}

interface Segmenter {
  push(packet: { type: number; timestamp: number; payload: Buffer }): { data: Buffer } | undefined;
  flush(): { data: Buffer } | undefined;
}

const FRAGMENT_SECONDS = 3;

async function main(): Promise<void> {
  const [clipPath, loopsText] = process.argv.slice(2);
  const loops = Math.max(1, Math.min(1000, Number(loopsText) || 10));
  let Segmenter: (new (options: { fragmentSeconds: number }) => Segmenter) | undefined;
  try {
    const hls = (await import('../src/stream/protocols/hls/hls-segmenter')) as Record<
      string,
      unknown
    >;
    if (typeof hls.HlsSegmenter === 'function')
      Segmenter = hls.HlsSegmenter as new (options: { fragmentSeconds: number }) => Segmenter;
  } catch (error) {
    return print({
      available: false,
      reason: `src/stream/protocols/hls could not be loaded: ${String(error)}`,
    });
  }
  if (!Segmenter)
    return print({ available: false, reason: 'src/stream/protocols/hls exports no HlsSegmenter' });

  const tags = readFlvTags(readFileSync(clipPath)).filter(
    (t) => t.type === 8 || t.type === 9 || t.type === 18,
  );
  const lastMs = Math.max(...tags.map((t) => t.timestamp));
  // One loop lasts up to the next frame after the last tag (30 fps video).
  const loopMs = lastMs + Math.round(1000 / 30);
  const inputBytes = tags.reduce((sum, t) => sum + t.body.length, 0);
  const feed = (segmenter: Segmenter, loop: number): { segments: number; bytes: number } => {
    let segments = 0;
    let bytes = 0;
    const offset = loop * loopMs;
    for (const tag of tags) {
      // Sequence headers and metadata are sent once per publish, like a real encoder.
      if (loop > 0 && isConfig(tag.type, tag.body)) continue;
      const segment = segmenter.push({
        type: tag.type,
        timestamp: (tag.timestamp + offset) >>> 0,
        payload: tag.body,
      });
      if (segment) {
        segments++;
        bytes += segment.data.length;
      }
    }
    return { segments, bytes };
  };

  const warm = new Segmenter({ fragmentSeconds: FRAGMENT_SECONDS });
  feed(warm, 0);
  warm.flush();

  const segmenter = new Segmenter({ fragmentSeconds: FRAGMENT_SECONDS });
  let segments = 0;
  let tsBytes = 0;
  const cpu0 = process.cpuUsage();
  for (let loop = 0; loop < loops; loop++) {
    const out = feed(segmenter, loop);
    segments += out.segments;
    tsBytes += out.bytes;
  }
  const last = segmenter.flush();
  if (last) {
    segments++;
    tsBytes += last.data.length;
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const mediaSeconds = (loops * loopMs) / 1000;
  print({
    available: true,
    mediaSeconds,
    cpuSeconds,
    cpuPercentPerStream: (cpuSeconds / mediaSeconds) * 100,
    streamsPerCore: mediaSeconds / cpuSeconds,
    microsecondsPerPacket: (cpuSeconds * 1e6) / (tags.length * loops),
    segments,
    tsOverhead: tsBytes / (inputBytes * loops),
    heapMB: process.memoryUsage().heapUsed / 1e6,
  });
}

function isConfig(type: number, body: Buffer): boolean {
  if (type === 18) return true;
  return body.length > 1 && body[1] === 0;
}

function print(result: HlsMuxResult): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  print({ available: false, reason: String(error) });
  process.exitCode = 1;
});
