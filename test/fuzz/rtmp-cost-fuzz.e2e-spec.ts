import fc from 'fast-check';
import { ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { SERVER_ENTRY } from '../helpers/server';
import { encodeAmf0 } from '../helpers/amf0';
import {
  c0c1,
  commandMessage,
  connectObject,
  controlMessage,
  HANDSHAKE_BYTES,
  MessageType,
  rtmpMessage,
} from './hostile-kit';
import {
  commandMessageBytes,
  mediaMessage,
  mutate,
  mutations,
  rawChunk,
  validSession,
} from './rtmp-arbitraries';

/**
 * What an input costs the server, measured on the built server's protocol engine itself, run in a plain
 * Node process (test/fuzz/cost-harness.js) as the server runs it: every input goes
 * through the handshake and `connect` first, then is fed in the 64 KiB pieces a socket delivers, each
 * piece timed (one piece is one event-loop task of the real server). An input fails when
 * - a piece takes more than 50 ms (checked twice: a first slow measurement is taken again, so a
 *   garbage-collection pause or a neighbour on this shared machine is not mistaken for a slow input),
 * - the connection holds more than what its peer sent can justify (twice the bytes sent, plus one
 *   initial buffer per chunk stream),
 * - the answers grow faster than the input (more than 16 bytes out per byte in, past the fixed replies
 *   to the handshake and connect),
 * - anything but an RtmpProtocolError is thrown (which closes that connection only).
 *
 * FUZZ_RUNS sets the runs per property (default 150); FUZZ_SEED replays a seed.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const MAX_PIECE_MS = 50;
const MAX_MESSAGE_SIZE = 8 * 1024 * 1024;
/** What a chunk stream may start a message with before bytes arrive, and how many there may be. */
const INITIAL_BUFFER_BYTES = 16 * 1024;
const MAX_CHUNK_STREAMS = 64;
const OUTPUT_PER_INPUT_BYTE = 16;
const FIXED_REPLIES_BYTES = 8 * 1024;
const PORT = 1935;

/** What an arbitrary generates. */
type Params<A> = A extends fc.Arbitrary<infer T> ? T : never;

const handshake = Buffer.concat([c0c1(), Buffer.alloc(HANDSHAKE_BYTES)]);
const connect = commandMessage('connect', 1, [connectObject(PORT)]);

interface Cost {
  worstPieceMs: number;
  heldBytes: number;
  outputBytes: number;
  /** `name: message` of what the engine threw, if anything. */
  error: string | undefined;
}

/** The built server's protocol engine in a plain Node process (cost-harness.js). */
class Harness {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<number, (cost: Cost) => void>();
  private nextId = 1;
  readonly ready: Promise<void>;

  constructor() {
    const engine = join(dirname(SERVER_ENTRY), 'stream', 'protocols', 'rtmp', 'rtmp-protocol.js');
    this.child = fork(join(__dirname, 'cost-harness.js'), [engine], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.ready = new Promise((resolve) => {
      this.child.on('message', (message: { ready?: boolean; id?: number } & Cost) => {
        if (message.ready) return resolve();
        this.waiting.get(message.id as number)?.(message);
        this.waiting.delete(message.id as number);
      });
    });
  }

  measure(input: Buffer, connectFirst: boolean): Promise<Cost> {
    const id = this.nextId++;
    const prefix = connectFirst ? Buffer.concat([handshake, connect]) : handshake;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ id, prefix, input, maxMessageSizeBytes: MAX_MESSAGE_SIZE });
    });
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

let harness: Harness;

async function expectCheap(input: Buffer, connectFirst = true): Promise<void> {
  let cost = await harness.measure(input, connectFirst);
  if (cost.worstPieceMs > MAX_PIECE_MS) cost = await harness.measure(input, connectFirst);
  // Anything but a protocol error would be a bug that closes the connection for the wrong reason.
  if (cost.error !== undefined) expect(cost.error).toMatch(/^RtmpProtocolError: /);
  expect(cost.worstPieceMs).toBeLessThanOrEqual(MAX_PIECE_MS);
  expect(cost.heldBytes).toBeLessThanOrEqual(
    2 * input.length + MAX_CHUNK_STREAMS * INITIAL_BUFFER_BYTES,
  );
  expect(cost.outputBytes).toBeLessThanOrEqual(
    FIXED_REPLIES_BYTES + OUTPUT_PER_INPUT_BYTE * input.length,
  );
}

/* AMF0 markers (AMF0 spec 2.1). */
const AMF0_OBJECT = 0x03;
const AMF0_NULL = 0x05;
const AMF0_STRICT_ARRAY = 0x0a;
const AMF0_ECMA_ARRAY = 0x08;
const AMF0_LONG_STRING = 0x0c;

/** One AMF0 value `bytes` wide (about): the shapes an attacker widens. */
const wideValue = fc.record({
  shape: fc.constantFrom('nulls', 'objects', 'keys', 'ecma', 'string', 'nested'),
  bytes: fc.integer({ min: 16, max: 64 * 1024 - 64 }),
});

