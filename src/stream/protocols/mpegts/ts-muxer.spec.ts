import { crc32Mpeg2 } from './mpeg-crc32';
import { readPes, readSection, splitPackets } from '../../testing/ts-reader';
import {
  PID_AUDIO,
  PID_PAT,
  PID_PMT,
  PID_VIDEO,
  PTS_TICKS_PER_MS,
  STREAM_ID_AUDIO,
  STREAM_ID_VIDEO,
  STREAM_TYPE_AAC_ADTS,
  STREAM_TYPE_H264,
  TS_PACKET_SIZE_BYTES,
  TsMuxer,
} from './ts-muxer';

/** Bit-at-a-time CRC-32/MPEG-2 (poly 0x04C11DB7, init all ones, no reflection, no final XOR). */
function referenceCrc(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    for (let bit = 7; bit >= 0; bit--) {
      const inBit = (byte >> bit) & 1;
      const top = (crc >>> 31) & 1;
      crc = (crc << 1) >>> 0;
      if (top ^ inBit) crc = (crc ^ 0x04c11db7) >>> 0;
    }
  }
  return crc >>> 0;
}

function bytes(length: number, seed = 1): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function segment(write: (muxer: TsMuxer) => void, tracks = { video: true, audio: true }): Buffer {
  const muxer = new TsMuxer();
  muxer.beginSegment(tracks);
  write(muxer);
  return muxer.endSegment();
}

describe('CRC-32/MPEG-2', () => {
  it('matches the catalogue check value for "123456789"', () => {
    expect(crc32Mpeg2(Buffer.from('123456789'))).toBe(0x0376e6e7);
  });

  it('matches a bitwise computation on arbitrary data', () => {
    for (const length of [0, 1, 7, 64, 1000]) {
      const data = bytes(length, length);
      expect(crc32Mpeg2(data)).toBe(referenceCrc(data));
    }
  });
});

