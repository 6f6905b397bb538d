import { decodeAmf0Cmd } from 'node-media-server/src/protocol/amf.js';
import Rtmp from 'node-media-server/src/protocol/rtmp.js';
import type { AmfCommand } from 'node-media-server/src/protocol/rtmp.js';
import { MediaPacket, PacketType } from '../media-packet';
import { stripSetDataFrame } from '../stream-packet';

/** A peer broke the protocol or a limit; the connection that owns the protocol closes. */
export class RtmpProtocolError extends Error {
  override readonly name = 'RtmpProtocolError';
}

/** Limits enforced before the library allocates or loops (SPEC §6). */
export interface RtmpLimits {
  readonly maxMessageSizeBytes: number;
}

/** Set Chunk Size above this is refused (SPEC §6). */
export const MAX_CHUNK_SIZE_BYTES = 16 * 1024 * 1024;
/** The library's handshake state meaning "done: everything is chunk data". */
const HANDSHAKE_DONE = 3;
/** User Control event StreamEOF (RTMP spec 7.1.7). */
const USER_CONTROL_STREAM_EOF = 1;
/** Chunk streams one connection may open (SPEC §6); real encoders use fewer than 10. */
export const MAX_CHUNK_STREAMS = 64;
/** Largest command message (connect, publish...); real ones are well under 1 KiB. */
export const MAX_COMMAND_MESSAGE_BYTES = 64 * 1024;
/**
 * Deepest AMF0 nesting accepted in a command; real ones nest 2 levels. The library's decoder recurses
 * once per level and overflows the stack at about 2500 levels, which fit in 15 KiB.
 */
export const MAX_AMF_DEPTH = 32;
/**
 * Message buffers one connection may hold across its chunk streams, in units of max_message_size: one
 * message of the largest size being reassembled while smaller ones interleave. The library keeps one
 * buffer per chunk stream for good, so without this 64 chunk streams could pin 64 × max_message_size.
 */
const MESSAGE_BUFFER_BUDGET_FACTOR = 2;
/** Bytes received between two Acknowledgements when the peer asks for none (as LiveGo). */
const DEFAULT_ACK_WINDOW_BYTES = 2_500_000;

/* RTMP message types (RTMP spec 5.4, 7.1). */
const TYPE_SET_CHUNK_SIZE = 1;
const TYPE_WINDOW_ACK_SIZE = 5;
const TYPE_AUDIO = 8;
const TYPE_VIDEO = 9;
const TYPE_DATA_AMF3 = 15;
const TYPE_COMMAND_AMF3 = 17;
const TYPE_DATA_AMF0 = 18;
const TYPE_COMMAND_AMF0 = 20;

/** What a connection does with the commands and media its peer sends. */
export interface RtmpEvents {
  /** Bytes for the peer. */
  output(bytes: Buffer): void;
  /** A valid `connect` (app without query string, tcUrl parsed). */
  connect(app: string, tcUrl: URL): void;
  /** `publish`: the connection answers later with acceptPublish / refusePublish. */
  publish(name: string, streamId: number): void;
  /** `play`: answered with acceptPlay / refusePlay. */
  play(name: string, streamId: number): void;
  /** `deleteStream`, `closeStream` or `FCUnpublish`. */
  closeStream(): void;
  media(packet: MediaPacket): void;
}

/** Commands answered with `_result` and nothing else (encoders send them before publish). */
const ACKNOWLEDGED_COMMANDS = new Set([
  'releaseStream',
  'FCPublish',
  'FCSubscribe',
  'getStreamLength',
]);
/** Commands that need no answer. */
const SILENT_COMMANDS = new Set([
  'receiveAudio',
  'receiveVideo',
  'pause',
  'seek',
  '_checkbw',
  'onBWDone',
]);

/**
 * The library's Rtmp constructor builds an FLV parser (`rtmp.flv`) that nothing uses, with a zeroed
 * 1 MiB tag buffer: 1 MiB for every connection, even one that never completes a handshake (10 GiB at the
 * default max_connections). The parser grows that buffer when a tag needs it, so starting it empty
 * loses nothing: the first assignment of its capacity, in the constructor, is turned into 0.
 */
