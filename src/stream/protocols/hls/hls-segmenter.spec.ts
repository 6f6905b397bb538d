import { MediaPacket, PacketType } from '../../core/media-packet';
import { HlsSegment, HlsSegmenter, TIMELINE_START_MS } from './hls-segmenter';
import {
  aacFrame,
  aacSequenceHeader,
  audio,
  avcFrame,
  avcSequenceHeader,
  slice,
  syntheticStream,
  TEST_PPS,
  TEST_SPS,
  video,
} from '../../testing/flv-packets';
import { readPes, readSection, splitPackets } from '../../testing/ts-reader';
import { PID_AUDIO, PID_PAT, PID_PMT, PID_VIDEO, PTS_TICKS_PER_MS } from '../mpegts/ts-muxer';

const AUD_SPS = Buffer.concat([Buffer.from([0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1]), TEST_SPS]);

function run(
  packets: readonly MediaPacket[],
  fragmentSeconds = 2,
): {
  segments: HlsSegment[];
  segmenter: HlsSegmenter;
} {
  const segmenter = new HlsSegmenter({ fragmentSeconds });
  const segments: HlsSegment[] = [];
  for (const packet of packets) {
    const segment = segmenter.push(packet);
    if (segment) segments.push(segment);
  }
  const last = segmenter.flush();
  if (last) segments.push(last);
  return { segments, segmenter };
}

function durations(segments: HlsSegment[]): number[] {
  return segments.map((s) => s.durationSeconds);
}

function expectWellFormed(segment: HlsSegment): void {
  expect(segment.data.length % 188).toBe(0);
  const packets = splitPackets(segment.data);
  expect(packets.every((p) => p.sync === 0x47)).toBe(true);
  expect(packets[0].pid).toBe(PID_PAT);
  expect(packets[1].pid).toBe(PID_PMT);
}

/** Start of the first video PES: a key frame with AUD + SPS first. */
function expectStartsOnKeyFrame(segment: HlsSegment): void {
  const [first] = readPes(segment.data, PID_VIDEO);
  expect(first.randomAccess).toBe(true);
  expect(first.payload.subarray(0, AUD_SPS.length).equals(AUD_SPS)).toBe(true);
}

