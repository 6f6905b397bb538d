import fc from 'fast-check';
import {
  ChunkReaderLimits,
  RtmpChunkReader,
  RtmpMessage,
  RtmpProtocolError,
} from './rtmp-chunk-reader';

/*
 * Chunks are written here by hand from the RTMP spec (5.3.1): a basic header of 1, 2 or 3 bytes, a
 * message header of 11, 7, 3 or 0 bytes (types 0..3), a 4-byte extended timestamp when the 24-bit
 * field is 0xffffff (and on type-3 chunks after such a header), then at most chunk-size payload bytes.
 */

const EXTENDED = 0xffffff;
const KIB = 1024;
const MIB = 1024 * KIB;

function basicHeader(fmt: number, csid: number, form?: 1 | 2 | 3): Buffer {
  const bytes = form ?? (csid < 64 ? 1 : csid < 320 ? 2 : 3);
  if (bytes === 1) return Buffer.from([(fmt << 6) | csid]);
  if (bytes === 2) return Buffer.from([fmt << 6, csid - 64]);
  return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
}

interface ChunkFields {
  readonly fmt: 0 | 1 | 2 | 3;
  readonly csid: number;
  /** Timestamp (type 0) or delta (types 1, 2); 0xffffff and above go to the extended field. */
  readonly time?: number;
  readonly length?: number;
  readonly type?: number;
  readonly streamId?: number;
  /** The 4-byte extended field of a type-3 chunk, when the chunk stream uses one. */
  readonly extended?: number;
  /** Force a 2- or 3-byte basic header for a small csid. */
  readonly form?: 1 | 2 | 3;
}

/** One chunk: its header (RTMP spec 5.3.1.1, 5.3.1.2, 5.3.1.3) and payload bytes. */
function chunk(fields: ChunkFields, payload: Buffer = Buffer.alloc(0)): Buffer {
  const { fmt } = fields;
  const header = Buffer.alloc([11, 7, 3, 0][fmt]);
  const time = fields.time ?? 0;
  const extended = fmt <= 2 ? time >= EXTENDED : fields.extended !== undefined;
  if (fmt <= 2) header.writeUIntBE(extended ? EXTENDED : time, 0, 3);
  if (fmt <= 1) {
    header.writeUIntBE(fields.length ?? payload.length, 3, 3);
    header[6] = fields.type ?? 0;
  }
  if (fmt === 0) header.writeUInt32LE(fields.streamId ?? 0, 7);
  const extra = Buffer.alloc(extended ? 4 : 0);
  if (extended) extra.writeUInt32BE(fmt <= 2 ? time : (fields.extended as number));
  return Buffer.concat([basicHeader(fmt, fields.csid, fields.form), header, extra, payload]);
}

interface Message {
  readonly csid: number;
  readonly type: number;
  readonly streamId: number;
  readonly timestamp: number;
  readonly payload: Buffer;
}

interface WriterState {
  length: number;
  type: number;
  streamId: number;
  timestamp: number;
  delta: number;
  /** The extended field of the last type 0/1/2 header, repeated on type-3 chunks; undefined if none. */
  extended: number | undefined;
}

/**
 * A sender that picks the smallest header for each message, as encoders do (RTMP spec 5.3.1.2): type 1
 * when length or type change, type 2 when only the delta does, type 3 when nothing does. After a
 * type-0 header the delta a type 3 repeats is the type-0 timestamp (5.3.1.2.4).
 */
class ChunkWriter {
  private readonly state = new Map<number, WriterState>();

  constructor(public chunkSize: number) {}

