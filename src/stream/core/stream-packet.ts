import { MediaPacket, PacketType } from './media-packet';
import { encodeRtmpMessage } from '../protocols/rtmp/rtmp-chunk';

/** FLV tag header (FLV spec E.4.1) and the PreviousTagSize field that follows each tag. */
const FLV_TAG_HEADER_BYTES = 11;
const FLV_PREVIOUS_TAG_SIZE_BYTES = 4;
/** Video FrameType 1 = key frame (FLV spec E.4.3.1); the high bit marks an enhanced-RTMP ex-header. */
const VIDEO_FRAME_KEY = 1;
const VIDEO_EX_HEADER_BIT = 0x80;
const AUDIO_FORMAT_AAC = 10;
/** Enhanced RTMP: SoundFormat 9 carries an ex-header; PacketType 0 is SequenceStart for audio and video. */
const AUDIO_FORMAT_EX_HEADER = 9;
const EX_PACKET_SEQUENCE_START = 0;
/** Legacy codecs whose second byte is a packet type (0 = sequence header): AVC 7, HEVC 12 (de-facto). */
const LEGACY_VIDEO_CODECS_WITH_CONFIG = new Set([7, 12]);

/**
 * A MediaPacket classified once on arrival, with its wire forms built lazily and shared by every player
 * of the stream (one buffer per message per protocol, not one per player).
 */
export class StreamPacket implements MediaPacket {
  readonly isKeyframe: boolean;
  readonly isSequenceHeader: boolean;
  private flv: Buffer | undefined;
  private rtmp: { streamId: number; chunkSize: number; bytes: Buffer } | undefined;

  constructor(
    readonly type: PacketType,
    readonly timestamp: number,
    readonly payload: Buffer,
  ) {
    this.isKeyframe = type === PacketType.Video && isVideoKeyframe(payload);
    this.isSequenceHeader = isSequenceHeader(type, payload);
  }

  get isMetadata(): boolean {
    return this.type === PacketType.Data;
  }

  get isVideo(): boolean {
    return this.type === PacketType.Video;
  }

  /** The packet as one FLV tag followed by its PreviousTagSize. */
  flvTag(): Buffer {
    if (this.flv === undefined) this.flv = encodeFlvTag(this);
    return this.flv;
  }

  /** The packet as RTMP chunks; players share it when their stream id and chunk size agree (the norm). */
  rtmpMessage(streamId: number, chunkSize: number): Buffer {
    const cached = this.rtmp;
    if (cached && cached.streamId === streamId && cached.chunkSize === chunkSize)
      return cached.bytes;
    const bytes = encodeRtmpMessage(this.type, this.timestamp, streamId, this.payload, chunkSize);
    if (!cached) this.rtmp = { streamId, chunkSize, bytes };
    return bytes;
  }
}

function isVideoKeyframe(payload: Buffer): boolean {
  if (payload.length < 1) return false;
  const first = payload[0];
  const frameType = first & VIDEO_EX_HEADER_BIT ? (first >> 4) & 0x07 : first >> 4;
  return frameType === VIDEO_FRAME_KEY;
}

function isSequenceHeader(type: PacketType, payload: Buffer): boolean {
  if (payload.length < 1) return false;
  const first = payload[0];
  if (type === PacketType.Video) {
    if (first & VIDEO_EX_HEADER_BIT) return (first & 0x0f) === EX_PACKET_SEQUENCE_START;
    return (
      LEGACY_VIDEO_CODECS_WITH_CONFIG.has(first & 0x0f) && payload.length > 1 && payload[1] === 0
    );
  }
  if (type === PacketType.Audio) {
    const format = first >> 4;
    if (format === AUDIO_FORMAT_AAC) return payload.length > 1 && payload[1] === 0;
    if (format === AUDIO_FORMAT_EX_HEADER) return (first & 0x0f) === EX_PACKET_SEQUENCE_START;
  }
  return false;
}

/** FLV tag: type, 24-bit size, 24-bit timestamp + 8-bit extension, stream id 0, body, PreviousTagSize. */
export function encodeFlvTag(packet: MediaPacket): Buffer {
  const size = packet.payload.length;
  const tag = Buffer.allocUnsafe(FLV_TAG_HEADER_BYTES + size + FLV_PREVIOUS_TAG_SIZE_BYTES);
  const timestamp = packet.timestamp >>> 0;
  tag[0] = packet.type;
  tag.writeUIntBE(size, 1, 3);
  tag.writeUIntBE(timestamp & 0xffffff, 4, 3);
  tag[7] = timestamp >>> 24;
  tag.writeUIntBE(0, 8, 3);
  packet.payload.copy(tag, FLV_TAG_HEADER_BYTES);
  tag.writeUInt32BE(FLV_TAG_HEADER_BYTES + size, FLV_TAG_HEADER_BYTES + size);
  return tag;
}

/** FLV file header (signature, version 1, audio+video flags, header size 9) and PreviousTagSize0. */
export function flvFileHeader(hasAudio = true, hasVideo = true): Buffer {
  const header = Buffer.from([0x46, 0x4c, 0x56, 0x01, 0, 0, 0, 0, 0x09, 0, 0, 0, 0]);
  header[4] = (hasAudio ? 0x04 : 0) | (hasVideo ? 0x01 : 0);
  return header;
}

/** AMF0 string "@setDataFrame" (type 0x02, u16 length 13): RTMP publishers prefix onMetaData with it. */
const SET_DATA_FRAME = Buffer.from([0x02, 0x00, 0x0d, ...Buffer.from('@setDataFrame')]);

/** Removes the `@setDataFrame` prefix so that metadata reads as a plain `onMetaData` script tag. */
export function stripSetDataFrame(payload: Buffer): Buffer {
  return payload.subarray(0, SET_DATA_FRAME.length).equals(SET_DATA_FRAME)
    ? payload.subarray(SET_DATA_FRAME.length)
    : payload;
}
