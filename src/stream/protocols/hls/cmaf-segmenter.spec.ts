import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaPacket } from '../../core/media-packet';
import { makeTestFlv } from '../../testing/ffmpeg-tools';
import { readFlvFile } from '../../testing/flv-file-reader';
import { CmafSegment, CmafSegmenter, HlsPart } from './cmaf-segmenter';

/** A real ffmpeg clip (25 fps, a key frame a second, B-frames, AAC) cut by the CMAF segmenter. */
function cut(
  packets: MediaPacket[],
  options: { fragmentSeconds: number; partSeconds?: number },
): { parts: HlsPart[]; segments: CmafSegment[] } {
  const parts: HlsPart[] = [];
  const segments: CmafSegment[] = [];
  const segmenter = new CmafSegmenter(options, {
    part: (part) => parts.push(part),
    segment: (segment) => segments.push(segment),
  });
  for (const packet of packets) segmenter.push(packet);
  segmenter.flush();
  return { parts, segments };
}

describe('CmafSegmenter', () => {
  let dir: string;
  let av: MediaPacket[];
  let audioOnly: MediaPacket[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cmaf-'));
    makeTestFlv(join(dir, 'av.flv'), { seconds: 6 });
    makeTestFlv(join(dir, 'a.flv'), { seconds: 4, video: false });
    av = readFlvFile(readFileSync(join(dir, 'av.flv')));
    audioOnly = readFlvFile(readFileSync(join(dir, 'a.flv')));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('cuts LL-HLS parts of at most the part target, and segments on key frames', () => {
    const { parts, segments } = cut(av, { fragmentSeconds: 1, partSeconds: 0.2 });
    expect(segments.length).toBeGreaterThanOrEqual(5);
    for (const part of parts) expect(part.durationSeconds).toBeLessThanOrEqual(0.2 + 0.001);
    for (const segment of segments) {
      // Each segment starts with a key frame: its first part is independent, and only that one here.
      expect(segment.parts[0].part.independent).toBe(true);
      expect(segment.parts.slice(1).every(({ part }) => !part.independent)).toBe(true);
      // Its bytes are its parts back to back, and its duration their sum.
      const joined = Buffer.concat(segment.parts.map(({ part }) => part.data));
      expect(joined.equals(segment.data)).toBe(true);
      const sum = segment.parts.reduce((total, { part }) => total + part.durationSeconds, 0);
      expect(segment.durationSeconds).toBeCloseTo(sum, 3);
    }
    // The parts reported as they were made are the parts of the segments, in order.
    expect(parts.map((p) => `${p.sequence}.${p.index}`)).toEqual(
      segments.flatMap((s) => s.parts.map(({ part }) => `${part.sequence}.${part.index}`)),
    );
    const total = segments.reduce((sum, segment) => sum + segment.durationSeconds, 0);
    expect(total).toBeGreaterThan(5.8);
    expect(total).toBeLessThan(6.2);
  });

  it('without a part target makes one fragment per segment (hls_variant fmp4)', () => {
    const { parts, segments } = cut(av, { fragmentSeconds: 2 });
    expect(parts).toEqual([]);
    expect(segments.length).toBe(3);
    for (const segment of segments) {
      expect(segment.parts).toHaveLength(1);
      expect(segment.durationSeconds).toBeGreaterThanOrEqual(1.9);
      expect(segment.videoBytes).toBeGreaterThan(0);
      expect(segment.audioBytes).toBeGreaterThan(0);
      expect(segment.init.subarray(4, 8).toString('latin1')).toBe('ftyp');
    }
  });

  it('cuts an audio-only stream by time', () => {
    const { segments } = cut(audioOnly, { fragmentSeconds: 1, partSeconds: 0.2 });
    expect(segments.length).toBeGreaterThanOrEqual(3);
    for (const segment of segments.slice(0, -1)) {
      expect(segment.durationSeconds).toBeGreaterThanOrEqual(0.99);
      expect(segment.durationSeconds).toBeLessThan(1.3);
      expect(segment.videoBytes).toBe(0);
    }
  });

  it('continues the sequence numbers it is given, with a discontinuity on the first segment only', () => {
    const segmenter = new CmafSegmenter(
      { fragmentSeconds: 1, partSeconds: 0.2, firstSequence: 40, discontinuity: true },
      { part: () => undefined, segment: (segment) => segments.push(segment) },
    );
    const segments: CmafSegment[] = [];
    for (const packet of av) segmenter.push(packet);
    segmenter.flush();
    expect(segments.map((s) => s.sequence).slice(0, 3)).toEqual([40, 41, 42]);
    expect(segments.map((s) => s.discontinuity).slice(0, 3)).toEqual([true, false, false]);
  });
});
