import { Amf0Value, decodeAmf0, encodeAmf0 } from './amf0';
import { Player, PlayerOptions, within } from './player';

/* RTMP message types (RTMP spec 5.4, 6.2, 7.1). */
const TYPE_SET_CHUNK_SIZE = 1;
const TYPE_ACKNOWLEDGEMENT = 3;
const TYPE_USER_CONTROL = 4;
const TYPE_WINDOW_ACK_SIZE = 5;
const TYPE_AUDIO = 8;
const TYPE_VIDEO = 9;
const TYPE_COMMAND_AMF3 = 17;
const TYPE_COMMAND_AMF0 = 20;
/** User control events (RTMP spec 7.1.7). */
const EVENT_PING_REQUEST = 6;
const EVENT_PING_RESPONSE = 7;

const HANDSHAKE_BYTES = 1536;
const DEFAULT_CHUNK_SIZE = 128;
/** What we announce for our own (small) commands. */
const OUT_CHUNK_SIZE = 4096;
const CHUNK_STREAM_CONTROL = 2;
const CHUNK_STREAM_COMMAND = 3;
const CHUNK_STREAM_STREAM_COMMAND = 8;
/** Control and command messages are collected up to this size; larger ones are skipped. */
const MAX_COLLECTED_BYTES = 64 * 1024;
const EXTENDED_TIMESTAMP = 0xffffff;
/** Message header sizes by chunk fmt (RTMP spec 5.3.1.2). */
const MESSAGE_HEADER_BYTES = [11, 7, 3, 0];

/** Per chunk stream state (RTMP spec 5.3.1): header fields carried over by fmt 1–3 chunks. */
interface ChunkStream {
  type: number;
  length: number;
  streamId: number;
  timestamp: number;
  delta: number;
  extended: boolean;
  /** Bytes of the current message still to come (0 = the next chunk starts a message). */
  left: number;
  /** Control / command body being collected, when the type is one we read. */
  body: Buffer | undefined;
  /** First two payload bytes of a video message (key frame detection). */
  first: number;
}

interface CommandReply {
  readonly name: string;
  readonly transId: number;
  readonly values: Amf0Value[];
}

/**
 * A lightweight RTMP client for load: simple handshake, connect, createStream, then play (or publish,
 * for admission timing). The chunk parser walks headers and skips media payloads without copying them,
 * counting bytes, detecting AVC key frames and reporting video timestamps. It answers pings and sends
 * acknowledgements as a real player does.
 */
export class RtmpPlayer extends Player {
  /** First status code received after play / publish (`NetStream.Play.Start`, ...). */
  readonly statusCodes: string[] = [];
  private handshake: Buffer | undefined = Buffer.allocUnsafe(1 + 2 * HANDSHAKE_BYTES);
  private handshakeHave = 0;
  private readonly header = Buffer.allocUnsafe(18);
  private headerHave = 0;
  private headerNeed = 1;
  private current: ChunkStream | undefined;
  private chunkLeft = 0;
  private inChunkSize = DEFAULT_CHUNK_SIZE;
  private readonly chunkStreams = new Map<number, ChunkStream>();
  private ackWindow = 0;
  private received = 0;
  private lastAck = 0;
  private nextTransId = 1;
  private handshakeDone: (() => void) | undefined;
  private readonly waiters: ((reply: CommandReply) => boolean)[] = [];

  constructor(
    options: PlayerOptions,
    private readonly app: string,
  ) {
    super(options);
  }

  /** Handshake, connect, createStream, play `name`; resolves once play is sent. */
  async start(name = ''): Promise<void> {
    const streamId = await this.session();
    this.requestAt = performance.now();
    this.counting = true;
    this.command('play', [null, name, -2000], streamId);
  }

  /**
   * Publishes `name` (no media): resolves with the status code and the ms from sending `publish` to that
   * status (`NetStream.Publish.Start` when admitted).
   */
  async publish(name: string): Promise<{ code: string; ms: number }> {
    const streamId = await this.session();
    const sent = performance.now();
    const statusCode = this.waitFor((reply) => reply.name === 'onStatus');
    this.command('publish', [null, name, 'live'], streamId);
    const reply = await within(statusCode, this.options.timeoutMs ?? 10000, 'publish status');
    return { code: statusOf(reply), ms: performance.now() - sent };
  }

  private async session(): Promise<number> {
    const timeoutMs = this.options.timeoutMs ?? 10000;
    await within(this.waitConnected(), timeoutMs, 'TCP connect');
    const shaken = new Promise<void>((resolve) => (this.handshakeDone = resolve));
    const c0c1 = Buffer.alloc(1 + HANDSHAKE_BYTES);
    c0c1[0] = 3; // RTMP version 3; C1 time 0 and zero bytes: the simple handshake (RTMP spec 5.2)
    this.write(c0c1);
    await within(shaken, timeoutMs, 'RTMP handshake');
    const setChunkSize = Buffer.allocUnsafe(4);
    setChunkSize.writeUInt32BE(OUT_CHUNK_SIZE);
    this.send(CHUNK_STREAM_CONTROL, TYPE_SET_CHUNK_SIZE, 0, setChunkSize);
    const tcUrl = `rtmp://${this.options.host}:${this.options.port}/${this.app}`;
    await within(
      this.call('connect', [
        {
          app: this.app,
          flashVer: 'LNX 9,0,124,2',
          tcUrl,
          fpad: false,
          capabilities: 15,
          audioCodecs: 4071,
          videoCodecs: 252,
          videoFunction: 1,
        },
      ]),
      timeoutMs,
      'connect',
    );
    const created = await within(this.call('createStream', [null]), timeoutMs, 'createStream');
    const streamId = created.values[3];
    return typeof streamId === 'number' ? streamId : 1;
  }

