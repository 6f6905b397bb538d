import { PacketType } from '../core/media-packet';
import { StreamSubscriber } from '../core/live-stream';
import { StreamPacket } from '../core/stream-packet';
import { parseAacConfig } from '../protocols/codecs/aac';
import { parseAvcConfig } from '../protocols/codecs/avc';
import { stripSetDataFrame } from '../protocols/flv/flv-writer';
import { parseSps } from '../protocols/fmp4/h264-sps';
import { Amf0Object, Amf0Reader, Amf0Value } from '../protocols/rtmp/amf0';

/** What a publisher's stream is, as `/stat/livestat` shows it; `null` where the stream has not said. */
export interface StreamInfo {
  video_codec: string | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  audio_codec: string | null;
  sample_rate: number | null;
  channels: number | null;
}

/** Legacy FLV video CodecID (FLV spec v10.1 §E.4.3.1; 12 = HEVC by common extension). */
const LEGACY_VIDEO_CODECS: Readonly<Record<number, string>> = {
  2: 'h263',
  3: 'screen',
  4: 'vp6',
  5: 'vp6a',
  6: 'screen2',
  7: 'h264',
  12: 'hevc',
};
/** FLV SoundFormat (§E.4.2.1). */
const LEGACY_AUDIO_CODECS: Readonly<Record<number, string>> = {
  0: 'pcm',
  1: 'adpcm',
  2: 'mp3',
  3: 'pcm',
  4: 'nellymoser',
  5: 'nellymoser',
  6: 'nellymoser',
  7: 'g711a',
  8: 'g711u',
  10: 'aac',
  11: 'speex',
  14: 'mp3',
};
/** Enhanced RTMP FourCCs (E-RTMP v2, "ExVideoTagHeader" / "ExAudioTagHeader"). */
const FOURCC_CODECS: Readonly<Record<string, string>> = {
  avc1: 'h264',
  hvc1: 'hevc',
  av01: 'av1',
  vp09: 'vp9',
  vp08: 'vp8',
  mp4a: 'aac',
  '.mp3': 'mp3',
  Opus: 'opus',
  fLaC: 'flac',
  'ac-3': 'ac3',
  'ec-3': 'eac3',
};
const VIDEO_EX_HEADER_BIT = 0x80;
const AUDIO_FORMAT_EX_HEADER = 9;
const AUDIO_FORMAT_AAC = 10;
const VIDEO_CODEC_AVC = 7;
const FOURCC_BYTES = 4;
/** FrameType|CodecID + AVCPacketType + CompositionTime (FLV spec §E.4.3.1). */
const AVC_TAG_HEADER_BYTES = 5;
/** SoundFormat|rate|size|type + AACPacketType (§E.4.2.1). */
const AAC_TAG_HEADER_BYTES = 2;
const ANNEX_B_START_CODE = Buffer.from([0, 0, 0, 1]);
/** Metadata above this size is not read for the console: real onMetaData is a few hundred bytes. */
const MAX_METADATA_BYTES = 64 * 1024;
/** A frame rate or size outside these is a publisher's nonsense, shown as unknown. */
const MAX_FPS = 1000;
const MAX_PICTURE_SIDE = 65535;

/**
 * An internal consumer of one publish that learns what the stream is from what its publisher already
 * sends: the codec from each audio and video tag header, the picture size from the AVC sequence header's
 * SPS (ITU-T H.264 §7.3.2.1.1), rate and channels from the AAC AudioSpecificConfig (ISO/IEC 14496-3
 * §1.6.2.1), and the frame rate (and whatever the headers do not say) from `onMetaData`. It reads only
 * headers and metadata, never coded frames beyond their first byte, so it costs nothing per frame.
 */
export class StreamProbe implements StreamSubscriber {
  private readonly fromHeaders: Partial<StreamInfo> = {};
  private readonly fromMetadata: Partial<StreamInfo> = {};

  get info(): StreamInfo {
    const pick = <K extends keyof StreamInfo>(key: K): StreamInfo[K] =>
      this.fromHeaders[key] ?? this.fromMetadata[key] ?? null;
    return {
      video_codec: pick('video_codec'),
      width: pick('width'),
      height: pick('height'),
      fps: pick('fps'),
      audio_codec: pick('audio_codec'),
      sample_rate: pick('sample_rate'),
      channels: pick('channels'),
    };
  }

