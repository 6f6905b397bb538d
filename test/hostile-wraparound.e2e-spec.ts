import { request } from 'node:http';
import { MiB, rssBytes } from './helpers/proc';
import { RawRtmpClient } from './helpers/rtmp-client';
import { ServerProcess, startServer } from './helpers/server';
import { waitFor } from './helpers/wait';
import {
  commandMessage,
  connectObject,
  controlMessage,
  deltaChunk,
  expectRssWithin,
  expectServiceWorks,
  HostilePeer,
  keyFor,
  Media,
  MessageType,
  rawPlayer,
  rawPublisher,
  rtmpMessage,
} from './fuzz/hostile-kit';

/**
 * README "Limits and hardening": timestamps and acknowledgement counters that wrap past 2^32 are handled without closing
 * anything: a stream that runs for days (2^32 ms is 49.7 days) keeps playing.
 */
const TWO_TO_32 = 2 ** 32;
const FRAME_MS = 40;
const FRAMES = 20;
/** Starts 10 frames before the wrap, so half the frames are before it and half after. */
const START = TWO_TO_32 - (FRAMES / 2) * FRAME_MS;
const expectedTimestamps = Array.from(
  { length: FRAMES },
  (_, i) => (START + i * FRAME_MS) % TWO_TO_32,
);

describe('32-bit wrap-around', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({ off: ['hls_addr'] });
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** Video timestamps an RTMP player received, once it has `count` of them. */
  async function videoTimestamps(player: RawRtmpClient, count: number): Promise<number[]> {
    const video = () => player.mediaMessages().filter((m) => m.type === MessageType.Video);
    await player.until(() => video().length >= count, 5000, `${count} video messages`);
    return video().map((m) => m.timestamp);
  }

  it('delivers media whose absolute (extended) timestamps wrap past 2^32', async () => {
    const publisher = await rawPublisher(server, 'wrapabs');
    const player = await rawPlayer(server, 'wrapabs');
    const flv = flvTimestamps(server, 'wrapabs');
    await flv.ready;
    const { client, streamId } = publisher;
    client.sendMessage(MessageType.Video, Media.videoHeader, {
      streamId,
      csid: 6,
      timestamp: START,
    });
    for (const [i, timestamp] of expectedTimestamps.entries()) {
      const frame = i % 10 === 0 ? Media.keyframe() : Media.interframe();
      client.sendMessage(MessageType.Video, frame, { streamId, csid: 6, timestamp });
    }
    // The sequence header, then every frame, with the wrapped timestamps, in order.
    expect(await videoTimestamps(player.client, FRAMES + 1)).toEqual([
      START,
      ...expectedTimestamps,
    ]);
    expect((await flv.read(FRAMES + 1)).slice(1)).toEqual(expectedTimestamps);
    expect(client.isClosed || player.client.isClosed).toBe(false);
    flv.close();
    client.close();
    player.client.close();
  });

  it('delivers media whose timestamp deltas carry the clock past 2^32', async () => {
    const publisher = await rawPublisher(server, 'wrapdelta');
    const player = await rawPlayer(server, 'wrapdelta');
    const { client, streamId } = publisher;
    client.setChunkSize(64 * 1024);
    client.sendMessage(MessageType.Video, Media.videoHeader, {
      streamId,
      csid: 6,
      timestamp: START,
    });
    client.sendMessage(MessageType.Video, Media.keyframe(), {
      streamId,
      csid: 6,
      timestamp: START,
    });
    // Then type 1 chunks (delta, length, type) and type 2 chunks (delta only, same length).
    const frame = Media.interframe(300);
    for (let i = 1; i < FRAMES; i++) {
      client.write(deltaChunk(i % 2 === 1 ? 1 : 2, 6, FRAME_MS, frame));
    }
    expect(await videoTimestamps(player.client, FRAMES + 1)).toEqual([
      START,
      ...expectedTimestamps,
    ]);
    expect(client.isClosed || player.client.isClosed).toBe(false);
    client.close();
    player.client.close();
  });

  it('ignores acknowledgement sequence numbers that wrap, from publishers and players', async () => {
    const publisher = await rawPublisher(server, 'wrapack');
    const player = await rawPlayer(server, 'wrapack');
    for (const client of [publisher.client, player.client]) {
      client.write(controlMessage(MessageType.WindowAckSize, 2_500_000));
      for (const sequence of [0xfffff000, 0xffffffff, 0, 0x1000]) {
        client.write(controlMessage(MessageType.Acknowledgement, sequence));
      }
    }
    const { client, streamId } = publisher;
    client.sendMessage(MessageType.Video, Media.videoHeader, { streamId, csid: 6 });
    client.sendMessage(MessageType.Video, Media.keyframe(), { streamId, csid: 6, timestamp: 40 });
    await videoTimestamps(player.client, 2);
    expect(client.isClosed || player.client.isClosed).toBe(false);
    client.close();
    player.client.close();
  });

  it('keeps acknowledging a publisher, modulo 2^32, after 4 GiB, and keeps its stream playing', async () => {
    const baselineRss = rssBytes(server.pid as number);
    const port = server.ports.rtmp_addr;
    const key = await keyFor(server, 'wrapbytes');
    const player = await rawPlayer(server, 'wrapbytes');
    // The publisher is a raw peer so that it can honour back-pressure while it sends 4.3 GB.
    const publisher = await HostilePeer.handshake(port);
    const ackWindow = 256 * MiB;
    publisher.send(controlMessage(MessageType.WindowAckSize, ackWindow));
    publisher.send(controlMessage(MessageType.SetChunkSize, 16 * MiB));
    const chunkSize = 16 * MiB;
    publisher.send(commandMessage('connect', 1, [connectObject(port)], { chunkSize }));
    publisher.send(commandMessage('createStream', 2, [null], { chunkSize }));
    publisher.send(commandMessage('publish', 3, [null, key, 'live'], { streamId: 1, chunkSize }));
    await waitFor(
      async () => publisher.bytes.includes(Buffer.from('NetStream.Publish.Start')) || undefined,
      5000,
    );
    // Messages of a type the server reads and ignores (shared object), 8 MiB - 64 each.
    const filler = rtmpMessage(MessageType.SharedObjectAmf0, Buffer.alloc(8 * MiB - 64), {
      csid: 7,
      chunkSize,
    });
    const total = TWO_TO_32 + ackWindow + filler.length;
    for (let sent = 0; sent < total && !publisher.isClosed; sent += filler.length) {
      if (!publisher.socket.write(filler)) {
        await new Promise((resolve) => publisher.socket.once('drain', resolve));
      }
    }
    const acks = await waitFor(async () => {
      const values = acknowledgements(publisher.bytes);
      // Each acknowledgement comes at the first read past a window: one may be lost to rounding.
      return values.length >= Math.floor(total / ackWindow) - 1 ? values : undefined;
    }, 10000);
    // The sequence number counts up by about a window each time and wraps once, past 2^32.
    const wraps = acks.value.filter((value, i) => i > 0 && value < acks.value[i - 1]);
    expect(wraps).toHaveLength(1);
    expect(Math.max(...acks.value)).toBeGreaterThan(TWO_TO_32 - ackWindow - filler.length);

    // The stream still plays.
    const video = (payload: Buffer, timestamp: number) =>
      rtmpMessage(MessageType.Video, payload, { csid: 6, streamId: 1, timestamp, chunkSize });
    publisher.send(video(Media.videoHeader, 0));
    publisher.send(video(Media.keyframe(), 40));
    await player.client.until(
      () => player.client.mediaMessages().length >= 2,
      5000,
      'media after 4 GiB',
    );
    expect(publisher.isClosed || player.client.isClosed).toBe(false);
    publisher.close();
    player.client.close();
    await expectServiceWorks(server);
    // Socket reads at this rate keep some 60 MiB of garbage between collections.
    expectRssWithin(server, baselineRss, 100 * MiB);
  });
});

