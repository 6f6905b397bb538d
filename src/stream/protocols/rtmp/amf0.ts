/**
 * AMF0 (Adobe "Action Message Format -- AMF 0", 2006): the value encoding of RTMP commands.
 *
 * The reader walks a peer's bytes once: every value costs time and memory in proportion to its bytes,
 * nesting is bounded, and objects are created without a prototype (a peer's `__proto__` key is just a
 * key). The writer encodes only what the server itself builds (fixed fields and numbers), never a value
 * a peer sent, so no answer can cost more than its fixed shape.
 */

/** A decoded AMF0 value. References, movie clips and AMF3 switches are refused. */
export type Amf0Value =
  number | boolean | string | null | undefined | Date | Amf0Object | readonly Amf0Value[];

/** An AMF0 object or ECMA array; read as a prototype-less record. */
export interface Amf0Object {
  readonly [key: string]: Amf0Value;
}

/** The bytes are not AMF0 this reader accepts (truncated, too deep, unknown marker). */
export class Amf0Error extends Error {
  override readonly name = 'Amf0Error';
}

/** Deepest nesting read; RTMP commands nest 2 levels, and a deeper value is refused, not recursed into. */
export const MAX_AMF0_DEPTH = 32;

/* Markers (AMF0 spec 2.1). */
const NUMBER = 0x00;
const BOOLEAN = 0x01;
const STRING = 0x02;
const OBJECT = 0x03;
const NULL = 0x05;
const UNDEFINED = 0x06;
const ECMA_ARRAY = 0x08;
const OBJECT_END = 0x09;
const STRICT_ARRAY = 0x0a;
const DATE = 0x0b;
const LONG_STRING = 0x0c;
const UNSUPPORTED = 0x0d;
const XML_DOCUMENT = 0x0f;
const TYPED_OBJECT = 0x10;

const SHORT_STRING_MAX_BYTES = 0xffff;

/** Reads AMF0 values one after the other from a buffer. */
export class Amf0Reader {
  private offset = 0;

  constructor(private readonly buffer: Buffer) {}

  get done(): boolean {
    return this.offset >= this.buffer.length;
  }

  /** The next value; throws Amf0Error when the bytes are not a whole, accepted value. */
  read(): Amf0Value {
    return this.value(1);
  }

  /** Up to `count` values, fewer when the buffer ends first. */
  readMany(count: number): Amf0Value[] {
    const values: Amf0Value[] = [];
    while (values.length < count && !this.done) values.push(this.read());
    return values;
  }

  private value(depth: number): Amf0Value {
    if (depth > MAX_AMF0_DEPTH) throw new Amf0Error(`AMF nested deeper than ${MAX_AMF0_DEPTH}`);
    const marker = this.u8();
    switch (marker) {
      case NUMBER:
        return this.f64();
      case BOOLEAN:
        return this.u8() !== 0;
      case STRING:
        return this.utf8(this.u16());
      case LONG_STRING:
      case XML_DOCUMENT:
        return this.utf8(this.u32());
      case NULL:
        return null;
      case UNDEFINED:
      case UNSUPPORTED:
        return undefined;
      case DATE: {
        const time = this.f64();
        this.take(2); // time zone, "reserved, not supported, should be set to 0x0000"
        return new Date(time);
      }
      case OBJECT:
        return this.properties(depth);
      case ECMA_ARRAY:
        this.take(4); // an associative count that readers must not trust: the end marker ends it
        return this.properties(depth);
      case TYPED_OBJECT:
        this.utf8(this.u16()); // class name
        return this.properties(depth);
      case STRICT_ARRAY: {
        const count = this.u32();
        // Every item takes at least its marker byte: a count beyond the bytes left is a lie.
        if (count > this.buffer.length - this.offset) throw new Amf0Error('truncated AMF');
        const items: Amf0Value[] = [];
        for (let i = 0; i < count; i++) items.push(this.value(depth + 1));
        return items;
      }
      default:
        throw new Amf0Error(`unsupported AMF0 marker 0x${marker.toString(16)}`);
    }
  }

  /** Name/value pairs up to the empty name and object-end marker (AMF0 spec 2.5). */
  private properties(depth: number): Amf0Object {
    const object: Record<string, Amf0Value> = Object.create(null) as Record<string, Amf0Value>;
    for (;;) {
      const name = this.utf8(this.u16());
      if (name === '' && this.buffer[this.offset] === OBJECT_END) {
        this.offset++;
        return object;
      }
      object[name] = this.value(depth + 1);
    }
  }

  private take(bytes: number): number {
    const at = this.offset;
    if (at + bytes > this.buffer.length) throw new Amf0Error('truncated AMF');
    this.offset += bytes;
    return at;
  }

  private u8(): number {
    return this.buffer[this.take(1)];
  }

  private u16(): number {
    return this.buffer.readUInt16BE(this.take(2));
  }

  private u32(): number {
    return this.buffer.readUInt32BE(this.take(4));
  }

  private f64(): number {
    return this.buffer.readDoubleBE(this.take(8));
  }

  private utf8(bytes: number): string {
    const at = this.take(bytes);
    return this.buffer.toString('utf8', at, at + bytes);
  }
}

/** A value the server writes: built by the server, never taken from a peer. */
export type Amf0Out =
  number | boolean | string | null | undefined | { readonly [key: string]: Amf0Out };

/** Encodes values one after the other (the body of a command or data message). */
export function encodeAmf0(values: readonly Amf0Out[]): Buffer {
  const parts: Buffer[] = [];
  for (const value of values) writeValue(parts, value);
  return Buffer.concat(parts);
}

function writeValue(parts: Buffer[], value: Amf0Out): void {
  if (typeof value === 'number') {
    const bytes = Buffer.allocUnsafe(9);
    bytes[0] = NUMBER;
    bytes.writeDoubleBE(value, 1);
    parts.push(bytes);
  } else if (typeof value === 'boolean') {
    parts.push(Buffer.from([BOOLEAN, value ? 1 : 0]));
  } else if (typeof value === 'string') {
    const text = Buffer.from(value, 'utf8');
    if (text.length > SHORT_STRING_MAX_BYTES) {
      const head = Buffer.allocUnsafe(5);
      head[0] = LONG_STRING;
      head.writeUInt32BE(text.length, 1);
      parts.push(head, text);
    } else {
      parts.push(Buffer.from([STRING, text.length >> 8, text.length & 0xff]), text);
    }
  } else if (value === null) {
    parts.push(Buffer.from([NULL]));
  } else if (value === undefined) {
    parts.push(Buffer.from([UNDEFINED]));
  } else {
    parts.push(Buffer.from([OBJECT]));
    for (const [name, item] of Object.entries(value)) {
      const key = Buffer.from(name, 'utf8');
      parts.push(Buffer.from([key.length >> 8, key.length & 0xff]), key);
      writeValue(parts, item);
    }
    parts.push(Buffer.from([0, 0, OBJECT_END]));
  }
}
