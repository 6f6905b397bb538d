/**
 * Reads the audio/video tag headers at the start of an RTMP message body (= FLV tag body, FLV spec
 * v10.1 §E.4.2 AUDIODATA / §E.4.3 VIDEODATA). Only what HLS needs is recognised: H.264 (AVC) video and
 * AAC audio; everything else (enhanced RTMP, HEVC, AV1, MP3, ...) is reported as unsupported so the caller
 * can skip it. Every read is bounds-checked; nothing here throws.
 */

/** FLV CodecID 7 = AVC (§E.4.3.1). */
const FLV_CODEC_ID_AVC = 7;
/** FLV SoundFormat 10 = AAC (§E.4.2.1). */
const FLV_SOUND_FORMAT_AAC = 10;
/** Enhanced RTMP sets the top bit of the first video byte (IsExHeader); its layout is not FLV's. */
const FLV_VIDEO_EX_HEADER_BIT = 0x80;
/** FrameType 1 = key frame; 5 = video info/command frame (carries no picture). */
const FLV_FRAME_TYPE_KEY = 1;
const FLV_FRAME_TYPE_COMMAND = 5;
/** AVCPacketType / AACPacketType 0 = decoder configuration, 1 = coded data, 2 = AVC end of sequence. */
const FLV_PACKET_TYPE_CONFIG = 0;
const FLV_PACKET_TYPE_DATA = 1;
/** FrameType|CodecID (1) + AVCPacketType (1) + CompositionTime (3). */
const AVC_TAG_HEADER_BYTES = 5;
/** SoundFormat|rate|size|type (1) + AACPacketType (1). */
const AAC_TAG_HEADER_BYTES = 2;

export const enum TagKind {
  /** A codec HLS does not carry here (not H.264/AAC, or enhanced RTMP): skip. */
  Unsupported,
  /** H.264 end of sequence, video command frame: nothing to mux. */
  Ignored,
  /** Too short to hold its own header: count and drop. */
  Malformed,
  /** AVCDecoderConfigurationRecord or AudioSpecificConfig follows at `dataOffset`. */
  Config,
  /** Coded frame data (AVCC NAL units or one raw AAC frame) follows at `dataOffset`. */
  Frame,
}

/** Result of reading one tag header; reused between calls so parsing allocates nothing. */
export class TagHeader {
  kind: TagKind = TagKind.Unsupported;
  /** Video only: FLV frame type 1 (key frame). */
  keyFrame = false;
  /** Video only: composition time offset in ms (PTS - DTS), signed. */
  compositionTimeMs = 0;
  dataOffset = 0;
}

/** Reads a VIDEODATA header (§E.4.3.1 + AVCVIDEOPACKET) into `out`. */
export function readVideoTagHeader(payload: Buffer, out: TagHeader): TagHeader {
  out.kind = TagKind.Unsupported;
  out.keyFrame = false;
  out.compositionTimeMs = 0;
  out.dataOffset = 0;
  if (payload.length < 1) {
    out.kind = TagKind.Malformed;
    return out;
  }
  const first = payload[0];
  if ((first & FLV_VIDEO_EX_HEADER_BIT) !== 0) return out;
  const frameType = first >> 4;
  if ((first & 0x0f) !== FLV_CODEC_ID_AVC) return out;
  if (frameType === FLV_FRAME_TYPE_COMMAND) {
    out.kind = TagKind.Ignored;
    return out;
  }
  if (payload.length < AVC_TAG_HEADER_BYTES) {
    out.kind = TagKind.Malformed;
    return out;
  }
  const packetType = payload[1];
  if (packetType !== FLV_PACKET_TYPE_CONFIG && packetType !== FLV_PACKET_TYPE_DATA) {
    out.kind = TagKind.Ignored;
    return out;
  }
  out.kind = packetType === FLV_PACKET_TYPE_CONFIG ? TagKind.Config : TagKind.Frame;
  out.keyFrame = frameType === FLV_FRAME_TYPE_KEY;
  // SI24: shift the 24-bit value into the top of an int32 and back to sign-extend it.
  out.compositionTimeMs = ((payload[2] << 24) | (payload[3] << 16) | (payload[4] << 8)) >> 8;
  out.dataOffset = AVC_TAG_HEADER_BYTES;
  return out;
}

/** Reads an AUDIODATA header (§E.4.2.1 + AACAUDIODATA) into `out`. */
export function readAudioTagHeader(payload: Buffer, out: TagHeader): TagHeader {
  out.kind = TagKind.Unsupported;
  out.keyFrame = false;
  out.compositionTimeMs = 0;
  out.dataOffset = 0;
  if (payload.length < 1) {
    out.kind = TagKind.Malformed;
    return out;
  }
  if (payload[0] >> 4 !== FLV_SOUND_FORMAT_AAC) return out;
  if (payload.length < AAC_TAG_HEADER_BYTES) {
    out.kind = TagKind.Malformed;
    return out;
  }
  const packetType = payload[1];
  if (packetType !== FLV_PACKET_TYPE_CONFIG && packetType !== FLV_PACKET_TYPE_DATA) {
    out.kind = TagKind.Malformed;
    return out;
  }
  out.kind = packetType === FLV_PACKET_TYPE_CONFIG ? TagKind.Config : TagKind.Frame;
  out.dataOffset = AAC_TAG_HEADER_BYTES;
  return out;
}
