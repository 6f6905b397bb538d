import { MediaPacket } from '../../core/media-packet';
import {
  aacFrame,
  aacSequenceHeader,
  audio,
  avcFrame,
  avcSequenceHeader,
  slice,
  video,
} from '../../testing/flv-packets';
import { AUDIO_TRACK_ID, VIDEO_TRACK_ID } from './fmp4-init';
import {
  Fmp4Fragment,
  Fmp4Fragmenter,
  NON_SYNC_SAMPLE_FLAGS,
  SYNC_SAMPLE_FLAGS,
  TFHD_DEFAULT_BASE_IS_MOOF,
  TFHD_DEFAULT_SAMPLE_FLAGS_PRESENT,
} from './fmp4-fragmenter';
import {
  Box,
  findAll,
  mustFind,
  readBoxes,
  readTfdt,
  readTfhd,
  readTrun,
  Trun,
} from './testing-mp4-reader';

/** A valid Baseline SPS (344x196, cropped) and its PPS, as x264 wrote them. */
const SPS = Buffer.from('6742c00dda0586f967c044000003000400000300c83c50aa80', 'hex');
const PPS = Buffer.from('68ce0fc8', 'hex');
/** AAC-LC, 48 kHz (index 3), stereo. */
const ASC_48K_STEREO = Buffer.from([0x11, 0x90]);
const AAC_FRAME_MS = (1024 * 1000) / 48000;

function videoHeader(timestamp = 0, sps = SPS): MediaPacket {
  return avcSequenceHeader(timestamp, sps, PPS);
}

interface TrackView {
  tfhd: ReturnType<typeof readTfhd>;
  tfdt: ReturnType<typeof readTfdt>;
  trun: Trun;
  /** Each sample's bytes, found through data_offset. */
  data: Buffer[];
}

function parseFragment(bytes: Buffer): { sequence: number; tracks: Map<number, TrackView> } {
  const boxes = readBoxes(bytes);
  expect(boxes.map((b) => b.type)).toEqual(['moof', 'mdat']);
  const moof = boxes[0];
  const sequence = mustFind(moof.children, 'mfhd').body.readUInt32BE(4);
  const tracks = new Map<number, TrackView>();
  for (const traf of findAll(moof.children, 'traf')) {
    const tfhd = readTfhd(mustFind(traf.children, 'tfhd'));
    const trun = readTrun(mustFind(traf.children, 'trun'));
    let pos = moof.offset + (trun.dataOffset ?? NaN);
    const data: Buffer[] = [];
    for (const s of trun.samples) {
      const size = s.size ?? NaN;
      data.push(bytes.subarray(pos, pos + size));
      pos += size;
    }
    const mdat: Box = boxes[1];
    expect(pos).toBeLessThanOrEqual(mdat.offset + mdat.size);
    tracks.set(tfhd.trackId, { tfhd, tfdt: readTfdt(mustFind(traf.children, 'tfdt')), trun, data });
  }
  return { sequence, tracks };
}

function track(fragment: Fmp4Fragment, id: number): TrackView {
  const view = parseFragment(fragment.bytes).tracks.get(id);
  if (!view) throw new Error(`no track ${id}`);
  return view;
}

function feed(f: Fmp4Fragmenter, packets: readonly MediaPacket[]): void {
  for (const p of packets) f.push(p);
}

