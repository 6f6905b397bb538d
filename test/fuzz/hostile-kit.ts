/**
 * A kit for hostile-peer tests: a raw TCP peer that sends any bytes, builders for RTMP chunks and
 * commands, and the checks every case ends with (the offender was closed and logged, the service still
 * publishes and plays, memory did not grow). Shared by test/hostile-*.e2e-spec.ts and the fuzz test.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, Socket } from 'node:net';
import { AmfValue, encodeAmf0 } from '../helpers/amf0';
import { call } from '../helpers/http';
import { decode, publish } from '../helpers/media';
import { MiB, rssBytes } from '../helpers/proc';
import { RawRtmpClient } from '../helpers/rtmp-client';
import { ServerProcess } from '../helpers/server';
import { sleep, waitFor, withTimeout } from '../helpers/wait';

export const HANDSHAKE_BYTES = 1536;
/** RTMP message types (RTMP spec 5.4, 7.1). */
export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;

/** C0 (version 3) and a C1 with zeros where a digest would be: the simple handshake. */
export function c0c1(): Buffer {
  return Buffer.concat([Buffer.from([3]), Buffer.alloc(8), randomBytes(HANDSHAKE_BYTES - 8)]);
}

export interface ChunkOptions {
  /** Chunk stream id, 2..65599; ids from 64 use the 2- and 3-byte basic headers. */
  readonly csid?: number;
  readonly timestamp?: number;
  readonly streamId?: number;
  /** Chunk size the peer sends with (what it announced with Set Chunk Size); 128 by default. */
  readonly chunkSize?: number;
}

/** The basic header of a chunk (RTMP spec 5.3.1.1). */
function basicHeader(fmt: number, csid: number): Buffer {
  if (csid >= 64 + 256) return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
  if (csid >= 64) return Buffer.from([fmt << 6, csid - 64]);
  return Buffer.from([(fmt << 6) | csid]);
}

/**
 * One message as a type-0 chunk and type-3 continuations (RTMP spec 5.3), with the extended timestamp
 * when the timestamp needs it. Written here, not taken from the server, so tests check the server
 * against the spec rather than against itself.
 */
export function rtmpMessage(type: number, payload: Buffer, options: ChunkOptions = {}): Buffer {
  const { csid = 3, timestamp = 0, streamId = 0, chunkSize = 128 } = options;
  const time = timestamp >>> 0;
  const extended = time >= 0xffffff;
  const header = Buffer.alloc(11 + (extended ? 4 : 0));
  header.writeUIntBE(extended ? 0xffffff : time, 0, 3);
  header.writeUIntBE(payload.length, 3, 3);
  header[6] = type;
  header.writeUInt32LE(streamId >>> 0, 7);
  if (extended) header.writeUInt32BE(time, 11);
  const parts = [basicHeader(0, csid), header];
  for (let offset = 0; offset < payload.length || offset === 0; offset += chunkSize) {
    if (offset > 0) {
      parts.push(basicHeader(3, csid));
      if (extended) parts.push(header.subarray(11));
    }
    parts.push(payload.subarray(offset, offset + chunkSize));
    if (payload.length === 0) break;
  }
  return Buffer.concat(parts);
}

/** A chunk of format 1 (delta, length, type) or 2 (delta only) continuing `csid` (RTMP spec 5.3.1.2). */
export function deltaChunk(
  fmt: 1 | 2,
  csid: number,
  delta: number,
  payload: Buffer,
  type = MessageType.Video as number,
): Buffer {
  const extended = delta >= 0xffffff;
  const header = Buffer.alloc((fmt === 1 ? 7 : 3) + (extended ? 4 : 0));
  header.writeUIntBE(extended ? 0xffffff : delta, 0, 3);
  if (fmt === 1) {
    header.writeUIntBE(payload.length, 3, 3);
    header[6] = type;
  }
  if (extended) header.writeUInt32BE(delta >>> 0, header.length - 4);
  return Buffer.concat([basicHeader(fmt, csid), header, payload]);
}

/** A protocol control message with one 32-bit value (Set Chunk Size, Window Ack Size, Ack). */
export function controlMessage(type: number, value: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(value >>> 0);
  return rtmpMessage(type, body, { csid: 2 });
}

/** An AMF0 command message (`name`, transaction id, then `args`). */
export function commandMessage(
  name: string,
  transId: number,
  args: AmfValue[],
  options: ChunkOptions = {},
): Buffer {
  return rtmpMessage(MessageType.CommandAmf0, encodeAmf0(name, transId, ...args), options);
}

/** A `connect` command object as encoders send it. */
export function connectObject(port: number, app = 'live'): Record<string, AmfValue> {
  return { app, tcUrl: `rtmp://127.0.0.1:${port}/${app}`, flashVer: 'FMLE/3.0', objectEncoding: 0 };
}

