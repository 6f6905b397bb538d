/**
 * fast-check arbitraries for what a hostile RTMP peer sends: raw chunk headers with any field values,
 * AMF0 values of every marker (valid, truncated, miscounted, deeply nested, unknown), command messages,
 * FLV media payloads, and mutations of a valid publishing session.
 */
import fc from 'fast-check';
import {
  commandMessage,
  connectObject,
  controlMessage,
  Media,
  MessageType,
  rtmpMessage,
} from './hostile-kit';
import { encodeAmf0 } from '../helpers/amf0';

const u16 = (value: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value & 0xffff);
  return b;
};
const u32 = (value: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b;
};
const double = (value: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(value);
  return b;
};

/** A property name: usually short text, sometimes empty or with a length that lies. */
const amfKey = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 12 }).map((k) => amfUtf8(k)) },
  { weight: 1, arbitrary: fc.constant(u16(0)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 8 }))
      .map(([n, b]) => Buffer.concat([u16(n), b])),
  },
);

function amfUtf8(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([u16(bytes.length), bytes]);
}

/** The end of an object or ECMA array: usually right, sometimes missing or cut short. */
const objectEnd = fc.oneof(
  { weight: 8, arbitrary: fc.constant(Buffer.from([0, 0, 0x09])) },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 1, arbitrary: fc.constant(Buffer.from([0, 0])) },
);

/** One AMF0 value of any marker (AMF0 spec 2.2 - 2.18), nested up to a few levels. */
export const amfValue: fc.Arbitrary<Buffer> = fc.letrec<{ value: Buffer }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.double().map((v) => Buffer.concat([Buffer.from([0x00]), double(v)])),
    fc.boolean().map((v) => Buffer.from([0x01, v ? 1 : 0])),
    fc.string({ maxLength: 40 }).map((v) => Buffer.concat([Buffer.from([0x02]), amfUtf8(v)])),
    fc
      .tuple(fc.array(fc.tuple(amfKey, tie('value')), { maxLength: 4 }), objectEnd)
      .map(([props, end]) => Buffer.concat([Buffer.from([0x03]), ...props.flat(), end])),
    fc.constant(Buffer.from([0x05])),
    fc.constant(Buffer.from([0x06])),
    fc.integer({ min: 0, max: 0xffff }).map((i) => Buffer.concat([Buffer.from([0x07]), u16(i)])),
    fc
      .tuple(fc.nat(), fc.array(fc.tuple(amfKey, tie('value')), { maxLength: 4 }), objectEnd)
      .map(([count, props, end]) =>
        Buffer.concat([Buffer.from([0x08]), u32(count), ...props.flat(), end]),
      ),
    fc
      .tuple(fc.array(tie('value'), { maxLength: 4 }), fc.integer({ min: -2, max: 2 }))
      .map(([items, lie]) =>
        Buffer.concat([Buffer.from([0x0a]), u32(Math.max(0, items.length + lie)), ...items]),
      ),
    fc.double().map((v) => Buffer.concat([Buffer.from([0x0b]), double(v), u16(0)])),
    fc
      .uint8Array({ maxLength: 40 })
      .map((v) => Buffer.concat([Buffer.from([0x0c]), u32(v.length), Buffer.from(v)])),
    fc
      .string({ maxLength: 20 })
      .map((v) => Buffer.concat([Buffer.from([0x0f]), u32(Buffer.byteLength(v)), Buffer.from(v)])),
    fc
      .tuple(
        fc.string({ maxLength: 10 }),
        fc.array(fc.tuple(amfKey, tie('value')), { maxLength: 3 }),
        objectEnd,
      )
      .map(([name, props, end]) =>
        Buffer.concat([Buffer.from([0x10]), amfUtf8(name), ...props.flat(), end]),
      ),
    // Markers the decoder does not know (movieclip, recordset, AMF3 switch, reserved).
    fc
      .tuple(fc.constantFrom(0x04, 0x0d, 0x0e, 0x11, 0x12, 0xff), fc.uint8Array({ maxLength: 8 }))
      .map(([marker, rest]) => Buffer.concat([Buffer.from([marker]), Buffer.from(rest)])),
  ),
})).value;

