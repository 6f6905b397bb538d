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

/* RTMP message types (RTMP spec 5.4, 7.1). */
const TYPE_SET_CHUNK_SIZE = 1;
const TYPE_WINDOW_ACK_SIZE = 5;
const TYPE_AUDIO = 8;
const TYPE_VIDEO = 9;
const TYPE_DATA_AMF3 = 15;
const TYPE_COMMAND_AMF3 = 17;
const TYPE_DATA_AMF0 = 18;

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
      if (packet.header.length > limits.maxMessageSizeBytes) {
        throw new RtmpProtocolError(
          `message of ${packet.header.length} bytes exceeds max_message_size ${limits.maxMessageSizeBytes}`,
        );
      }
      // Timestamps are 32-bit and wrap (RTMP spec 5.3.1.3); the library would grow the clock past 2^32
      // and then drop every message.
      packet.clock = packet.clock >>> 0;
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
    const command = decodeAmf0Cmd(type === TYPE_COMMAND_AMF3 ? payload.subarray(1) : payload);
    const name = typeof command.cmd === 'string' ? command.cmd : '';
    const transId = typeof command.transId === 'number' ? command.transId : 0;
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

/** Bytes received between two Acknowledgements when the server asks for none. */
const DEFAULT_ACK_WINDOW_BYTES = 2_500_000;

/**
 * The client side of an RTMP connection (relays): the owner does the handshake and then feeds the
 * server's bytes; commands are sent with `command`.
 */
export class RtmpClientProtocol extends GuardedRtmp {
  private transactions = 1;
  private received = 0;
  private acknowledged = 0;

  constructor(
    private readonly events: RtmpClientEvents,
    limits: RtmpLimits,
  ) {
    super(events, limits);
    this.rtmp.handshakeState = HANDSHAKE_DONE;
  }

  override feed(bytes: Buffer): void {
    super.feed(bytes);
    // Acknowledge what was received (RTMP spec 5.4.3); the sequence number wraps at 2^32.
    this.received += bytes.length;
    const window = this.peerAckWindow || DEFAULT_ACK_WINDOW_BYTES;
    if (this.received - this.acknowledged >= window) {
      this.acknowledged = this.received;
      this.rtmp.sendACK(this.received >>> 0);
    }
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
