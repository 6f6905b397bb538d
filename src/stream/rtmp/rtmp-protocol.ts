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

/**
 * The RTMP protocol engine of one connection: node-media-server's handshake, chunk parser and AMF
 * codec, with its command and media handlers replaced by ours. This is the only file that reaches into
 * the library's Rtmp class; nms-internals.spec.ts fails if an upgrade moves what it overrides.
 *
 * `feed` may throw (RtmpProtocolError for a broken limit, or whatever the library throws on malformed
 * input); the owner catches it and closes this connection only.
 */
export class RtmpProtocol {
  private readonly rtmp = new Rtmp();
  private connected = false;

  constructor(
    private readonly events: RtmpEvents,
    limits: RtmpLimits,
  ) {
    const rtmp = this.rtmp;
    rtmp.onOutputCallback = (bytes) => events.output(bytes);
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

  /** Chunk size used for what we send (announced to the peer after connect). */
  get outChunkSize(): number {
    return this.rtmp.outChunkSize;
  }

  feed(bytes: Buffer): void {
    const error = this.rtmp.parserData(bytes);
    if (error) throw new RtmpProtocolError(error);
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
    const STREAM_EOF = 1;
    this.rtmp.sendStreamStatus(STREAM_EOF, streamId);
  }

  private get message(): { type: number; length: number; streamId: number; payload: Buffer } {
    const packet = this.rtmp.parserPacket;
    return {
      type: packet.header.type,
      length: packet.header.length,
      streamId: packet.header.stream_id,
      payload: packet.payload.subarray(0, packet.header.length),
    };
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
    } else if (type === TYPE_WINDOW_ACK_SIZE && payload.length < 4) {
      throw new RtmpProtocolError('Window Acknowledgement Size without a size');
    }
    // Abort, Acknowledgement and Set Peer Bandwidth need nothing from a server that does not throttle.
  }

  private invoke(): void {
    const { type, payload, streamId } = this.message;
    const command = decodeAmf0Cmd(type === TYPE_COMMAND_AMF3 ? payload.subarray(1) : payload);
    const name = typeof command.cmd === 'string' ? command.cmd : '';
    const transId = typeof command.transId === 'number' ? command.transId : 0;
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
    if (typeof info !== 'object' || info === null)
      throw new RtmpProtocolError('connect without a command object');
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

  private data(): void {
    const { type, payload } = this.message;
    if (type === TYPE_AUDIO || type === TYPE_VIDEO) {
      this.events.media({
        type,
        timestamp: this.rtmp.parserPacket.clock >>> 0,
        payload: Buffer.from(payload),
      });
    } else if (type === TYPE_DATA_AMF0 || type === TYPE_DATA_AMF3) {
      const body = type === TYPE_DATA_AMF3 ? payload.subarray(1) : payload;
      this.events.media({
        type: PacketType.Data,
        timestamp: this.rtmp.parserPacket.clock >>> 0,
        payload: Buffer.from(stripSetDataFrame(body)),
      });
    }
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

function streamName(command: AmfCommand): string {
  return typeof command.streamName === 'string' ? command.streamName.split('?')[0] : '';
}