/** `depth` containers of random kinds, each holding the next: deep nesting up to stack-breaking. */
export const deepAmfValue: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.integer({ min: 1, max: 5000 }),
    fc.array(fc.constantFrom(0x03, 0x08, 0x0a, 0x10), { minLength: 1, maxLength: 4 }),
  )
  .map(([depth, kinds]) => {
    const open: Buffer[] = [];
    const close: Buffer[] = [];
    for (let level = 0; level < depth; level++) {
      const kind = kinds[level % kinds.length];
      if (kind === 0x0a) {
        open.push(Buffer.from([0x0a, 0, 0, 0, 1]));
      } else {
        const head =
          kind === 0x03
            ? Buffer.from([0x03])
            : kind === 0x08
              ? Buffer.from([0x08, 0, 0, 0, 1])
              : Buffer.concat([Buffer.from([0x10]), amfUtf8('C')]);
        open.push(head, amfUtf8('k'));
        close.push(Buffer.from([0, 0, 0x09]));
      }
    }
    return Buffer.concat([...open, Buffer.from([0x05]), ...close.reverse()]);
  });

const COMMAND_NAMES = [
  'connect',
  'createStream',
  'publish',
  'play',
  'play2',
  'deleteStream',
  'closeStream',
  'FCPublish',
  'FCUnpublish',
  'FCSubscribe',
  'releaseStream',
  'getStreamLength',
  'receiveAudio',
  'receiveVideo',
  'pause',
  'seek',
  '_checkbw',
  '_result',
  '_error',
  'onStatus',
  'call',
];

/** A command message body: a name (known or not), a transaction id, then AMF0 values. */
export const commandBody: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.oneof(fc.constantFrom(...COMMAND_NAMES), fc.string({ maxLength: 20 })),
    fc.oneof(fc.double(), fc.integer({ min: 0, max: 10 })),
    fc.array(fc.oneof({ weight: 5, arbitrary: amfValue }, { weight: 1, arbitrary: deepAmfValue }), {
      maxLength: 4,
    }),
    fc.option(fc.nat(), { nil: undefined }),
  )
  .map(([name, transId, args, cut]) => {
    const body = Buffer.concat([encodeAmf0(name, transId), ...args]);
    // Sometimes cut short: truncated AMF.
    return cut === undefined ? body : body.subarray(0, cut % (body.length + 1));
  });

/** A command message (AMF0, or AMF3 with its leading byte) on the command chunk stream. */
export const commandMessageBytes: fc.Arbitrary<Buffer> = fc
  .tuple(commandBody, fc.boolean(), fc.integer({ min: 0, max: 3 }))
  .map(([body, amf3, streamId]) =>
    rtmpMessage(
      amf3 ? MessageType.CommandAmf3 : MessageType.CommandAmf0,
      amf3 ? Buffer.concat([Buffer.from([0]), body]) : body,
      { streamId, chunkSize: 128 },
    ),
  );

/** The message types of RTMP, and any other byte. */
const messageType = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...Object.values(MessageType)) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);

/**
 * One chunk with every header field chosen freely (RTMP spec 5.3.1): format, chunk stream id in the 1-,
 * 2- and 3-byte forms, timestamp (extended or not), message length, type and stream id, and a payload
 * whose size need not match the length it claims.
 */
export const rawChunk: fc.Arbitrary<Buffer> = fc
  .record({
    fmt: fc.integer({ min: 0, max: 3 }),
    csid: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 2, max: 9 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 65599 }) },
    ),
    timestamp: fc.oneof(
      fc.integer({ min: 0, max: 1000 }),
      fc.constant(0xffffff),
      fc.integer({ min: 0, max: 0xffffff }),
    ),
    extended: fc.integer({ min: 0, max: 0xffffffff }),
    length: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 300 }) },
      { weight: 1, arbitrary: fc.constantFrom(0, 1, 4, 128, 65536, 8388608, 8388609, 0xffffff) },
    ),
    type: messageType,
    streamId: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 0xffffffff })),
    payload: fc.uint8Array({ maxLength: 300 }),
  })
  .map(({ fmt, csid, timestamp, extended, length, type, streamId, payload }) => {
    const parts: Buffer[] = [];
    if (csid >= 320)
      parts.push(Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]));
    else if (csid >= 64) parts.push(Buffer.from([fmt << 6, csid - 64]));
    else parts.push(Buffer.from([(fmt << 6) | csid]));
    const header = Buffer.alloc(11);
    header.writeUIntBE(timestamp, 0, 3);
    header.writeUIntBE(length, 3, 3);
    header[6] = type;
    header.writeUInt32LE(streamId >>> 0, 7);
    parts.push(header.subarray(0, [11, 7, 3, 0][fmt]));
    if (timestamp === 0xffffff) parts.push(u32(extended));
    parts.push(Buffer.from(payload));
    return Buffer.concat(parts);
  });

