import { MediaPacket, PacketType } from './media-packet';

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
 * One wire form of a packet (an FLV tag, RTMP chunks at one chunk size and stream id, ...): `id` names the
 * form and its parameters, so that every reader asking for the same form shares one buffer.
 */
export interface WireForm {
  readonly id: string;
  encode(packet: MediaPacket): Buffer;
}

/** Wire forms kept per packet: FLV and the usual RTMP form; rarer ones are encoded for their reader. */
const MAX_CACHED_WIRE_FORMS = 3;

/**
 * A MediaPacket classified once on arrival, with its wire forms built lazily and shared by every player
 * of the stream (one buffer per message per form, not one per player). The forms themselves belong to
 * the protocols; this core type only remembers them.
 */
export class StreamPacket implements MediaPacket {
  readonly isKeyframe: boolean;
  readonly isSequenceHeader: boolean;
  private forms: { readonly id: string; readonly bytes: Buffer }[] | undefined;

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

  /** The packet in `form`, encoded the first time a reader asks for it. */
  wire(form: WireForm): Buffer {
    const forms = (this.forms ??= []);
    for (const cached of forms) if (cached.id === form.id) return cached.bytes;
    const bytes = form.encode(this);
    if (forms.length < MAX_CACHED_WIRE_FORMS) forms.push({ id: form.id, bytes });
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
