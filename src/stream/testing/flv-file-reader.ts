import { MediaPacket, PacketType } from '../core/media-packet';

/** FLV file header (FLV spec v10.1 §E.2): "FLV", version, flags, DataOffset (UI32). */
const FLV_SIGNATURE = 'FLV';
const FLV_HEADER_MIN_BYTES = 9;
/** PreviousTagSize (UI32) after the header and after every tag (§E.3). */
const PREVIOUS_TAG_SIZE_BYTES = 4;
/** TagType, DataSize (UI24), Timestamp (UI24), TimestampExtended (UI8), StreamID (UI24) (§E.4.1). */
const TAG_HEADER_BYTES = 11;

/**
 * Reads an FLV file into the packets an RTMP publisher would have sent (test helper). Stops at the
 * first truncated tag; tags other than audio, video and script data are skipped.
 */
export function readFlvFile(file: Buffer): MediaPacket[] {
  if (file.length < FLV_HEADER_MIN_BYTES || file.toString('latin1', 0, 3) !== FLV_SIGNATURE) {
    throw new Error('not an FLV file');
  }
  const packets: MediaPacket[] = [];
  let pos = file.readUInt32BE(5) + PREVIOUS_TAG_SIZE_BYTES;
  while (pos + TAG_HEADER_BYTES <= file.length) {
    const type = (file[pos] & 0x1f) as PacketType;
    const size = file.readUIntBE(pos + 1, 3);
    // Timestamp is UI24 with the upper 8 bits in TimestampExtended.
    const timestamp = (file.readUIntBE(pos + 4, 3) | (file[pos + 7] << 24)) >>> 0;
    const start = pos + TAG_HEADER_BYTES;
    if (start + size > file.length) break;
    if (type === PacketType.Audio || type === PacketType.Video || type === PacketType.Data) {
      packets.push({ type, timestamp, payload: file.subarray(start, start + size) });
    }
    pos = start + size + PREVIOUS_TAG_SIZE_BYTES;
  }
  return packets;
}