  chunks(message: Message): Buffer[] {
    const { csid, type, streamId, timestamp, payload } = message;
    const previous = this.state.get(csid);
    const length = payload.length;
    let fmt: 0 | 1 | 2 | 3 = 0;
    let time = timestamp;
    if (previous && previous.streamId === streamId) {
      time = (timestamp - previous.timestamp) >>> 0;
      if (length !== previous.length || type !== previous.type) fmt = 1;
      else if (time !== previous.delta) fmt = 2;
      else fmt = 3;
    }
    const extended = fmt <= 2 ? (time >= EXTENDED ? time : undefined) : previous?.extended;
    this.state.set(csid, {
      length,
      type,
      streamId,
      timestamp,
      delta: time,
      extended,
    });
    const out: Buffer[] = [];
    let offset = 0;
    do {
      const part = payload.subarray(offset, offset + this.chunkSize);
      const first = offset === 0;
      out.push(
        chunk(
          first
            ? { fmt, csid, time, length, type, streamId, extended }
            : { fmt: 3, csid, extended },
          part,
        ),
      );
      offset += part.length;
    } while (offset < length);
    return out;
  }

  bytes(...messages: Message[]): Buffer {
    return Buffer.concat(messages.flatMap((m) => this.chunks(m)));
  }
}

const LIMITS: ChunkReaderLimits = {
  maxMessageSizeBytes: 32 * MIB,
  maxBytesForType: () => Number.MAX_SAFE_INTEGER,
  typeName: (type) => (type === 20 ? 'command' : `type ${type}`),
  maxChunkStreams: 1_000_000,
  heldBytesBudget: 64 * MIB,
};

interface Received {
  readonly type: number;
  readonly timestamp: number;
  readonly streamId: number;
  readonly payload: string;
}

/** A reader and the messages it hands out, payloads copied so that later messages cannot alter them. */
function reading(limits: Partial<ChunkReaderLimits> = {}, chunkSize = 128) {
  const messages: Received[] = [];
  const raw: RtmpMessage[] = [];
  const reader = new RtmpChunkReader({ ...LIMITS, ...limits }, (message) => {
    raw.push(message);
    messages.push({ ...message, payload: message.payload.toString('hex') });
  });
  reader.chunkSize = chunkSize;
  return { reader, messages, raw };
}

const received = (m: Message): Received => ({
  type: m.type,
  timestamp: m.timestamp,
  streamId: m.streamId,
  payload: m.payload.toString('hex'),
});

