import fc from 'fast-check';
import {
  decodeAmf0 as referenceDecode,
  encodeAmf0 as referenceEncode,
  AmfValue,
} from '../../../../test/helpers/amf0';
import { Amf0Error, Amf0Out, Amf0Reader, Amf0Value, encodeAmf0, MAX_AMF0_DEPTH } from './amf0';

/* Byte layouts below are from the AMF0 spec (Adobe, "Action Message Format -- AMF 0"), section 2. */

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const f64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(n);
  return b;
};
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
/** A UTF-8 name as it appears in an object: u16 length, bytes (spec 2.5 "UTF-8"). */
const name = (s: string): Buffer => Buffer.concat([u16(utf8(s).length), utf8(s)]);
const OBJECT_END = hex('000009');

function readOne(bytes: Buffer): Amf0Value {
  const reader = new Amf0Reader(bytes);
  const value = reader.read();
  expect(reader.done).toBe(true);
  return value;
}

/** A tree of plain arrays/objects with `undefined` kept visible, so that equality misses nothing. */
function canon(value: Amf0Value | AmfValue): unknown {
  if (value === undefined) return { undefined: true };
  if (value instanceof Date) return { date: value.getTime() };
  if (Array.isArray(value)) return { array: (value as Amf0Value[]).map(canon) };
  if (typeof value === 'object' && value !== null) {
    return { object: Object.entries(value).map(([k, v]) => [k, canon(v)]) };
  }
  return value;
}

