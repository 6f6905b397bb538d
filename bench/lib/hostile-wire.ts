/**
 * The bytes of the hostile sessions (bench/scenarios/hostile.ts): AMF0 values as wide as a command may
 * carry, the commands that carry them, and a command whose declared length grows in its second chunk.
 * Chunk and command framing comes from the hostile-peer test kit, so the bench sends what the tests send.
 */
import { encodeAmf0 } from '../../test/helpers/amf0';
import { MessageType, rtmpMessage } from '../../test/fuzz/hostile-kit';

/** Largest command message a server is expected to accept (ours refuses larger ones at the first chunk). */
export const COMMAND_BYTES = 64 * 1024;
/** Default max_message_size of ours; node-media-server has no limit at all. */
export const MESSAGE_BYTES = 8 * 1024 * 1024;

const AMF0_OBJECT = 0x03;
const AMF0_NULL = 0x05;
const AMF0_OBJECT_END = 0x09;
const AMF0_STRICT_ARRAY = 0x0a;
const AMF0_LONG_STRING = 0x0c;

/**
 * Shapes of a wide value. node-media-server's encoder concatenates the whole output once per element
 * (`Buffer.concat` in a loop: amf.js amf0encSArray, amf0encObject), so a value it echoes costs
 * O(elements × bytes): a strict array of one-byte nulls is the worst per byte (65 531 elements in one
 * 64 KiB command, 8.4 M in 8 MiB); an object needs ≥ 4 bytes a key (about 11 600 keys in 64 KiB); a long
 * string is copied once (linear), and one longer than 65 535 makes its 16-bit string encoder throw.
 */
export type WideShape = 'strict-array' | 'object' | 'long-string';
export const WIDE_SHAPES: readonly WideShape[] = ['strict-array', 'object', 'long-string'];

const KEY_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** The `index`-th shortest key over KEY_ALPHABET (1 char for the first 62, then 2, ...). */
function keyAt(index: number): string {
  let rest = index;
  let length = 1;
  let count = KEY_ALPHABET.length;
  while (rest >= count) {
    rest -= count;
    length++;
    count *= KEY_ALPHABET.length;
  }
  let key = '';
  for (let i = 0; i < length; i++) {
    key = KEY_ALPHABET[rest % KEY_ALPHABET.length] + key;
    rest = Math.floor(rest / KEY_ALPHABET.length);
  }
  return key;
}

/** An AMF0 value of `shape` that is at most `bytes` long (and as close to it as the shape allows). */
export function wideValue(shape: WideShape, bytes: number): Buffer {
  if (shape === 'strict-array') {
    const value = Buffer.alloc(bytes, AMF0_NULL);
    value[0] = AMF0_STRICT_ARRAY;
    value.writeUInt32BE(bytes - 5, 1);
    return value;
  }
  if (shape === 'long-string') {
    const value = Buffer.alloc(bytes, 0x61); // 'a'
    value[0] = AMF0_LONG_STRING;
    value.writeUInt32BE(bytes - 5, 1);
    return value;
  }
  // An object of null-valued properties with distinct short keys, then the end marker.
  const value = Buffer.alloc(bytes);
  value[0] = AMF0_OBJECT;
  let at = 1;
  for (let i = 0; ; i++) {
    const key = keyAt(i);
    if (at + 2 + key.length + 1 + 3 > bytes) break;
    value.writeUInt16BE(key.length, at);
    value.write(key, at + 2, 'latin1');
    value[at + 2 + key.length] = AMF0_NULL;
    at += 2 + key.length + 1;
  }
  value.writeUInt16BE(0, at);
  value[at + 2] = AMF0_OBJECT_END;
  return value.subarray(0, at + 3);
}

/** Raw AMF0 object: each property's value is already encoded. */
function rawObject(properties: readonly [string, Buffer][]): Buffer {
  const parts: Buffer[] = [Buffer.from([AMF0_OBJECT])];
  for (const [key, value] of properties) {
    const name = Buffer.from(key, 'utf8');
    const length = Buffer.alloc(2);
    length.writeUInt16BE(name.length);
    parts.push(length, name, value);
  }
  parts.push(Buffer.from([0, 0, AMF0_OBJECT_END]));
  return Buffer.concat(parts);
}

/** The properties of a `connect` command object as encoders send them (without objectEncoding). */
function connectProperties(port: number): [string, Buffer][] {
  return [
    ['app', encodeAmf0('live')],
    ['tcUrl', encodeAmf0(`rtmp://127.0.0.1:${port}/live`)],
    ['flashVer', encodeAmf0('FMLE/3.0')],
  ];
}

/** A normal `connect` payload (objectEncoding 0). */
export function connectPayload(port: number, transId = 1): Buffer {
  return Buffer.concat([
    encodeAmf0('connect', transId),
    rawObject([...connectProperties(port), ['objectEncoding', encodeAmf0(0)]]),
  ]);
}

/** Commands that carry a wide value; `connect-objectEncoding` carries it inside the command object. */
export type WideCommand =
  | 'connect'
  | 'connect-objectEncoding'
  | 'createStream'
  | 'releaseStream'
  | 'FCPublish'
  | 'getStreamLength'
  | '_checkbw'
  | 'unknown';
