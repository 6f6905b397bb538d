import type { MediaPacket } from '../../core/media-packet';
import type { WireForm } from '../../core/stream-packet';

/** FLV tag header (FLV spec E.4.1) and the PreviousTagSize field that follows each tag. */
const FLV_TAG_HEADER_BYTES = 11;
const FLV_PREVIOUS_TAG_SIZE_BYTES = 4;

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

/** The FLV tag form of a packet, shared by HTTP-FLV players and archives whose timeline matches. */
export const FLV_TAG: WireForm = { id: 'flv', encode: encodeFlvTag };