  private call(name: string, args: Amf0Value[]): Promise<CommandReply> {
    const transId = this.nextTransId++;
    const reply = this.waitFor(
      (r) => r.transId === transId && (r.name === '_result' || r.name === '_error'),
    );
    this.command(name, args, 0, transId);
    return reply.then((r) => {
      if (r.name === '_error') throw new Error(`${name} refused: ${statusOf(r)}`);
      return r;
    });
  }

  private waitFor(match: (reply: CommandReply) => boolean): Promise<CommandReply> {
    return new Promise((resolve, reject) => {
      const waiter = (reply: CommandReply): boolean => {
        if (!match(reply)) return false;
        resolve(reply);
        return true;
      };
      this.waiters.push(waiter);
      void this.closed.then(() => reject(new Error(this.stats.error ?? 'connection closed')));
    });
  }

  private command(name: string, args: Amf0Value[], streamId: number, transId = 0): void {
    const csid = streamId === 0 ? CHUNK_STREAM_COMMAND : CHUNK_STREAM_STREAM_COMMAND;
    this.send(csid, TYPE_COMMAND_AMF0, streamId, encodeAmf0(name, transId, ...args));
  }

  /** One message as a fmt 0 chunk and fmt 3 continuations of OUT_CHUNK_SIZE (set before any command). */
  private send(csid: number, type: number, streamId: number, payload: Buffer): void {
    const chunkSize = type === TYPE_SET_CHUNK_SIZE ? DEFAULT_CHUNK_SIZE : OUT_CHUNK_SIZE;
    const parts: Buffer[] = [];
    const header = Buffer.allocUnsafe(12);
    header[0] = csid;
    header.writeUIntBE(0, 1, 3);
    header.writeUIntBE(payload.length, 4, 3);
    header[7] = type;
    header.writeUInt32LE(streamId, 8);
    parts.push(header);
    for (let offset = 0; offset < payload.length; offset += chunkSize) {
      if (offset > 0) parts.push(Buffer.from([0xc0 | csid]));
      parts.push(payload.subarray(offset, offset + chunkSize));
    }
    this.write(Buffer.concat(parts));
  }

  protected override onClosed(): void {
    this.handshake = undefined;
  }

  protected parse(buffer: Buffer, start: number, end: number): void {
    let pos = start;
    this.received += end - start;
    if (this.handshake) {
      const take = Math.min(this.handshake.length - this.handshakeHave, end - pos);
      buffer.copy(this.handshake, this.handshakeHave, pos, pos + take);
      this.handshakeHave += take;
      pos += take;
      if (this.handshakeHave < this.handshake.length) return;
      // C2 echoes S1 (RTMP spec 5.2.4).
      this.write(Buffer.from(this.handshake.subarray(1, 1 + HANDSHAKE_BYTES)));
      this.handshake = undefined;
      this.handshakeDone?.();
    }
    while (pos < end) {
      if (this.chunkLeft === 0) {
        pos = this.readHeader(buffer, pos, end);
        continue;
      }
      const stream = this.current as ChunkStream;
      const take = Math.min(this.chunkLeft, end - pos);
      const offset = stream.length - stream.left;
      if (stream.type === TYPE_VIDEO) {
        if (offset === 0) stream.first = buffer[pos];
        if (offset <= 1 && offset + take > 1) this.sawVideo(stream.first, buffer[pos + 1 - offset]);
        this.stats.mediaBytes += take;
      } else if (stream.type === TYPE_AUDIO) {
        this.stats.mediaBytes += take;
      } else if (stream.body) {
        buffer.copy(stream.body, offset, pos, pos + take);
      }
      pos += take;
      this.chunkLeft -= take;
      stream.left -= take;
      if (stream.left === 0) this.messageDone(stream);
    }
    if (this.ackWindow > 0 && this.received - this.lastAck >= this.ackWindow) {
      this.lastAck = this.received;
      const sequence = Buffer.allocUnsafe(4);
      sequence.writeUInt32BE(this.received >>> 0);
      this.send(CHUNK_STREAM_CONTROL, TYPE_ACKNOWLEDGEMENT, 0, sequence);
    }
  }

  /** Collects one chunk header (basic + message header + extended timestamp); returns the new position. */
  private readHeader(buffer: Buffer, pos: number, end: number): number {
    const h = this.header;
    while (this.headerHave < this.headerNeed) {
      if (pos >= end) return pos;
      h[this.headerHave++] = buffer[pos++];
      if (this.headerHave === this.headerNeed) this.headerNeed = this.headerLength();
    }
    this.headerHave = 0;
    this.headerNeed = 1;
    this.applyHeader();
    return pos;
  }

