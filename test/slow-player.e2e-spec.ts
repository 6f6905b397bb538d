import { writeFileSync } from 'node:fs';
import { get, IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { MiB, rssBytes } from './helpers/proc';
import { RawRtmpClient } from './helpers/rtmp-client';
import { makeTempDir, ServerProcess, startServer } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';
import {
  clientAddress,
  expectServiceWorks,
  expectWarning,
  HostilePeer,
  warningsFor,
  isKeyframe,
  keyFor,
  Media,
  MessageType,
  peerSession,
  rawPlayer,
  rtmpMessage,
  setReading,
} from './fuzz/hostile-kit';

/**
 * README "Limits and hardening": a player that reads too slowly has a bounded queue: it skips to the next keyframe or is
 * closed after `write_timeout`; the publisher and other players do not notice, and the server's memory
 * stays bounded. Each test stalls one RTMP and one HTTP-FLV viewer (they stop reading their socket)
 * next to one healthy viewer of each kind while a raw publisher pushes far more than any queue may hold.
 */
const FRAME_BYTES = 256 * 1024;
const FRAME_MS = 40;
const GOP_FRAMES = 10;
const PUBLISH_CHUNK_SIZE = 1024 * 1024;
/** Far more than a stalled viewer's queue may hold (4 MiB) and than the kernel's socket buffers. */
const PUMP_BYTES = 200 * MiB;
/**
 * The publisher's rate, 400 Mbit/s: far above any real stream, and one that viewers in this test
 * process can keep up with on a loaded machine (a viewer slower than its publisher is a slow player).
 */
const PUMP_BYTES_PER_SECOND = 50 * MiB;
/**
 * What the server's RSS may grow by while the pump runs: the bounded queues, and the garbage of socket
 * reads and writes at this rate (some 60 MiB between collections). An unbounded queue holds the whole
 * pump, less what the kernel buffers: some 160 MiB for each protocol.
 */
const RSS_MARGIN_BYTES = 120 * MiB;

/**
 * The server on app `live` without HLS: HLS keeps its window of segments in memory, some 100 MiB at
 * the bitrate of these tests, which would hide what the player queues hold.
 */
async function startServerWithoutHls(writeTimeoutSeconds: number): Promise<ServerProcess> {
  const cwd = makeTempDir();
  writeFileSync(
    join(cwd, 'livego.yaml'),
    'server:\n  - appname: live\n    live: true\n    hls: false\n    flv: true\n    api: true\n',
  );
  return startServer({ cwd, args: [`--write_timeout=${writeTimeoutSeconds}`] });
}

/** An HTTP-FLV viewer: counts bytes, keeps them, and can stop and resume reading. */
class FlvViewer {
  received = 0;
  closed = false;
  /** `127.0.0.1:<port>`, as the server logs it. */
  address = '';
  private chunks: Buffer[] = [];
  private response: IncomingMessage | undefined;

  constructor(
    url: string,
    private readonly keep: boolean,
  ) {
    get(url, (response) => {
      this.response = response;
      this.address = `127.0.0.1:${response.socket.localPort ?? 0}`;
      response.on('data', (data: Buffer) => {
        this.received += data.length;
        if (this.keep) this.chunks.push(data);
      });
      response.on('close', () => (this.closed = true));
      response.on('error', () => undefined);
    }).on('error', () => (this.closed = true));
  }

  async ready(): Promise<void> {
    await waitFor(async () => this.response && true, 5000, 10);
  }

  pause(): void {
    this.response?.pause();
  }

  resume(): void {
    this.response?.resume();
  }

  /** Video tags received (FLV spec E.4.1): timestamp and whether it is a keyframe. */
  videoTags(): { timestamp: number; keyframe: boolean }[] {
    const bytes = Buffer.concat(this.chunks);
    const tags: { timestamp: number; keyframe: boolean }[] = [];
    for (let at = 13; at + 11 <= bytes.length;) {
      const size = bytes.readUIntBE(at + 1, 3);
      if (at + 11 + size + 4 > bytes.length) break;
      if (bytes[at] === MessageType.Video && size > 1 && bytes[at + 12] === 0x01) {
        const timestamp = bytes.readUIntBE(at + 4, 3) + bytes[at + 7] * 2 ** 24;
        tags.push({ timestamp, keyframe: isKeyframe(bytes.subarray(at + 11)) });
      }
      at += 11 + size + 4;
    }
    return tags;
  }

  close(): void {
    this.response?.destroy();
  }
}

/** The frames after the first gap in `frames` (a run of skipped frames); undefined when none was skipped. */
function afterFirstGap<T extends { timestamp: number }>(frames: T[]): T | undefined {
  const index = frames.findIndex(
    (f, i) => i > 0 && f.timestamp - frames[i - 1].timestamp > FRAME_MS,
  );
  return index > 0 ? frames[index] : undefined;
}

interface Viewers {
  healthyRtmp: HostilePeer;
  healthyFlv: FlvViewer;
  stalledRtmp: RawRtmpClient;
  stalledFlv: FlvViewer;
}

/**
 * The server closed both stalled viewers. A viewer that does not read does not see the close either;
 * once it reads again it must find its connection gone rather than receive more media.
 */
async function expectStalledClosed(viewers: Viewers): Promise<void> {
  setReading(viewers.stalledRtmp, true);
  viewers.stalledFlv.resume();
  await waitFor(
    async () => (viewers.stalledRtmp.isClosed && viewers.stalledFlv.closed) || undefined,
    10000,
  );
}

/**
 * The healthy viewers received every frame: each got at least the payload bytes published (plus its
 * headers); skipping even one frame would leave it 256 KiB short.
 */
async function expectHealthyGotAll(viewers: Viewers, payloadBytes: number): Promise<void> {
  const got = () =>
    viewers.healthyRtmp.received >= payloadBytes && viewers.healthyFlv.received >= payloadBytes;
  await waitFor(async () => got() || undefined, 10000).catch(() => undefined);
  expect({
    rtmp: viewers.healthyRtmp.received >= payloadBytes,
    flv: viewers.healthyFlv.received >= payloadBytes,
  }).toEqual({ rtmp: true, flv: true });
  expect(viewers.healthyRtmp.isClosed || viewers.healthyFlv.closed).toBe(false);
}

async function startViewers(server: ServerProcess, room: string): Promise<Viewers> {
  const flvUrl = `http://127.0.0.1:${server.ports.httpflv_addr}/live/${room}.flv`;
  const healthyRtmp = await peerSession(server, 'play', room);
  healthyRtmp.keepBytes = false;
  const healthyFlv = new FlvViewer(flvUrl, false);
  const stalledRtmp = (await rawPlayer(server, room)).client;
  const stalledFlv = new FlvViewer(flvUrl, true);
  await healthyFlv.ready();
  await stalledFlv.ready();
  setReading(stalledRtmp, false);
  stalledFlv.pause();
  return { healthyRtmp, healthyFlv, stalledRtmp, stalledFlv };
}

/**
 * Publishes H.264-shaped frames of FRAME_BYTES at PUMP_BYTES_PER_SECOND (a keyframe every GOP_FRAMES)
 * until `stop()` or `maxBytes`, sampling the server's RSS. Returns what it sent.
 */
async function pump(
  server: ServerProcess,
  publisher: HostilePeer,
  options: {
    maxBytes: number;
    /** Frames sent before: timestamps go on from there, and the sequence header goes first at 0. */
    startFrame?: number;
    stop?: () => boolean;
    essentialOnly?: boolean;
  },
): Promise<{ payloadBytes: number; frames: number; peakRss: number }> {
  const pid = server.pid as number;
  let peakRss = rssBytes(pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(pid))), 100);
  const keyframe = Media.keyframe(FRAME_BYTES);
  const interframe = Media.interframe(FRAME_BYTES);
  // A publisher that sends nothing but sequence headers, which a queue never skips.
  const header = Buffer.concat([Media.videoHeader, Buffer.alloc(FRAME_BYTES)]);
  const start = options.startFrame ?? 0;
  const started = Date.now();
  let payloadBytes = 0;
  let frames = 0;
  try {
    if (start === 0) await publisher.write(video(Media.videoHeader, 0));
    while (payloadBytes < options.maxBytes && !publisher.isClosed && !options.stop?.()) {
      const index = start + frames;
      const frame = options.essentialOnly
        ? header
        : index % GOP_FRAMES === 0
          ? keyframe
          : interframe;
      await publisher.write(video(frame, index * FRAME_MS));
      payloadBytes += frame.length;
      frames++;
      const due = started + (payloadBytes / PUMP_BYTES_PER_SECOND) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
    }
  } finally {
    clearInterval(sampler);
  }
  return { payloadBytes, frames, peakRss: Math.max(peakRss, rssBytes(pid)) };
}

