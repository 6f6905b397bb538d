import { randomBytes } from 'node:crypto';
import { connect as netConnect, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { AmfValue, decodeAmf0, encodeAmf0 } from './amf0';
import { sleep } from './wait';

/** A message the server sent, reassembled from chunks. */
export interface RtmpMessage {
  readonly type: number;
  readonly streamId: number;
  readonly timestamp: number;
  readonly payload: Buffer;
  /** Decoded AMF0 values for command (20) and data (18) messages. */
  readonly values: AmfValue[];
}

const HANDSHAKE_BYTES = 1536;
const TYPE_SET_CHUNK_SIZE = 1;
const TYPE_COMMAND = 20;
const TYPE_DATA = 18;

/**
 * A raw RTMP client for tests: it can speak the protocol properly (connect, createStream, publish, play)
 * or send any byte sequence, and it records every message the server sends back.
 */
export class RawRtmpClient {
  readonly messages: RtmpMessage[] = [];
  readonly closed: Promise<void>;
  isClosed = false;
  private inbox: Buffer = Buffer.alloc(0);
  private handshakeDone = false;
  private inChunkSize = 128;
  private outChunkSize = 128;
  private transId = 1;
  private readonly partial = new Map<
    number,
    {
      type: number;
      length: number;
      streamId: number;
      timestamp: number;
      delta: number;
      body: Buffer[];
      got: number;
    }
  >();

  private constructor(private readonly socket: Socket) {
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  /** Opens a TCP (or TLS) connection without any handshake. */
  static async open(
    port: number,
    options: { tls?: boolean; host?: string } = {},
  ): Promise<RawRtmpClient> {
    const host = options.host ?? '127.0.0.1';
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = options.tls
        ? tlsConnect({ host, port, rejectUnauthorized: false }, () => resolve(s))
        : netConnect({ host, port }, () => resolve(s));
      s.once('error', reject);
    });
    socket.setNoDelay(true);
    return new RawRtmpClient(socket);
  }

  /** Opens a connection and completes the simple handshake (C0 C1, S0 S1 S2, C2). */
  static async handshake(port: number, options: { tls?: boolean } = {}): Promise<RawRtmpClient> {
    const client = await RawRtmpClient.open(port, options);
    const c1 = Buffer.concat([Buffer.alloc(8), randomBytes(HANDSHAKE_BYTES - 8)]);
    client.write(Buffer.concat([Buffer.from([3]), c1]));
    await client.until(() => client.inbox.length >= 1 + 2 * HANDSHAKE_BYTES, 5000, 'S0 S1 S2');
    const s1 = client.inbox.subarray(1, 1 + HANDSHAKE_BYTES);
    client.inbox = client.inbox.subarray(1 + 2 * HANDSHAKE_BYTES);
    client.handshakeDone = true;
    client.write(Buffer.from(s1));
    client.parse();
    return client;
  }

  /** Handshake, connect to `app`, createStream; returns the client and the stream id. */
  static async session(
    port: number,
    app: string,
    options: { tls?: boolean } = {},
  ): Promise<{ client: RawRtmpClient; streamId: number }> {
    const client = await RawRtmpClient.handshake(port, options);
    await client.connectApp(app, `${options.tls ? 'rtmps' : 'rtmp'}://127.0.0.1:${port}/${app}`);
    const streamId = await client.createStream();
    return { client, streamId };
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Sends one message as chunks of the current outgoing chunk size on chunk stream `csid`. */
  sendMessage(
    type: number,
    payload: Buffer,
    options: { streamId?: number; timestamp?: number; csid?: number } = {},
  ): void {
    const csid = options.csid ?? 3;
    const timestamp = options.timestamp ?? 0;
    const extended = timestamp >= 0xffffff;
    const header = Buffer.alloc(12 + (extended ? 4 : 0));
    header[0] = csid & 0x3f;
    header.writeUIntBE(extended ? 0xffffff : timestamp, 1, 3);
    header.writeUIntBE(payload.length, 4, 3);
    header[7] = type;
    header.writeUInt32LE(options.streamId ?? 0, 8);
    if (extended) header.writeUInt32BE(timestamp >>> 0, 12);
    const parts: Buffer[] = [header];
    for (let offset = 0; offset < payload.length; offset += this.outChunkSize) {
      if (offset > 0) {
        parts.push(Buffer.from([0xc0 | (csid & 0x3f)]));
        if (extended) {
          const ext = Buffer.alloc(4);
          ext.writeUInt32BE(timestamp >>> 0);
          parts.push(ext);
        }
      }
      parts.push(payload.subarray(offset, offset + this.outChunkSize));
    }
    this.write(Buffer.concat(parts));
  }

  setChunkSize(size: number): void {
    const body = Buffer.alloc(4);
    body.writeUInt32BE(size >>> 0);
    this.sendMessage(TYPE_SET_CHUNK_SIZE, body, { csid: 2 });
    if (size > 0 && size <= 0x7fffffff) this.outChunkSize = size;
  }

  command(name: string, args: AmfValue[], streamId = 0): number {
    const transId = this.transId++;
    this.sendMessage(TYPE_COMMAND, encodeAmf0(name, transId, ...args), {
      streamId,
      csid: streamId ? 8 : 3,
    });
    return transId;
  }

  async connectApp(app: string, tcUrl: string): Promise<RtmpMessage> {
    const transId = this.command('connect', [
      { app, tcUrl, flashVer: 'FMLE/3.0', objectEncoding: 0 },
    ]);
    return this.waitForCommand(
      (m) => m.values[1] === transId && (m.values[0] === '_result' || m.values[0] === '_error'),
    );
  }

  async createStream(): Promise<number> {
    const transId = this.command('createStream', [null]);
    const reply = await this.waitForCommand(
      (m) => m.values[0] === '_result' && m.values[1] === transId,
    );
    return Number(reply.values[3]);
  }

  publish(name: string, streamId: number): void {
    this.command('publish', [null, name, 'live'], streamId);
  }

  play(name: string, streamId: number): void {
    this.command('play', [null, name, -2000], streamId);
  }

  /** onStatus codes received so far, in order. */
  statusCodes(): string[] {
    return this.messages
      .filter((m) => m.type === TYPE_COMMAND && m.values[0] === 'onStatus')
      .map((m) => {
        const info = m.values[3];
        const code =
          typeof info === 'object' && info !== null && !Array.isArray(info) ? info.code : '';
        return typeof code === 'string' ? code : '';
      });
  }

  /** Audio and video messages received so far. */
  mediaMessages(): RtmpMessage[] {
    return this.messages.filter((m) => m.type === 8 || m.type === 9);
  }

  async waitForStatus(code: string | RegExp, timeoutMs = 5000): Promise<void> {
    const matches = (c: string) => (typeof code === 'string' ? c === code : code.test(c));
    await this.until(() => this.statusCodes().some(matches), timeoutMs, `onStatus ${String(code)}`);
  }

  async waitForCommand(
    predicate: (m: RtmpMessage) => boolean,
    timeoutMs = 5000,
  ): Promise<RtmpMessage> {
    let found: RtmpMessage | undefined;
    await this.until(
      () =>
        (found = this.messages.find((m) => m.type === TYPE_COMMAND && predicate(m))) !== undefined,
      timeoutMs,
      'a command reply',
    );
    return found as RtmpMessage;
  }

  async until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`RTMP client: no ${what} within ${timeoutMs} ms`);
      if (this.isClosed && !condition())
        throw new Error(`RTMP client: connection closed before ${what}`);
      await sleep(10);
    }
  }

  private onData(data: Buffer): void {
    this.inbox = this.inbox.length ? Buffer.concat([this.inbox, data]) : data;
    if (this.handshakeDone) this.parse();
  }

  /** Reassembles chunks (RTMP spec 5.3) into messages. */
  private parse(): void {
    for (;;) {
      const buf = this.inbox;
      if (buf.length < 1) return;
      const fmt = buf[0] >> 6;
      let csid = buf[0] & 0x3f;
      let offset = 1;
      if (csid === 0) {
        if (buf.length < 2) return;
        csid = 64 + buf[1];
        offset = 2;
      } else if (csid === 1) {
        if (buf.length < 3) return;
        csid = 64 + buf[1] + buf[2] * 256;
        offset = 3;
      }
      const headerSize = [11, 7, 3, 0][fmt];
      if (buf.length < offset + headerSize) return;
      const prev = this.partial.get(csid);
      const state = prev ?? {
        type: 0,
        length: 0,
        streamId: 0,
        timestamp: 0,
        delta: 0,
        body: [],
        got: 0,
      };
      let time = state.delta;
      if (fmt <= 2) time = buf.readUIntBE(offset, 3);
      if (fmt <= 1) {
        state.length = buf.readUIntBE(offset + 3, 3);
        state.type = buf[offset + 6];
      }
      if (fmt === 0) state.streamId = buf.readUInt32LE(offset + 7);
      offset += headerSize;
      const extended = (fmt <= 2 ? time : state.delta) === 0xffffff;
      if (extended) {
        if (buf.length < offset + 4) return;
        time = buf.readUInt32BE(offset);
        offset += 4;
      }
      const need = Math.min(this.inChunkSize, state.length - state.got);
      if (buf.length < offset + need) return;
      if (state.got === 0) {
        if (fmt === 0) state.timestamp = time;
        else if (fmt <= 2) state.timestamp = (state.timestamp + time) >>> 0;
        if (fmt <= 2) state.delta = time;
      }
      state.body.push(buf.subarray(offset, offset + need));
      state.got += need;
      this.inbox = buf.subarray(offset + need);
      this.partial.set(csid, state);
      if (state.got >= state.length) {
        const payload = Buffer.concat(state.body);
        state.body = [];
        state.got = 0;
        this.receive({
          type: state.type,
          streamId: state.streamId,
          timestamp: state.timestamp,
          payload,
        });
      }
    }
  }

  private receive(message: Omit<RtmpMessage, 'values'>): void {
    if (message.type === TYPE_SET_CHUNK_SIZE && message.payload.length >= 4) {
      this.inChunkSize = message.payload.readUInt32BE(0) & 0x7fffffff;
    }
    const values =
      message.type === TYPE_COMMAND || message.type === TYPE_DATA
        ? decodeAmf0(message.payload)
        : [];
    this.messages.push({ ...message, values });
  }
}
