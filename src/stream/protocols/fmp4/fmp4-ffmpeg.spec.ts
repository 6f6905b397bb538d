/**
 * The fMP4 muxer judged by the real ffprobe/ffmpeg: ffmpeg-made FLVs (H.264 with B-frames + AAC, and
 * each alone) are read into MediaPackets, fragmented, written as init + fragments and decoded.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaPacket } from '../../core/media-packet';
import {
  decodeErrors,
  ffmpeg,
  framesOf,
  makeTestFlv,
  ProbedStream,
  probeStreams,
} from '../../testing/ffmpeg-tools';
import { readFlvFile } from '../../testing/flv-file-reader';
import { Fmp4Fragment, Fmp4Fragmenter, Fmp4FragmenterOptions } from './fmp4-fragmenter';

jest.setTimeout(30_000);

const PART_MS = 200;
const AV_SECONDS = 4;
const AV_FPS = 25;
const AV_WIDTH = 344;
const AV_HEIGHT = 196;
const AV_RATE_HZ = 48_000;
const AAC_FRAME_SAMPLES = 1024;

interface Source {
  file: string;
  packets: MediaPacket[];
  streams: ProbedStream[];
}

interface Probed extends ProbedStream {
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  duration?: string;
}

interface Muxed {
  init: Buffer;
  fragments: Fmp4Fragment[];
  fragmenter: Fmp4Fragmenter;
}

let dir: string;
let av: Source;
let videoOnly: Source;
let audioOnly: Source;

function load(file: string): Source {
  return { file, packets: readFlvFile(readFileSync(file)), streams: probeStreams(file, true) };
}

/** Cuts a part every ~200 ms and always right before a key frame (so segments can start there). */
function mux(packets: readonly MediaPacket[], options: Fmp4FragmenterOptions = {}): Muxed {
  const fragmenter = new Fmp4Fragmenter(options);
  const fragments: Fmp4Fragment[] = [];
  for (const packet of packets) {
    fragmenter.push(packet);
    const pending = fragmenter.pendingDurationMs;
    if (pending >= PART_MS || (fragmenter.holdingKeyframe && pending > 0)) {
      const fragment = fragmenter.flush();
      if (fragment) fragments.push(fragment);
    }
  }
  for (let f = fragmenter.flush(true); f; f = fragmenter.flush(true)) fragments.push(f);
  const init = fragmenter.initSegment();
  if (!init) throw new Error('no init segment');
  expect(fragmenter.counters).toEqual({
    malformedPackets: 0,
    unsupportedPackets: 0,
    waitingPackets: 0,
    overflowPackets: 0,
    internalErrors: 0,
  });
  return { init, fragments, fragmenter };
}

function write(name: string, init: Buffer, fragments: readonly Fmp4Fragment[]): string {
  const file = join(dir, `${name}.mp4`);
  writeFileSync(file, Buffer.concat([init, ...fragments.map((f) => f.bytes)]));
  return file;
}

function probe(file: string): Probed[] {
  // ffprobe's JSON has more fields than ProbedStream names; Probed names the ones read here.
  const streams: Probed[] = probeStreams(file, true);
  return streams;
}

function stream(streams: Probed[], type: 'video' | 'audio'): Probed {
  const found = streams.find((s) => s.codec_type === type);
  if (!found) throw new Error(`no ${type} stream`);
  return found;
}

/** Presentation times (ms) of the video frames in output order, as ffprobe decodes them. */
function videoFramePtsMs(file: string): number[] {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v',
      '-show_entries',
      'frame=pts_time',
      '-of',
      'csv=p=0',
      file,
    ],
    { encoding: 'utf8' },
  );
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => Math.round(Number(l.split(',')[0]) * 1000));
}

