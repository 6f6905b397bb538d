/**
 * A small AMF0 codec for the test RTMP client (AMF0 spec §2): numbers, booleans, strings, objects,
 * ECMA and strict arrays, null and undefined. Independent of the server's own code on purpose.
 */
export type AmfValue =
  number | boolean | string | null | undefined | AmfValue[] | { [key: string]: AmfValue };

export function encodeAmf0(...values: AmfValue[]): Buffer {
  const parts: Buffer[] = [];
  const put = (value: AmfValue): void => {
    if (typeof value === 'number') {
      const b = Buffer.alloc(9);
      b[0] = 0x00;
      b.writeDoubleBE(value, 1);
      parts.push(b);
    } else if (typeof value === 'boolean') {
      parts.push(Buffer.from([0x01, value ? 1 : 0]));
    } else if (typeof value === 'string') {
      const text = Buffer.from(value, 'utf8');
      const head = Buffer.alloc(3);
      head[0] = 0x02;
      head.writeUInt16BE(text.length, 1);
      parts.push(head, text);
    } else if (value === null) {
      parts.push(Buffer.from([0x05]));
    } else if (value === undefined) {
      parts.push(Buffer.from([0x06]));
    } else if (Array.isArray(value)) {
      const head = Buffer.alloc(5);
      head[0] = 0x0a;
      head.writeUInt32BE(value.length, 1);
      parts.push(head);
      value.forEach(put);
    } else {
      parts.push(Buffer.from([0x03]));
      for (const [key, item] of Object.entries(value)) {
        const name = Buffer.from(key, 'utf8');
        const len = Buffer.alloc(2);
        len.writeUInt16BE(name.length);
        parts.push(len, name);
        put(item);
      }
      parts.push(Buffer.from([0x00, 0x00, 0x09]));
    }
  };
  values.forEach(put);
  return Buffer.concat(parts);
}

/** Decodes every value in `buffer`; stops quietly at the first unknown or truncated one. */
export function decodeAmf0(buffer: Buffer): AmfValue[] {
  const values: AmfValue[] = [];
  let offset = 0;
  const read = (): AmfValue => {
    const marker = buffer[offset++];
    switch (marker) {
      case 0x00: {
        const v = buffer.readDoubleBE(offset);
        offset += 8;
        return v;
      }
      case 0x01:
        return buffer[offset++] !== 0;
      case 0x02: {
        const len = buffer.readUInt16BE(offset);
        const text = buffer.toString('utf8', offset + 2, offset + 2 + len);
        offset += 2 + len;
        return text;
      }
      case 0x03:
      case 0x08: {
        if (marker === 0x08) offset += 4;
        const object: Record<string, AmfValue> = {};
        for (;;) {
          const len = buffer.readUInt16BE(offset);
          const key = buffer.toString('utf8', offset + 2, offset + 2 + len);
          offset += 2 + len;
          if (buffer[offset] === 0x09) {
            offset++;
            return object;
          }
          object[key] = read();
        }
      }
      case 0x05:
        return null;
      case 0x06:
        return undefined;
      case 0x0a: {
        const count = buffer.readUInt32BE(offset);
        offset += 4;
        const list: AmfValue[] = [];
        for (let i = 0; i < count; i++) list.push(read());
        return list;
      }
      default:
        throw new Error(`AMF0 marker ${marker} not supported`);
    }
  };
  try {
    while (offset < buffer.length) values.push(read());
  } catch {
    // truncated or unsupported: return what was read
  }
  return values;
}