/** FLV audio and video payloads (FLV spec E.4.2, E.4.3) an encoder would publish: H.264 and AAC. */
export const Media = {
  /** AVCDecoderConfigurationRecord of a 320x240 x264 baseline stream. */
  videoHeader: Buffer.from(
    '17000000000142c00dffe100166742c00dda0507ec0440000003004000000ca3c50aa801000468ce0fc8',
    'hex',
  ),
  /** AudioSpecificConfig: AAC LC, 44.1 kHz, mono. */
  audioHeader: Buffer.from('af00120856e500', 'hex'),
  /** An IDR NAL unit of `size` bytes in an AVC keyframe packet. */
  keyframe(size = 2000): Buffer {
    return avcPacket(0x17, 0x65, size);
  },
  /** A non-IDR NAL unit of `size` bytes in an AVC inter-frame packet. */
  interframe(size = 500): Buffer {
    return avcPacket(0x27, 0x41, size);
  },
  audioFrame(size = 200): Buffer {
    return Buffer.concat([Buffer.from([0xaf, 0x01]), randomBytes(size)]);
  },
};

function avcPacket(first: number, nalHeader: number, size: number): Buffer {
  const head = Buffer.from([first, 0x01, 0, 0, 0, 0, 0, 0, 0, nalHeader]);
  head.writeUInt32BE(size, 5);
  return Buffer.concat([head, randomBytes(size - 1)]);
}

/** Whether an FLV video payload is a keyframe (FrameType 1). */
export function isKeyframe(payload: Buffer): boolean {
  return payload.length > 0 && payload[0] >> 4 === 1;
}

let loopbackHosts = 0;

/** A loopback address no earlier peer of this process used (127.1.0.1, 127.1.0.2, ...). */
export function nextLoopbackAddress(): string {
  const n = ++loopbackHosts + ((process.pid % 64) << 16);
  return `127.${1 + (n >> 16)}.${(n >> 8) & 0xff}.${n & 0xff || 1}`;
}

/**
 * A TCP peer that sends whatever it is told, never answers, and records what the server sent and
 * whether it closed the connection.
 */
export class HostilePeer {
  received = 0;
  isClosed = false;
  /** Whether received bytes are kept for `bytes` (turn off for peers that receive hundreds of MiB). */
  keepBytes = true;
  readonly closed: Promise<void>;
  /** `127.a.b.c:<port>`: how the server names this peer in its log. */
  readonly address: string;
  private inbox: Buffer[] = [];

