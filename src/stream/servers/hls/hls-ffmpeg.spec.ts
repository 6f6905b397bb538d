/**
 * HLS output judged by the real ffprobe/ffmpeg: an ffmpeg-made FLV (H.264 with B-frames + AAC) is read
 * into MediaPackets, fed through HlsService, written to a temp dir and decoded.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MediaPacket, PacketType } from '../../core/media-packet';
import { HlsOptions } from '../../protocols/hls/hls-options';
import { HlsService } from './hls.service';
import {
  decodeErrors,
  framesOf,
  makeTestFlv,
  ProbedStream,
  probeStreams,
  writeHls,
} from '../../testing/ffmpeg-tools';
import { readFlvFile } from '../../testing/flv-file-reader';

jest.setTimeout(30_000);

const KEY = 'live/cam';
const SOURCE_SECONDS = 6;
const OPTIONS: HlsOptions = {
  fragmentSeconds: 2,
  window: 20,
  keepAfterEnd: false,
  graceSeconds: 30,
};
/** ±1 frame, as ffmpeg may count a trailing partial audio frame differently. */
const FRAME_TOLERANCE = 1;

interface Source {
  packets: MediaPacket[];
  streams: ProbedStream[];
}

let dir: string;
let av: Source;
let audioOnly: Source;
let videoOnly: Source;

function source(name: string, options: { video?: boolean; audio?: boolean }): Source {
  const file = join(dir, `${name}.flv`);
  makeTestFlv(file, { seconds: SOURCE_SECONDS, ...options });
  return { packets: readFlvFile(readFileSync(file)), streams: probeStreams(file, true) };
}

/** Publishes each packet list in turn on one room, ends it, writes the HLS; returns the playlist path. */
function hls(name: string, publishes: MediaPacket[][], options: Partial<HlsOptions> = {}): string {
  const service = new HlsService({ ...OPTIONS, ...options });
  try {
    for (const packets of publishes) {
      service.publishStarted(KEY);
      for (const packet of packets) service.packet(KEY, packet);
      service.publishEnded(KEY);
    }
    return writeHls(service, KEY, join(dir, name));
  } finally {
    service.close();
  }
}