describe('Amf0Reader', () => {
  describe('reads every marker it accepts', () => {
    it('reads a number (0x00) as a big-endian double, NaN and -0 included', () => {
      expect(readOne(Buffer.concat([hex('00'), f64(1935.5)]))).toBe(1935.5);
      expect(readOne(Buffer.concat([hex('00'), f64(-0)]))).toBe(-0);
      expect(readOne(Buffer.concat([hex('00'), f64(NaN)]))).toBeNaN();
    });

    it('reads a boolean (0x01): zero is false, any other byte true', () => {
      expect(readOne(hex('0100'))).toBe(false);
      expect(readOne(hex('0101'))).toBe(true);
      expect(readOne(hex('01ff'))).toBe(true);
    });

    it('reads a string (0x02) of multi-byte UTF-8 by its byte length', () => {
      const text = 'héllo ✓ 𝄞';
      expect(readOne(Buffer.concat([hex('02'), u16(utf8(text).length), utf8(text)]))).toBe(text);
      expect(readOne(hex('020000'))).toBe('');
    });

    it('reads a long string (0x0c) and an XML document (0x0f) with 32-bit lengths', () => {
      const long = 'x'.repeat(70_000);
      expect(readOne(Buffer.concat([hex('0c'), u32(long.length), utf8(long)]))).toBe(long);
      const xml = '<a b="1"/>';
      expect(readOne(Buffer.concat([hex('0f'), u32(xml.length), utf8(xml)]))).toBe(xml);
    });

    it('reads null (0x05), undefined (0x06) and unsupported (0x0d)', () => {
      expect(readOne(hex('05'))).toBeNull();
      expect(readOne(hex('06'))).toBeUndefined();
      expect(readOne(hex('0d'))).toBeUndefined();
    });

    it('reads a date (0x0b): milliseconds as a double, then a 16-bit time zone that is skipped', () => {
      const value = readOne(Buffer.concat([hex('0b'), f64(1_700_000_000_123), hex('ffc4')]));
      expect(value).toBeInstanceOf(Date);
      expect((value as Date).getTime()).toBe(1_700_000_000_123);
    });

    it('reads an object (0x03) up to the empty name and the object-end marker', () => {
      const bytes = Buffer.concat([
        hex('03'),
        name('app'),
        hex('02'),
        name('live'),
        name('objectEncoding'),
        hex('00'),
        f64(3),
        name('inner'),
        hex('03'),
        name('k'),
        hex('0101'),
        OBJECT_END,
        OBJECT_END,
      ]);
      expect(canon(readOne(bytes))).toEqual({
        object: [
          ['app', 'live'],
          ['objectEncoding', 3],
          ['inner', { object: [['k', true]] }],
        ],
      });
    });

    it('reads an ECMA array (0x08) to its end marker whatever count it announces', () => {
      for (const count of [0, 2, 0xffffffff]) {
        const bytes = Buffer.concat([
          hex('08'),
          u32(count),
          name('duration'),
          hex('00'),
          f64(0),
          name('width'),
          hex('00'),
          f64(1280),
          OBJECT_END,
        ]);
        expect(canon(readOne(bytes))).toEqual({
          object: [
            ['duration', 0],
            ['width', 1280],
          ],
        });
      }
    });

    it('reads a strict array (0x0a) of its counted values', () => {
      const bytes = Buffer.concat([hex('0a'), u32(3), hex('00'), f64(1), hex('05'), hex('0101')]);
      expect(readOne(bytes)).toEqual([1, null, true]);
      expect(readOne(Buffer.concat([hex('0a'), u32(0)]))).toEqual([]);
    });

    it('reads a typed object (0x10) as its properties, the class name dropped', () => {
      const bytes = Buffer.concat([hex('10'), name('flash.Point'), name('x'), hex('00'), f64(2)]);
      expect(canon(readOne(Buffer.concat([bytes, OBJECT_END])))).toEqual({ object: [['x', 2]] });
    });

    it('reads values one after the other, and readMany stops at the count or the end', () => {
      const bytes = Buffer.concat([hex('020001'), utf8('a'), hex('05'), hex('06'), hex('0101')]);
      expect(new Amf0Reader(bytes).readMany(2)).toEqual(['a', null]);
      const all = new Amf0Reader(bytes).readMany(100);
      expect(all).toHaveLength(4);
      expect(all[3]).toBe(true);
    });
  });

  describe('refuses what it does not accept', () => {
    it.each([
      ['movie clip (0x04)', 0x04],
      ['reference (0x07)', 0x07],
      ['object end out of place (0x09)', 0x09],
      ['record set (0x0e)', 0x0e],
      ['AMF3 switch (0x11)', 0x11],
      ['undefined marker 0xff', 0xff],
    ])('refuses a %s with Amf0Error', (_what, marker) => {
      expect(() => new Amf0Reader(Buffer.from([marker, 0, 0, 0, 0])).read()).toThrow(Amf0Error);
    });

    it('refuses an unknown marker inside an object, not only at the top', () => {
      const bytes = Buffer.concat([hex('03'), name('a'), hex('07 0001'), OBJECT_END]);
      expect(() => new Amf0Reader(bytes).read()).toThrow(/unsupported AMF0 marker 0x7/);
    });

    const wholeValues: [string, Buffer][] = [
      ['number', Buffer.concat([hex('00'), f64(12.25)])],
      ['boolean', hex('0101')],
      ['string', Buffer.concat([hex('02'), name('abc')])],
      ['long string', Buffer.concat([hex('0c'), u32(3), utf8('abc')])],
      ['XML document', Buffer.concat([hex('0f'), u32(3), utf8('<a>')])],
      ['date', Buffer.concat([hex('0b'), f64(5), hex('0000')])],
      ['object', Buffer.concat([hex('03'), name('k'), hex('0100'), OBJECT_END])],
      ['ECMA array', Buffer.concat([hex('08'), u32(1), name('k'), hex('05'), OBJECT_END])],
      ['strict array', Buffer.concat([hex('0a'), u32(2), hex('05'), hex('0100')])],
      ['typed object', Buffer.concat([hex('10'), name('C'), name('k'), hex('06'), OBJECT_END])],
    ];

    it.each(wholeValues)('refuses every truncated %s with Amf0Error', (_what, whole) => {
      expect(() => readOne(whole)).not.toThrow();
      for (let length = 0; length < whole.length; length++) {
        expect(() => new Amf0Reader(whole.subarray(0, length)).read()).toThrow(Amf0Error);
      }
    });

    it('refuses a string whose length runs past the buffer', () => {
      expect(() => new Amf0Reader(hex('02ffff 6162')).read()).toThrow(Amf0Error);
      expect(() => new Amf0Reader(hex('0cffffffff 6162')).read()).toThrow(Amf0Error);
    });
  });

  describe('bounds nesting', () => {
    /** `levels` strict arrays, each holding the next; the innermost is empty. */
    const nestedArrays = (levels: number): Buffer =>
      Buffer.concat([
        Buffer.concat(Array.from({ length: levels - 1 }, () => Buffer.concat([hex('0a'), u32(1)]))),
        hex('0a'),
        u32(0),
      ]);

    it(`reads ${MAX_AMF0_DEPTH} levels and refuses ${MAX_AMF0_DEPTH + 1}`, () => {
      expect(() => readOne(nestedArrays(MAX_AMF0_DEPTH))).not.toThrow();
      expect(() => new Amf0Reader(nestedArrays(MAX_AMF0_DEPTH + 1)).read()).toThrow(
        new Amf0Error(`AMF nested deeper than ${MAX_AMF0_DEPTH}`),
      );
    });

    it('refuses 100000 nested arrays with Amf0Error, not a stack overflow', () => {
      const bytes = nestedArrays(100_000);
      let thrown: unknown;
      try {
        new Amf0Reader(bytes).read();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(Amf0Error);
    });

    it('refuses 100000 nested objects and ECMA arrays with Amf0Error, not a stack overflow', () => {
      const level = Buffer.concat([hex('03'), name('a'), hex('08'), u32(0), name('b')]);
      const bytes = Buffer.concat(Array.from({ length: 50_000 }, () => level));
      let thrown: unknown;
      try {
        new Amf0Reader(bytes).read();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(Amf0Error);
    });
  });

  describe('strict array counts', () => {
    it('refuses a count larger than the bytes left before reading any item', () => {
      // 2^32 - 1 items announced and 16 MiB of valid one-byte items after it: refused at the count,
      // where reading item by item would build a 16-million-entry array first.
      const bytes = Buffer.concat([
        hex('0a'),
        u32(0xffffffff),
        Buffer.alloc(16 * 1024 * 1024, 0x05),
      ]);
      const started = process.hrtime.bigint();
      expect(() => new Amf0Reader(bytes).read()).toThrow(new Amf0Error('truncated AMF'));
      expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(20);
    });

    it('accepts a count equal to the bytes left (one-byte items) and refuses one more', () => {
      const items = hex('0505050505');
      expect(readOne(Buffer.concat([hex('0a'), u32(5), items]))).toEqual([
        null,
        null,
        null,
        null,
        null,
      ]);
      expect(() => new Amf0Reader(Buffer.concat([hex('0a'), u32(6), items])).read()).toThrow(
        Amf0Error,
      );
    });
  });

  describe('objects have no prototype', () => {
    it('keeps a __proto__ key as data and pollutes nothing', () => {
      const bytes = Buffer.concat([
        hex('03'),
        name('__proto__'),
        hex('03'),
        name('polluted'),
        hex('0101'),
        OBJECT_END,
        name('constructor'),
        hex('02'),
        name('x'),
        OBJECT_END,
      ]);
      const value = readOne(bytes) as Record<string, Amf0Value>;
      expect(Object.getPrototypeOf(value)).toBeNull();
      expect(Object.keys(value)).toEqual(['__proto__', 'constructor']);
      expect(Object.getPrototypeOf(value['__proto__'])).toBeNull();
      expect((value['__proto__'] as Record<string, Amf0Value>).polluted).toBe(true);
      expect(value.constructor).toBe('x');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('gives an ECMA array no inherited members either', () => {
      const value = readOne(Buffer.concat([hex('08'), u32(0), OBJECT_END])) as object;
      expect(Object.getPrototypeOf(value)).toBeNull();
      expect('toString' in value).toBe(false);
      expect('hasOwnProperty' in value).toBe(false);
    });
  });
});

describe('encodeAmf0', () => {
  it('writes the _result of a connect as the AMF0 spec lays it out, byte for byte', () => {
    const bytes = encodeAmf0([
      '_result',
      1,
      { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
      { level: 'status', objectEncoding: 0 },
    ]);
    expect(bytes.toString('hex')).toBe(
      hex(`
        02 0007 5f726573756c74
        00 3ff0000000000000
        03
          0006 666d73566572 02 000d 464d532f332c302c312c313233
          000c 6361706162696c6974696573 00 403f000000000000
        000009
        03
          0005 6c6576656c 02 0006 737461747573
          000e 6f626a656374456e636f64696e67 00 0000000000000000
        000009
      `).toString('hex'),
    );
    expect(referenceDecode(bytes)).toEqual([
      '_result',
      1,
      { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
      { level: 'status', objectEncoding: 0 },
    ]);
  });

  it('writes booleans, null and undefined as their one-byte markers', () => {
    expect(encodeAmf0([true, false, null, undefined]).toString('hex')).toBe('0101010005' + '06');
  });

  it('writes a string up to 65535 UTF-8 bytes as a string, a longer one as a long string', () => {
    const short = encodeAmf0(['é'.repeat(32_767) + 'a']); // 65535 bytes
    expect(short[0]).toBe(0x02);
    expect(short.readUInt16BE(1)).toBe(65_535);
    const long = encodeAmf0(['é'.repeat(32_768)]); // 65536 bytes
    expect(long[0]).toBe(0x0c);
    expect(long.readUInt32BE(1)).toBe(65_536);
    expect(readOne(long)).toBe('é'.repeat(32_768));
  });

  it('writes what the independent test codec writes, for the values both know', () => {
    const values: Amf0Out[] = [
      'onStatus',
      0,
      null,
      { level: 'error', code: 'NetStream.Publish.BadName', description: 'x', n: -1.5 },
      true,
      undefined,
    ];
    expect(encodeAmf0(values).equals(referenceEncode(...(values as AmfValue[])))).toBe(true);
  });
});

describe('round trip', () => {
  const key = fc.string({ unit: 'binary', maxLength: 8 });
  const { value } = fc.letrec<{ value: Amf0Out; object: Amf0Out }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.double(),
      fc.boolean(),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constant(null),
      fc.constant(undefined),
      tie('object'),
    ),
    object: fc
      .uniqueArray(fc.tuple(key, tie('value')), { maxLength: 5, selector: ([k]) => k })
      .map((entries) => {
        const object: Record<string, Amf0Out> = Object.create(null) as Record<string, Amf0Out>;
        for (const [k, v] of entries) object[k] = v;
        return object;
      }),
  }));

  it('reads back exactly what the writer wrote', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 6 }), (values) => {
        const reader = new Amf0Reader(encodeAmf0(values));
        const read = reader.readMany(values.length);
        expect(reader.done).toBe(true);
        expect(read.map(canon)).toEqual(values.map(canon));
      }),
      { numRuns: 300 },
    );
  });

  it('reads what the independent test codec writes, strict arrays included', () => {
    const { tree } = fc.letrec<{ tree: AmfValue }>((tie) => ({
      tree: fc.oneof(
        { depthSize: 'small' },
        fc.double(),
        fc.boolean(),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc.constant(null),
        fc.constant(undefined),
        fc.array(tie('tree'), { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 6 }), tie('tree'), { maxKeys: 4 }),
      ),
    }));
    fc.assert(
      fc.property(fc.array(tree, { maxLength: 5 }), (values) => {
        const fromReference = new Amf0Reader(referenceEncode(...values)).readMany(values.length);
        expect(fromReference.map(canon)).toEqual(values.map(canon));
      }),
      { numRuns: 300 },
    );
  });
});