function video(payload: Buffer, timestamp: number): Buffer {
  return rtmpMessage(MessageType.Video, payload, {
    csid: 6,
    streamId: 1,
    timestamp,
    chunkSize: PUBLISH_CHUNK_SIZE,
  });
}

describe('slow players', () => {
  describe('with a long write_timeout', () => {
    let server: ServerProcess;

    beforeAll(async () => {
      server = await startServerWithoutHls(60);
    });

    afterAll(async () => {
      await server?.stop();
    });

    it('skip to the next keyframe with a bounded queue; the publisher and other viewers keep up', async () => {
      const key = await keyFor(server, 'stall');
      const publisher = await peerSession(server, 'publish', key, PUBLISH_CHUNK_SIZE);
      const viewers = await startViewers(server, 'stall');
      const baselineRss = rssBytes(server.pid as number);

      const sent = await pump(server, publisher, { maxBytes: PUMP_BYTES });
      expect(publisher.isClosed).toBe(false);
      expect(sent.payloadBytes).toBeGreaterThanOrEqual(PUMP_BYTES);
      // Memory: the stalled viewers held a bounded queue, not the 400 MiB they were sent.
      expect(sent.peakRss).toBeLessThanOrEqual(baselineRss + RSS_MARGIN_BYTES);
      await expectHealthyGotAll(viewers, sent.payloadBytes);

      // The stalled viewers read again: still connected, and after what they missed comes a keyframe.
      setReading(viewers.stalledRtmp, true);
      viewers.stalledFlv.resume();
      const more = await pump(server, publisher, {
        maxBytes: 3 * GOP_FRAMES * FRAME_BYTES,
        startFrame: sent.frames,
      });
      expect(more.frames).toBeGreaterThan(0);
      // Frames only (AVCPacketType 1), not the sequence header.
      const rtmpVideo = () =>
        viewers.stalledRtmp
          .mediaMessages()
          .filter((m) => m.type === MessageType.Video && m.payload[1] === 0x01);
      await viewers.stalledRtmp.until(
        () => afterFirstGap(rtmpVideo()) !== undefined,
        10000,
        'video after a run of skipped frames',
      );
      expect(isKeyframe((afterFirstGap(rtmpVideo()) as { payload: Buffer }).payload)).toBe(true);
      await waitFor(async () => afterFirstGap(viewers.stalledFlv.videoTags()), 10000);
      expect(afterFirstGap(viewers.stalledFlv.videoTags())?.keyframe).toBe(true);
      expect(viewers.stalledRtmp.isClosed || viewers.stalledFlv.closed).toBe(false);

      publisher.close();
      viewers.healthyRtmp.close();
      viewers.healthyFlv.close();
      viewers.stalledRtmp.close();
      viewers.stalledFlv.close();
      await expectServiceWorks(server);
    });

    it('close a stalled viewer fed only packets that are never skipped, before memory grows', async () => {
      const key = await keyFor(server, 'headers');
      const publisher = await peerSession(server, 'publish', key, PUBLISH_CHUNK_SIZE);
      const viewers = await startViewers(server, 'headers');
      const address = clientAddress(viewers.stalledRtmp);
      const baselineRss = rssBytes(server.pid as number);
      const sent = await pump(server, publisher, { maxBytes: PUMP_BYTES, essentialOnly: true });
      expect(publisher.isClosed).toBe(false);
      expect(sent.peakRss).toBeLessThanOrEqual(baselineRss + RSS_MARGIN_BYTES);
      await expectWarning(server, address, /player fell \d+ bytes behind/);
      await expectStalledClosed(viewers);
      await expectHealthyGotAll(viewers, sent.payloadBytes);
      expect(viewers.healthyRtmp.isClosed || viewers.healthyFlv.closed).toBe(false);
      publisher.close();
      viewers.healthyRtmp.close();
      viewers.healthyFlv.close();
      await expectServiceWorks(server);
    });
  });

  describe('with a short write_timeout', () => {
    const WRITE_TIMEOUT_S = 2;
    let server: ServerProcess;

    beforeAll(async () => {
      server = await startServerWithoutHls(WRITE_TIMEOUT_S);
    });

    afterAll(async () => {
      await server?.stop();
    });

    it('close a viewer that stops reading, and only that one', async () => {
      const key = await keyFor(server, 'timeout');
      const publisher = await peerSession(server, 'publish', key, PUBLISH_CHUNK_SIZE);
      const viewers = await startViewers(server, 'timeout');
      const address = clientAddress(viewers.stalledRtmp);
      const baselineRss = rssBytes(server.pid as number);
      // Publishes until the server has dropped both stalled viewers (bounded by PUMP_BYTES).
      const dropped = () =>
        warningsFor(server, address).some((line) => /longer than write_timeout/.test(line)) &&
        server.stdout.includes(`http-flv ${viewers.stalledFlv.address} left`);
      const sent = await pump(server, publisher, { maxBytes: PUMP_BYTES, stop: dropped });
      await waitFor(async () => dropped() || undefined, 4 * WRITE_TIMEOUT_S * 1000);
      await expectWarning(server, address, /player stopped reading for longer than write_timeout/);
      await expectStalledClosed(viewers);
      expect(sent.peakRss).toBeLessThanOrEqual(baselineRss + RSS_MARGIN_BYTES);
      await expectHealthyGotAll(viewers, sent.payloadBytes);
      expect(publisher.isClosed || viewers.healthyRtmp.isClosed || viewers.healthyFlv.closed).toBe(
        false,
      );
      // The publisher goes on; the healthy viewers keep receiving.
      const before = viewers.healthyRtmp.received;
      await pump(server, publisher, {
        maxBytes: GOP_FRAMES * FRAME_BYTES,
        startFrame: sent.frames,
      });
      await waitFor(async () => viewers.healthyRtmp.received > before || undefined, 5000);
      publisher.close();
      viewers.healthyRtmp.close();
      viewers.healthyFlv.close();
      await sleep(100);
      await expectServiceWorks(server);
    });
  });
});
