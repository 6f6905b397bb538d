import { BOX_HEADER_BYTES, BoxWriter, FULL_BOX_HEADER_BYTES } from './mp4-boxes';
import { fullBoxHeader, readBoxes } from './testing-mp4-reader';

describe('BoxWriter', () => {
  it('writes size + type, patches nested sizes, and allocates exactly the measured size', () => {
    const build = (w: BoxWriter): void => {
      w.box('moov', () => {
        w.box('free', () => w.bytes(Buffer.from('abc')));
        w.fullBox('mfhd', 1, 0x020304, () => w.u32(7));
      });
      w.box('skip', () => undefined);
    };
    const out = BoxWriter.write(build);
    expect(out.length).toBe(BoxWriter.measure(build));
    const boxes = readBoxes(out);
    expect(boxes.map((b) => [b.type, b.size])).toEqual([
      ['moov', BOX_HEADER_BYTES + (BOX_HEADER_BYTES + 3) + (FULL_BOX_HEADER_BYTES + 4)],
      ['skip', BOX_HEADER_BYTES],
    ]);
    expect(boxes[0].children.map((b) => b.type)).toEqual(['free', 'mfhd']);
    const mfhd = boxes[0].children[1];
    expect(fullBoxHeader(mfhd)).toEqual({ version: 1, flags: 0x020304 });
    expect(mfhd.body.readUInt32BE(4)).toBe(7);
    expect(boxes[0].children[0].body.toString()).toBe('abc');
  });

  it('writes big-endian fields, signed values and 64-bit integers beyond 2^32', () => {
    const out = BoxWriter.write((w) => {
      w.u8(0xfe);
      w.u16(0x1234);
      w.i16(-2);
      w.u24(0xabcdef);
      w.i32(-5);
      w.u64(2 ** 40 + 3);
      w.zeros(2);
      w.fourcc('iso6');
    });
    expect(out.toString('hex')).toBe(
      'fe1234fffeabcdef' + 'fffffffb' + '0000010000000003' + '0000' + '69736f36',
    );
  });

  it('refuses values that do not fit instead of writing garbage', () => {
    expect(() => BoxWriter.write((w) => w.u24(1 << 24))).toThrow(RangeError);
    expect(() => BoxWriter.write((w) => w.u64(-1))).toThrow(RangeError);
    expect(() => BoxWriter.write((w) => w.u64(2 ** 53))).toThrow(RangeError);
    expect(() => BoxWriter.write((w) => w.fourcc('abc'))).toThrow(RangeError);
    expect(() => BoxWriter.write((w) => w.bytes(Buffer.alloc(2), 1, 3))).toThrow(RangeError);
  });

  it('catches a build that writes differently in its two passes', () => {
    let growing = 0;
    expect(() => BoxWriter.write((w) => w.zeros(++growing))).toThrow(/out of range/);
    let shrinking = 3;
    expect(() => BoxWriter.write((w) => w.zeros(--shrinking))).toThrow('wrote 1 of 2 bytes');
  });
});