function startFlvParsersEmpty(): void {
  const probe = new Rtmp() as unknown as { flv?: object };
  if (!probe.flv) return;
  Object.defineProperty(Object.getPrototypeOf(probe.flv), 'parserTagCapacity', {
    configurable: true,
    set(this: object) {
      Object.defineProperty(this, 'parserTagCapacity', {
        value: 0,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    },
  });
}
startFlvParsersEmpty();

/** Data and media message types handed to `media`. */
type MediaEvents = { media(packet: MediaPacket): void; output(bytes: Buffer): void };

/**
 * node-media-server's RTMP engine (handshake, chunk parser, AMF codec) with the limits of SPEC §6 in
 * front of its allocations and its command and media handlers replaced by ours. This file is the only
 * one that reaches into the library's Rtmp class; nms-internals.spec.ts fails if an upgrade moves what
 * it overrides.
 *
 * `feed` may throw (RtmpProtocolError for a broken limit, or whatever the library throws on malformed
 * input); the owner catches it and closes that connection only.
 */
abstract class GuardedRtmp {
  protected readonly rtmp = new Rtmp();
  /** Acknowledgement window the peer asked for (RTMP spec 5.4.4); 0 = none. */
  protected peerAckWindow = 0;
  /** Bytes received and bytes acknowledged so far; sent modulo 2^32 (RTMP spec 5.4.3). */
  private received = 0;
  private acknowledged = 0;

  constructor(
    private readonly sink: MediaEvents,
    limits: RtmpLimits,
  ) {
    const rtmp = this.rtmp;
    rtmp.onOutputCallback = (bytes) => sink.output(bytes);
    rtmp.packetParse = () => {
      Rtmp.prototype.packetParse.call(rtmp);
      if (rtmp.inPackets.size > MAX_CHUNK_STREAMS) {
        throw new RtmpProtocolError(`more than ${MAX_CHUNK_STREAMS} chunk streams`);
      }
    };
    rtmp.packetAlloc = () => {
      const packet = rtmp.parserPacket;
      const { length, type } = packet.header;
      if (length > limits.maxMessageSizeBytes) {
        throw new RtmpProtocolError(
          `message of ${length} bytes exceeds max_message_size ${limits.maxMessageSizeBytes}`,
        );
      }
      if (
        (type === TYPE_COMMAND_AMF0 || type === TYPE_COMMAND_AMF3) &&
        length > MAX_COMMAND_MESSAGE_BYTES
      ) {
        throw new RtmpProtocolError(
          `command message of ${length} bytes exceeds ${MAX_COMMAND_MESSAGE_BYTES}`,
        );
      }
      // Timestamps are 32-bit and wrap (RTMP spec 5.3.1.3); the library would grow the clock past 2^32
      // and then drop every message.
      packet.clock = packet.clock >>> 0;
      if (packet.capacity < length) {
        this.makeRoom(length, MESSAGE_BUFFER_BUDGET_FACTOR * limits.maxMessageSizeBytes);
      }
      Rtmp.prototype.packetAlloc.call(rtmp);
    };
    rtmp.controlHandler = () => this.control();
    rtmp.invokeHandler = () => this.invoke();
    rtmp.dataHandler = () => this.data();
  }

  /** Chunk size used for what we send. */
  get outChunkSize(): number {
    return this.rtmp.outChunkSize;
  }

  feed(bytes: Buffer): void {
    const error = this.rtmp.parserData(bytes);
    if (error) throw new RtmpProtocolError(error);
    // Acknowledge what was received (RTMP spec 5.4.3); the sequence number wraps at 2^32.
    this.received += bytes.length;
    const window = this.peerAckWindow || DEFAULT_ACK_WINDOW_BYTES;
    if (this.received - this.acknowledged >= window) {
      this.acknowledged = this.received;
      this.rtmp.sendACK(this.received >>> 0);
    }
  }

  /**
   * Lets the current chunk stream hold `length` bytes within `budget` for all chunk streams: it takes
   * over an idle buffer of another chunk stream that is large enough, else idle buffers are dropped;
   * unfinished messages that still do not fit break the limit.
   */
  private makeRoom(length: number, budget: number): void {
    const current = this.rtmp.parserPacket;
    const others = [...this.rtmp.inPackets.values()].filter((packet) => packet !== current);
    const held = () => others.reduce((sum, packet) => sum + packet.capacity, 0);
    if (held() + length <= budget) return;
    const idle = others.filter((packet) => packet.bytes === 0);
    const spare = idle.find((packet) => packet.capacity >= length);
    if (spare) {
      [current.payload, current.capacity] = [spare.payload, spare.capacity];
      [spare.payload, spare.capacity] = [Buffer.alloc(0), 0];
      return;
    }
    for (const packet of idle) {
      packet.payload = Buffer.alloc(0);
      packet.capacity = 0;
    }
    if (held() + length > budget) {
      throw new RtmpProtocolError(
        `unfinished messages on several chunk streams exceed ${budget} bytes`,
      );
    }
  }

  protected abstract invoke(): void;

  protected get message(): { type: number; streamId: number; payload: Buffer } {
    const packet = this.rtmp.parserPacket;
    return {
      type: packet.header.type,
      streamId: packet.header.stream_id,
      payload: packet.payload.subarray(0, packet.header.length),
    };
  }

  protected decodeCommand(): {
    name: string;
    transId: number;
    command: AmfCommand;
    streamId: number;
  } {
    const { type, payload, streamId } = this.message;
    const body = type === TYPE_COMMAND_AMF3 ? payload.subarray(1) : payload;
    checkAmf0(body);
    const command = decodeAmf0Cmd(body);
    const name = typeof command.cmd === 'string' ? command.cmd : '';
    // The library decodes only the name of a command it does not know; its _error must still carry the
    // transaction id, or the peer waits for an answer forever.
    const transId =
      typeof command.transId === 'number' ? command.transId : transactionIdAfterName(body);
    return { name, transId, command, streamId };
  }

  private control(): void {
    const { type, payload } = this.message;
    if (type === TYPE_SET_CHUNK_SIZE) {
      if (payload.length < 4) throw new RtmpProtocolError('Set Chunk Size without a size');
      // The top bit must be zero (RTMP spec 5.4.1).
      const size = payload.readUInt32BE(0) & 0x7fffffff;
      if (size < 1 || size > MAX_CHUNK_SIZE_BYTES) {
        throw new RtmpProtocolError(`chunk size ${size} outside 1..${MAX_CHUNK_SIZE_BYTES}`);
      }
      this.rtmp.inChunkSize = size;
    } else if (type === TYPE_WINDOW_ACK_SIZE) {
      if (payload.length < 4)
        throw new RtmpProtocolError('Window Acknowledgement Size without a size');
      this.peerAckWindow = payload.readUInt32BE(0);
    }
    // Abort, Acknowledgement and Set Peer Bandwidth need nothing from us: we do not throttle.
  }

  private data(): void {
    const { type, payload } = this.message;
    const timestamp = this.rtmp.parserPacket.clock >>> 0;
    if (type === TYPE_AUDIO || type === TYPE_VIDEO) {
      this.sink.media({ type, timestamp, payload: Buffer.from(payload) });
    } else if (type === TYPE_DATA_AMF0 || type === TYPE_DATA_AMF3) {
      const body = type === TYPE_DATA_AMF3 ? payload.subarray(1) : payload;
      this.sink.media({
        type: PacketType.Data,
        timestamp,
        payload: Buffer.from(stripSetDataFrame(body)),
      });
    }
  }
}

/** The server side of one RTMP connection: commands go to RtmpEvents, answers come from the owner. */
export class RtmpProtocol extends GuardedRtmp {
  private connected = false;

  constructor(
    private readonly events: RtmpEvents,
    limits: RtmpLimits,
  ) {
    super(events, limits);
  }

  acceptPublish(streamId: number, streamPath: string): void {
    this.rtmp.sendStatusMessage(
      streamId,
      'status',
      'NetStream.Publish.Start',
      `${streamPath} is now published.`,
    );
  }

  refusePublish(streamId: number, code: string, description: string): void {
    this.rtmp.sendStatusMessage(streamId, 'error', code, description);
  }

  acceptPlay(streamId: number): void {
    this.rtmp.streamId = streamId;
    this.rtmp.respondPlay();
  }

  refusePlay(streamId: number, code: string, description: string): void {
    this.rtmp.sendStatusMessage(streamId, 'error', code, description);
  }

  /** Tells a player the stream ended (User Control StreamEOF, RTMP spec 7.1.7) without closing. */
  sendStreamEnd(streamId: number): void {
    this.rtmp.sendStreamStatus(USER_CONTROL_STREAM_EOF, streamId);
  }

  protected invoke(): void {
    const { name, transId, command, streamId } = this.decodeCommand();
    if (name === 'connect') return this.connect(command);
    if (!this.connected) throw new RtmpProtocolError(`"${name}" before connect`);
    switch (name) {
      case 'createStream':
        return this.rtmp.onCreateStream(command);
      case 'publish':
        return this.events.publish(streamName(command), streamId);
      case 'play':
        return this.events.play(streamName(command), streamId);
      case 'deleteStream':
      case 'closeStream':
      case 'FCUnpublish':
        return this.events.closeStream();
      default:
        if (ACKNOWLEDGED_COMMANDS.has(name)) return this.result(transId);
        if (SILENT_COMMANDS.has(name)) return;
        return this.error(transId, `unknown command "${name.slice(0, 64)}"`);
    }
  }

  private connect(command: AmfCommand): void {
    if (this.connected) throw new RtmpProtocolError('a second connect');
    const info = command.cmdObj;
    if (typeof info !== 'object' || info === null) {
      throw new RtmpProtocolError('connect without a command object');
    }
    const { app, tcUrl } = info as { app?: unknown; tcUrl?: unknown };
    const appName = typeof app === 'string' ? app.split('?')[0].replace(/\/+$/, '') : '';
    if (!appName) throw new RtmpProtocolError('connect without app');
    let url: URL;
    try {
      url = new URL(typeof tcUrl === 'string' ? tcUrl : '');
    } catch {
      throw new RtmpProtocolError(`connect with a malformed tcUrl`);
    }
    if (!/^rtmp[a-z]{0,2}:$/.test(url.protocol)) {
      throw new RtmpProtocolError(`connect with a tcUrl that is not rtmp:// (${url.protocol})`);
    }
    this.connected = true;
    this.events.connect(appName, url);
    // The library answers: Window Ack Size, Set Peer Bandwidth, Set Chunk Size, _result.
    this.rtmp.onConnect(command);
  }

  private result(transId: number): void {
    this.rtmp.sendInvokeMessage(0, { cmd: '_result', transId, cmdObj: null, info: null });
  }

  private error(transId: number, description: string): void {
    this.rtmp.sendInvokeMessage(0, {
      cmd: '_error',
      transId,
      cmdObj: null,
      info: { level: 'error', code: 'NetConnection.Call.Failed', description },
    });
  }
}

/** What the client side of a connection hears from the server. */
export interface RtmpClientEvents extends MediaEvents {
  /** `_result`, `_error` or `onStatus`; `info` is the status object or the result value. */
  reply(name: string, transId: number, info: unknown): void;
}

/**
 * The client side of an RTMP connection (relays): the owner does the handshake and then feeds the
 * server's bytes; commands are sent with `command`.
 */
export class RtmpClientProtocol extends GuardedRtmp {
  private transactions = 1;

  constructor(
    private readonly events: RtmpClientEvents,
    limits: RtmpLimits,
  ) {
    super(events, limits);
    this.rtmp.handshakeState = HANDSHAKE_DONE;
  }

  /** Sends a command message (AMF0) and returns its transaction id. */
  command(name: string, fields: Record<string, unknown>, streamId = 0): number {
    const transId = this.transactions++;
    this.rtmp.sendInvokeMessage(streamId, { cmd: name, transId, cmdObj: null, ...fields });
    return transId;
  }

  /** Announces the chunk size we send with from now on. */
  setChunkSize(size: number): void {
    this.rtmp.setChunkSize(size);
    this.rtmp.outChunkSize = size;
  }

  protected invoke(): void {
    const { name, transId, command } = this.decodeCommand();
    if (name === '_result' || name === '_error' || name === 'onStatus') {
      this.events.reply(name, transId, command.info);
    }
    // onBWDone and other server calls need no answer from a relay.
  }
}

function streamName(command: AmfCommand): string {
  return typeof command.streamName === 'string' ? command.streamName.split('?')[0] : '';
}

/* AMF0 markers (AMF0 spec 2.1) that node-media-server's decoder knows. */
const AMF0_NUMBER = 0x00;
const AMF0_BOOLEAN = 0x01;
const AMF0_STRING = 0x02;
const AMF0_OBJECT = 0x03;
const AMF0_NULL = 0x05;
const AMF0_UNDEFINED = 0x06;
const AMF0_REFERENCE = 0x07;
const AMF0_ECMA_ARRAY = 0x08;
const AMF0_OBJECT_END = 0x09;
const AMF0_STRICT_ARRAY = 0x0a;
const AMF0_DATE = 0x0b;
const AMF0_LONG_STRING = 0x0c;
const AMF0_XML_DOCUMENT = 0x0f;
const AMF0_TYPED_OBJECT = 0x10;

/** The number that follows the command name (AMF0 string, then number), or 0 when there is none. */
function transactionIdAfterName(body: Buffer): number {
  if (body.length < 3 || body[0] !== AMF0_STRING) return 0;
  const at = 3 + body.readUInt16BE(1);
  return body[at] === AMF0_NUMBER && at + 9 <= body.length ? body.readDoubleBE(at + 1) : 0;
}

/**
 * Walks an AMF0 command the way node-media-server's decoder will, before it runs, and refuses what would
 * make that decoder recurse past MAX_AMF_DEPTH (stack overflow) or read past the end of the payload
 * (truncated AMF). Lengths follow the library, quirks included, so that both see the same structure.
 */
function checkAmf0(payload: Buffer): void {
  for (let offset = 0; offset < payload.length;) {
    const length = amf0ValueLength(payload, offset, 1);
    if (length === undefined) return; // a marker the decoder does not know: it stops there itself
    offset += length;
  }
}

/** Bytes of the AMF0 value at `at` as the library counts them; undefined for an unknown marker. */
function amf0ValueLength(buffer: Buffer, at: number, depth: number): number | undefined {
  if (depth > MAX_AMF_DEPTH) throw new RtmpProtocolError(`AMF nested deeper than ${MAX_AMF_DEPTH}`);
  const need = (bytes: number): number => {
    if (at + bytes > buffer.length) throw new RtmpProtocolError('truncated AMF');
    return bytes;
  };
  switch (buffer[at]) {
    case AMF0_NUMBER:
      return need(9);
    case AMF0_BOOLEAN:
      return need(2);
    case AMF0_STRING:
    case AMF0_XML_DOCUMENT:
      return need(3 + buffer.readUInt16BE(at + need(3) - 2));
    case AMF0_LONG_STRING:
      return need(5 + buffer.readUInt32BE(at + need(5) - 4));
    case AMF0_NULL:
    case AMF0_UNDEFINED:
      return 1;
    case AMF0_REFERENCE:
      return need(3);
    case AMF0_DATE:
      return need(11);
    case AMF0_OBJECT:
      return amf0ObjectLength(buffer, at, depth);
    case AMF0_ECMA_ARRAY:
      // The library reads the properties as an object whose marker is the last count byte, and counts
      // that byte twice: its length is one more than the encoding's.
      return 5 + amf0ObjectLength(buffer, at + need(5) - 1, depth);
    case AMF0_STRICT_ARRAY: {
      let length = need(5);
      for (let count = buffer.readUInt32BE(at + 1); count > 0; count--) {
        const item = amf0ValueLength(buffer, at + length, depth + 1);
        if (item === undefined) throw new RtmpProtocolError('unknown AMF0 marker in an array');
        length += item;
      }
      return length;
    }
    case AMF0_TYPED_OBJECT: {
      // A class name string, then properties read as an object whose marker is the name's last byte.
      const name = need(3 + buffer.readUInt16BE(at + need(3) - 2));
      return name - 1 + amf0ObjectLength(buffer, at + name - 1, depth);
    }
    default:
      if (at >= buffer.length) throw new RtmpProtocolError('truncated AMF');
      return undefined;
  }
}

/** An object's length from its marker at `at` to past its end marker, as the library's decoder counts. */
function amf0ObjectLength(buffer: Buffer, at: number, depth: number): number {
  const need = (from: number, bytes: number): void => {
    if (from + bytes > buffer.length) throw new RtmpProtocolError('truncated AMF');
  };
  let length = 1;
  for (let key = at + 1; ;) {
    need(key, 1);
    if (buffer[key] === AMF0_OBJECT_END) return length;
    need(key, 2);
    const keyLength = 2 + buffer.readUInt16BE(key);
    need(key, keyLength + 1);
    length += keyLength;
    if (buffer[key + keyLength] === AMF0_OBJECT_END) return length + 1;
    if (keyLength === 2) return length; // an empty name without the end marker ends it too
    const value = amf0ValueLength(buffer, key + keyLength, depth + 1);
    if (value === undefined) throw new RtmpProtocolError('unknown AMF0 marker in an object');
    length += value;
    key += keyLength + value;
  }
}