describe('Fmp4Fragmenter', () => {
  it('has no init segment until a coded frame follows the decoder configurations', () => {
    const f = new Fmp4Fragmenter();
    feed(f, [videoHeader(), aacSequenceHeader(0, ASC_48K_STEREO)]);
    expect(f.initSegment()).toBeUndefined();
    expect(f.initVersion).toBe(0);
    f.push(avcFrame(0, true, [slice(true)]));
    const init = f.initSegment();
    expect(init).toBeDefined();
    expect(f.initVersion).toBe(1);
    const moov = mustFind(readBoxes(init as Buffer), 'moov');
    expect(findAll(moov.children, 'trak')).toHaveLength(2);
    expect(f.flush()).toBeUndefined(); // the one frame is held back for its duration
  });

  it('writes video samples as AVCC with durations, sizes, sync flags and signed composition offsets', () => {
    const f = new Fmp4Fragmenter({ startTimeMs: 1000 });
    f.push(videoHeader());
    const frames = [
      avcFrame(0, true, [slice(true, 40, 0x01)], 80),
      avcFrame(40, false, [slice(false, 30, 0x02), slice(false, 5, 0x03)], -40),
      avcFrame(80, false, [slice(false, 20, 0x04)], 0),
      avcFrame(120, false, [slice(false, 10, 0x05)], 40),
    ];
    feed(f, frames);
    expect(f.pendingDurationMs).toBe(120);
    expect(f.startsWithKeyframe).toBe(true);
    const fragment = f.flush() as Fmp4Fragment;
    expect(fragment).toMatchObject({
      sequence: 1,
      startDtsMs: 1000,
      durationMs: 120,
      independent: true,
      videoSamples: 3,
      audioSamples: 0,
      samples: 3,
      audioBytes: 0,
      initVersion: 1,
    });
    const v = track(fragment, VIDEO_TRACK_ID);
    expect(v.tfhd.flags).toBe(TFHD_DEFAULT_BASE_IS_MOOF);
    expect(v.tfdt).toEqual({ version: 1, flags: 0, baseMediaDecodeTime: 1000 * 90 });
    expect(v.trun.version).toBe(1);
    expect(v.trun.samples).toEqual([
      { duration: 3600, size: 44, flags: SYNC_SAMPLE_FLAGS, compositionOffset: 7200 },
      { duration: 3600, size: 43, flags: NON_SYNC_SAMPLE_FLAGS, compositionOffset: -3600 },
      { duration: 3600, size: 24, flags: NON_SYNC_SAMPLE_FLAGS, compositionOffset: 0 },
    ]);
    expect(SYNC_SAMPLE_FLAGS).toBe(0x02000000);
    expect(NON_SYNC_SAMPLE_FLAGS).toBe(0x01010000);
    // Sample data is the FLV payload after its 5-byte header, untouched.
    frames
      .slice(0, 3)
      .forEach((p, i) => expect(v.data[i].equals(p.payload.subarray(5))).toBe(true));
    expect(fragment.videoBytes).toBe(44 + 43 + 24);

    // The held frame comes out at the end with the previous duration; sequence numbers count up.
    expect(f.flush()).toBeUndefined();
    const last = f.flush(true) as Fmp4Fragment;
    expect(last).toMatchObject({
      sequence: 2,
      startDtsMs: 1120,
      durationMs: 40,
      independent: false,
    });
    expect(track(last, VIDEO_TRACK_ID).trun.samples).toEqual([
      { duration: 3600, size: 14, flags: NON_SYNC_SAMPLE_FLAGS, compositionOffset: 3600 },
    ]);
    expect(track(last, VIDEO_TRACK_ID).tfdt.baseMediaDecodeTime).toBe(1120 * 90);
    expect(f.flush(true)).toBeUndefined();
  });

  it('gives AAC frames exactly 1024 samples although FLV rounds their timestamps to ms', () => {
    const f = new Fmp4Fragmenter();
    f.push(aacSequenceHeader(0, ASC_48K_STEREO));
    const frames = Array.from({ length: 20 }, (_, i) =>
      aacFrame(Math.round(i * AAC_FRAME_MS), 10 + i, i),
    );
    feed(f, frames);
    const fragment = f.flush(true) as Fmp4Fragment;
    expect(fragment).toMatchObject({ audioSamples: 20, videoSamples: 0, independent: true });
    expect(fragment.durationMs).toBeCloseTo(20 * AAC_FRAME_MS, 6);
    const a = track(fragment, AUDIO_TRACK_ID);
    expect(a.tfhd.flags).toBe(TFHD_DEFAULT_BASE_IS_MOOF | TFHD_DEFAULT_SAMPLE_FLAGS_PRESENT);
    expect(a.tfhd.defaultSampleFlags).toBe(SYNC_SAMPLE_FLAGS);
    expect(a.trun.version).toBe(0);
    expect(a.trun.samples.map((s) => s.duration)).toEqual(new Array(20).fill(1024));
    expect(a.trun.samples.map((s) => s.size)).toEqual(frames.map((_, i) => 10 + i));
    frames.forEach((p, i) => expect(a.data[i].equals(p.payload.subarray(2))).toBe(true));
  });

  it('follows the timestamps when audio really has a gap', () => {
    const f = new Fmp4Fragmenter();
    feed(f, [
      aacSequenceHeader(0, ASC_48K_STEREO),
      aacFrame(0),
      aacFrame(21),
      aacFrame(500),
      aacFrame(521),
    ]);
    const a = track(f.flush(true) as Fmp4Fragment, AUDIO_TRACK_ID);
    expect(a.trun.samples.map((s) => s.duration)).toEqual([1024, 24000 - 1024, 1024, 1024]);
  });

  it('puts video then audio in one mdat, audio only up to where the next fragment starts', () => {
    const f = new Fmp4Fragmenter();
    feed(f, [videoHeader(), aacSequenceHeader(0, ASC_48K_STEREO)]);
    for (let ms = 0, a = 0; ms <= 200; ms += 40) {
      f.push(avcFrame(ms, ms % 200 === 0, [slice(ms % 200 === 0)]));
      for (; a * AAC_FRAME_MS < ms + 30; a++) f.push(aacFrame(Math.round(a * AAC_FRAME_MS)));
    }
    expect(f.holdingKeyframe).toBe(true);
    const fragment = f.flush() as Fmp4Fragment;
    expect(fragment).toMatchObject({ videoSamples: 5, durationMs: 200, independent: true });
    const { tracks } = parseFragment(fragment.bytes);
    expect([...tracks.keys()]).toEqual([VIDEO_TRACK_ID, AUDIO_TRACK_ID]);
    const a = tracks.get(AUDIO_TRACK_ID) as TrackView;
    // Audio frames that start before 200 ms: 0..9 (frame 9 starts at 192 ms).
    expect(a.trun.samples).toHaveLength(10);
    expect(fragment.audioSamples).toBe(10);
    const v = tracks.get(VIDEO_TRACK_ID) as TrackView;
    expect(a.trun.dataOffset).toBe((v.trun.dataOffset ?? 0) + fragment.videoBytes);
    expect(f.startsWithKeyframe).toBe(false); // the key frame at 200 ms is still held
    const next = f.flush(true) as Fmp4Fragment;
    expect(next).toMatchObject({ startDtsMs: 200, independent: true, videoSamples: 1 });
    expect(track(next, AUDIO_TRACK_ID).tfdt.baseMediaDecodeTime).toBe(10 * 1024);
  });

  it('keeps durations right across the 32-bit millisecond wrap (tfdt version 1 beyond 2^32)', () => {
    const f = new Fmp4Fragmenter({ startTimeMs: 2 ** 32 - 100 });
    f.push(videoHeader());
    const base = 2 ** 32 - 80;
    for (let i = 0; i < 6; i++) f.push(avcFrame(base + i * 40, i === 0, [slice(i === 0)]));
    const fragment = f.flush(true) as Fmp4Fragment;
    expect(fragment.durationMs).toBe(240);
    const v = track(fragment, VIDEO_TRACK_ID);
    expect(v.trun.samples.map((s) => s.duration)).toEqual(new Array(6).fill(3600));
    expect(v.tfdt.baseMediaDecodeTime).toBe((2 ** 32 - 100) * 90);
  });

  it('repairs a DTS that does not increase instead of writing a zero or negative duration', () => {
    const f = new Fmp4Fragmenter();
    feed(f, [
      videoHeader(),
      avcFrame(0, true, [slice(true)]),
      avcFrame(0, false, [slice(false)]),
      avcFrame(80, false, [slice(false)]),
    ]);
    const v = track(f.flush(true) as Fmp4Fragment, VIDEO_TRACK_ID);
    expect(v.trun.samples.map((s) => s.duration)).toEqual([90, 80 * 90 - 90, 80 * 90 - 90]);
  });

  it('starts a new init segment on a changed configuration, closing the old samples first', () => {
    const f = new Fmp4Fragmenter();
    feed(f, [videoHeader(), avcFrame(0, true, [slice(true)]), avcFrame(40, false, [slice(false)])]);
    const first = f.initSegment();
    f.push(videoHeader(80)); // same bytes: nothing changes
    expect(f.initVersion).toBe(1);
    const otherSps = Buffer.from('6764000dacd94161be59f011000003000100000300320f142996', 'hex');
    feed(f, [videoHeader(80, otherSps), avcFrame(80, false, [slice(false)])]);
    expect(f.counters.waitingPackets).toBe(1); // a new configuration waits for a key frame
    f.push(avcFrame(80, true, [slice(true)]));
    expect(f.initVersion).toBe(2);
    expect(f.initSegment()).not.toBe(first);
    const closed = f.flush() as Fmp4Fragment;
    expect(closed).toMatchObject({ initVersion: 1, init: first, videoSamples: 2, durationMs: 80 });
    const rest = f.flush(true) as Fmp4Fragment;
    expect(rest).toMatchObject({ initVersion: 2, startDtsMs: 80, independent: true, sequence: 2 });
    const avcC = mustFind(
      readBoxes(f.initSegment() as Buffer),
      'moov',
      'trak',
      'mdia',
      'minf',
      'stbl',
      'stsd',
    );
    expect(avcC.body.includes(otherSps)).toBe(true);
  });

  it('counts and drops malformed, unsupported and early packets without throwing', () => {
    const f = new Fmp4Fragmenter();
    f.push(avcFrame(0, true, [slice(true)])); // before any configuration
    f.push(aacFrame(0));
    feed(f, [videoHeader(), aacSequenceHeader(0, ASC_48K_STEREO)]);
    f.push(avcFrame(0, false, [slice(false)])); // before the first key frame
    expect(f.counters.waitingPackets).toBe(3);
    f.push(video(0, Buffer.from([0x17, 0x01]))); // truncated header
    f.push(video(0, Buffer.from([0x17, 0x01, 0, 0, 0, 0, 0, 0, 9, 1]))); // NAL length runs past the end
    f.push(video(0, Buffer.from([0x17, 0x01, 0, 0, 0]))); // no NAL unit
    f.push(video(0, Buffer.from([0x17, 0x00, 0, 0, 0, 0x01, 0x42]))); // truncated configuration
    f.push(audio(0, Buffer.from([0xaf, 0x01]))); // empty AAC frame
    f.push(audio(0, Buffer.from([0xaf, 0x00, 0x17]))); // truncated AudioSpecificConfig
    expect(f.counters.malformedPackets).toBe(6);
    f.push(video(0, Buffer.from([0x1c, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x26]))); // HEVC (codec id 12)
    f.push(audio(0, Buffer.from([0x2f, 0xff, 0xfb]))); // MP3
    expect(f.counters.unsupportedPackets).toBe(2);
    expect(f.initSegment()).toBeUndefined();
    expect(f.counters.internalErrors).toBe(0);
  });

  it('bounds the pending media: frames past maxFragmentBytes are dropped until a flush', () => {
    const f = new Fmp4Fragmenter({ maxFragmentBytes: 1000 });
    f.push(videoHeader());
    for (let i = 0; i < 10; i++) f.push(avcFrame(i * 40, i === 0, [slice(i === 0, 296)]));
    expect(f.counters.overflowPackets).toBe(7);
    expect(f.pendingBytes).toBe(900);
    expect(f.flush()?.videoSamples).toBe(2);
  });
});