/** FLV audio, video and data payloads: real first bytes of every codec, then anything. */
export const mediaMessage: fc.Arbitrary<Buffer> = fc
  .record({
    type: fc.constantFrom(MessageType.Audio, MessageType.Video, MessageType.DataAmf0),
    head: fc.oneof(
      fc.constantFrom(
        [0x17, 0x00],
        [0x17, 0x01],
        [0x27, 0x01],
        [0x17, 0x02],
        [0x1c, 0x00],
        [0x1c, 0x01],
        [0x90],
        [0x91],
        [0x93],
        [0xaf, 0x00],
        [0xaf, 0x01],
        [0x2f],
        [0x9f, 0x00],
        [0x02, 0x00, 0x0a, ...Buffer.from('onMetaData')],
      ),
      fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3 }),
    ),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ minLength: 64, maxLength: 4096 }),
      fc.constant(Media.videoHeader.subarray(2)),
    ),
    timestamp: fc.oneof(
      fc.integer({ min: 0, max: 100000 }),
      fc.integer({ min: 0, max: 0xffffffff }),
    ),
  })
  .map(({ type, head, body, timestamp }) =>
    rtmpMessage(type, Buffer.concat([Buffer.from(head), Buffer.from(body)]), {
      csid: type === MessageType.Audio ? 4 : 6,
      streamId: 1,
      timestamp,
      chunkSize: 4096,
    }),
  );

/**
 * A valid publishing session after the handshake, as an encoder sends it: connect, Set Chunk Size,
 * createStream, publish, metadata, sequence headers, a few frames, and deleteStream unless `end` is
 * false.
 */
export function validSession(port: number, key: string, options: { end?: boolean } = {}): Buffer {
  const chunkSize = 4096;
  const media = (type: number, payload: Buffer, timestamp: number) =>
    rtmpMessage(type, payload, {
      csid: type === MessageType.Audio ? 4 : 6,
      streamId: 1,
      timestamp,
      chunkSize,
    });
  return Buffer.concat([
    commandMessage('connect', 1, [connectObject(port)]),
    controlMessage(MessageType.SetChunkSize, chunkSize),
    commandMessage('releaseStream', 2, [null, key], { chunkSize }),
    commandMessage('FCPublish', 3, [null, key], { chunkSize }),
    commandMessage('createStream', 4, [null], { chunkSize }),
    commandMessage('publish', 5, [null, key, 'live'], { chunkSize, streamId: 1, csid: 8 }),
    media(
      MessageType.DataAmf0,
      encodeAmf0('@setDataFrame', 'onMetaData', { width: 320, height: 240, framerate: 25 }),
      0,
    ),
    media(MessageType.Video, Media.videoHeader, 0),
    media(MessageType.Audio, Media.audioHeader, 0),
    media(MessageType.Video, Media.keyframe(1500), 0),
    media(MessageType.Audio, Media.audioFrame(), 20),
    media(MessageType.Video, Media.interframe(300), 40),
    media(MessageType.Video, Media.interframe(300), 80),
    options.end === false
      ? Buffer.alloc(0)
      : commandMessage('deleteStream', 6, [null, 1], { chunkSize }),
  ]);
}

export type MutationList = {
  kind: 'flip' | 'set' | 'insert' | 'delete' | 'truncate';
  at: number;
  value: number;
  count: number;
}[];

/** Edits of a byte string: flips, overwrites, insertions, deletions and a truncation. */
export const mutations: fc.Arbitrary<MutationList> = fc.array(
  fc.record({
    kind: fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate'),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
    count: fc.integer({ min: 1, max: 16 }),
  }),
  { minLength: 1, maxLength: 8 },
);

/** `bytes` with `edits` applied in order (positions wrap around the current length). */
export function mutate(bytes: Buffer, edits: MutationList): Buffer {
  let out = Buffer.from(bytes);
  for (const edit of edits) {
    const at = out.length ? edit.at % out.length : 0;
    switch (edit.kind) {
      case 'flip':
        if (out.length) out[at] ^= 1 << (edit.value % 8);
        break;
      case 'set':
        if (out.length) out[at] = edit.value;
        break;
      case 'insert':
        out = Buffer.concat([
          out.subarray(0, at),
          Buffer.alloc(edit.count, edit.value),
          out.subarray(at),
        ]);
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + edit.count)]);
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
    }
  }
  return out;
}
