/**
 * A plain ISO base media file format box writer (ISO/IEC 14496-12 §4.2 "Object structure"): every box is
 * size(32) + type(32) + body; a full box adds version(8) + flags(24).
 *
 * A build function describes the boxes once and is run twice: a measuring pass that only counts bytes,
 * then a writing pass into one Buffer of exactly that size. No intermediate Buffers, no concatenation,
 * and a mismatch between the passes (a bug) is caught instead of producing a corrupt file.
 */

export const BOX_HEADER_BYTES = 8;
export const FULL_BOX_HEADER_BYTES = 12;
/** A 32-bit size field; larger boxes would need the 64-bit largesize form, which we never write. */
export const MAX_BOX_BYTES = 0xffff_ffff;
const FOURCC_BYTES = 4;
const MAX_UINT24 = 0xff_ffff;
const TWO_POW_32 = 2 ** 32;

export type BoxBuild = (w: BoxWriter) => void;

/** Writes big-endian fields and boxes at a cursor; in measuring mode it only advances the cursor. */
export class BoxWriter {
  private pos = 0;

  private constructor(private readonly out: Buffer | undefined) {}

  /** Bytes `build` writes. */
  static measure(build: BoxBuild): number {
    const w = new BoxWriter(undefined);
    build(w);
    return w.pos;
  }

  /** Runs `build` into one Buffer of exactly the measured size. */
  static write(build: BoxBuild): Buffer {
    const size = BoxWriter.measure(build);
    const w = new BoxWriter(Buffer.allocUnsafe(size));
    build(w);
    if (w.pos !== size) throw new RangeError(`box writer wrote ${w.pos} of ${size} bytes`);
    return w.out as Buffer;
  }

  /** Bytes written so far (the offset of the next field). */
  get offset(): number {
    return this.pos;
  }

  u8(value: number): void {
    this.out?.writeUInt8(value, this.pos);
    this.pos += 1;
  }

  u16(value: number): void {
    this.out?.writeUInt16BE(value, this.pos);
    this.pos += 2;
  }

  i16(value: number): void {
    this.out?.writeInt16BE(value, this.pos);
    this.pos += 2;
  }

  u24(value: number): void {
    if (value < 0 || value > MAX_UINT24) throw new RangeError(`u24 out of range: ${value}`);
    this.out?.writeUIntBE(value, this.pos, 3);
    this.pos += 3;
  }

  u32(value: number): void {
    this.out?.writeUInt32BE(value, this.pos);
    this.pos += 4;
  }

  i32(value: number): void {
    this.out?.writeInt32BE(value, this.pos);
    this.pos += 4;
  }

  /** Unsigned 64-bit from a non-negative safe integer (up to 2^53, ample for any timeline). */
  u64(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`u64 out of range: ${value}`);
    if (this.out) {
      this.out.writeUInt32BE(Math.floor(value / TWO_POW_32), this.pos);
      this.out.writeUInt32BE(value % TWO_POW_32, this.pos + 4);
    }
    this.pos += 8;
  }

  /** A four-character code (box type, brand, handler type): exactly four Latin-1 characters. */
  fourcc(code: string): void {
    if (code.length !== FOURCC_BYTES) throw new RangeError(`not a four-character code: ${code}`);
    this.out?.write(code, this.pos, FOURCC_BYTES, 'latin1');
    this.pos += FOURCC_BYTES;
  }

  /** Copies `data[start..end)`. */
  bytes(data: Buffer, start = 0, end = data.length): void {
    if (start < 0 || end > data.length || start > end) throw new RangeError('bytes out of range');
    if (this.out) data.copy(this.out, this.pos, start, end);
    this.pos += end - start;
  }

  zeros(count: number): void {
    this.out?.fill(0, this.pos, this.pos + count);
    this.pos += count;
  }

  /** A box (§4.2): size and type, then whatever `body` writes; the size is patched afterwards. */
  box(type: string, body: BoxBuild): void {
    const start = this.pos;
    this.u32(0);
    this.fourcc(type);
    body(this);
    this.patchSize(start);
  }

  /** A full box (§4.2 FullBox): box header, version (8), flags (24), body. */
  fullBox(type: string, version: number, flags: number, body: BoxBuild): void {
    const start = this.pos;
    this.u32(0);
    this.fourcc(type);
    this.u8(version);
    this.u24(flags);
    body(this);
    this.patchSize(start);
  }

  private patchSize(start: number): void {
    const size = this.pos - start;
    if (size > MAX_BOX_BYTES) throw new RangeError(`box of ${size} bytes needs a 64-bit size`);
    this.out?.writeUInt32BE(size, start);
  }
}
