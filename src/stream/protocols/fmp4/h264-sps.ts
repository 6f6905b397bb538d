/**
 * Reads the picture size from an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1, seq_parameter_set_data),
 * which an MP4 visual sample entry must state (ISO/IEC 14496-12 §12.1.3 width/height). Only the fields up to
 * frame cropping are read; VUI is not needed. Every read is bounded: a truncated or absurd SPS gives undefined.
 */

import { NAL_TYPE_SPS } from '../codecs/avc';

export interface SpsInfo {
  readonly profileIdc: number;
  readonly levelIdc: number;
  /** Displayed size in luma samples, after frame cropping (§7.4.2.1.1). */
  readonly width: number;
  readonly height: number;
}

const NAL_HEADER_BYTES = 1;
const NAL_TYPE_MASK = 0x1f;
/** profile_idc values whose SPS carries chroma_format_idc and bit depths (§7.3.2.1.1). */
const HIGH_PROFILES: ReadonlySet<number> = new Set([
  100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135,
]);
const CHROMA_FORMAT_420 = 1;
const CHROMA_FORMAT_422 = 2;
const CHROMA_FORMAT_444 = 3;
const MACROBLOCK_SIZE_SAMPLES = 16;
/** An Exp-Golomb code with more leading zeros than this does not fit the fields we read (§9.1). */
const MAX_EXP_GOLOMB_LEADING_ZEROS = 31;
/** Upper bounds from the semantics (§7.4.2.1.1), used to reject garbage early. */
const MAX_SPS_ID = 31;
const MAX_POC_CYCLE_FRAMES = 255;
/** Level 6.2 allows 139264 macroblocks per frame; a little above it still rejects nonsense. */
const MAX_FRAME_MACROBLOCKS = 1 << 18;

/** MSB-first bit reader over an RBSP (emulation prevention bytes already removed). */
class RbspReader {
  private bitPos = 0;
  failed = false;

  constructor(private readonly data: Uint8Array) {}

  bit(): number {
    if (this.bitPos >= this.data.length * 8) {
      this.failed = true;
      return 0;
    }
    const value = (this.data[this.bitPos >> 3] >> (7 - (this.bitPos & 7))) & 1;
    this.bitPos++;
    return value;
  }

  bits(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) value = value * 2 + this.bit();
    return value;
  }

  /** ue(v) (§9.1). */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (this.failed || ++zeros > MAX_EXP_GOLOMB_LEADING_ZEROS) {
        this.failed = true;
        return 0;
      }
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  /** se(v) (§9.1.1). */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/** NAL unit payload → RBSP: drops each emulation_prevention_three_byte (00 00 03 → 00 00, §7.4.1). */
function toRbsp(nal: Buffer, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  let w = 0;
  let zeros = 0;
  for (let i = start; i < end; i++) {
    const byte = nal[i];
    if (zeros >= 2 && byte === 0x03) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out[w++] = byte;
  }
  return out.subarray(0, w);
}

/** scaling_list() (§7.3.2.1.1.1), read only to skip it. */
function skipScalingList(r: RbspReader, size: number): void {
  let lastScale = 8;
  let nextScale = 8;
  for (let j = 0; j < size && !r.failed; j++) {
    if (nextScale !== 0) nextScale = (lastScale + r.se() + 256) % 256;
    lastScale = nextScale === 0 ? lastScale : nextScale;
  }
}

/** Parses the SPS NAL unit `nal` (header byte included). */
export function parseSps(nal: Buffer): SpsInfo | undefined {
  if (nal.length < NAL_HEADER_BYTES + 3 || (nal[0] & NAL_TYPE_MASK) !== NAL_TYPE_SPS)
    return undefined;
  const r = new RbspReader(toRbsp(nal, NAL_HEADER_BYTES, nal.length));
  const profileIdc = r.bits(8);
  r.bits(8); // constraint_set flags + reserved_zero_2bits
  const levelIdc = r.bits(8);
  if (r.ue() > MAX_SPS_ID) return undefined;
  let chromaFormatIdc = CHROMA_FORMAT_420;
  let separateColourPlane = 0;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc > CHROMA_FORMAT_444) return undefined;
    if (chromaFormatIdc === CHROMA_FORMAT_444) separateColourPlane = r.bit();
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.bit(); // qpprime_y_zero_transform_bypass_flag
    if (r.bit() === 1) {
      // seq_scaling_matrix_present_flag: 8 lists (12 for 4:4:4), 4x4 ones first.
      const lists = chromaFormatIdc === CHROMA_FORMAT_444 ? 12 : 8;
      for (let i = 0; i < lists && !r.failed; i++) {
        if (r.bit() === 1) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const picOrderCntType = r.ue();
  if (picOrderCntType === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (picOrderCntType === 1) {
    r.bit(); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    if (cycle > MAX_POC_CYCLE_FRAMES) return undefined;
    for (let i = 0; i < cycle && !r.failed; i++) r.se();
  } else if (picOrderCntType !== 2) {
    return undefined;
  }
  r.ue(); // max_num_ref_frames
  r.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (frameMbsOnly === 0) r.bit(); // mb_adaptive_frame_field_flag
  r.bit(); // direct_8x8_inference_flag
  let cropLeft = 0;
  let cropRight = 0;
  let cropTop = 0;
  let cropBottom = 0;
  if (r.bit() === 1) {
    cropLeft = r.ue();
    cropRight = r.ue();
    cropTop = r.ue();
    cropBottom = r.ue();
  }
  if (r.failed) return undefined;
  const heightMbs = (2 - frameMbsOnly) * heightMapUnits;
  if (widthMbs * heightMbs > MAX_FRAME_MACROBLOCKS) return undefined;
  // Crop units (§7.4.2.1.1, Table 6-1): ChromaArrayType 0 crops in luma samples.
  const chromaArrayType = separateColourPlane === 1 ? 0 : chromaFormatIdc;
  const subWidthC =
    chromaArrayType === CHROMA_FORMAT_420 || chromaArrayType === CHROMA_FORMAT_422 ? 2 : 1;
  const subHeightC = chromaArrayType === CHROMA_FORMAT_420 ? 2 : 1;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
  const width = widthMbs * MACROBLOCK_SIZE_SAMPLES - cropUnitX * (cropLeft + cropRight);
  const height = heightMbs * MACROBLOCK_SIZE_SAMPLES - cropUnitY * (cropTop + cropBottom);
  if (width <= 0 || height <= 0) return undefined;
  return { profileIdc, levelIdc, width, height };
}