function expectSameFrames(file: string, source: Source): Probed[] {
  expect(decodeErrors(file)).toBe('');
  const streams = probe(file);
  for (const type of ['video', 'audio'] as const) {
    const want = framesOf(source.streams, type);
    if (Number.isNaN(want)) expect(streams.some((s) => s.codec_type === type)).toBe(false);
    else expect(framesOf(streams, type)).toBe(want);
  }
  return streams;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fmp4-ffmpeg-'));
  const avFile = join(dir, 'av.flv');
  // 344x196 is not a multiple of 16 (SPS frame cropping); B-frames give composition offsets.
  ffmpeg([
    ...['-f', 'lavfi', '-i', `testsrc2=size=${AV_WIDTH}x${AV_HEIGHT}:rate=${AV_FPS}`],
    ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${AV_RATE_HZ}`],
    ...['-t', String(AV_SECONDS), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(AV_FPS)],
    ...['-bf', '2', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-ac', '2', '-b:a', '96k', '-f', 'flv'],
    avFile,
  ]);
  av = load(avFile);
  makeTestFlv(join(dir, 'video.flv'), { seconds: 3, audio: false });
  videoOnly = load(join(dir, 'video.flv'));
  makeTestFlv(join(dir, 'audio.flv'), { seconds: 3, video: false });
  audioOnly = load(join(dir, 'audio.flv'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('fMP4 judged by ffprobe/ffmpeg', () => {
  it('muxes H.264 (B-frames) + AAC that ffmpeg decodes cleanly: codecs, size, rate, every frame, duration', () => {
    const { init, fragments } = mux(av.packets);
    const file = write('av', init, fragments);
    const firstVideoDts = fragments[0].startDtsMs / 1000;
    const streams = expectSameFrames(file, av);
    const v = stream(streams, 'video');
    const a = stream(streams, 'audio');
    expect([v.codec_name, v.width, v.height]).toEqual(['h264', AV_WIDTH, AV_HEIGHT]);
    expect([a.codec_name, Number(a.sample_rate), a.channels]).toEqual(['aac', AV_RATE_HZ, 2]);
    const videoFrames = framesOf(streams, 'video');
    const audioFrames = framesOf(streams, 'audio');
    expect(videoFrames).toBe(AV_SECONDS * AV_FPS);
    // ffprobe's stream duration of a fragmented file is where the track ends (its first DTS plus the
    // sum of sample durations): within a frame of what the source's frames span.
    const videoSpan = Number(v.duration) - firstVideoDts;
    expect(Math.abs(videoSpan - videoFrames / AV_FPS)).toBeLessThanOrEqual(1 / AV_FPS);
    const audioSeconds = (audioFrames * AAC_FRAME_SAMPLES) / AV_RATE_HZ;
    const audioSpan = Number(a.duration) - Number(a.start_time);
    expect(Math.abs(audioSpan - audioSeconds)).toBeLessThanOrEqual(AAC_FRAME_SAMPLES / AV_RATE_HZ);
    // Same start as the source: A/V sync is kept.
    const sourceVideo = av.streams.find((s) => s.codec_type === 'video');
    expect(Math.abs(Number(v.start_time) - Number(sourceVideo?.start_time))).toBeLessThan(0.002);
  });

  it('cuts ~200 ms parts and a part at every key frame, which is independent', () => {
    const { fragments } = mux(av.packets);
    const independent = fragments.filter((f) => f.independent);
    expect(independent).toHaveLength(AV_SECONDS); // 1 s GOP
    for (const f of fragments.slice(0, -1)) {
      expect(f.durationMs).toBeGreaterThan(0);
      expect(f.durationMs).toBeLessThanOrEqual(PART_MS + 1000 / AV_FPS);
    }
    independent.forEach((f, i) => expect(f.startDtsMs).toBe(independent[0].startDtsMs + i * 1000));
    const total = fragments.reduce((sum, f) => sum + f.durationMs, 0);
    expect(total).toBe(AV_SECONDS * 1000);
    fragments.forEach((f, i) => expect(f.sequence).toBe(i + 1));
  });

  it('decodes in presentation order with B-frames: the same frame times as the source', () => {
    const { init, fragments } = mux(av.packets);
    const file = write('order', init, fragments);
    const got = videoFramePtsMs(file);
    const want = videoFramePtsMs(av.file);
    expect(got).toHaveLength(want.length);
    expect(got).toEqual(want);
    // ffprobe lists frames in output order: strictly increasing, 40 ms apart.
    got.slice(1).forEach((t, i) => expect(t - got[i]).toBe(1000 / AV_FPS));
  });

  it('makes segments from the key-frame parts that each decode on their own', () => {
    const { init, fragments } = mux(av.packets);
    const segments: Fmp4Fragment[][] = [];
    for (const f of fragments) {
      if (f.independent || segments.length === 0) segments.push([]);
      segments[segments.length - 1].push(f);
    }
    expect(segments).toHaveLength(AV_SECONDS);
    segments.forEach((segment, i) => {
      const file = write(`segment-${i}`, init, segment);
      expect(decodeErrors(file)).toBe('');
      expect(framesOf(probe(file), 'video')).toBe(AV_FPS);
    });
  });

  it('muxes video only and audio only', () => {
    const video = expectSameFrames(write(...initAndFragments(videoOnly)), videoOnly);
    expect(video.map((s) => [s.codec_name, s.width, s.height])).toEqual([['h264', 320, 240]]);
    const audio = expectSameFrames(write(...initAndFragments(audioOnly)), audioOnly);
    expect(audio.map((s) => [s.codec_name, Number(s.sample_rate), s.channels])).toEqual([
      ['aac', 44100, 1],
    ]);
  });

  it('keeps durations and frames right when FLV timestamps wrap past 2^32 ms', () => {
    const wrapAtMs = 1500;
    const shifted = av.packets.map((p) => ({
      ...p,
      timestamp: (p.timestamp + 2 ** 32 - wrapAtMs) >>> 0,
    }));
    expect(shifted.some((p) => p.timestamp < wrapAtMs)).toBe(true);
    const plain = mux(av.packets);
    const wrapped = mux(shifted, { startTimeMs: 2 ** 32 - wrapAtMs });
    expect(wrapped.fragments.map((f) => f.durationMs)).toEqual(
      plain.fragments.map((f) => f.durationMs),
    );
    const file = write('wrapped', wrapped.init, wrapped.fragments);
    const streams = expectSameFrames(file, av);
    const plainStreams = probe(write('plain', plain.init, plain.fragments));
    // Track spans (end minus start) as ffprobe reads them, to the millisecond.
    const span = (s: Probed): number => Number(s.duration) - Number(s.start_time);
    for (const type of ['video', 'audio'] as const) {
      expect(span(stream(streams, type))).toBeCloseTo(span(stream(plainStreams, type)), 3);
    }
    // The output timeline itself is past 2^32 ms, so tfdt needs its 64-bit form.
    expect(Number(stream(streams, 'video').start_time)).toBeGreaterThan(2 ** 32 / 1000 - 2);
  });
});

function initAndFragments(source: Source): [string, Buffer, Fmp4Fragment[]] {
  const { init, fragments } = mux(source.packets);
  return [source.file.replace(/.*\//, '').replace('.flv', '-out'), init, fragments];
}
