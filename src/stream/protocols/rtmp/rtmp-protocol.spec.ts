import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { AmfValue, decodeAmf0, encodeAmf0 } from '../../../../test/helpers/amf0';
import { RtmpChunkReader, RtmpMessage } from './rtmp-chunk-reader';
import { RtmpEvents, RtmpProtocol, RtmpProtocolError } from './rtmp-protocol';

/** A command message (type 20) on chunk stream 3, one type-0 chunk: connect and friends fit in 128. */
function command(values: AmfValue[], streamId = 0): Buffer {
  const body = encodeAmf0(...values);
  const parts: Buffer[] = [];
  for (let at = 0; at < body.length || at === 0; at += 128) {
    if (at === 0) {
      const header = Buffer.alloc(12);
      header[0] = 3;
      header.writeUIntBE(body.length, 4, 3);
      header[7] = 20;
      header.writeUInt32LE(streamId, 8);
      parts.push(header);
    } else parts.push(Buffer.from([0xc3]));
    parts.push(body.subarray(at, at + 128));
  }
  return Buffer.concat(parts);
}

/** A protocol past the handshake, with what it sent decoded: chunks by the reader, AMF0 by the test codec. */
function session() {
  const out: Buffer[] = [];
  const calls: string[] = [];
  const events: RtmpEvents = {
    output: (bytes) => out.push(bytes),
    connect: (app, url) => calls.push(`connect ${app} ${url.href}`),
    publish: (name, id) => calls.push(`publish ${name} ${id}`),
    play: (name, id) => calls.push(`play ${name} ${id}`),
    closeStream: () => calls.push('closeStream'),
    media: () => calls.push('media'),
  };
  const protocol = new RtmpProtocol(events, { maxMessageSizeBytes: 1024 * 1024 });
  protocol.feed(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)]));
  const s0s1s2 = Buffer.concat(out.splice(0));
  protocol.feed(Buffer.alloc(1536));
  const messages: RtmpMessage[] = [];
  const reader = new RtmpChunkReader(
    {
      maxMessageSizeBytes: 1 << 20,
      maxBytesForType: () => 1 << 20,
      typeName: String,
      maxChunkStreams: 100,
      heldBytesBudget: 1 << 22,
    },
    (m) => {
      if (m.type === 1) reader.chunkSize = m.payload.readUInt32BE(0);
      messages.push(m);
    },
  );
  /** Feeds bytes and returns the commands answered, decoded, and the bytes of the answer. */
  const send = (bytes: Buffer): { values: AmfValue[][]; bytes: number } => {
    const before = messages.length;
    protocol.feed(bytes);
    const sent = Buffer.concat(out.splice(0));
    reader.feed(sent);
    return {
      values: messages
        .slice(before)
        .filter((m) => m.type === 20)
        .map((m) => decodeAmf0(m.payload)),
      bytes: sent.length,
    };
  };
  return { protocol, calls, send, s0s1s2 };
}

const CONNECT = { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' };

describe('RtmpProtocol', () => {
  it('answers the handshake with S0 S1 S2 once C0 C1 are in', () => {
    expect(session().s0s1s2).toHaveLength(1 + 2 * 1536);
  });

  it('refuses a handshake version other than 3', () => {
    const protocol = new RtmpProtocol({ output: () => undefined } as unknown as RtmpEvents, {
      maxMessageSizeBytes: 1 << 20,
    });
    expect(() => protocol.feed(Buffer.from([6, ...randomBytes(100)]))).toThrow(RtmpProtocolError);
  });

  it('connects, creates a stream and reports publish and play', () => {
    const { send, calls } = session();
    const connected = send(command(['connect', 1, CONNECT]));
    expect(connected.values[0].slice(0, 2)).toEqual(['_result', 1]);
    expect(send(command(['createStream', 2, null])).values).toEqual([['_result', 2, null, 1]]);
    send(command(['publish', 0, null, 'room?key=1', 'live'], 1));
    send(command(['play', 0, null, 'other', -2000], 1));
    expect(calls).toEqual(['connect live rtmp://127.0.0.1/live', 'publish room 1', 'play other 1']);
  });

  it.each<[string, AmfValue, number]>([
    ['a huge array', Array.from({ length: 5000 }, () => 'x'), 0],
    ['a string', 'AMF9 please', 0],
    ['3', 3, 3],
    ['7', 7, 0],
  ])(
    'answers connect with objectEncoding %s with only fixed fields',
    (_what, encoding, expected) => {
      const { send } = session();
      const { values } = send(
        command(['connect', 1, { ...CONNECT, objectEncoding: encoding, extra: 'y' }]),
      );
      expect(values).toEqual([
        [
          '_result',
          1,
          { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
          {
            level: 'status',
            code: 'NetConnection.Connect.Success',
            description: 'Connection succeeded.',
            objectEncoding: expected,
          },
        ],
      ]);
    },
  );

  it('answers a transaction id that is not a number with 0', () => {
    const { send } = session();
    expect(send(command(['connect', 'id!'.repeat(1000), CONNECT])).values[0][1]).toBe(0);
    expect(send(command(['createStream', { a: 1 }, null])).values[0][1]).toBe(0);
  });

  it('answers an unknown command with an _error that does not echo its name', () => {
    const { send } = session();
    send(command(['connect', 1, CONNECT]));
    const { values } = send(command(['evilCommand\n', 5, null]));
    expect(values).toEqual([
      [
        '_error',
        5,
        null,
        { level: 'error', code: 'NetConnection.Call.Failed', description: 'unknown command' },
      ],
    ]);
    expect(JSON.stringify(values)).not.toContain('evil');
  });

  it('answers any command in under 512 bytes, whatever its arguments', () => {
    const arg = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.double(),
      fc.constant(null),
      fc.array(fc.string({ maxLength: 50 }), { maxLength: 50 }),
      fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 100 }), { maxKeys: 10 }),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constantFrom('createStream', 'releaseStream', 'FCPublish', 'nope'),
          fc.string(),
        ),
        fc.oneof(fc.double(), arg),
        fc.array(arg, { maxLength: 5 }),
        (name, transId, args) => {
          const { send } = session();
          send(command(['connect', 1, CONNECT]));
          const answer = send(command([name, transId, ...args]));
          expect(answer.bytes).toBeLessThan(512);
        },
      ),
      { numRuns: 100 },
    );
  });
});