export const WIDE_COMMANDS: readonly WideCommand[] = [
  'connect',
  'connect-objectEncoding',
  'createStream',
  'releaseStream',
  'FCPublish',
  'getStreamLength',
  '_checkbw',
  'unknown',
];
/** The name sent for `unknown`. */
export const UNKNOWN_COMMAND = 'livegoBenchUnknown';

/**
 * An AMF0 command payload of exactly `total` bytes or a little less, whose transaction id (or, for
 * `connect-objectEncoding`, objectEncoding) is a wide value of `shape` filling what the rest leaves.
 */
export function widePayload(
  command: WideCommand,
  shape: WideShape,
  port: number,
  total = COMMAND_BYTES,
): Buffer {
  if (command === 'connect-objectEncoding') {
    const head = encodeAmf0('connect', 1);
    const properties = connectProperties(port);
    // Marker, each property, the objectEncoding key (2 + 14), end marker (3).
    const fixed = rawObject(properties).length + 2 + 'objectEncoding'.length;
    const wide = wideValue(shape, total - head.length - fixed);
    return Buffer.concat([head, rawObject([...properties, ['objectEncoding', wide]])]);
  }
  const name = command === 'unknown' ? UNKNOWN_COMMAND : command;
  const head = encodeAmf0(name);
  const tail =
    command === 'connect'
      ? rawObject([...connectProperties(port), ['objectEncoding', encodeAmf0(0)]])
      : command === 'releaseStream' || command === 'FCPublish' || command === 'getStreamLength'
        ? encodeAmf0(null, 'other')
        : encodeAmf0(null);
  const wide = wideValue(shape, total - head.length - tail.length);
  return Buffer.concat([head, wide, tail]);
}

/** One AMF0 command message on chunk stream 3 (type-0 chunk, type-3 continuations of `chunkSize`). */
export function commandChunks(payload: Buffer, chunkSize = 128): Buffer {
  return rtmpMessage(MessageType.CommandAmf0, payload, { csid: 3, chunkSize });
}

/** A type-1 chunk header (RTMP spec 5.3.1.2.2) on `csid` < 64 declaring `length` bytes of `type`. */
function type1Header(csid: number, length: number, type: number): Buffer {
  const header = Buffer.alloc(8);
  header[0] = (1 << 6) | csid;
  header.writeUIntBE(0, 1, 3); // timestamp delta
  header.writeUIntBE(length, 4, 3);
  header[7] = type;
  return header;
}

/** Chunk size the growing command is sent with (announced first with Set Chunk Size). */
export const GROW_CHUNK_SIZE = 4096;
/** What the growing command declares in its first (type-0) chunk: well under COMMAND_BYTES. */
const GROW_DECLARED_BYTES = 60000;

/**
 * A command whose length grows in the middle of the message, after `connect`:
 *
 * 1. a shared-object message (type 19, which neither server handles) of MESSAGE_BYTES on chunk stream 3:
 *    under max_message_size, it leaves a buffer that large on that chunk stream;
 * 2. `createStream` on chunk stream 3, declared GROW_DECLARED_BYTES in its type-0 chunk (within the
 *    command limit, checked there), whose second chunk carries a type-1 header that re-declares the
 *    message as MESSAGE_BYTES of command: the parser reuses the buffer of (1) and hands the whole 8 MiB
 *    to the AMF decoder. Its transaction id is a strict array of 8.4 M nulls, echoed in `_result`.
 *
 * Returns the bytes to send after the handshake and `connect`, Set Chunk Size first.
 */
export function growingCommand(): Buffer {
  const chunk = GROW_CHUNK_SIZE;
  const setChunkSize = Buffer.alloc(4);
  setChunkSize.writeUInt32BE(chunk);
  const sizer = rtmpMessage(MessageType.SharedObjectAmf0, Buffer.alloc(MESSAGE_BYTES), {
    csid: 3,
    chunkSize: chunk,
  });
  const head = encodeAmf0('createStream');
  const tail = encodeAmf0(null);
  const payload = Buffer.concat([
    head,
    wideValue('strict-array', MESSAGE_BYTES - head.length - tail.length),
    tail,
  ]);
  const parts: Buffer[] = [
    rtmpMessage(MessageType.SetChunkSize, setChunkSize, { csid: 2 }),
    sizer,
    // Type-0 chunk declaring GROW_DECLARED_BYTES, with the first chunk of the payload.
    rtmpMessage(MessageType.CommandAmf0, payload.subarray(0, GROW_DECLARED_BYTES), {
      csid: 3,
      chunkSize: chunk,
    }).subarray(0, 12 + chunk),
    // Second chunk: a type-1 header re-declaring the message as MESSAGE_BYTES.
    type1Header(3, MESSAGE_BYTES, MessageType.CommandAmf0),
  ];
  for (let offset = chunk; offset < payload.length; offset += chunk) {
    if (offset > chunk) parts.push(Buffer.from([(3 << 6) | 3]));
    parts.push(payload.subarray(offset, offset + chunk));
  }
  return Buffer.concat(parts);
}

/** `createStream` with transaction id `transId`: the small command of the session that never reads. */
export function createStreamMessage(transId: number): Buffer {
  return commandChunks(encodeAmf0('createStream', transId, null));
}