function wide(shape: string, bytes: number): Buffer {
  const count = (size: number) => Math.max(0, Math.floor((bytes - 8) / size));
  switch (shape) {
    case 'nulls':
      return Buffer.concat([strictArrayHead(count(1)), Buffer.alloc(count(1), AMF0_NULL)]);
    case 'objects':
      return Buffer.concat([
        strictArrayHead(count(4)),
        ...Array<Buffer>(count(4)).fill(Buffer.from([AMF0_OBJECT, 0, 0, 0x09])),
      ]);
    case 'keys':
    case 'ecma': {
      const parts = [
        shape === 'keys' ? Buffer.from([AMF0_OBJECT]) : Buffer.from([AMF0_ECMA_ARRAY, 0, 0, 0, 0]),
      ];
      for (let i = 0; i < count(6); i++) {
        const key = Buffer.from((i % 1296).toString(36).padStart(2, '0'));
        parts.push(Buffer.from([0, 2]), key, Buffer.from([AMF0_NULL]));
      }
      parts.push(Buffer.from([0, 0, 0x09]));
      return Buffer.concat(parts);
    }
    case 'string': {
      const head = Buffer.from([AMF0_LONG_STRING, 0, 0, 0, 0]);
      head.writeUInt32BE(count(1), 1);
      return Buffer.concat([head, Buffer.alloc(count(1), 0x61)]);
    }
    default: {
      // Arrays of arrays, 30 deep (within the limit), each level wide.
      const width = Math.max(1, Math.floor(count(1) / 30 / 5));
      let inner: Buffer = Buffer.from([AMF0_NULL]);
      for (let level = 0; level < 30; level++) {
        inner = Buffer.concat([strictArrayHead(width), ...Array<Buffer>(width).fill(inner)]);
        if (inner.length > bytes) break;
      }
      return inner.subarray(0, Math.min(inner.length, 64 * 1024 - 64));
    }
  }
}

function strictArrayHead(count: number): Buffer {
  const head = Buffer.from([AMF0_STRICT_ARRAY, 0, 0, 0, 0]);
  head.writeUInt32BE(count, 1);
  return head;
}

const COMMANDS = [
  'connect',
  'createStream',
  'releaseStream',
  'FCPublish',
  'FCUnpublish',
  'getStreamLength',
  '_checkbw',
  'publish',
  'play',
  'deleteStream',
  'noSuchCommand',
];

/** A command with a wide value at one position (transaction id, command object, first or second arg). */
const wideCommand = fc.record({
  name: fc.constantFrom(...COMMANDS),
  position: fc.integer({ min: 0, max: 3 }),
  value: wideValue,
  repeats: fc.integer({ min: 1, max: 20 }),
  chunkSize: fc.constantFrom(1, 128, 4096, 65536),
});
/** The bytes of one wideCommand case (kept apart so that a failure prints its parameters). */
const buildWideCommand = ({
  name,
  position,
  value,
  repeats,
  chunkSize,
}: Params<typeof wideCommand>) => {
  const values = [encodeAmf0(1), Buffer.from([AMF0_NULL]), encodeAmf0('x'), encodeAmf0('live')];
  values[position] = wide(value.shape, value.bytes);
  const body = Buffer.concat([encodeAmf0(name), ...values]).subarray(0, 64 * 1024);
  const message = rtmpMessage(MessageType.CommandAmf0, body, { chunkSize });
  return Buffer.concat([
    controlMessage(MessageType.SetChunkSize, chunkSize),
    ...Array<Buffer>(repeats).fill(message),
  ]);
};

/** A message interrupted by a chunk header of any format with any length and type, then more bytes. */
const midMessageHeader = fc.record({
  type: fc.constantFrom(MessageType.CommandAmf0, MessageType.Video, MessageType.DataAmf0),
  length: fc.integer({ min: 129, max: 70_000 }),
  fmt: fc.integer({ min: 0, max: 3 }),
  newLength: fc.oneof(
    fc.integer({ min: 0, max: 70_000 }),
    fc.constantFrom(MAX_MESSAGE_SIZE, 0xffffff),
  ),
  newType: fc.integer({ min: 0, max: 255 }),
  tail: fc.integer({ min: 0, max: 256 * 1024 }),
});
/** The bytes of one midMessageHeader case (kept apart so that a failure prints its parameters). */
const buildMidMessageHeader = ({
  type,
  length,
  fmt,
  newLength,
  newType,
  tail,
}: Params<typeof midMessageHeader>) => {
  const first = Buffer.from([3, 0, 0, 0, 0, 0, 0, type, 0, 0, 0, 0]);
  first.writeUIntBE(length, 4, 3);
  const header = Buffer.from([(fmt << 6) | 3, 0, 0, 0, 0, 0, 0, newType, 0, 0, 0, 0]);
  header.writeUIntBE(newLength, 4, 3);
  const fields = [11, 7, 3, 0][fmt];
  return Buffer.concat([
    first,
    Buffer.alloc(128, 0x05),
    header.subarray(0, 1 + fields),
    Buffer.alloc(tail, 0x05),
  ]);
};