describe('TsMuxer', () => {
  it('starts every segment with PAT then PMT, 188-byte packets with sync byte 0x47', () => {
    const muxer = new TsMuxer();
    for (let i = 0; i < 2; i++) {
      muxer.beginSegment({ video: true, audio: true });
      muxer.writeVideo(bytes(5000), 90_000, 90_000, true);
      const data = muxer.endSegment();
      expect(data.length % TS_PACKET_SIZE_BYTES).toBe(0);
      const packets = splitPackets(data);
      expect(packets.every((p) => p.sync === 0x47)).toBe(true);
      expect(packets[0].pid).toBe(PID_PAT);
      expect(packets[1].pid).toBe(PID_PMT);
    }
  });

  it('writes a PAT (ISO 13818-1 §2.4.4.3) mapping program 1 to the PMT PID, with a valid CRC', () => {
    const pat = readSection(
      segment(() => undefined),
      PID_PAT,
    );
    expect([...pat.subarray(0, 12)]).toEqual([
      0x00, // table_id
      0xb0, // section_syntax_indicator 1, '0', reserved '11', section_length high bits
      0x0d, // section_length 13
      0x00,
      0x01, // transport_stream_id 1
      0xc1, // reserved '11', version 0, current_next 1
      0x00,
      0x00, // section_number, last_section_number
      0x00,
      0x01, // program_number 1
      0xe0 | (PID_PMT >> 8),
      PID_PMT & 0xff,
    ]);
    expect(pat.readUInt32BE(12)).toBe(referenceCrc(pat.subarray(0, 12)));
    expect(referenceCrc(pat)).toBe(0);
  });

  it('writes a PMT (§2.4.4.8) with H.264 and ADTS AAC, PCR on the video PID, with a valid CRC', () => {
    const pmt = readSection(
      segment(() => undefined),
      PID_PMT,
    );
    const sectionLength = ((pmt[1] & 0x0f) << 8) | pmt[2];
    expect(pmt[0]).toBe(0x02);
    expect(sectionLength).toBe(9 + 2 * 5 + 4);
    expect(pmt.readUInt16BE(3)).toBe(1); // program_number
    expect(pmt.readUInt16BE(8) & 0x1fff).toBe(PID_VIDEO); // PCR_PID
    expect(pmt.readUInt16BE(10) & 0x0fff).toBe(0); // program_info_length
    expect(pmt[12]).toBe(STREAM_TYPE_H264);
    expect(pmt.readUInt16BE(13) & 0x1fff).toBe(PID_VIDEO);
    expect(pmt[17]).toBe(STREAM_TYPE_AAC_ADTS);
    expect(pmt.readUInt16BE(18) & 0x1fff).toBe(PID_AUDIO);
    const crcAt = pmt.length - 4;
    expect(pmt.readUInt32BE(crcAt)).toBe(referenceCrc(pmt.subarray(0, crcAt)));
  });

  it('puts the PCR on the audio PID when there is no video, and bumps the PMT version on change', () => {
    const muxer = new TsMuxer();
    muxer.beginSegment({ video: true, audio: true });
    const first = readSection(muxer.endSegment(), PID_PMT);
    muxer.beginSegment({ video: false, audio: true });
    muxer.writeAudio(bytes(300), 90_000);
    const data = muxer.endSegment();
    const pmt = readSection(data, PID_PMT);
    expect(pmt.readUInt16BE(8) & 0x1fff).toBe(PID_AUDIO);
    expect(pmt[12]).toBe(STREAM_TYPE_AAC_ADTS);
    expect(pmt.length).toBe(12 + 5 + 4);
    expect((pmt[5] >> 1) & 0x1f).toBe(((first[5] >> 1) & 0x1f) + 1);
    expect(referenceCrc(pmt)).toBe(0);
    const [audio] = readPes(data, PID_AUDIO);
    expect(audio.pcrBase).toBe(90_000 - 200 * PTS_TICKS_PER_MS);
  });

  it('writes a video PES (§2.4.3.7) with PTS and DTS, PCR and random access on key frames', () => {
    const au = bytes(1000);
    const dts = 123_456_789;
    const pts = dts + 3600;
    const data = segment((m) => m.writeVideo(au, dts, pts, true));
    const [pes] = readPes(data, PID_VIDEO);
    expect(pes.streamId).toBe(STREAM_ID_VIDEO);
    expect(pes.packetLength).toBe(0); // unbounded, allowed for video in TS
    expect(pes.flags1).toBe(0x84); // '10', data_alignment_indicator
    expect(pes.ptsDtsFlags).toBe(0x3);
    expect(pes.headerDataLength).toBe(10);
    expect(pes.pts).toBe(pts);
    expect(pes.dts).toBe(dts);
    expect(pes.payload.equals(au)).toBe(true);
    expect(pes.randomAccess).toBe(true);
    expect(pes.pcrBase).toBe(dts - 200 * PTS_TICKS_PER_MS);
  });

  it('omits the DTS when it equals the PTS and marks no random access on other frames', () => {
    const data = segment((m) => m.writeVideo(bytes(10), 9000, 9000, false));
    const [pes] = readPes(data, PID_VIDEO);
    expect(pes.ptsDtsFlags).toBe(0x2);
    expect(pes.headerDataLength).toBe(5);
    expect(pes.dts).toBeUndefined();
    expect(pes.pts).toBe(9000);
    expect(pes.randomAccess).toBe(false);
    // the '0010' prefix of a lone PTS
    const start = splitPackets(data).find((p) => p.pid === PID_VIDEO)!;
    expect(start.payload[9] >> 4).toBe(0x2);
  });

  it('writes an audio PES with stream id 0xC0, exact PES_packet_length and PTS only', () => {
    const frames = bytes(777);
    const data = segment((m) => m.writeAudio(frames, 4_000_000));
    const [pes] = readPes(data, PID_AUDIO);
    expect(pes.streamId).toBe(STREAM_ID_AUDIO);
    expect(pes.packetLength).toBe(3 + 5 + frames.length);
    expect(pes.ptsDtsFlags).toBe(0x2);
    expect(pes.pts).toBe(4_000_000);
    expect(pes.payload.equals(frames)).toBe(true);
    expect(pes.pcrBase).toBeUndefined(); // PCR is on video when the program has video
  });

  it('reduces timestamps to 33 bits', () => {
    const dts = 2 ** 33 + 1234;
    const data = segment((m) => m.writeVideo(bytes(10), dts, dts + 90, false));
    const [pes] = readPes(data, PID_VIDEO);
    expect(pes.dts).toBe(1234);
    expect(pes.pts).toBe(1324);
  });

  it('fills the last packet of a PES with adaptation-field stuffing for every payload size', () => {
    for (let size = 1; size <= 420; size++) {
      const au = bytes(size, size);
      const data = segment((m) => m.writeVideo(au, 90_000, 90_000, size % 2 === 0));
      expect(data.length % TS_PACKET_SIZE_BYTES).toBe(0);
      const videoPackets = splitPackets(data).filter((p) => p.pid === PID_VIDEO);
      for (const p of videoPackets) {
        if (p.adaptationLength > 1) {
          const af = data.subarray(p.offset + 5, p.offset + 5 + p.adaptationLength);
          const stuffingFrom = 1 + (af[0] & 0x10 ? 6 : 0);
          expect([...af.subarray(stuffingFrom)].every((b) => b === 0xff)).toBe(true);
        }
      }
      const [pes] = readPes(data, PID_VIDEO);
      expect(pes.payload.equals(au)).toBe(true);
    }
  });

  it('grows its working buffer mid-PES without losing or corrupting bytes', () => {
    const muxer = new TsMuxer();
    muxer.beginSegment({ video: true, audio: false });
    const frames = [bytes(200_000, 1), bytes(150_000, 2), bytes(700_000, 3)];
    frames.forEach((au, i) => muxer.writeVideo(au, i * 3600, i * 3600, i === 0));
    const data = muxer.endSegment();
    expect(readPes(data, PID_VIDEO).map((p) => p.payload)).toEqual(frames);
    muxer.beginSegment({ video: true, audio: false });
    muxer.writeVideo(bytes(10), 0, 0, true);
    expect(muxer.endSegment().length).toBe(3 * TS_PACKET_SIZE_BYTES);
  });

  it('increments continuity counters per PID, modulo 16, across PES and segments', () => {
    const muxer = new TsMuxer();
    const packets = [];
    for (let s = 0; s < 3; s++) {
      muxer.beginSegment({ video: true, audio: true });
      for (let i = 0; i < 20; i++) {
        muxer.writeVideo(bytes(300 + i * 97), i * 3600, i * 3600, i === 0);
        muxer.writeAudio(bytes(150 + i), i * 1920);
      }
      packets.push(...splitPackets(muxer.endSegment()));
    }
    for (const pid of [PID_PAT, PID_PMT, PID_VIDEO, PID_AUDIO]) {
      const counters = packets.filter((p) => p.pid === pid).map((p) => p.continuityCounter);
      expect(counters.length).toBeGreaterThan(2);
      counters.forEach((cc, i) => expect(cc).toBe(i % 16));
    }
  });

  it('counts the bytes of each segment on the video and the audio PID as it writes them', () => {
    const muxer = new TsMuxer();
    for (const frames of [3, 7]) {
      muxer.beginSegment({ video: true, audio: true });
      for (let i = 0; i < frames; i++) {
        muxer.writeVideo(bytes(1000 + i * 331), i * 3600, i * 3600, i === 0);
        muxer.writeAudio(bytes(200 + i * 17), i * 1920);
      }
      const counted = muxer.trackBytes;
      const packets = splitPackets(muxer.endSegment());
      const onPid = (pid: number) =>
        packets.filter((p) => p.pid === pid).length * TS_PACKET_SIZE_BYTES;
      expect(counted).toEqual({ video: onPid(PID_VIDEO), audio: onPid(PID_AUDIO) });
      expect(counted.video).toBeGreaterThan(frames * 1000);
    }
  });
});