function extinf(playlistFile: string): number[] {
  return [...readFileSync(playlistFile, 'utf8').matchAll(/#EXTINF:([\d.]+),/g)].map((m) =>
    Number(m[1]),
  );
}

function startTime(streams: ProbedStream[], type: 'video' | 'audio'): number {
  return Number(streams.find((s) => s.codec_type === type)?.start_time);
}

function shift(packets: MediaPacket[], by: (timestamp: number) => number): MediaPacket[] {
  return packets.map((p) => ({ ...p, timestamp: by(p.timestamp) >>> 0 }));
}

function expectDecodesLike(playlistFile: string, expected: Source, copies = 1): ProbedStream[] {
  expect(decodeErrors(playlistFile)).toBe('');
  const streams = probeStreams(playlistFile, true);
  for (const type of ['video', 'audio'] as const) {
    const want = framesOf(expected.streams, type);
    if (Number.isNaN(want)) {
      expect(streams.some((s) => s.codec_type === type)).toBe(false);
      continue;
    }
    expect(Math.abs(framesOf(streams, type) - copies * want)).toBeLessThanOrEqual(
      copies * FRAME_TOLERANCE,
    );
  }
  return streams;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hls-ffmpeg-'));
  av = source('av', {});
  audioOnly = source('audio', { video: false });
  videoOnly = source('video', { audio: false });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('HLS judged by ffprobe/ffmpeg', () => {
  it('muxes H.264 (B-frames) + AAC that ffmpeg decodes cleanly, every frame, in sync', () => {
    const playlist = hls('av', [av.packets]);
    const text = readFileSync(playlist, 'utf8');
    expect(text.startsWith('#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:')).toBe(true);
    expect(text.endsWith('#EXT-X-ENDLIST\n')).toBe(true);

    const streams = expectDecodesLike(playlist, av);
    expect(streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(framesOf(streams, 'video')).toBeGreaterThanOrEqual(
      SOURCE_SECONDS * 25 - FRAME_TOLERANCE,
    );
    const offset = startTime(streams, 'video') - startTime(streams, 'audio');
    expect(Math.abs(offset)).toBeLessThan(0.1);

    const durations = extinf(playlist);
    expect(durations).toHaveLength(3);
    for (const d of durations.slice(0, -1))
      expect(Math.abs(d - OPTIONS.fragmentSeconds)).toBeLessThan(0.05);
    expect(durations.reduce((a, b) => a + b)).toBeCloseTo(SOURCE_SECONDS, 0);
  });

  it('starts every segment on a key frame that decodes on its own', () => {
    const playlist = hls('keys', [av.packets]);
    const segments = readFileSync(playlist, 'utf8')
      .split('\n')
      .filter((line) => line.endsWith('.ts'));
    for (const segment of segments) {
      const file = join(dir, 'keys', segment);
      const frame = execFileSync(
        'ffprobe',
        [
          '-v',
          'error',
          '-select_streams',
          'v:0',
          '-read_intervals',
          '%+#1',
          '-show_entries',
          'frame=key_frame,pict_type',
          '-of',
          'csv=p=0',
          file,
        ],
        { encoding: 'utf8' },
      );
      expect(frame.trim()).toMatch(/^1,I\b/);
      expect(decodeErrors(file)).toBe('');
    }
  });

  it('muxes an audio-only source, cut by time', () => {
    const playlist = hls('audio', [audioOnly.packets]);
    const streams = expectDecodesLike(playlist, audioOnly);
    expect(streams.map((s) => s.codec_name)).toEqual(['aac']);
    for (const d of extinf(playlist).slice(0, -1)) expect(Math.abs(d - 2)).toBeLessThan(0.05);
  });

  it('muxes a video-only source', () => {
    const playlist = hls('video', [videoOnly.packets]);
    const streams = expectDecodesLike(playlist, videoOnly);
    expect(streams.map((s) => s.codec_name)).toEqual(['h264']);
  });

  it('continues after a republish with EXT-X-DISCONTINUITY, and ffmpeg decodes both publishes', () => {
    const playlist = hls('republish', [av.packets, av.packets]);
    const text = readFileSync(playlist, 'utf8');
    expect(text.match(/#EXT-X-DISCONTINUITY\n/g)).toHaveLength(1);
    expect(text).toContain('cam-2.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\ncam-3.ts\n');
    expect(text.endsWith('#EXT-X-ENDLIST\n')).toBe(true);
    expectDecodesLike(playlist, av, 2);
  });

  it('decodes cleanly across the 2^32 ms timestamp wrap', () => {
    const wrapped = shift(av.packets, (t) => t + 2 ** 32 - 3000);
    expect(wrapped.some((p) => p.timestamp > 2 ** 32 - 100)).toBe(true);
    expect(wrapped.some((p) => p.timestamp < 100 && p.type !== PacketType.Data)).toBe(true);
    const playlist = hls('wrap', [wrapped]);
    expect(readFileSync(playlist, 'utf8')).not.toContain('#EXT-X-DISCONTINUITY');
    expectDecodesLike(playlist, av);
    for (const d of extinf(playlist).slice(0, -1)) expect(Math.abs(d - 2)).toBeLessThan(0.05);
  });

  it('decodes cleanly across a one-hour timestamp jump, with sane durations', () => {
    const jumped = shift(av.packets, (t) => (t >= 3000 ? t + 3_600_000 : t));
    const playlist = hls('jump', [jumped]);
    expectDecodesLike(playlist, av);
    for (const d of extinf(playlist)) expect(d).toBeLessThan(3.1);
  });

  it('starts a late-joining stream at its first key frame with SPS/PPS', () => {
    const configs = av.packets.filter((p) => p.timestamp === 0 && p.payload[1] === 0);
    const late = [...configs, ...av.packets.filter((p) => p.timestamp >= 500)];
    const playlist = hls('late', [late]);
    expect(decodeErrors(playlist)).toBe('');
    const streams = probeStreams(playlist, true);
    const expected = framesOf(av.streams, 'video') - 25; // the first GOP is skipped
    expect(Math.abs(framesOf(streams, 'video') - expected)).toBeLessThanOrEqual(FRAME_TOLERANCE);
    expect(Math.abs(startTime(streams, 'video') - startTime(streams, 'audio'))).toBeLessThan(0.1);
  });

  it('keeps at most window+1 segments and bounded memory over thousands of segments', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // ArrayBuffer memory is released by a concurrent sweeper: let it run between collections.
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const memory = (): { heap: number; buffers: number } => {
      const usage = process.memoryUsage();
      return { heap: usage.heapUsed, buffers: usage.arrayBuffers };
    };
    const window = 3;
    const service = new HlsService({ ...OPTIONS, fragmentSeconds: 1, window });
    const media = av.packets.filter((p) => p.type !== PacketType.Data);
    const loopMs = SOURCE_SECONDS * 1000;
    const produced: WeakRef<Buffer>[] = [];
    try {
      service.publishStarted(KEY);
      let baseline = memory();
      let maxRetained = 0;
      for (let loop = 0; loop < 400; loop++) {
        for (const packet of media) {
          // Sequence headers once; the coded frames loop with increasing timestamps.
          if (loop > 0 && packet.payload[1] === 0) continue;
          service.packet(KEY, { ...packet, timestamp: (packet.timestamp + loop * loopMs) >>> 0 });
        }
        const info = service.info(KEY)!;
        maxRetained = Math.max(maxRetained, info.retainedSegments);
        produced.push(new WeakRef(service.segment(KEY, `cam-${info.nextSequence - 1}.ts`)!.data));
        if (loop === 20) {
          await settle();
          baseline = memory();
        }
      }
      expect(service.info(KEY)!.nextSequence).toBeGreaterThanOrEqual(2000);
      expect(maxRetained).toBe(window + 1);
      await settle();
      // Segments that left the window are garbage: only the retained ones survive a collection.
      expect(produced.filter((ref) => ref.deref() !== undefined).length).toBeLessThanOrEqual(
        window + 1,
      );
      // Keeping every segment would add ≈ 2400 × 100 kB of buffers.
      const end = memory();
      expect(end.heap - baseline.heap).toBeLessThan(16 * 1024 * 1024);
      expect(end.buffers - baseline.buffers).toBeLessThan(32 * 1024 * 1024);
    } finally {
      service.close();
    }
  });
});
