import { readFileSync } from 'node:fs';
import { encodeAmf0Cmd } from 'node-media-server/src/protocol/amf.js';
import Rtmp from 'node-media-server/src/protocol/rtmp.js';
import { MediaPacket, PacketType } from '../media-packet';
import { encodeRtmpMessage } from './rtmp-chunk';
import { MAX_CHUNK_STREAMS, RtmpEvents, RtmpProtocol, RtmpProtocolError } from './rtmp-protocol';

/**
 * The reaches into node-media-server's internals that src/stream/rtmp/ depends on. If an upgrade renames
 * or changes one of them, these fail here rather than in production.
 */
const HANDSHAKE_BYTES = 1536;
const MAX_MESSAGE = 64 * 1024;

function harness() {
  const output: Buffer[] = [];
  const media: MediaPacket[] = [];
  const calls: string[] = [];
  const events: RtmpEvents = {
    output: (bytes) => output.push(bytes),
    connect: (app, url) => calls.push(`connect ${app} ${url.href}`),
    publish: (name, streamId) => calls.push(`publish ${name} ${streamId}`),
    play: (name, streamId) => calls.push(`play ${name} ${streamId}`),
    closeStream: () => calls.push('closeStream'),
    media: (packet) => media.push(packet),
  };
  const protocol = new RtmpProtocol(events, { maxMessageSizeBytes: MAX_MESSAGE });
  return { protocol, output, media, calls };
}

/** C0 + C1 + C2 (simple handshake: C1 has zeros where a digest would be). */
function handshake(protocol: RtmpProtocol): void {
  protocol.feed(
    Buffer.concat([Buffer.from([3]), Buffer.alloc(HANDSHAKE_BYTES), Buffer.alloc(HANDSHAKE_BYTES)]),
  );
}

function command(fields: Record<string, unknown>, streamId = 0): Buffer {
  return encodeRtmpMessage(20 as PacketType, 0, streamId, encodeAmf0Cmd(fields), 128);
}

