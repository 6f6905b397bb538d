import { MediaPacket, PacketType } from '../core/media-packet';

/** Builders of FLV tag bodies (FLV spec v10.1 §E.4.2–E.4.3) for unit tests. */

/** A tiny but well-formed SPS/PPS pair (Baseline, level 3.0, 320x240); the muxer only copies them. */
export const TEST_SPS = Buffer.from('6742c01e95a0a0fd00', 'hex');
export const TEST_PPS = Buffer.from('68ce3880', 'hex');
/** AudioSpecificConfig: AAC-LC (2), 44.1 kHz (index 4), stereo (2). */
export const TEST_ASC_LC_44100_STEREO = Buffer.from([0x12, 0x10]);

export function avcSequenceHeader(
  timestamp = 0,
  sps: Buffer = TEST_SPS,
  pps: Buffer = TEST_PPS,
): MediaPacket {
  const record = Buffer.concat([
    Buffer.from([0x01, sps[1], sps[2], sps[3], 0xff, 0xe1]), // version, profile, compat, level, 4-byte lengths, 1 SPS
    u16(sps.length),
    sps,
    Buffer.from([0x01]),
    u16(pps.length),
    pps,
  ]);
  return video(timestamp, Buffer.concat([Buffer.from([0x17, 0x00, 0, 0, 0]), record]));
}

/** An AVC NALU packet: AVCC with 4-byte lengths; `nals` are NAL units without start codes. */
export function avcFrame(
  timestamp: number,
  keyFrame: boolean,
  nals: readonly Buffer[],
  compositionTimeMs = 0,
): MediaPacket {
  const cts = compositionTimeMs & 0xffffff;
  const header = Buffer.from([
    (keyFrame ? 0x10 : 0x20) | 0x07,
    0x01,
    cts >> 16,
    (cts >> 8) & 0xff,
    cts & 0xff,
  ]);
  const body = nals.flatMap((nal) => [u32(nal.length), nal]);
  return video(timestamp, Buffer.concat([header, ...body]));
}

/** A key frame holding one IDR slice (nal_unit_type 5) of `bytes` bytes, or a P slice (type 1). */
export function slice(keyFrame: boolean, bytes = 32, fill = 0xaa): Buffer {
  const nal = Buffer.alloc(bytes, fill);
  nal[0] = keyFrame ? 0x65 : 0x41;
  return nal;
}

export function aacSequenceHeader(
  timestamp = 0,
  asc: Buffer = TEST_ASC_LC_44100_STEREO,
): MediaPacket {
  return audio(timestamp, Buffer.concat([Buffer.from([0xaf, 0x00]), asc]));
}

export function aacFrame(timestamp: number, bytes = 64, fill = 0x21): MediaPacket {
  return audio(timestamp, Buffer.concat([Buffer.from([0xaf, 0x01]), Buffer.alloc(bytes, fill)]));
}

export function video(timestamp: number, payload: Buffer): MediaPacket {
  return { type: PacketType.Video, timestamp: timestamp >>> 0, payload };
}

export function audio(timestamp: number, payload: Buffer): MediaPacket {
  return { type: PacketType.Audio, timestamp: timestamp >>> 0, payload };
}

/**
 * A synthetic A/V publish: sequence headers, then 25 fps video with a key frame every `gopFrames` and
 * AAC frames every 1024/44100 s, interleaved by DTS, starting at `startMs`.
 */
export function syntheticStream(options: {
  seconds: number;
  gopFrames?: number;
  startMs?: number;
  video?: boolean;
  audio?: boolean;
  videoFrameBytes?: number;
}): MediaPacket[] {
  const { seconds, gopFrames = 25, startMs = 0, videoFrameBytes = 200 } = options;
  const withVideo = options.video ?? true;
  const withAudio = options.audio ?? true;
  const packets: MediaPacket[] = [];
  if (withVideo) packets.push(avcSequenceHeader(startMs));
  if (withAudio) packets.push(aacSequenceHeader(startMs));
  const videoFrames = withVideo ? Math.round(seconds * 25) : 0;
  const audioFrames = withAudio ? Math.floor((seconds * 44100) / 1024) : 0;
  let v = 0;
  let a = 0;
  while (v < videoFrames || a < audioFrames) {
    const videoMs = v < videoFrames ? v * 40 : Infinity;
    const audioMs = a < audioFrames ? Math.round((a * 1024 * 1000) / 44100) : Infinity;
    if (videoMs <= audioMs) {
      const key = v % gopFrames === 0;
      packets.push(avcFrame(startMs + videoMs, key, [slice(key, videoFrameBytes)]));
      v++;
    } else {
      packets.push(aacFrame(startMs + audioMs));
      a++;
    }
  }
  return packets;
}

function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  return b;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}