  /** Full length of the header collected so far, as far as its bytes tell. */
  private headerLength(): number {
    const h = this.header;
    const fmt = h[0] >> 6;
    const low = h[0] & 0x3f;
    const basic = low === 0 ? 2 : low === 1 ? 3 : 1;
    if (this.headerHave < basic) return basic;
    const withMessage = basic + MESSAGE_HEADER_BYTES[fmt];
    if (this.headerHave < withMessage) return withMessage;
    const extended =
      fmt <= 2 ? h.readUIntBE(basic, 3) === EXTENDED_TIMESTAMP : this.stream(h).extended;
    return extended ? withMessage + 4 : withMessage;
  }

  private stream(h: Buffer): ChunkStream {
    const low = h[0] & 0x3f;
    const csid = low === 0 ? 64 + h[1] : low === 1 ? 64 + h[1] + h[2] * 256 : low;
    let stream = this.chunkStreams.get(csid);
    if (!stream) {
      stream = {
        type: 0,
        length: 0,
        streamId: 0,
        timestamp: 0,
        delta: 0,
        extended: false,
        left: 0,
        body: undefined,
        first: 0,
      };
      this.chunkStreams.set(csid, stream);
    }
    return stream;
  }

  private applyHeader(): void {
    const h = this.header;
    const fmt = h[0] >> 6;
    const low = h[0] & 0x3f;
    const basic = low === 0 ? 2 : low === 1 ? 3 : 1;
    const stream = this.stream(h);
    const starting = stream.left === 0;
    let time = 0;
    if (fmt <= 2) {
      time = h.readUIntBE(basic, 3);
      stream.extended = time === EXTENDED_TIMESTAMP;
      if (stream.extended) time = h.readUInt32BE(basic + MESSAGE_HEADER_BYTES[fmt]);
    }
    if (fmt <= 1) {
      stream.length = h.readUIntBE(basic + 3, 3);
      stream.type = h[basic + 6];
    }
    if (fmt === 0) {
      stream.streamId = h.readUInt32LE(basic + 7);
      stream.timestamp = time;
      stream.delta = time;
    } else if (fmt <= 2) {
      stream.delta = time;
      if (starting) stream.timestamp = (stream.timestamp + time) >>> 0;
    } else if (starting) {
      stream.timestamp = (stream.timestamp + stream.delta) >>> 0;
    }
    if (starting) {
      stream.left = stream.length;
      stream.body =
        stream.type !== TYPE_AUDIO &&
        stream.type !== TYPE_VIDEO &&
        stream.length <= MAX_COLLECTED_BYTES
          ? Buffer.allocUnsafe(stream.length)
          : undefined;
      if (stream.type === TYPE_VIDEO) {
        this.stats.videoFrames++;
        if (this.counting) this.options.sink?.video(stream.timestamp);
      }
    }
    this.current = stream;
    this.chunkLeft = Math.min(this.inChunkSize, stream.left);
    if (stream.left === 0) this.messageDone(stream);
  }

  private messageDone(stream: ChunkStream): void {
    const body = stream.body;
    stream.body = undefined;
    if (!body) return;
    switch (stream.type) {
      case TYPE_SET_CHUNK_SIZE:
        if (body.length >= 4)
          this.inChunkSize = body.readUInt32BE(0) & 0x7fffffff || DEFAULT_CHUNK_SIZE;
        break;
      case TYPE_WINDOW_ACK_SIZE:
        if (body.length >= 4) this.ackWindow = body.readUInt32BE(0);
        break;
      case TYPE_USER_CONTROL:
        if (body.length >= 6 && body.readUInt16BE(0) === EVENT_PING_REQUEST) {
          const pong = Buffer.allocUnsafe(6);
          pong.writeUInt16BE(EVENT_PING_RESPONSE);
          body.copy(pong, 2, 2, 6);
          this.send(CHUNK_STREAM_CONTROL, TYPE_USER_CONTROL, 0, pong);
        }
        break;
      case TYPE_COMMAND_AMF0:
      case TYPE_COMMAND_AMF3:
        this.reply(decodeAmf0(stream.type === TYPE_COMMAND_AMF3 ? body.subarray(1) : body));
        break;
    }
  }

  private reply(values: Amf0Value[]): void {
    const name = typeof values[0] === 'string' ? values[0] : '';
    const transId = typeof values[1] === 'number' ? values[1] : -1;
    const reply: CommandReply = { name, transId, values };
    if (name === 'onStatus') this.statusCodes.push(statusOf(reply));
    const index = this.waiters.findIndex((waiter) => waiter(reply));
    if (index >= 0) this.waiters.splice(index, 1);
  }
}

/** The `code` of an onStatus / _error info object, or ''. */
function statusOf(reply: CommandReply): string {
  const info = reply.values[3];
  if (typeof info === 'object' && info !== null && typeof info.code === 'string') return info.code;
  return '';
}