  deliver(packet: StreamPacket): void {
    const { payload } = packet;
    if (packet.type === PacketType.Data) {
      if (payload.length <= MAX_METADATA_BYTES) this.readMetadata(payload);
      return;
    }
    if (payload.length < 1) return;
    if (packet.type === PacketType.Video) {
      if (this.fromHeaders.video_codec === undefined || packet.isSequenceHeader)
        this.fromHeaders.video_codec = videoCodec(payload);
      if (packet.isSequenceHeader) this.readVideoHeader(payload);
    } else if (packet.type === PacketType.Audio) {
      if (this.fromHeaders.audio_codec === undefined || packet.isSequenceHeader)
        this.fromHeaders.audio_codec = audioCodec(payload);
      if (packet.isSequenceHeader) this.readAudioHeader(payload);
    }
  }

  private readVideoHeader(payload: Buffer): void {
    if (payload[0] & VIDEO_EX_HEADER_BIT || (payload[0] & 0x0f) !== VIDEO_CODEC_AVC) return;
    const config = parseAvcConfig(payload, AVC_TAG_HEADER_BYTES);
    if (!config) return;
    // parameterSetsAnnexB starts with the first SPS; NAL payloads cannot hold a start code (§7.4.1).
    const sets = config.parameterSetsAnnexB;
    const next = sets.indexOf(ANNEX_B_START_CODE, ANNEX_B_START_CODE.length);
    const sps = parseSps(sets.subarray(ANNEX_B_START_CODE.length, next < 0 ? sets.length : next));
    if (!sps) return;
    this.fromHeaders.width = sps.width;
    this.fromHeaders.height = sps.height;
  }

  private readAudioHeader(payload: Buffer): void {
    if (payload[0] >> 4 !== AUDIO_FORMAT_AAC) return;
    const config = parseAacConfig(payload, AAC_TAG_HEADER_BYTES);
    if (!config) return;
    this.fromHeaders.sample_rate = config.sampleRateHz;
    // channelConfiguration 1–6 are that many channels, 7 is 7.1 (ISO/IEC 14496-3 Table 1.19).
    this.fromHeaders.channels = config.channelConfiguration === 7 ? 8 : config.channelConfiguration;
  }

  /** `onMetaData` (FLV spec §E.5): an AMF0 name, then an ECMA array of properties. */
  private readMetadata(payload: Buffer): void {
    let properties: Amf0Value;
    try {
      const reader = new Amf0Reader(stripSetDataFrame(payload));
      if (reader.read() !== 'onMetaData') return;
      properties = reader.read();
    } catch {
      return; // not AMF0 this reader accepts: nothing learnt
    }
    if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) return;
    const meta = properties as Amf0Object;
    const number = (name: string, max: number) => {
      const value = meta[name];
      return typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= max
        ? value
        : undefined;
    };
    const fps = number('framerate', MAX_FPS) ?? number('videoframerate', MAX_FPS);
    const stereo = meta.stereo;
    Object.assign(this.fromMetadata, {
      fps: fps === undefined ? undefined : Math.round(fps * 100) / 100,
      width: whole(number('width', MAX_PICTURE_SIDE)),
      height: whole(number('height', MAX_PICTURE_SIDE)),
      sample_rate: whole(number('audiosamplerate', 1_000_000)),
      channels: typeof stereo === 'boolean' ? (stereo ? 2 : 1) : undefined,
    });
  }
}

function whole(value: number | undefined): number | undefined {
  return value === undefined ? undefined : Math.round(value);
}

function videoCodec(payload: Buffer): string {
  const first = payload[0];
  if (first & VIDEO_EX_HEADER_BIT) return fourcc(payload, 1);
  return LEGACY_VIDEO_CODECS[first & 0x0f] ?? 'unknown';
}

function audioCodec(payload: Buffer): string {
  const format = payload[0] >> 4;
  if (format === AUDIO_FORMAT_EX_HEADER) return fourcc(payload, 1);
  return LEGACY_AUDIO_CODECS[format] ?? 'unknown';
}

function fourcc(payload: Buffer, offset: number): string {
  if (payload.length < offset + FOURCC_BYTES) return 'unknown';
  return FOURCC_CODECS[payload.toString('latin1', offset, offset + FOURCC_BYTES)] ?? 'unknown';
}
