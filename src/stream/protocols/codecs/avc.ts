/**
 * H.264 in FLV → H.264 in MPEG-TS. FLV carries AVCDecoderConfigurationRecord + length-prefixed NAL units
 * (ISO/IEC 14496-15 §5.2.4 "AVCC"); an MPEG-TS elementary stream must be an Annex-B byte stream
 * (ITU-T H.264 Annex B) whose access units start with an access unit delimiter (ISO/IEC 13818-1
 * §2.14.1), and every IDR needs SPS/PPS in band because an HLS segment is decoded on its own.
 */

const ANNEX_B_START_CODE = Buffer.from([0x00, 0x00, 0x00, 0x01]);
/** Start code + AUD NAL (nal_unit_type 9) with primary_pic_type 7 ("any slice type") + stop bit. */
const ACCESS_UNIT_DELIMITER = Buffer.from([0x00, 0x00, 0x00, 0x01, 0x09, 0xf0]);
const START_CODE_BYTES = ANNEX_B_START_CODE.length;

export const NAL_TYPE_IDR = 5;
export const NAL_TYPE_SPS = 7;
export const NAL_TYPE_PPS = 8;
export const NAL_TYPE_AUD = 9;
const NAL_TYPE_MASK = 0x1f;

/** AVCDecoderConfigurationRecord: version, profile, compat, level, lengthSizeMinusOne, numSPS. */
const AVC_CONFIG_FIXED_BYTES = 6;
const AVC_CONFIG_VERSION = 1;
/** Parameter-set lengths in the record are 16-bit. */
const PARAMETER_SET_LENGTH_BYTES = 2;
const INITIAL_SCRATCH_BYTES = 64 * 1024;

/** What the muxer keeps from an AVCDecoderConfigurationRecord. */
export interface AvcConfig {
  /** Size of the NAL length prefix of every coded frame: 1, 2 or 4 bytes. */
  readonly nalLengthSize: number;
  /** All SPS then all PPS, each behind an Annex-B start code, ready to copy before an IDR. */
  readonly parameterSetsAnnexB: Buffer;
}

/**
 * Parses an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.2.4.1.1). Undefined when it is truncated,
 * has an unknown version, or lacks an SPS or a PPS.
 */
export function parseAvcConfig(data: Buffer, offset: number): AvcConfig | undefined {
  if (data.length - offset < AVC_CONFIG_FIXED_BYTES) return undefined;
  if (data[offset] !== AVC_CONFIG_VERSION) return undefined;
  const nalLengthSize = (data[offset + 4] & 0x03) + 1;
  // lengthSizeMinusOne = 2 (3-byte lengths) is not allowed by §5.2.4.1.2.
  if (nalLengthSize === 3) return undefined;
  const parts: Buffer[] = [];
  let pos = offset + 5;
  let spsCount = 0;
  let ppsCount = 0;
  for (let list = 0; list < 2; list++) {
    if (pos >= data.length) return undefined;
    // numOfSequenceParameterSets is 5 bits (3 reserved bits above it); numOfPictureParameterSets is 8.
    const count = list === 0 ? data[pos] & 0x1f : data[pos];
    pos += 1;
    for (let i = 0; i < count; i++) {
      if (pos + PARAMETER_SET_LENGTH_BYTES > data.length) return undefined;
      const length = data.readUInt16BE(pos);
      pos += PARAMETER_SET_LENGTH_BYTES;
      if (length === 0 || pos + length > data.length) return undefined;
      const nalType = data[pos] & NAL_TYPE_MASK;
      if (nalType === NAL_TYPE_SPS) spsCount++;
      else if (nalType === NAL_TYPE_PPS) ppsCount++;
      parts.push(ANNEX_B_START_CODE, data.subarray(pos, pos + length));
      pos += length;
    }
  }
  if (spsCount === 0 || ppsCount === 0) return undefined;
  return { nalLengthSize, parameterSetsAnnexB: Buffer.concat(parts) };
}

export function sameAvcConfig(a: AvcConfig, b: AvcConfig): boolean {
  return a.nalLengthSize === b.nalLengthSize && a.parameterSetsAnnexB.equals(b.parameterSetsAnnexB);
}

function readNalLength(data: Buffer, pos: number, size: number): number {
  switch (size) {
    case 1:
      return data[pos];
    case 2:
      return data.readUInt16BE(pos);
    default:
      return data.readUInt32BE(pos);
  }
}

/**
 * Converts AVCC access units to Annex-B into one reusable buffer (grown on demand, never shrunk), so a
 * steady stream allocates nothing per frame. The result stays valid until the next `convert`.
 */
export class AnnexBWriter {
  private scratch = Buffer.allocUnsafe(INITIAL_SCRATCH_BYTES);
  private length = 0;

  /** The converted access unit (a view of the internal buffer). */
  get bytes(): Buffer {
    return this.scratch.subarray(0, this.length);
  }

  /**
   * Writes AUD, then SPS/PPS when the frame is a key frame or contains an IDR slice and carries no SPS of
   * its own, then every NAL unit of `data[offset..]` except AUDs (one AUD per access unit, H.264 §7.4.1.2.3).
   * Returns false, leaving nothing usable, when a NAL length runs past the payload or no NAL remains.
   */
  convert(data: Buffer, offset: number, config: AvcConfig, keyFrame: boolean): boolean {
    const size = config.nalLengthSize;
    let hasIdr = false;
    let hasSps = false;
    let nalCount = 0;
    let annexBBytes = 0;
    // Pass 1: validate every length and learn what the access unit holds before writing anything.
    for (let pos = offset; pos < data.length;) {
      if (pos + size > data.length) return false;
      const length = readNalLength(data, pos, size);
      pos += size;
      if (length > data.length - pos) return false;
      if (length > 0) {
        const type = data[pos] & NAL_TYPE_MASK;
        if (type === NAL_TYPE_IDR) hasIdr = true;
        else if (type === NAL_TYPE_SPS) hasSps = true;
        if (type !== NAL_TYPE_AUD) {
          nalCount++;
          annexBBytes += START_CODE_BYTES + length;
        }
      }
      pos += length;
    }
    if (nalCount === 0) return false;
    const withParameterSets = (keyFrame || hasIdr) && !hasSps;
    const total =
      ACCESS_UNIT_DELIMITER.length +
      (withParameterSets ? config.parameterSetsAnnexB.length : 0) +
      annexBBytes;
    this.reserve(total);
    const out = this.scratch;
    let w = ACCESS_UNIT_DELIMITER.copy(out, 0);
    if (withParameterSets) w += config.parameterSetsAnnexB.copy(out, w);
    // Pass 2: copy, lengths already known to be in bounds.
    for (let pos = offset; pos < data.length;) {
      const length = readNalLength(data, pos, size);
      pos += size;
      if (length > 0 && (data[pos] & NAL_TYPE_MASK) !== NAL_TYPE_AUD) {
        w += ANNEX_B_START_CODE.copy(out, w);
        w += data.copy(out, w, pos, pos + length);
      }
      pos += length;
    }
    this.length = w;
    return true;
  }

  private reserve(bytes: number): void {
    if (bytes <= this.scratch.length) return;
    let size = this.scratch.length;
    while (size < bytes) size *= 2;
    this.scratch = Buffer.allocUnsafe(size);
  }
}