/** Deterministic bytes, different for each seed. */
function pattern(length: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed * 2654435761;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

const feedEach = (reader: RtmpChunkReader, parts: Buffer[]): void =>
  parts.forEach((part) => reader.feed(part));

describe('RtmpChunkReader', () => {
  describe('reassembles messages', () => {
    it.each([1, 128, 4096])('reassembles messages of every length at chunk size %i', (size) => {
      const lengths = [0, 1, size - 1, size, size + 1, 3 * size + 7, 9000].filter((n) => n >= 0);
      const messages = lengths.map((length, i) => ({
        csid: [3, 4, 63, 70, 400][i % 5],
        type: 8 + (i % 2),
        streamId: 1,
        timestamp: 1000 * i,
        payload: pattern(length, i + 1),
      }));
      const { reader, messages: out } = reading({}, size);
      reader.feed(new ChunkWriter(size).bytes(...messages));
      expect(out).toEqual(messages.map(received));
    });

    it('hands out the same messages one byte at a time as all at once', () => {
      const messages = [3, 4, 5].map((csid, i) => ({
        csid,
        type: 9,
        streamId: 1,
        timestamp: 0x1000000 + i, // extended: 4 more bytes on every chunk
        payload: pattern(300, csid),
      }));
      const bytes = new ChunkWriter(128).bytes(...messages);
      const { reader, messages: out } = reading();
      for (let i = 0; i < bytes.length; i++) reader.feed(bytes.subarray(i, i + 1));
      expect(out).toEqual(messages.map(received));
    });

    it('hands out the same messages whatever the chunk size, interleaving and feed boundaries', () => {
      const messageArb = fc.record({
        csid: fc.constantFrom(2, 3, 4, 63, 64, 319, 320, 1000, 65599),
        type: fc.constantFrom(8, 9),
        streamId: fc.constantFrom(1, 1, 1, 2),
        delta: fc.oneof(
          fc.constantFrom(0, 23, 40, EXTENDED - 1, EXTENDED, 0x1000000, 0xffffffff),
          fc.nat({ max: 0xffffffff }),
        ),
        length: fc.oneof(fc.constantFrom(0, 1, 100, 128, 129), fc.nat({ max: 700 })),
      });
      fc.assert(
        fc.property(
          fc.oneof(fc.constantFrom(1, 128, 4096), fc.integer({ min: 1, max: 300 })),
          fc.array(messageArb, { minLength: 1, maxLength: 12 }),
          fc.array(fc.nat(), { maxLength: 30 }),
          fc.array(fc.nat(), { maxLength: 20 }),
          (chunkSize, specs, picks, cuts) => {
            // Each chunk stream's messages in order, timestamps by delta from the previous one.
            const clock = new Map<number, number>();
            const messages: Message[] = specs.map((spec, i) => {
              const timestamp = ((clock.get(spec.csid) ?? 0) + spec.delta) >>> 0;
              clock.set(spec.csid, timestamp);
              return { ...spec, timestamp, payload: pattern(spec.length, i + 1) };
            });
            const writer = new ChunkWriter(chunkSize);
            const queues = new Map<number, { chunk: Buffer; last?: Message }[]>();
            for (const message of messages) {
              const chunks = writer.chunks(message);
              const queue = queues.get(message.csid) ?? [];
              chunks.forEach((c, i) =>
                queue.push({ chunk: c, last: i === chunks.length - 1 ? message : undefined }),
              );
              queues.set(message.csid, queue);
            }
            // Interleave chunk streams chunk by chunk; a message is whole at its last chunk.
            const parts: Buffer[] = [];
            const expected: Received[] = [];
            let pick = 0;
            for (;;) {
              const open = [...queues.values()].filter((q) => q.length > 0);
              if (open.length === 0) break;
              const queue = open[(picks[pick++ % Math.max(picks.length, 1)] ?? 0) % open.length];
              const next = queue.shift() as { chunk: Buffer; last?: Message };
              parts.push(next.chunk);
              if (next.last) expected.push(received(next.last));
            }
            const bytes = Buffer.concat(parts);
            const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
            const feeds = [0, ...at].map((start, i) =>
              bytes.subarray(start, [...at, bytes.length][i]),
            );

            const { reader, messages: out } = reading({}, chunkSize);
            feedEach(reader, feeds);
            expect(out).toEqual(expected);
            expect(reader.heldBytes).toBe(0);
          },
        ),
        { numRuns: 250 },
      );
    });
  });

  describe('basic headers (RTMP spec 5.3.1.1)', () => {
    it.each([2, 63, 64, 319, 320, 1000, 65599])('reads chunk stream id %i', (csid) => {
      const message = { csid, type: 9, streamId: 1, timestamp: 7, payload: pattern(300, csid) };
      const { reader, messages } = reading();
      reader.feed(new ChunkWriter(128).bytes(message, { ...message, timestamp: 14 }));
      expect(messages).toEqual([received(message), received({ ...message, timestamp: 14 })]);
    });

    it('takes the 2- and 3-byte forms of one id as the same chunk stream', () => {
      const payload = pattern(200);
      const { reader, messages } = reading();
      reader.feed(
        Buffer.concat([
          chunk({ fmt: 0, csid: 100, form: 2, time: 5, type: 8, streamId: 1, length: 200 }),
          payload.subarray(0, 128),
          chunk({ fmt: 3, csid: 100, form: 3 }, payload.subarray(128)),
        ]),
      );
      expect(messages).toEqual([
        { type: 8, timestamp: 5, streamId: 1, payload: payload.toString('hex') },
      ]);
    });
  });

  describe('timestamps (RTMP spec 5.3.1.2)', () => {
    it('adds the deltas of type 1, 2 and 3 headers, type 3 repeating the last delta', () => {
      const { reader, messages } = reading();
      reader.feed(
        Buffer.concat([
          chunk({ fmt: 0, csid: 4, time: 1000, type: 8, streamId: 1 }, pattern(10)),
          chunk({ fmt: 1, csid: 4, time: 40, type: 9 }, pattern(20)),
          chunk({ fmt: 2, csid: 4, time: 10 }, pattern(20, 2)),
          chunk({ fmt: 3, csid: 4 }, pattern(20, 3)),
          chunk({ fmt: 3, csid: 4 }, pattern(20, 4)),
        ]),
      );
      expect(messages.map((m) => [m.type, m.timestamp, m.streamId, m.payload.length / 2])).toEqual([
        [8, 1000, 1, 10],
        [9, 1040, 1, 20],
        [9, 1050, 1, 20],
        [9, 1060, 1, 20],
        [9, 1070, 1, 20],
      ]);
    });

    it('takes the timestamp of a type-0 header as the delta of a type 3 after it', () => {
      // RTMP spec 5.3.1.2.4: "If a Type 3 chunk follows a Type 0 chunk, then the timestamp delta for
      // this Type 3 chunk is the same as the timestamp of the Type 0 chunk."
      const { reader, messages } = reading();
      reader.feed(
        Buffer.concat([
          chunk({ fmt: 0, csid: 4, time: 500, type: 8, streamId: 1 }, pattern(5)),
          chunk({ fmt: 3, csid: 4 }, pattern(5)),
          chunk({ fmt: 3, csid: 4 }, pattern(5)),
        ]),
      );
      expect(messages.map((m) => m.timestamp)).toEqual([500, 1000, 1500]);
    });

    it('reads extended timestamps, on type-3 continuation chunks too', () => {
      const payload = pattern(300);
      const { reader, messages } = reading();
      reader.feed(
        Buffer.concat([
          chunk({ fmt: 0, csid: 5, time: 0x12345678, length: 300, type: 9, streamId: 1 }),
          payload.subarray(0, 128),
          chunk({ fmt: 3, csid: 5, extended: 0x12345678 }, payload.subarray(128, 256)),
          chunk({ fmt: 3, csid: 5, extended: 0x12345678 }, payload.subarray(256)),
        ]),
      );
      expect(messages).toEqual([
        { type: 9, timestamp: 0x12345678, streamId: 1, payload: payload.toString('hex') },
      ]);
    });

    it('reads 0xffffff itself from the extended field', () => {
      const { reader, messages } = reading();
      reader.feed(chunk({ fmt: 0, csid: 5, time: EXTENDED, type: 9, streamId: 1 }, pattern(4)));
      expect(messages[0]).toMatchObject({
        timestamp: EXTENDED,
        payload: pattern(4).toString('hex'),
      });
    });

    it('reads an extended delta, and a type 3 after it repeats the field and the delta', () => {
      const { reader, messages } = reading();
      reader.feed(
        Buffer.concat([
          chunk({ fmt: 0, csid: 4, time: 10, type: 8, streamId: 1 }, pattern(3)),
          chunk({ fmt: 2, csid: 4, time: 0x1000000 }, pattern(3, 2)),
          chunk({ fmt: 3, csid: 4, extended: 0x1000000 }, pattern(3, 3)),
          // A type 1 without the extended field: the chunks after it have none either.
          chunk({ fmt: 1, csid: 4, time: 1, type: 8, length: 200 }, pattern(128, 4)),
          chunk({ fmt: 3, csid: 4 }, pattern(72, 5)),
        ]),
      );
      expect(messages.map((m) => m.timestamp)).toEqual([10, 0x100000a, 0x200000a, 0x200000b]);
      expect(messages[2].payload).toBe(pattern(3, 3).toString('hex'));
      expect(messages[3].payload).toBe(
        Buffer.concat([pattern(128, 4), pattern(72, 5)]).toString('hex'),
      );
    });

    it('wraps timestamps at 2^32', () => {
      const { reader, messages } = reading();
      reader.feed(
        Buffer.concat([
          chunk({ fmt: 0, csid: 4, time: 0xfffffff0, type: 8, streamId: 1 }, pattern(2)),
          chunk({ fmt: 2, csid: 4, time: 0x20 }, pattern(2)),
          chunk({ fmt: 0, csid: 6, time: 0x80000001, type: 8, streamId: 1 }, pattern(2)),
          chunk({ fmt: 3, csid: 6, extended: 0x80000001 }, pattern(2)),
        ]),
      );
      expect(messages.map((m) => m.timestamp)).toEqual([0xfffffff0, 0x10, 0x80000001, 2]);
    });
  });

  describe('headers in the middle of a message', () => {
    const start = (): Buffer =>
      Buffer.concat([
        chunk({ fmt: 0, csid: 4, time: 100, length: 300, type: 9, streamId: 1 }),
        pattern(128),
      ]);

    it('refuses a command whose length grows midway', () => {
      const { reader } = reading();
      reader.feed(start());
      expect(() =>
        reader.feed(chunk({ fmt: 0, csid: 4, time: 100, length: 301, type: 9, streamId: 1 })),
      ).toThrow(RtmpProtocolError);
    });

    it('refuses a type-1 header that changes the message type midway', () => {
      const { reader } = reading();
      reader.feed(start());
      expect(() => reader.feed(chunk({ fmt: 1, csid: 4, time: 0, length: 300, type: 8 }))).toThrow(
        /changed message 9 of 300 bytes to type 8 of 300 bytes midway/,
      );
    });

    it('continues the message when a type-0, 1 or 2 header repeats its length and type', () => {
      const payload = pattern(300);
      const { reader, messages } = reading({}, 100);
      reader.feed(
        Buffer.concat([
          chunk({ fmt: 0, csid: 4, time: 100, length: 300, type: 9, streamId: 1 }),
          payload.subarray(0, 100),
          chunk({ fmt: 0, csid: 4, time: 100, length: 300, type: 9, streamId: 1 }),
          payload.subarray(100, 200),
        ]),
      );
      reader.chunkSize = 50;
      reader.feed(
        Buffer.concat([
          chunk({ fmt: 1, csid: 4, time: 0, length: 300, type: 9 }, payload.subarray(200, 250)),
          chunk({ fmt: 2, csid: 4, time: 0 }, payload.subarray(250)),
        ]),
      );
      expect(messages).toEqual([
        { type: 9, timestamp: 100, streamId: 1, payload: payload.toString('hex') },
      ]);
    });
  });

  describe('limits', () => {
    it('refuses a message above max_message_size at its header, before its bytes come', () => {
      const { reader, messages } = reading({ maxMessageSizeBytes: 1000 });
      reader.feed(chunk({ fmt: 0, csid: 4, length: 1000, type: 9 }, pattern(128)));
      reader.chunkSize = 1000;
      reader.feed(chunk({ fmt: 3, csid: 4 }, pattern(872)));
      expect(messages).toHaveLength(1);
      expect(() => reader.feed(chunk({ fmt: 0, csid: 4, length: 1001, type: 9 }))).toThrow(
        new RtmpProtocolError('message of 1001 bytes exceeds max_message_size 1000'),
      );
    });

    it('refuses a message above the limit of its type, naming the type', () => {
      const { reader } = reading({
        maxBytesForType: (type) => (type === 20 ? 100 : Number.MAX_SAFE_INTEGER),
      });
      reader.feed(chunk({ fmt: 0, csid: 3, type: 20 }, pattern(100)));
      reader.feed(chunk({ fmt: 0, csid: 4, type: 9 }, pattern(101)));
      expect(() => reader.feed(chunk({ fmt: 0, csid: 3, type: 20, length: 101 }))).toThrow(
        new RtmpProtocolError('command message of 101 bytes exceeds 100'),
      );
    });

    it('checks the limit of a type-1 header that starts a message too', () => {
      const { reader } = reading({ maxBytesForType: (type) => (type === 20 ? 100 : 1e9) });
      reader.feed(chunk({ fmt: 0, csid: 3, type: 9 }, pattern(100)));
      expect(() => reader.feed(chunk({ fmt: 1, csid: 3, type: 20, length: 200 }))).toThrow(
        RtmpProtocolError,
      );
    });

    it('refuses a chunk stream beyond the number allowed, however the others are reused', () => {
      const { reader, messages } = reading({ maxChunkStreams: 3 });
      for (let round = 0; round < 3; round++) {
        for (const csid of [3, 64, 400]) reader.feed(chunk({ fmt: 0, csid, type: 8 }, pattern(1)));
      }
      expect(messages).toHaveLength(9);
      expect(() => reader.feed(chunk({ fmt: 0, csid: 5, type: 8 }, pattern(1)))).toThrow(
        new RtmpProtocolError('more than 3 chunk streams'),
      );
    });

    it('refuses unfinished messages that together hold more than the budget', () => {
      const { reader } = reading({ heldBytesBudget: 20 * KIB });
      reader.feed(chunk({ fmt: 0, csid: 4, length: 100_000, type: 9 }, pattern(128)));
      expect(() => reader.feed(chunk({ fmt: 0, csid: 5, length: 100_000, type: 9 }))).toThrow(
        /unfinished messages on several chunk streams exceed 20480 bytes/,
      );
    });

    it('lets one message grow within the budget and refuses it past the budget', () => {
      const { reader } = reading({ heldBytesBudget: 40_000 }, 4096);
      reader.feed(chunk({ fmt: 0, csid: 4, length: 50_000, type: 9 }, pattern(4096)));
      const continuation = (): Buffer => chunk({ fmt: 3, csid: 4 }, pattern(4096));
      for (let sent = 4096; sent < 32 * KIB; sent += 4096) reader.feed(continuation());
      expect(reader.heldBytes).toBe(32 * KIB);
      expect(() => reader.feed(continuation())).toThrow(RtmpProtocolError);
    });

    it('holds in proportion to the bytes sent, not to the length declared', () => {
      const { reader } = reading({}, 128);
      const header = chunk({ fmt: 0, csid: 4, length: 8 * MIB, type: 9 });
      reader.feed(Buffer.concat([header, pattern(128)]));
      expect(reader.heldBytes).toBeLessThanOrEqual(16 * KIB + header.length);
      // 100 KiB later it holds at most twice what arrived.
      reader.chunkSize = 4096;
      for (let i = 0; i < 25; i++) reader.feed(chunk({ fmt: 3, csid: 4 }, pattern(4096)));
      expect(reader.heldBytes).toBeLessThanOrEqual(2 * (128 + 25 * 4096));
    });

    it('counts a partial header in what it holds, and nothing once the message is out', () => {
      const { reader, messages } = reading();
      const bytes = chunk({ fmt: 0, csid: 400, time: 0x1000000, type: 9, streamId: 1 }, pattern(9));
      reader.feed(bytes.subarray(0, 10));
      expect(reader.heldBytes).toBe(10);
      reader.feed(bytes.subarray(10));
      expect(messages).toHaveLength(1);
      expect(reader.heldBytes).toBe(0);
    });
  });

  describe('Abort Message (RTMP spec 5.4.2)', () => {
    it('drops the unfinished message of a chunk stream and frees what it held', () => {
      const { reader, messages } = reading();
      reader.feed(chunk({ fmt: 0, csid: 4, length: 300, type: 9, streamId: 1 }, pattern(128)));
      expect(reader.heldBytes).toBe(300);
      reader.abort(4);
      expect(reader.heldBytes).toBe(0);
      // A new message of another length on the same chunk stream is not a header changed midway.
      reader.feed(chunk({ fmt: 0, csid: 4, time: 9, type: 8, streamId: 1 }, pattern(50, 2)));
      expect(messages).toEqual([
        { type: 8, timestamp: 9, streamId: 1, payload: pattern(50, 2).toString('hex') },
      ]);
    });

    it('drops the message when the abort arrives on the control stream between its chunks', () => {
      const abort = Buffer.alloc(4);
      abort.writeUInt32BE(4);
      const out: Received[] = [];
      const reader = new RtmpChunkReader(LIMITS, (m) => {
        if (m.type === 2) reader.abort(m.payload.readUInt32BE(0));
        else out.push({ ...m, payload: m.payload.toString('hex') });
      });
      reader.feed(
        Buffer.concat([
          chunk({ fmt: 0, csid: 4, length: 300, type: 9, streamId: 1 }, pattern(128)),
          chunk({ fmt: 0, csid: 2, type: 2 }, abort),
          chunk({ fmt: 0, csid: 4, type: 9, streamId: 1 }, pattern(10, 3)),
        ]),
      );
      expect(reader.heldBytes).toBe(0);
      expect(out).toEqual([
        { type: 9, timestamp: 0, streamId: 1, payload: pattern(10, 3).toString('hex') },
      ]);
    });

    it('ignores an abort of a chunk stream with nothing unfinished', () => {
      const { reader, messages } = reading();
      reader.abort(77);
      reader.feed(chunk({ fmt: 0, csid: 4, type: 8 }, pattern(3)));
      reader.abort(4);
      expect(messages).toHaveLength(1);
    });
  });

  describe('payloads', () => {
    it('hands out exactly the message bytes, each message in its own buffer', () => {
      const { reader, raw } = reading({}, 4096);
      const lengths = [100, 16 * KIB + 1, 20_000, 70_000];
      reader.feed(
        new ChunkWriter(4096).bytes(
          ...lengths.map((length, i) => ({
            csid: 4,
            type: 9,
            streamId: 1,
            timestamp: i,
            payload: pattern(length, i + 1),
          })),
        ),
      );
      expect(raw.map((m) => m.payload.length)).toEqual(lengths);
      // Every earlier payload is intact after the later messages were read.
      raw.forEach((m, i) => expect(m.payload.equals(pattern(lengths[i], i + 1))).toBe(true));
    });
  });

  describe('Set Chunk Size (RTMP spec 5.4.1)', () => {
    it('reads the chunks after a chunk size change at the new size, mid-message included', () => {
      const payload = pattern(400);
      const messages: RtmpMessage[] = [];
      const reader = new RtmpChunkReader(LIMITS, (m) => {
        if (m.type === 1) reader.chunkSize = m.payload.readUInt32BE(0);
        else messages.push(m);
      });
      const size = (n: number): Buffer => {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(n);
        return chunk({ fmt: 0, csid: 2, type: 1 }, b);
      };
      reader.feed(
        Buffer.concat([
          chunk({ fmt: 0, csid: 4, length: 400, type: 9, streamId: 1 }, payload.subarray(0, 128)),
          size(64),
          chunk({ fmt: 3, csid: 4 }, payload.subarray(128, 192)),
          chunk({ fmt: 3, csid: 4 }, payload.subarray(192, 256)),
          size(4096),
          chunk({ fmt: 3, csid: 4 }, payload.subarray(256)),
          size(1),
          chunk({ fmt: 0, csid: 4, length: 3, type: 8, streamId: 1 }, pattern(1)),
          chunk({ fmt: 3, csid: 4 }, pattern(1, 2)),
          chunk({ fmt: 3, csid: 4 }, pattern(1, 3)),
        ]),
      );
      expect(messages.map((m) => m.payload.toString('hex'))).toEqual([
        payload.toString('hex'),
        Buffer.concat([pattern(1), pattern(1, 2), pattern(1, 3)]).toString('hex'),
      ]);
    });
  });
});
