import { AmfValue, encodeAmf0 } from './helpers/amf0';
import { MiB, rssBytes } from './helpers/proc';
import { RawRtmpClient } from './helpers/rtmp-client';
import { ServerProcess, startServer } from './helpers/server';
import { sleep } from './helpers/wait';
import {
  Bystanders,
  commandMessage,
  connectObject,
  controlMessage,
  expectFfmpegWorks,
  expectRssWithin,
  expectServiceWorks,
  expectWarning,
  HostilePeer,
  keyFor,
  MessageType,
  rtmpMessage,
} from './fuzz/hostile-kit';

/**
 * README "Limits and hardening": each bad input closes only the offending session, logged at warn with the peer address; the
 * process keeps serving (a fresh publish and play work) and its memory does not grow. read_timeout is
 * long here, so a close within a few seconds is the protocol check at work, not a timeout.
 */
const MAX_MESSAGE_SIZE = 8 * 1024 * 1024;
const CLOSE_WITHIN_MS = 3000;
const HIGH_THROUGHPUT_RSS_MARGIN_BYTES = 100 * MiB;
const AMF0_STRICT_ARRAY = 0x0a;
const AMF0_OBJECT = 0x03;

describe('hostile RTMP input', () => {
  let server: ServerProcess;
  let bystanders: Bystanders;
  let baselineRss: number;
  let port: number;

  beforeAll(async () => {
    server = await startServer({ args: ['--read_timeout=30'] });
    port = server.ports.rtmp_addr;
    bystanders = await Bystanders.start(server);
    await expectServiceWorks(server);
    baselineRss = rssBytes(server.pid as number);
  });

  afterAll(async () => {
    bystanders?.stop();
    await server?.stop();
  });

  /**
   * Runs one hostile case on a fresh connection: `attack` sends the bad input; then the connection
   * must be closed by the server with a warning naming it and `reason`, and everything else must work.
   */
  async function expectRefused(
    attack: (peer: HostilePeer) => void | Promise<void>,
    reason: RegExp,
  ): Promise<HostilePeer> {
    const before = bystanders.received;
    const peer = await HostilePeer.handshake(port);
    await attack(peer);
    const closed = await peer.closedWithin(CLOSE_WITHIN_MS);
    peer.close();
    expect(closed).toBe(true);
    await expectWarning(server, peer.address, reason);
    await bystanders.expectUnaffected(before);
    await expectServiceWorks(server);
    expectRssWithin(server, baselineRss);
    return peer;
  }

  const connect = (peer: HostilePeer) =>
    peer.send(commandMessage('connect', 1, [connectObject(port)]));

  describe('Set Chunk Size', () => {
    it('closes on chunk size 0', async () => {
      await expectRefused(
        (peer) => peer.send(controlMessage(MessageType.SetChunkSize, 0)),
        /chunk size 0 outside/,
      );
    });

    it('closes on a chunk size above 16 MiB', async () => {
      await expectRefused(
        (peer) => peer.send(controlMessage(MessageType.SetChunkSize, 16 * MiB + 1)),
        /chunk size 16777217 outside/,
      );
    });

    it('closes on a chunk size that is 0 once the reserved top bit is cleared', async () => {
      await expectRefused(
        (peer) => peer.send(controlMessage(MessageType.SetChunkSize, 0x80000000)),
        /chunk size 0 outside/,
      );
    });

    it('closes on an empty Set Chunk Size (which crashed node-media-server 2.x)', async () => {
      // The parser completes an empty message when the next byte arrives: a connect follows it.
      await expectRefused((peer) => {
        peer.send(rtmpMessage(MessageType.SetChunkSize, Buffer.alloc(0), { csid: 2 }));
        connect(peer);
      }, /Set Chunk Size without a size/);
    });

    it('accepts exactly 16 MiB and keeps the session usable', async () => {
      const peer = await HostilePeer.handshake(port);
      peer.send(controlMessage(MessageType.SetChunkSize, 16 * MiB));
      connect(peer);
      // The _result of connect comes back: the session goes on.
      await peer.waitForBytes('NetConnection.Connect.Success');
      expect(peer.isClosed).toBe(false);
      peer.close();
    });
  });

  describe('message length and chunk streams', () => {
    it(`closes on a message longer than max_message_size before allocating it`, async () => {
      await expectRefused((peer) => {
        // Only the header of an 8 MiB + 1 video message, then a few bytes.
        const header = messageHeader(6, MessageType.Video, MAX_MESSAGE_SIZE + 1);
        peer.send(Buffer.concat([header, Buffer.alloc(100)]));
      }, /message of 8388609 bytes exceeds max_message_size 8388608/);
    });

    it('closes on more than 64 chunk streams, and allows 64', async () => {
      const onStream = (csid: number) =>
        rtmpMessage(MessageType.Audio, Buffer.from([0xaf, 0x01, 0x21]), { csid });
      // Chunk streams 2 (Set Chunk Size) and 3 (connect), then 4, 5...
      const open = (peer: HostilePeer, count: number) => {
        peer.send(controlMessage(MessageType.SetChunkSize, 4096));
        connect(peer);
        for (let csid = 4; csid < 2 + count; csid++) peer.send(onStream(csid));
      };
      const allowed = await HostilePeer.handshake(port);
      open(allowed, 64);
      await allowed.waitForBytes('NetConnection.Connect.Success');
      expect(await allowed.closedWithin(500)).toBe(false);
      allowed.close();

      await expectRefused((peer) => open(peer, 65), /more than 64 chunk streams/);
    });

    it('holds only what was sent of messages declared on many chunk streams', async () => {
      // Each chunk stream declares an 8 MiB message and sends its first 128-byte chunk only: a reader
      // that allocated what a header declares would hold 8 MiB per chunk stream (480 MiB here).
      const peer = await HostilePeer.handshake(port);
      for (let csid = 4; csid < 64; csid++) {
        const header = messageHeader(csid, MessageType.SharedObjectAmf0, MAX_MESSAGE_SIZE);
        peer.send(Buffer.concat([header, Buffer.alloc(128, 0x55)]));
      }
      await sleep(500);
      expect(peer.isClosed).toBe(false);
      expectRssWithin(server, baselineRss);
      peer.close();
    });

    it('closes when unfinished messages on several chunk streams exceed twice max_message_size', async () => {
      // Three 8 MiB messages, each sent up to 6 MiB: 18 MiB unfinished, above the 16 MiB a connection
      // may hold.
      await expectRefused(async (peer) => {
        for (let csid = 4; csid < 7 && !peer.isClosed; csid++) {
          const chunk = Buffer.concat([Buffer.from([0xc0 | csid]), Buffer.alloc(128, 0x55)]);
          const batch = Buffer.concat(Array<Buffer>(512).fill(chunk)); // 64 KiB of payload
          await peer.write(
            Buffer.concat([
              messageHeader(csid, MessageType.SharedObjectAmf0, MAX_MESSAGE_SIZE),
              Buffer.alloc(128, 0x55),
            ]),
          );
          for (let sent = 128; sent < 6 * MiB && !peer.isClosed; sent += 512 * 128) {
            await peer.write(batch);
          }
        }
      }, /unfinished messages on several chunk streams exceed 16777216 bytes/);
    });
  });

  describe('connect', () => {
    const badConnects: [string, AmfValue, RegExp][] = [
      ['without app', { tcUrl: `rtmp://127.0.0.1/live` }, /connect without app/],
      ['with an empty app', { app: '', tcUrl: `rtmp://127.0.0.1/live` }, /connect without app/],
      ['with app "/"', { app: '/', tcUrl: `rtmp://127.0.0.1/live` }, /connect without app/],
      ['without tcUrl', { app: 'live' }, /malformed tcUrl/],
      ['with tcUrl "not a url"', { app: 'live', tcUrl: 'not a url' }, /malformed tcUrl/],
      ['with a numeric tcUrl', { app: 'live', tcUrl: 42 }, /malformed tcUrl/],
      [
        'with an unclosed IPv6 tcUrl',
        { app: 'live', tcUrl: 'rtmp://[::1/live' },
        /malformed tcUrl/,
      ],
      ['with an http tcUrl', { app: 'live', tcUrl: 'http://127.0.0.1/live' }, /not rtmp/],
      ['with a null command object', null, /without a command object/],
      ['with a number as command object', 7, /without a command object/],
    ];
    it.each(badConnects)('closes a connect %s', async (_, cmdObj, reason) => {
      await expectRefused((peer) => peer.send(commandMessage('connect', 1, [cmdObj])), reason);
    });

    it('closes a command before connect', async () => {
      await expectRefused(
        (peer) => peer.send(commandMessage('createStream', 1, [null])),
        /"createStream" before connect/,
      );
    });

    it('closes a second connect', async () => {
      await expectRefused((peer) => {
        connect(peer);
        connect(peer);
      }, /a second connect/);
    });
  });

  describe('AMF', () => {
    /** `connect`, transaction 1, then `value` as raw AMF0 bytes. */
    const connectWith = (value: Buffer) =>
      rtmpMessage(MessageType.CommandAmf0, Buffer.concat([encodeAmf0('connect', 1), value]));

    it('closes on a connect object cut off in the middle of a property', async () => {
      const whole = encodeAmf0(connectObject(port));
      await expectRefused((peer) => peer.send(connectWith(whole.subarray(0, 20))), /truncated AMF/);
    });

    it('closes on a string whose length runs past the message', async () => {
      const cut = Buffer.from([0x02, 0xff, 0xff, 0x61, 0x62]);
      await expectRefused(
        (peer) => peer.send(rtmpMessage(MessageType.CommandAmf0, cut)),
        /truncated AMF/,
      );
    });

    it('closes on a strict array that claims more items than it holds', async () => {
      const array = Buffer.from([AMF0_STRICT_ARRAY, 0xff, 0xff, 0xff, 0xff, 0x05, 0x05]);
      await expectRefused((peer) => peer.send(connectWith(array)), /truncated AMF/);
    });

    it('closes on a command message of only a marker byte', async () => {
      await expectRefused(
        (peer) => peer.send(rtmpMessage(MessageType.CommandAmf0, Buffer.from([0x00]))),
        /truncated AMF/,
      );
    });

    it('closes on nesting just past the limit', async () => {
      await expectRefused(
        (peer) => peer.send(connectWith(nestedArrays(33))),
        /AMF nested deeper than 32/,
      );
    });

    it('closes on 9000 nested objects, deep enough to overflow the decoder', async () => {
      // 63 KiB: under the command size limit, and 2.5 times what overflowed the library's decoder.
      await expectRefused(
        (peer) => peer.send(connectWith(nestedObjects(9000))),
        /AMF nested deeper than 32/,
      );
    });

    it('closes on nested AMF3-command (type 17) payloads the same way', async () => {
      const payload = Buffer.concat([
        Buffer.from([0]),
        encodeAmf0('connect', 1),
        nestedArrays(5000),
      ]);
      await expectRefused(
        (peer) => peer.send(rtmpMessage(MessageType.CommandAmf3, payload)),
        /AMF nested deeper than 32/,
      );
    });

    it('closes on a command message over 64 KiB before reading it', async () => {
      await expectRefused((peer) => {
        peer.send(controlMessage(MessageType.SetChunkSize, 1024 * 1024));
        const huge = Buffer.concat([encodeAmf0('connect', 1), nestedArrays(200000)]);
        peer.send(rtmpMessage(MessageType.CommandAmf0, huge, { chunkSize: 1024 * 1024 }));
      }, /command message of 1000\d+ bytes exceeds 65536/);
    });

    it('accepts an object with 30 levels of nesting', async () => {
      const peer = await HostilePeer.handshake(port);
      const deepButFine = Buffer.concat([
        encodeAmf0('connect', 1, connectObject(port)),
        nestedObjects(29),
      ]);
      peer.send(rtmpMessage(MessageType.CommandAmf0, deepButFine));
      await peer.waitForBytes('NetConnection.Connect.Success');
      peer.close();
    });
  });

  describe('unknown commands', () => {
    it('answers with _error and keeps the connection, which can then publish', async () => {
      const before = bystanders.received;
      const { client, streamId } = await RawRtmpClient.session(port, 'live');
      const transId = client.command('mysteryCommand', [null, 'x', 12]);
      const reply = await client.waitForCommand((m) => m.values[1] === transId);
      expect(reply.values[0]).toBe('_error');
      expect(client.isClosed).toBe(false);
      const key = await keyFor(server, 'afterunknown');
      client.publish(key, streamId);
      await client.waitForStatus('NetStream.Publish.Start');
      client.close();
      await bystanders.expectUnaffected(before);
    });
  });

  // Last but one: the RSS checks of the other cases assume no high-throughput garbage yet.
  it('keeps memory bounded when large messages are completed on many chunk streams', async () => {
    // 60 complete 8 MiB messages, each on its own chunk stream: legal, but a buffer kept per chunk
    // stream would hold 480 MiB for as long as the connection lives.
    const peer = await HostilePeer.handshake(port);
    peer.send(controlMessage(MessageType.SetChunkSize, 16 * MiB));
    connect(peer);
    const body = Buffer.alloc(MAX_MESSAGE_SIZE - 64, 0x55);
    for (let csid = 4; csid < 64; csid++) {
      const message = rtmpMessage(MessageType.SharedObjectAmf0, body, {
        csid,
        chunkSize: 16 * MiB,
      });
      if (!peer.socket.write(message)) await new Promise((r) => peer.socket.once('drain', r));
      if (peer.isClosed) break;
    }
    // The connection still answers: a command sent after all that is processed.
    peer.send(commandMessage('createStream', 2, [null]));
    await peer.waitForBytes('_result', 2);
    expect(peer.isClosed).toBe(false);
    // Socket reads at this rate keep some 60 MiB of garbage between collections (as much with a single
    // chunk stream); the chunk streams' buffers alone would hold 480 MiB.
    expectRssWithin(server, baselineRss, HIGH_THROUGHPUT_RSS_MARGIN_BYTES);
    peer.close();
  });

  it('still serves a real encoder and player after all of it', async () => {
    await expectFfmpegWorks(server);
    expect(server.exitInfo).toBeUndefined();
    expectRssWithin(server, baselineRss, HIGH_THROUGHPUT_RSS_MARGIN_BYTES);
  });
});

/** The type-0 chunk header of a message of `length` bytes on chunk stream `csid` (< 64). */
function messageHeader(csid: number, type: number, length: number): Buffer {
  const header = Buffer.from([csid, 0, 0, 0, 0, 0, 0, type, 0, 0, 0, 0]);
  header.writeUIntBE(length, 4, 3);
  return header;
}

/** `depth` strict arrays each holding the next, innermost holding null. */
function nestedArrays(depth: number): Buffer {
  const level = Buffer.from([AMF0_STRICT_ARRAY, 0, 0, 0, 1]);
  return Buffer.concat([...Array<Buffer>(depth).fill(level), Buffer.from([0x05])]);
}

/** `depth` objects, each the value of property "a" of the one around it. */
function nestedObjects(depth: number): Buffer {
  const open = Buffer.from([AMF0_OBJECT, 0, 1, 0x61]);
  const close = Buffer.from([0, 0, 0x09]);
  return Buffer.concat([
    ...Array<Buffer>(depth).fill(open),
    Buffer.from([0x05]),
    ...Array<Buffer>(depth).fill(close),
  ]);
}
