import { PacketType } from '../../core/media-packet';
import type { WireForm } from '../../core/stream-packet';

/** Chunk stream ids used for media sent to players (any id ≥ 3 is valid; these match common servers). */
const CHUNK_STREAM_AUDIO = 4;
const CHUNK_STREAM_VIDEO = 5;
const CHUNK_STREAM_DATA = 6;
/** Type 0 message header: timestamp(3) length(3) type(1) stream id(4) (RTMP spec 5.3.1.2.1). */
const TYPE0_HEADER_BYTES = 11;
const EXTENDED_TIMESTAMP_MARKER = 0xffffff;
const EXTENDED_TIMESTAMP_BYTES = 4;

function chunkStreamFor(type: PacketType): number {
  if (type === PacketType.Audio) return CHUNK_STREAM_AUDIO;
  if (type === PacketType.Video) return CHUNK_STREAM_VIDEO;
  return CHUNK_STREAM_DATA;
}

/**
 * One media or data message for a player, on the chunk stream used for its kind (see encodeChunks).
 */
export function encodeRtmpMessage(
  type: PacketType,
  timestamp: number,
  streamId: number,
  payload: Buffer,
  chunkSize: number,
): Buffer {
  return encodeChunks(chunkStreamFor(type), type, timestamp, streamId, payload, chunkSize);
}

/**
 * One RTMP message as chunks (RTMP spec 5.3): a type-0 chunk, then type-3 continuation chunks every
 * `chunkSize` bytes, each repeating the extended timestamp when one is used (as FFmpeg and Flash expect).
 * Timestamps are unsigned 32-bit and wrap. `csid` is 2..63 (a one-byte basic header).
 */
export function encodeChunks(
  csid: number,
  type: number,
  timestamp: number,
  streamId: number,
  payload: Buffer,
  chunkSize: number,
): Buffer {
  const time = timestamp >>> 0;
  const extended = time >= EXTENDED_TIMESTAMP_MARKER;
  const extra = extended ? EXTENDED_TIMESTAMP_BYTES : 0;
  const length = payload.length;
  const continuations = length > 0 ? Math.ceil(length / chunkSize) - 1 : 0;
  const out = Buffer.allocUnsafe(
    1 + TYPE0_HEADER_BYTES + extra + length + continuations * (1 + extra),
  );
  let offset = 0;
  out[offset++] = csid; // fmt 0
  out.writeUIntBE(extended ? EXTENDED_TIMESTAMP_MARKER : time, offset, 3);
  out.writeUIntBE(length, offset + 3, 3);
  out[offset + 6] = type;
  out.writeUInt32LE(streamId >>> 0, offset + 7);
  offset += TYPE0_HEADER_BYTES;
  if (extended) offset = out.writeUInt32BE(time, offset);
  for (let read = 0; read < length; read += chunkSize) {
    if (read > 0) {
      out[offset++] = 0xc0 | csid; // fmt 3
      if (extended) offset = out.writeUInt32BE(time, offset);
    }
    offset += payload.copy(out, offset, read, Math.min(read + chunkSize, length));
  }
  return out;
}

/**
 * The RTMP form of media messages for one output (its message stream id and chunk size). Players of a
 * stream with the same stream id and chunk size (the norm) share each message's chunks.
 */
export function rtmpMessageForm(streamId: number, chunkSize: number): WireForm {
  return {
    id: `rtmp ${streamId} ${chunkSize}`,
    encode: (packet) =>
      encodeRtmpMessage(packet.type, packet.timestamp, streamId, packet.payload, chunkSize),
  };
}