/**
 * Acknowledgement messages in what the server sent: the library writes each as one type-0 chunk on
 * chunk stream 2, timestamp 0, length 4, type 3, stream 0 (RTMP spec 5.4.3), then the sequence number.
 */
function acknowledgements(bytes: Buffer): number[] {
  const header = Buffer.from([0x02, 0, 0, 0, 0, 0, 4, MessageType.Acknowledgement, 0, 0, 0, 0]);
  const values: number[] = [];
  for (let at = bytes.indexOf(header); at >= 0; at = bytes.indexOf(header, at + 1)) {
    if (at + header.length + 4 <= bytes.length) values.push(bytes.readUInt32BE(at + header.length));
  }
  return values;
}

/** Reads the HTTP-FLV stream of `room` and collects its video tag timestamps (FLV spec E.4.1). */
function flvTimestamps(server: ServerProcess, room: string) {
  const timestamps: number[] = [];
  let buffer = Buffer.alloc(0);
  let offset = 13; // FLV header and PreviousTagSize0
  let attached: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (attached = resolve));
  const req = request(
    `http://127.0.0.1:${server.ports.httpflv_addr}/live/${room}.flv`,
    (response) => {
      // The server attaches the player before it sends the headers.
      attached();
      response.on('data', (data: Buffer) => {
        buffer = Buffer.concat([buffer, data]);
        while (offset + 11 <= buffer.length) {
          const size = buffer.readUIntBE(offset + 1, 3);
          if (offset + 11 + size + 4 > buffer.length) break;
          if (buffer[offset] === MessageType.Video) {
            const timestamp = buffer.readUIntBE(offset + 4, 3) + buffer[offset + 7] * 2 ** 24;
            timestamps.push(timestamp);
          }
          offset += 11 + size + 4;
        }
      });
    },
  );
  req.on('error', () => undefined);
  req.end();
  return {
    ready,
    async read(count: number): Promise<number[]> {
      await waitFor(async () => (timestamps.length >= count ? true : undefined), 5000, 20);
      return timestamps;
    },
    close: () => req.destroy(),
  };
}