/** Chunks of a message on one chunk stream with Set Chunk Size changes between them. */
const chunkSizeChanges = fc.record({
  length: fc.integer({ min: 1, max: 200_000 }),
  sizes: fc.array(
    fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(65536, 1 << 24, 0, 1 << 31)),
    {
      minLength: 1,
      maxLength: 40,
    },
  ),
});
/** The bytes of one chunkSizeChanges case (kept apart so that a failure prints its parameters). */
const buildChunkSizeChanges = ({ length, sizes }: Params<typeof chunkSizeChanges>) => {
  const parts: Buffer[] = [];
  const header = Buffer.from([4, 0, 0, 0, 0, 0, 0, MessageType.Video, 1, 0, 0, 0]);
  header.writeUIntBE(length, 4, 3);
  let chunkSize = 128;
  let sent = 0;
  for (let i = 0; sent < length; i++) {
    parts.push(i === 0 ? header : Buffer.from([0xc4]));
    const bytes = Math.min(chunkSize, length - sent);
    parts.push(Buffer.alloc(bytes, 0x17));
    sent += bytes;
    const next = sizes[i % sizes.length];
    parts.push(controlMessage(MessageType.SetChunkSize, next));
    if (next >= 1 && next <= 1 << 24) chunkSize = next;
    if (parts.length > 4000) break;
  }
  return Buffer.concat(parts);
};

/** A large media message at a small chunk size: the most chunk headers per byte. */
const largeMessage = fc.record({
  length: fc.integer({ min: 64 * 1024, max: MAX_MESSAGE_SIZE }),
  chunkSize: fc.constantFrom(1, 16, 128, 65536),
});
/** The bytes of one largeMessage case (kept apart so that a failure prints its parameters). */
const buildLargeMessage = ({ length, chunkSize }: Params<typeof largeMessage>) =>
  Buffer.concat([controlMessage(MessageType.SetChunkSize, chunkSize), chunked(length, chunkSize)]);

/**
 * A video message of `length` bytes on chunk stream 6 as chunks of `chunkSize` (RTMP spec 5.3): one
 * buffer written in place, as building millions of small chunks would cost the test more than the server.
 */
function chunked(length: number, chunkSize: number): Buffer {
  const continuations = Math.ceil(length / chunkSize) - 1;
  const out = Buffer.alloc(12 + length + continuations, 0x17);
  out.set([6, 0, 0, 0, 0, 0, 0, MessageType.Video, 1, 0, 0, 0]);
  out.writeUIntBE(length, 4, 3);
  for (let n = 1, at = 12 + chunkSize; n <= continuations; n++, at += chunkSize + 1) out[at] = 0xc6;
  return out;
}

describe('the cost of any input to the RTMP protocol engine', () => {
  beforeAll(async () => {
    harness = new Harness();
    await harness.ready;
  });
  afterAll(() => harness.stop());

  const options = (runs: number) => ({ numRuns: runs, seed: SEED });

  it('wide AMF values in every position of every command', async () => {
    await fc.assert(
      fc.asyncProperty(wideCommand, (params) => expectCheap(buildWideCommand(params))),
      options(RUNS),
    );
  });

  it('chunk headers of every format in the middle of a message', async () => {
    await fc.assert(
      fc.asyncProperty(midMessageHeader, (params) => expectCheap(buildMidMessageHeader(params))),
      options(RUNS),
    );
  });

  it('chunk size changes between the chunks of a message', async () => {
    await fc.assert(
      fc.asyncProperty(chunkSizeChanges, (params) => expectCheap(buildChunkSizeChanges(params))),
      options(RUNS),
    );
  });

  it('messages up to max_message_size at chunk sizes down to 1', async () => {
    await fc.assert(
      fc.asyncProperty(largeMessage, (params) => expectCheap(buildLargeMessage(params))),
      options(Math.min(RUNS, 25)),
    );
  });

  it('random chunks, commands and media, and mutated sessions', async () => {
    const anything = fc.oneof(
      fc.array(rawChunk, { maxLength: 30 }).map((chunks) => Buffer.concat(chunks)),
      fc.array(commandMessageBytes, { maxLength: 10 }).map((messages) => Buffer.concat(messages)),
      fc.array(mediaMessage, { maxLength: 10 }).map((messages) => Buffer.concat(messages)),
    );
    await fc.assert(
      fc.asyncProperty(anything, (input) => expectCheap(input)),
      options(RUNS),
    );
    // A whole session (its own connect included), mutated.
    const session = validSession(PORT, 'k');
    await fc.assert(
      fc.asyncProperty(mutations, (edits) => expectCheap(mutate(session, edits), false)),
      options(RUNS),
    );
  });
});
