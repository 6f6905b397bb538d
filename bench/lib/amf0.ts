/**
 * The little AMF0 (AMF0 spec §2) the bench's RTMP client needs: encode command arguments, decode the
 * command name, transaction id and onStatus info of replies. Stops quietly on anything else.
 */
export type Amf0Value = number | boolean | string | null | undefined | { [key: string]: Amf0Value };

const MARKER_NUMBER = 0x00;
const MARKER_BOOLEAN = 0x01;
const MARKER_STRING = 0x02;
const MARKER_OBJECT = 0x03;
const MARKER_NULL = 0x05;
const MARKER_UNDEFINED = 0x06;
const MARKER_ECMA_ARRAY = 0x08;
const MARKER_OBJECT_END = 0x09;
const MAX_DEPTH = 8;

export function encodeAmf0(...values: Amf0Value[]): Buffer {
  const parts: Buffer[] = [];
  const string = (text: string): void => {
    const bytes = Buffer.from(text, 'utf8');
    const length = Buffer.allocUnsafe(2);
    length.writeUInt16BE(bytes.length);
    parts.push(length, bytes);
  };
  const put = (value: Amf0Value): void => {
    if (typeof value === 'number') {
      const b = Buffer.allocUnsafe(9);
      b[0] = MARKER_NUMBER;
      b.writeDoubleBE(value, 1);
      parts.push(b);
    } else if (typeof value === 'boolean') {
      parts.push(Buffer.from([MARKER_BOOLEAN, value ? 1 : 0]));
    } else if (typeof value === 'string') {
      parts.push(Buffer.from([MARKER_STRING]));
      string(value);
    } else if (value === null) {
      parts.push(Buffer.from([MARKER_NULL]));
    } else if (value === undefined) {
      parts.push(Buffer.from([MARKER_UNDEFINED]));
    } else {
      parts.push(Buffer.from([MARKER_OBJECT]));
      for (const [key, item] of Object.entries(value)) {
        string(key);
        put(item);
      }
      parts.push(Buffer.from([0, 0, MARKER_OBJECT_END]));
    }
  };
  values.forEach(put);
  return Buffer.concat(parts);
}

/** Decodes values until the end or the first unknown / truncated one. */
export function decodeAmf0(buffer: Buffer): Amf0Value[] {
  const values: Amf0Value[] = [];
  let offset = 0;
  const need = (bytes: number): void => {
    if (offset + bytes > buffer.length) throw new RangeError('truncated AMF0');
  };
  const string = (): string => {
    need(2);
    const length = buffer.readUInt16BE(offset);
    need(2 + length);
    const text = buffer.toString('utf8', offset + 2, offset + 2 + length);
    offset += 2 + length;
    return text;
  };
  const read = (depth: number): Amf0Value => {
    need(1);
    const marker = buffer[offset++];
    switch (marker) {
      case MARKER_NUMBER: {
        need(8);
        const value = buffer.readDoubleBE(offset);
        offset += 8;
        return value;
      }
      case MARKER_BOOLEAN:
        need(1);
        return buffer[offset++] !== 0;
      case MARKER_STRING:
        return string();
      case MARKER_OBJECT:
      case MARKER_ECMA_ARRAY: {
        if (depth > MAX_DEPTH) throw new RangeError('AMF0 nested too deep');
        if (marker === MARKER_ECMA_ARRAY) {
          need(4);
          offset += 4;
        }
        const object: { [key: string]: Amf0Value } = {};
        for (;;) {
          const key = string();
          need(1);
          if (key === '' && buffer[offset] === MARKER_OBJECT_END) {
            offset++;
            return object;
          }
          object[key] = read(depth + 1);
        }
      }
      case MARKER_NULL:
        return null;
      case MARKER_UNDEFINED:
        return undefined;
      default:
        throw new RangeError(`AMF0 marker ${marker} not handled`);
    }
  };
  try {
    while (offset < buffer.length) values.push(read(0));
  } catch {
    // Partial decode is enough: callers read the leading values only.
  }
  return values;
}
