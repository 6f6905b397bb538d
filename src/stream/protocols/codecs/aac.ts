/**
 * AAC in FLV → AAC in MPEG-TS. FLV carries an AudioSpecificConfig once and raw AAC frames after it
 * (ISO/IEC 14496-3 §1.6.2.1); MPEG-TS stream_type 0x0F carries ADTS, where every frame repeats the
 * configuration in a 7-byte header (ISO/IEC 14496-3 §1.A.2.2, adts_fixed_header + adts_variable_header).
 */

/** Sampling frequencies by samplingFrequencyIndex (ISO/IEC 14496-3 §1.6.3.4, Table 1.18). */
const SAMPLING_FREQUENCIES_HZ = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
] as const;
const SAMPLING_INDEX_EXPLICIT = 0x0f;
const OBJECT_TYPE_ESCAPE = 31;
/** SBR (HE-AAC) and PS (HE-AACv2) wrap a core object type, signalled after the extension rate. */
const OBJECT_TYPE_SBR = 5;
const OBJECT_TYPE_PS = 29;
/** ADTS' 2-bit profile field is objectType - 1, so only Main, LC, SSR and LTP (1–4) fit. */
const ADTS_MAX_OBJECT_TYPE = 4;
/** channelConfiguration 0 means "in a PCE", which raw frames do not carry; 1–7 are fixed layouts. */
const MAX_CHANNEL_CONFIGURATION = 7;
/** AAC frames hold 1024 samples per channel (960-sample frames are not used over RTMP). */
export const AAC_SAMPLES_PER_FRAME = 1024;

export const ADTS_HEADER_BYTES = 7;
/** aac_frame_length is 13 bits and includes the header. */
export const ADTS_MAX_FRAME_BYTES = 0x1fff;

/** The fields of an AudioSpecificConfig that an ADTS header repeats. */
export interface AacConfig {
  /** Core audio object type (2 = AAC-LC). */
  readonly objectType: number;
  readonly samplingIndex: number;
  readonly channelConfiguration: number;
  readonly sampleRateHz: number;
}

/** MSB-first bit reader over a bounded byte range; reads past the end yield -1. */
class BitReader {
  private bitPos: number;

  constructor(
    private readonly data: Buffer,
    offset: number,
  ) {
    this.bitPos = offset * 8;
  }

  read(bits: number): number {
    if (this.bitPos + bits > this.data.length * 8) return -1;
    let value = 0;
    for (let i = 0; i < bits; i++) {
      const byte = this.data[this.bitPos >> 3];
      value = value * 2 + ((byte >> (7 - (this.bitPos & 7))) & 1);
      this.bitPos++;
    }
    return value;
  }
}

/** GetAudioObjectType() (ISO/IEC 14496-3 §1.6.2.1.1). */
function readObjectType(bits: BitReader): number {
  const type = bits.read(5);
  if (type !== OBJECT_TYPE_ESCAPE) return type;
  const extended = bits.read(6);
  return extended < 0 ? -1 : 32 + extended;
}

/** samplingFrequencyIndex, skipping the 24-bit explicit frequency (not expressible in ADTS → -1). */
function readSamplingIndex(bits: BitReader): number {
  const index = bits.read(4);
  if (index === SAMPLING_INDEX_EXPLICIT) {
    bits.read(24);
    return -1;
  }
  return index < SAMPLING_FREQUENCIES_HZ.length ? index : -1;
}

/**
 * Parses an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1). For HE-AAC (explicit SBR/PS signalling) the
 * core AAC-LC configuration is returned, which is what ADTS carries (players find SBR implicitly).
 * Undefined when truncated or not expressible in ADTS.
 */
export function parseAacConfig(data: Buffer, offset: number): AacConfig | undefined {
  const bits = new BitReader(data, offset);
  let objectType = readObjectType(bits);
  const samplingIndex = readSamplingIndex(bits);
  const channelConfiguration = bits.read(4);
  if (objectType < 0 || samplingIndex < 0 || channelConfiguration < 0) return undefined;
  if (objectType === OBJECT_TYPE_SBR || objectType === OBJECT_TYPE_PS) {
    // extensionSamplingFrequencyIndex, then the core object type.
    if (bits.read(4) === SAMPLING_INDEX_EXPLICIT) bits.read(24);
    objectType = readObjectType(bits);
  }
  if (objectType < 1 || objectType > ADTS_MAX_OBJECT_TYPE) return undefined;
  if (channelConfiguration < 1 || channelConfiguration > MAX_CHANNEL_CONFIGURATION)
    return undefined;
  return {
    objectType,
    samplingIndex,
    channelConfiguration,
    sampleRateHz: SAMPLING_FREQUENCIES_HZ[samplingIndex],
  };
}

export function sameAacConfig(a: AacConfig, b: AacConfig): boolean {
  return (
    a.objectType === b.objectType &&
    a.samplingIndex === b.samplingIndex &&
    a.channelConfiguration === b.channelConfiguration
  );
}

/**
 * Writes the 7-byte ADTS header (protection_absent = 1, no CRC) for a raw frame of `rawBytes` bytes at
 * `out[offset]`. The caller checks `rawBytes + ADTS_HEADER_BYTES <= ADTS_MAX_FRAME_BYTES`.
 */
export function writeAdtsHeader(
  out: Buffer,
  offset: number,
  config: AacConfig,
  rawBytes: number,
): void {
  const frameLength = rawBytes + ADTS_HEADER_BYTES;
  const profile = config.objectType - 1;
  const channels = config.channelConfiguration;
  // syncword 0xFFF, ID 0 (MPEG-4), layer 00, protection_absent 1.
  out[offset] = 0xff;
  out[offset + 1] = 0xf1;
  // profile (2) | sampling_frequency_index (4) | private_bit (1) | channel_configuration bit 2.
  out[offset + 2] = (profile << 6) | (config.samplingIndex << 2) | ((channels >> 2) & 0x01);
  // channel_configuration bits 1–0 | original_copy, home, copyright id bit/start (0) | length bits 12–11.
  out[offset + 3] = ((channels & 0x03) << 6) | ((frameLength >> 11) & 0x03);
  out[offset + 4] = (frameLength >> 3) & 0xff;
  // length bits 2–0 | adts_buffer_fullness 0x7FF (VBR) | number_of_raw_data_blocks_in_frame 0.
  out[offset + 5] = ((frameLength & 0x07) << 5) | 0x1f;
  out[offset + 6] = 0xfc;
}