  private constructor(readonly socket: Socket) {
    this.address = `${socket.localAddress ?? '?'}:${socket.localPort ?? 0}`;
    socket.on('data', (data: Buffer) => {
      this.received += data.length;
      if (this.keepBytes) this.inbox.push(data);
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  /**
   * Connects from `from`, or from a loopback address of its own (127.0.0.0/8 is all loopback on Linux):
   * each peer is a different address to the server, as separate attackers are, so per-address limits
   * and the per-address refusal log treat the cases of a file independently.
   */
  static async open(port: number, from = nextLoopbackAddress()): Promise<HostilePeer> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port, localAddress: from }, () => resolve(s));
      s.once('error', reject);
    });
    socket.setNoDelay(true);
    return new HostilePeer(socket);
  }

  /** Opens a connection and completes the simple handshake. */
  static async handshake(port: number, from?: string): Promise<HostilePeer> {
    const peer = await HostilePeer.open(port, from);
    peer.send(c0c1());
    await waitFor(
      async () => (peer.received >= 1 + 2 * HANDSHAKE_BYTES ? true : undefined),
      5000,
      10,
    );
    peer.send(Buffer.concat(peer.inbox).subarray(1, 1 + HANDSHAKE_BYTES)); // C2 echoes S1
    return peer;
  }

  /** Everything received so far. */
  get bytes(): Buffer {
    return Buffer.concat(this.inbox);
  }

  send(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Sends `bytes` and waits until the socket can take more (back-pressure) or closes. */
  async write(bytes: Buffer): Promise<void> {
    if (this.socket.destroyed || this.socket.write(bytes)) return;
    await Promise.race([new Promise((resolve) => this.socket.once('drain', resolve)), this.closed]);
  }

  /**
   * Resolves once `needle` occurs `count` times in the received bytes; rejects after `timeoutMs` or
   * when the server closes first.
   */
  async waitForBytes(needle: Buffer | string, count = 1, timeoutMs = 5000): Promise<void> {
    const wanted = typeof needle === 'string' ? Buffer.from(needle) : needle;
    const deadline = Date.now() + timeoutMs;
    const occurrences = () => {
      const bytes = this.bytes;
      let found = 0;
      for (let at = bytes.indexOf(wanted); at >= 0; at = bytes.indexOf(wanted, at + 1)) found++;
      return found;
    };
    while (occurrences() < count) {
      if (this.isClosed) throw new Error(`closed before ${wanted.toString()} arrived`);
      if (Date.now() > deadline) throw new Error(`no ${wanted.toString()} within ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  /** Sends `bytes` a few at a time, `intervalMs` apart, until done or the server closes. */
  async trickle(bytes: Buffer, intervalMs: number, bytesPerStep = 1): Promise<number> {
    let sent = 0;
    while (sent < bytes.length && !this.isClosed) {
      this.send(bytes.subarray(sent, sent + bytesPerStep));
      sent += bytesPerStep;
      await sleep(intervalMs);
    }
    return Math.min(sent, bytes.length);
  }

  /** Resolves true once the server has closed the connection, false after `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    await withTimeout(this.closed, timeoutMs);
    return this.isClosed;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * `127.0.0.1:<port>` of a RawRtmpClient, as the server names it in its log. The client keeps its socket
 * private; TypeScript's element access is the sanctioned way around that in a test.
 */
export function clientAddress(client: RawRtmpClient): string {
  return `127.0.0.1:${client['socket'].localPort ?? 0}`;
}

/** Stops reading from a RawRtmpClient's socket (a viewer that stalls), or resumes. */
export function setReading(client: RawRtmpClient, reading: boolean): void {
  const socket = client['socket'];
  if (reading) socket.resume();
  else socket.pause();
}

/** The room's publish key, from the control API. */
export async function keyFor(server: ServerProcess, room: string): Promise<string> {
  const response = await call<string>(server.apiUrl(`/control/get?room=${room}`));
  if (response.status !== 200) throw new Error(`no key for ${room}: ${response.text}`);
  return response.json?.data as string;
}

/**
 * A HostilePeer that connected to `live`, announced `chunkSize`, and publishes `key` or plays `room` on
 * message stream 1 (the first createStream's): for tests that send or receive a lot and count bytes
 * rather than parse them.
 */
export async function peerSession(
  server: ServerProcess,
  action: 'publish' | 'play',
  name: string,
  chunkSize = 128,
): Promise<HostilePeer> {
  const port = server.ports.rtmp_addr;
  const peer = await HostilePeer.handshake(port);
  if (chunkSize !== 128) peer.send(controlMessage(MessageType.SetChunkSize, chunkSize));
  const options = { chunkSize };
  peer.send(commandMessage('connect', 1, [connectObject(port)], options));
  peer.send(commandMessage('createStream', 2, [null], options));
  const args: AmfValue[] = action === 'publish' ? [null, name, 'live'] : [null, name, -2000];
  peer.send(commandMessage(action, 3, args, { ...options, streamId: 1, csid: 8 }));
  await peer.waitForBytes(
    action === 'publish' ? 'NetStream.Publish.Start' : 'NetStream.Play.Start',
  );
  return peer;
}

/** A raw RTMP publisher that got `NetStream.Publish.Start` on `live/<room>`. */
export async function rawPublisher(
  server: ServerProcess,
  room: string,
): Promise<{ client: RawRtmpClient; streamId: number }> {
  const key = await keyFor(server, room);
  const session = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
  session.client.publish(key, session.streamId);
  await session.client.waitForStatus('NetStream.Publish.Start');
  return session;
}

/** A raw RTMP player that got `NetStream.Play.Start` on `live/<room>`. */
export async function rawPlayer(
  server: ServerProcess,
  room: string,
): Promise<{ client: RawRtmpClient; streamId: number }> {
  const session = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
  session.client.play(room, session.streamId);
  await session.client.waitForStatus('NetStream.Play.Start');
  return session;
}

/** Sends the sequence headers, then a keyframe and `frames - 1` inter-frames 40 ms apart in media time. */
export function sendGop(
  publisher: { client: RawRtmpClient; streamId: number },
  startMs: number,
  frames = 5,
): void {
  const { client, streamId } = publisher;
  client.sendMessage(MessageType.Video, Media.videoHeader, {
    streamId,
    csid: 6,
    timestamp: startMs,
  });
  client.sendMessage(MessageType.Audio, Media.audioHeader, {
    streamId,
    csid: 4,
    timestamp: startMs,
  });
  for (let i = 0; i < frames; i++) {
    const frame = i === 0 ? Media.keyframe() : Media.interframe();
    client.sendMessage(MessageType.Video, frame, {
      streamId,
      csid: 6,
      timestamp: startMs + 40 * i,
    });
  }
}

let probeRoom = 0;

/**
 * The service still works: the process runs, `/healthz` answers 200, and on new connections a raw
 * publisher's media reaches a raw player.
 */
export async function expectServiceWorks(server: ServerProcess): Promise<void> {
  expect(server.exitInfo).toBeUndefined();
  const health = await call(server.apiUrl('/healthz'));
  expect(health.status).toBe(200);
  const room = `probe${++probeRoom}`;
  const publisher = await rawPublisher(server, room);
  const player = await rawPlayer(server, room);
  try {
    sendGop(publisher, 0);
    await player.client.until(
      () => player.client.mediaMessages().some((m) => isKeyframe(m.payload)),
      5000,
      'a keyframe from a fresh publisher',
    );
  } finally {
    publisher.client.close();
    player.client.close();
  }
}

/** A real encoder and a real player still work: ffmpeg publishes, ffmpeg decodes it over HTTP-FLV. */
export async function expectFfmpegWorks(server: ServerProcess, room = 'ffcheck'): Promise<void> {
  const key = await keyFor(server, room);
  const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`, {
    seconds: 20,
  });
  try {
    const url = `http://127.0.0.1:${server.ports.httpflv_addr}/live/${room}.flv`;
    await waitFor(
      async () => (await call(url, { method: 'HEAD' })).status === 200 || undefined,
      10000,
    );
    const result = decode(url, 1);
    expect(result.videoFrames).toBeGreaterThan(0);
    expect(result.audioFrames).toBeGreaterThan(0);
  } finally {
    await encoder.stop();
  }
}

/** Margin over the baseline RSS that no bad input may push the server past (never a timing). */
export const RSS_MARGIN_BYTES = 40 * MiB;

/** Asserts the server's RSS is within `margin` of `baseline`, and returns it (DEBUG_RSS=1 prints it). */
export function expectRssWithin(
  server: ServerProcess,
  baseline: number,
  margin = RSS_MARGIN_BYTES,
): number {
  const rss = rssBytes(server.pid as number);
  if (process.env.DEBUG_RSS)
    process.stderr.write(
      `rss ${(rss / MiB).toFixed(1)} MiB (baseline ${(baseline / MiB).toFixed(1)})\n`,
    );
  expect(rss).toBeLessThanOrEqual(baseline + margin);
  return rss;
}

/** The server's log lines at WARN that name `address` (`127.0.0.1:1234`, not `127.0.0.1:12345`). */
export function warningsFor(server: ServerProcess, address: string): string[] {
  const named = new RegExp(`${address.replace(/\./g, '\\.')}(?!\\d)`);
  return (server.stdout + server.stderr)
    .split('\n')
    .filter((line) => /\bWARN\b/.test(line) && named.test(line));
}

/** Waits until the server has logged a WARN line naming `address` and matching `reason`. */
export async function expectWarning(
  server: ServerProcess,
  address: string,
  reason: RegExp,
): Promise<string> {
  const { value } = await waitFor(
    async () => warningsFor(server, address).find((line) => reason.test(line)),
    5000,
    25,
  ).catch(() => {
    throw new Error(
      `no WARN line for ${address} matching ${reason}; its lines:\n${warningsFor(server, address).join('\n')}`,
    );
  });
  return value;
}

/**
 * A publisher and a player that stay connected through a whole file of hostile cases: they prove that
 * each bad peer closes only its own session. The publisher sends a GOP every `intervalMs`.
 */
export class Bystanders {
  private timer: NodeJS.Timeout | undefined;
  private clock = 0;

  private constructor(
    readonly publisher: { client: RawRtmpClient; streamId: number },
    readonly player: { client: RawRtmpClient; streamId: number },
  ) {}

  static async start(server: ServerProcess, room = 'bystander', intervalMs = 200) {
    const publisher = await rawPublisher(server, room);
    const player = await rawPlayer(server, room);
    const bystanders = new Bystanders(publisher, player);
    bystanders.timer = setInterval(() => {
      sendGop(publisher, bystanders.clock, 5);
      bystanders.clock += 200;
    }, intervalMs);
    return bystanders;
  }

  /** Media messages the player has received so far. */
  get received(): number {
    return this.player.client.mediaMessages().length;
  }

  /** Both are still connected and the player received media after `since` messages. */
  async expectUnaffected(since: number): Promise<void> {
    expect(this.publisher.client.isClosed).toBe(false);
    expect(this.player.client.isClosed).toBe(false);
    await this.player.client.until(
      () => this.received > since,
      5000,
      'bystander media after the hostile case',
    );
  }

  stop(): void {
    clearInterval(this.timer);
    this.publisher.client.close();
    this.player.client.close();
  }
}