describe('HlsSegmenter', () => {
  it('cuts at the first key frame once the fragment length has passed', () => {
    const { segments } = run(syntheticStream({ seconds: 10, gopFrames: 25 }), 2);
    expect(durations(segments)).toEqual([2, 2, 2, 2, 2]);
    expect(segments.map((s) => s.sequence)).toEqual([0, 1, 2, 3, 4]);
    expect(segments.every((s) => !s.discontinuity)).toBe(true);
    segments.forEach(expectWellFormed);
    segments.forEach(expectStartsOnKeyFrame);
    const gop2s = run(syntheticStream({ seconds: 12, gopFrames: 50 }), 3).segments;
    expect(durations(gop2s)).toEqual([4, 4, 4]);
  });

  it('puts every video and audio frame in exactly one segment, in order', () => {
    const packets = syntheticStream({ seconds: 7, gopFrames: 25 });
    const { segments } = run(packets, 2);
    const videoPes = segments.flatMap((s) => readPes(s.data, PID_VIDEO));
    const audioFrames = segments
      .flatMap((s) => readPes(s.data, PID_AUDIO))
      .reduce((n, pes) => n + countAdtsFrames(pes.payload), 0);
    expect(videoPes).toHaveLength(175);
    expect(audioFrames).toBe(Math.floor((7 * 44100) / 1024));
    const dts = videoPes.map((p) => p.dts ?? p.pts);
    expect(dts).toEqual([...dts].sort((a, b) => a - b));
    expect(dts[0]).toBe(TIMELINE_START_MS * PTS_TICKS_PER_MS);
  });

  it('turns composition time into PTS = DTS + CTS', () => {
    const packets = [
      avcSequenceHeader(),
      avcFrame(0, true, [slice(true)], 80),
      avcFrame(40, false, [slice(false)], 120),
      avcFrame(80, false, [slice(false)], 0),
    ];
    const [segment] = run(packets).segments;
    const pes = readPes(segment.data, PID_VIDEO);
    const base = TIMELINE_START_MS * PTS_TICKS_PER_MS;
    expect(pes.map((p) => [p.dts ?? p.pts, p.pts])).toEqual([
      [base, base + 80 * 90],
      [base + 40 * 90, base + 160 * 90],
      [base + 80 * 90, base + 80 * 90],
    ]);
  });

  it('waits for a sequence header and a key frame before the first segment (late start)', () => {
    const stream = syntheticStream({ seconds: 6, gopFrames: 25 });
    // Join 0.5 s in: no sequence headers yet, P frames and audio first.
    const late = stream.filter((p, i) => i > 1 && p.timestamp >= 500);
    const packets = [
      ...late.slice(0, 10),
      avcSequenceHeader(520),
      aacSequenceHeader(520),
      ...late.slice(10),
    ];
    const { segments, segmenter } = run(packets, 2);
    expect(segmenter.counters.waitingPackets).toBeGreaterThan(10);
    expectStartsOnKeyFrame(segments[0]);
    const firstVideo = readPes(segments[0].data, PID_VIDEO)[0];
    const firstAudio = readPes(segments[0].data, PID_AUDIO)[0];
    expect(firstAudio.pts).toBeGreaterThanOrEqual(firstVideo.dts ?? firstVideo.pts);
    expect(firstAudio.pts - (firstVideo.dts ?? firstVideo.pts)).toBeLessThan(50 * PTS_TICKS_PER_MS);
    expect(durations(segments)).toEqual([2, 2, 1]);
  });

  it('keeps audio that arrives just before the first key frame with the same timestamp', () => {
    const packets = [
      aacSequenceHeader(),
      avcSequenceHeader(),
      aacFrame(0),
      avcFrame(0, true, [slice(true)]),
    ];
    const [segment] = run(packets).segments;
    expect(readPes(segment.data, PID_AUDIO)).toHaveLength(1);
  });

  it('cuts an audio-only stream by time, with the PCR on the audio PID', () => {
    const { segments } = run(syntheticStream({ seconds: 7, video: false }), 2);
    expect(segments).toHaveLength(4);
    for (const segment of segments.slice(0, 3)) expect(segment.durationSeconds).toBeCloseTo(2, 1);
    const pmt = readSection(segments[0].data, PID_PMT);
    expect(pmt.readUInt16BE(8) & 0x1fff).toBe(PID_AUDIO);
    expect(readPes(segments[0].data, PID_VIDEO)).toHaveLength(0);
    expect(readPes(segments[0].data, PID_AUDIO)[0].pcrBase).toBeDefined();
  });

  it('handles a video-only stream', () => {
    const { segments } = run(syntheticStream({ seconds: 6, audio: false }), 2);
    expect(durations(segments)).toEqual([2, 2, 2]);
    const pmt = readSection(segments[0].data, PID_PMT);
    expect(pmt.length).toBe(12 + 5 + 4); // one elementary stream
    expect(readPes(segments[1].data, PID_AUDIO)).toHaveLength(0);
  });

  it('skips enhanced-RTMP, HEVC and MP3 packets and still muxes the AAC of the stream', () => {
    const packets: MediaPacket[] = [aacSequenceHeader()];
    for (let i = 0; i < 200; i++) {
      const t = i * 23;
      packets.push(video(t, Buffer.from([0x90 | 0x01, 0x68, 0x76, 0x63, 0x31, 1, 2, 3]))); // E-RTMP hvc1
      packets.push(video(t, Buffer.from([0x1c, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x26]))); // codec id 12
      packets.push(aacFrame(t));
      packets.push(audio(t, Buffer.from([0x2f, 0xff, 0xfb, 0x90, 0x00]))); // MP3
    }
    const { segments, segmenter } = run(packets, 2);
    expect(segmenter.counters.unsupportedPackets).toBe(600);
    expect(segments.length).toBeGreaterThanOrEqual(2);
    expect(readPes(segments[0].data, PID_VIDEO)).toHaveLength(0);
    expect(readPes(segments[0].data, PID_AUDIO).length).toBeGreaterThan(0);
  });

  it('never throws on garbage and truncated packets, and keeps muxing the good ones', () => {
    const good = syntheticStream({ seconds: 6 });
    const packets: MediaPacket[] = [];
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (const packet of good) {
      packets.push(packet);
      const cut = Math.floor(random() * packet.payload.length);
      packets.push({ ...packet, payload: packet.payload.subarray(0, cut) });
      const junk = Buffer.alloc(Math.floor(random() * 40));
      for (let i = 0; i < junk.length; i++) junk[i] = random() * 256;
      if (junk.length > 0 && random() < 0.5) junk[0] = random() < 0.5 ? 0x27 : 0xaf; // looks like AVC/AAC
      packets.push({ type: packet.type, timestamp: packet.timestamp, payload: junk });
      packets.push({ type: PacketType.Data, timestamp: packet.timestamp, payload: junk });
    }
    const segmenter = new HlsSegmenter({ fragmentSeconds: 2 });
    const segments: HlsSegment[] = [];
    expect(() => {
      for (const packet of packets) {
        const s = segmenter.push(packet);
        if (s) segments.push(s);
      }
      const last = segmenter.flush();
      if (last) segments.push(last);
    }).not.toThrow();
    expect(segmenter.counters.malformedPackets).toBeGreaterThan(100);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    segments.forEach(expectWellFormed);
  });

  it('starts a discontinuity segment at the next key frame when the SPS changes', () => {
    const packets = syntheticStream({ seconds: 6, gopFrames: 25 });
    const otherSps = Buffer.from('6742c01f95a0a0fd00', 'hex');
    const at = packets.findIndex((p) => p.type === PacketType.Video && p.timestamp === 1000);
    packets.splice(at, 0, avcSequenceHeader(1000, otherSps, TEST_PPS));
    const { segments } = run(packets, 2);
    expect(durations(segments)).toEqual([1, 2, 2, 1]);
    expect(segments.map((s) => s.discontinuity)).toEqual([false, true, false, false]);
    const first = readPes(segments[1].data, PID_VIDEO)[0];
    expect(first.payload.includes(otherSps)).toBe(true);
  });

  it('keeps segment durations sane across timestamp jumps of an hour either way', () => {
    const packets = syntheticStream({ seconds: 9, gopFrames: 25 }).map((p) => {
      if (p.timestamp >= 6000) return { ...p, timestamp: p.timestamp - 5_000 };
      if (p.timestamp >= 3000) return { ...p, timestamp: p.timestamp + 3_600_000 };
      return p;
    });
    const { segments } = run(packets, 2);
    // A jump is closed up to 100 ms, so a segment may run to the next key frame: fragment + one GOP.
    for (const d of durations(segments)) expect(d).toBeLessThanOrEqual(3.1);
    expect(durations(segments).reduce((a, b) => a + b)).toBeCloseTo(9, 0);
    const dts = segments.flatMap((s) => readPes(s.data, PID_VIDEO)).map((p) => p.dts ?? p.pts);
    expect(dts).toEqual([...dts].sort((a, b) => a - b));
  });

  it('cuts without a key frame after 30 s so memory stays bounded', () => {
    const packets = syntheticStream({ seconds: 65, gopFrames: 100_000, audio: false });
    const { segments } = run(packets, 2);
    expect(durations(segments)).toEqual([30, 30, 5]);
  });

  it('continues a sequence and timeline and flags the first segment when asked', () => {
    const segmenter = new HlsSegmenter({
      fragmentSeconds: 2,
      firstSequence: 41,
      discontinuity: true,
      startTimeMs: 123_000,
    });
    const segments = syntheticStream({ seconds: 4 })
      .map((p) => segmenter.push(p))
      .filter((s) => s !== undefined);
    const last = segmenter.flush()!;
    expect([...segments, last].map((s) => [s.sequence, s.discontinuity])).toEqual([
      [41, true],
      [42, false],
    ]);
    expect(readPes(segments[0].data, PID_VIDEO)[0].pts).toBe(123_000 * PTS_TICKS_PER_MS);
    expect(segmenter.endTimeMs).toBe(127_000);
    expect(segmenter.flush()).toBeUndefined();
  });
});

/** Counts ADTS frames by walking aac_frame_length. */
function countAdtsFrames(data: Buffer): number {
  let count = 0;
  for (let pos = 0; pos + 7 <= data.length; count++) {
    expect(data[pos]).toBe(0xff);
    expect(data[pos + 1] & 0xf0).toBe(0xf0);
    pos += ((data[pos + 3] & 0x03) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5);
  }
  return count;
}