function connected() {
  const h = harness();
  handshake(h.protocol);
  h.protocol.feed(
    command({
      cmd: 'connect',
      transId: 1,
      cmdObj: { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' },
    }),
  );
  return h;
}

describe('node-media-server internals used by the RTMP adapter', () => {
  it('is the pinned version 4.4.3', () => {
    const pkg = JSON.parse(
      readFileSync(require.resolve('node-media-server/package.json'), 'utf8'),
    ) as { version: string };
    expect(pkg.version).toBe('4.4.3');
  });

  it('still has every Rtmp member the adapter overrides or calls', () => {
    const methods = [
      'parserData',
      'packetParse',
      'packetAlloc',
      'controlHandler',
      'invokeHandler',
      'dataHandler',
      'onConnect',
      'onCreateStream',
      'respondPlay',
      'sendStatusMessage',
      'sendInvokeMessage',
      'sendStreamStatus',
      'sendACK',
      'setChunkSize',
    ] as const;
    for (const name of methods) expect(typeof Rtmp.prototype[name]).toBe('function');
    const rtmp = new Rtmp();
    expect(rtmp.inPackets).toBeInstanceOf(Map);
    expect(typeof rtmp.inChunkSize).toBe('number');
    expect(rtmp.outChunkSize).toBeGreaterThanOrEqual(128);
    expect(rtmp.parserPacket.header).toEqual(
      expect.objectContaining({ length: 0, type: 0, stream_id: 0 }),
    );
  });

  it('answers the handshake with S0 S1 S2 through the output callback', () => {
    const h = harness();
    handshake(h.protocol);
    const sent = Buffer.concat(h.output);
    expect(sent.length).toBe(1 + 2 * HANDSHAKE_BYTES);
    expect(sent[0]).toBe(3);
  });

  it('routes connect to our handler and lets the library answer with _result', () => {
    const h = connected();
    expect(h.calls).toEqual(['connect live rtmp://127.0.0.1/live']);
    expect(Buffer.concat(h.output).includes(Buffer.from('NetConnection.Connect.Success'))).toBe(
      true,
    );
  });

  it('routes publish and play with the stream id of the command message', () => {
    const h = connected();
    h.protocol.feed(
      command({ cmd: 'publish', transId: 3, cmdObj: null, streamName: 'abc?x=1', type: 'live' }, 1),
    );
    h.protocol.feed(command({ cmd: 'play', transId: 4, cmdObj: null, streamName: 'room' }, 2));
    expect(h.calls.slice(1)).toEqual(['publish abc 1', 'play room 2']);
  });

  it('hands media to us with a copied payload', () => {
    const h = connected();
    const payload = Buffer.from([0x17, 0x01, 0, 0, 0, 1, 2, 3]);
    h.protocol.feed(encodeRtmpMessage(PacketType.Video, 40, 1, payload, 128));
    expect(h.media).toHaveLength(1);
    expect(h.media[0]).toEqual({ type: PacketType.Video, timestamp: 40, payload });
  });

  it('refuses a message longer than max_message_size before allocating it', () => {
    const h = connected();
    // A 1 MiB video message: its header and a first payload byte.
    const header = Buffer.from([0x06, 0, 0, 0, 0x10, 0x00, 0x00, 9, 1, 0, 0, 0, 0x17]);
    expect(() => h.protocol.feed(header)).toThrow(RtmpProtocolError);
  });

  it(`refuses more than ${MAX_CHUNK_STREAMS} chunk streams`, () => {
    const h = connected();
    const feedOn = (csid: number) =>
      h.protocol.feed(Buffer.from([0x00, csid - 64, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 0x17]));
    for (let csid = 64; csid < 64 + MAX_CHUNK_STREAMS - 2; csid++) feedOn(csid);
    expect(() => {
      for (let csid = 64 + MAX_CHUNK_STREAMS; csid < 64 + 2 * MAX_CHUNK_STREAMS; csid++)
        feedOn(csid);
    }).toThrow(RtmpProtocolError);
  });

  it('refuses chunk size 0 and above 16 MiB', () => {
    for (const size of [0, 16 * 1024 * 1024 + 1]) {
      const h = connected();
      const body = Buffer.alloc(4);
      body.writeUInt32BE(size);
      expect(() => h.protocol.feed(encodeRtmpMessage(1 as PacketType, 0, 0, body, 128))).toThrow(
        RtmpProtocolError,
      );
    }
  });

  it('keeps delivering media when timestamp deltas carry the clock past 2^32', () => {
    const h = connected();
    const payload = Buffer.from([0xaf, 0x01, 0x21]);
    h.protocol.feed(encodeRtmpMessage(PacketType.Audio, 0xffffff00, 1, payload, 128));
    // Type 2 chunk on the same chunk stream (4): timestamp delta 0x200 only.
    h.protocol.feed(Buffer.concat([Buffer.from([0x80 | 4, 0x00, 0x02, 0x00]), payload]));
    expect(h.media.map((p) => p.timestamp)).toEqual([0xffffff00, 0x100]);
  });

  it('answers an unknown command with _error and keeps the connection usable', () => {
    const h = connected();
    h.output.length = 0;
    h.protocol.feed(command({ cmd: 'FCPublish', transId: 5, cmdObj: null, streamName: 'x' }));
    h.protocol.feed(
      encodeRtmpMessage(
        20 as PacketType,
        0,
        0,
        Buffer.concat([
          Buffer.from([2, 0, 7]),
          Buffer.from('mystery'),
          Buffer.from([0, 0x40, 0x18, 0, 0, 0, 0, 0, 0]),
        ]),
        128,
      ),
    );
    const sent = Buffer.concat(h.output);
    expect(sent.includes(Buffer.from('_result'))).toBe(true);
    expect(sent.includes(Buffer.from('_error'))).toBe(true);
    h.protocol.feed(command({ cmd: 'play', transId: 7, cmdObj: null, streamName: 'room' }, 1));
    expect(h.calls).toContain('play room 1');
  });

  it('refuses a connect without app or with a malformed tcUrl, and commands before connect', () => {
    for (const cmdObj of [
      { tcUrl: 'rtmp://127.0.0.1/live' },
      { app: 'live', tcUrl: 'not a url' },
      { app: 'live' },
    ]) {
      const h = harness();
      handshake(h.protocol);
      expect(() => h.protocol.feed(command({ cmd: 'connect', transId: 1, cmdObj }))).toThrow(
        RtmpProtocolError,
      );
    }
    const h = harness();
    handshake(h.protocol);
    expect(() =>
      h.protocol.feed(command({ cmd: 'publish', transId: 1, cmdObj: null, streamName: 'k' })),
    ).toThrow(RtmpProtocolError);
  });
});
