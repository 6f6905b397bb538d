import { peerText } from '../../../common/peer-text';
import { Amf0Error, Amf0Object, Amf0Out, Amf0Reader, Amf0Value, encodeAmf0 } from './amf0';
import { encodeChunks } from './rtmp-chunk';
import {
  MAX_CHUNK_SIZE_BYTES,
  RtmpChunkReader,
  RtmpMessage,
  RtmpProtocolError,
} from './rtmp-chunk-reader';
import { CLIENT_HANDSHAKE_BYTES, HANDSHAKE_PACKET_BYTES, serverHandshake } from './rtmp-handshake';
import { MediaPacket, PacketType } from '../../core/media-packet';
import { stripSetDataFrame } from '../flv/flv-writer';

export { MAX_CHUNK_SIZE_BYTES, RtmpProtocolError };

/** Limits enforced before anything is allocated (README, "Hostile input"). */
export interface RtmpLimits {
  readonly maxMessageSizeBytes: number;
}

/** Chunk streams one connection may open; real encoders use fewer than 10. */
export const MAX_CHUNK_STREAMS = 64;
/** Largest command message (connect, publish...); real ones are well under 1 KiB. */
export const MAX_COMMAND_MESSAGE_BYTES = 64 * 1024;
/** Protocol control and user control messages carry at most 10 bytes (RTMP spec 5.4, 6.2). */
const MAX_CONTROL_MESSAGE_BYTES = 64;
/** Values of a command read: name, transaction id, command object and the arguments any command uses. */
const COMMAND_VALUES_READ = 8;
/**
 * Bytes all unfinished messages of one connection may hold, in units of max_message_size: one message of
 * the largest size being reassembled while smaller ones interleave.
 */
const MESSAGE_BUFFER_BUDGET_FACTOR = 2;
/** Bytes received between two Acknowledgements when the peer asks for none (as LiveGo). */
const DEFAULT_ACK_WINDOW_BYTES = 2_500_000;
/** Window Acknowledgement Size and peer bandwidth the server announces (as common servers do). */
const SERVER_WINDOW_BYTES = 5_000_000;
const PEER_BANDWIDTH_DYNAMIC = 2;
/** Chunk size the server sends with once `connect` is answered. */
const SERVER_CHUNK_SIZE_BYTES = 0xffff;
/** Chunk size before either side announces one (RTMP spec 5.4.1). */
const DEFAULT_CHUNK_SIZE_BYTES = 128;

/* Message types (RTMP spec 5.4, 6.2, 7.1). */
const TYPE_SET_CHUNK_SIZE = 1;
const TYPE_ABORT = 2;
const TYPE_ACKNOWLEDGEMENT = 3;
const TYPE_USER_CONTROL = 4;
const TYPE_WINDOW_ACK_SIZE = 5;
const TYPE_SET_PEER_BANDWIDTH = 6;
const TYPE_AUDIO = 8;
const TYPE_VIDEO = 9;
const TYPE_DATA_AMF3 = 15;
const TYPE_COMMAND_AMF3 = 17;
const TYPE_DATA_AMF0 = 18;
const TYPE_COMMAND_AMF0 = 20;

/* Chunk streams of what the server sends besides media (RTMP spec 5.3.1.1, 6.1). */
const CHUNK_STREAM_CONTROL = 2;
const CHUNK_STREAM_COMMAND = 3;
const CHUNK_STREAM_DATA = 6;

/* User Control events (RTMP spec 7.1.7). */
const USER_CONTROL_STREAM_BEGIN = 0;
const USER_CONTROL_STREAM_EOF = 1;

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

/** Largest message of each type a peer may send, below max_message_size. */
function maxBytesForType(type: number): number {
  if (type >= TYPE_SET_CHUNK_SIZE && type <= TYPE_SET_PEER_BANDWIDTH) {
    return MAX_CONTROL_MESSAGE_BYTES;
  }
  if (type === TYPE_COMMAND_AMF0 || type === TYPE_COMMAND_AMF3) return MAX_COMMAND_MESSAGE_BYTES;
  return Number.MAX_SAFE_INTEGER;
}

function typeName(type: number): string {
  if (type >= TYPE_SET_CHUNK_SIZE && type <= TYPE_SET_PEER_BANDWIDTH) return 'control';
  if (type === TYPE_COMMAND_AMF0 || type === TYPE_COMMAND_AMF3) return 'command';
  return `type ${type}`;
}

/** A command as read: its name and transaction id, its command object and the values after it. */
interface Command {
  readonly name: string;
  /** The transaction id when it is a number; 0 otherwise (nothing else a peer sends is echoed). */
  readonly transId: number;
  readonly object: Amf0Value;
  readonly args: readonly Amf0Value[];
  readonly streamId: number;
}

/**
 * One end of an RTMP connection after the handshake: chunk stream in (every header checked), messages
 * dispatched, answers chunked out. Everything it sends is built here from fixed fields and numbers.
 *
 * `feed` throws RtmpProtocolError (or Amf0Error) when the peer breaks the protocol or a limit; the owner
 * catches it and closes that connection only.
 */
abstract class RtmpEndpoint {
  /** Chunk size used for what we send. */
  outChunkSize = DEFAULT_CHUNK_SIZE_BYTES;
  private readonly reader: RtmpChunkReader;
  /** Acknowledgement window the peer asked for (RTMP spec 5.4.4); 0 = none. */
  private peerAckWindow = 0;
  /** Bytes received and bytes acknowledged so far; sent modulo 2^32 (RTMP spec 5.4.3). */
  private received = 0;
  private acknowledged = 0;

  constructor(
    private readonly sink: { output(bytes: Buffer): void; media(packet: MediaPacket): void },
    limits: RtmpLimits,
  ) {
    this.reader = new RtmpChunkReader(
      {
        maxMessageSizeBytes: limits.maxMessageSizeBytes,
        maxBytesForType,
        typeName,
        maxChunkStreams: MAX_CHUNK_STREAMS,
        heldBytesBudget: MESSAGE_BUFFER_BUDGET_FACTOR * limits.maxMessageSizeBytes,
      },
      (message) => this.dispatch(message),
    );
  }

  /** Bytes held for messages and headers not complete yet. */
  get heldBytes(): number {
    return this.reader.heldBytes;
  }

  /** Chunk data from the peer. */
  feed(bytes: Buffer): void {
    this.reader.feed(bytes);
    // Acknowledge what was received (RTMP spec 5.4.3); the sequence number wraps at 2^32.
    this.received += bytes.length;
    const window = this.peerAckWindow || DEFAULT_ACK_WINDOW_BYTES;
    if (this.received - this.acknowledged >= window) {
      this.acknowledged = this.received;
      this.sendControl(TYPE_ACKNOWLEDGEMENT, uint32(this.received >>> 0));
    }
  }

  protected abstract onCommand(command: Command): void;

  protected send(csid: number, type: number, streamId: number, payload: Buffer): void {
    this.sink.output(encodeChunks(csid, type, 0, streamId, payload, this.outChunkSize));
  }

  protected sendControl(type: number, payload: Buffer): void {
    this.send(CHUNK_STREAM_CONTROL, type, 0, payload);
  }

  protected sendUserControl(event: number, streamId: number): void {
    const payload = Buffer.alloc(6);
    payload.writeUInt16BE(event, 0);
    payload.writeUInt32BE(streamId >>> 0, 2);
    this.sendControl(TYPE_USER_CONTROL, payload);
  }

  protected sendCommand(streamId: number, values: readonly Amf0Out[]): void {
    this.send(CHUNK_STREAM_COMMAND, TYPE_COMMAND_AMF0, streamId, encodeAmf0(values));
  }

  protected sendData(streamId: number, values: readonly Amf0Out[]): void {
    this.send(CHUNK_STREAM_DATA, TYPE_DATA_AMF0, streamId, encodeAmf0(values));
  }

  /** Announces the chunk size we send with from now on (RTMP spec 5.4.1). */
  protected announceChunkSize(size: number): void {
    this.sendControl(TYPE_SET_CHUNK_SIZE, uint32(size));
    this.outChunkSize = size;
  }

  private dispatch(message: RtmpMessage): void {
    const { type, payload } = message;
    switch (type) {
      case TYPE_SET_CHUNK_SIZE: {
        if (payload.length < 4) throw new RtmpProtocolError('Set Chunk Size without a size');
        // The top bit must be zero (RTMP spec 5.4.1).
        const size = payload.readUInt32BE(0) & 0x7fffffff;
        if (size < 1 || size > MAX_CHUNK_SIZE_BYTES) {
          throw new RtmpProtocolError(`chunk size ${size} outside 1..${MAX_CHUNK_SIZE_BYTES}`);
        }
        this.reader.chunkSize = size;
        return;
      }
      case TYPE_ABORT:
        if (payload.length < 4) throw new RtmpProtocolError('Abort Message without a chunk stream');
        return this.reader.abort(payload.readUInt32BE(0));
      case TYPE_WINDOW_ACK_SIZE:
        if (payload.length < 4) {
          throw new RtmpProtocolError('Window Acknowledgement Size without a size');
        }
        this.peerAckWindow = payload.readUInt32BE(0);
        return;
      case TYPE_AUDIO:
      case TYPE_VIDEO:
        // The reader hands over the message's own buffer: no copy.
        return this.sink.media({ type, timestamp: message.timestamp, payload });
      case TYPE_DATA_AMF0:
      case TYPE_DATA_AMF3: {
        const body = type === TYPE_DATA_AMF3 ? payload.subarray(1) : payload;
        return this.sink.media({
          type: PacketType.Data,
          timestamp: message.timestamp,
          payload: stripSetDataFrame(body),
        });
      }
      case TYPE_COMMAND_AMF0:
      case TYPE_COMMAND_AMF3:
        return this.onCommand(readCommand(message));
      default:
      // Acknowledgement, User Control, Set Peer Bandwidth, shared objects, aggregates: nothing to do
      // (we do not throttle, and nobody subscribes to shared objects).
    }
  }
}

/** The server side of one RTMP connection: handshake, then commands to RtmpEvents. */
export class RtmpProtocol extends RtmpEndpoint {
  private connected = false;
  private streams = 0;
  /** C0 C1 C2 as they arrive; released once the handshake is done. */
  private handshake: Buffer | undefined = Buffer.allocUnsafe(CLIENT_HANDSHAKE_BYTES);
  private handshakeBytes = 0;

  constructor(
    private readonly events: RtmpEvents,
    limits: RtmpLimits,
  ) {
    super(events, limits);
  }

  override get heldBytes(): number {
    return super.heldBytes + (this.handshake?.length ?? 0);
  }

  override feed(bytes: Buffer): void {
    const handshake = this.handshake;
    if (!handshake) return super.feed(bytes);
    if (bytes.length === 0) return;
    const taken = Math.min(bytes.length, CLIENT_HANDSHAKE_BYTES - this.handshakeBytes);
    const before = this.handshakeBytes;
    bytes.copy(handshake, before, 0, taken);
    this.handshakeBytes += taken;
    if (before === 0 && handshake[0] !== 3) {
      throw new RtmpProtocolError(`not RTMP: handshake version ${handshake[0]}`);
    }
    const c0c1 = 1 + HANDSHAKE_PACKET_BYTES;
    if (before < c0c1 && this.handshakeBytes >= c0c1) {
      this.events.output(serverHandshake(handshake.subarray(1, c0c1)));
    }
    if (this.handshakeBytes < CLIENT_HANDSHAKE_BYTES) return;
    this.handshake = undefined; // C2 is not checked: clients differ in what they echo
    if (taken < bytes.length) super.feed(bytes.subarray(taken));
  }

  acceptPublish(streamId: number, streamPath: string): void {
    this.sendStatus(
      streamId,
      'status',
      'NetStream.Publish.Start',
      `${streamPath} is now published.`,
    );
  }

  refusePublish(streamId: number, code: string, description: string): void {
    this.sendStatus(streamId, 'error', code, description);
  }

  acceptPlay(streamId: number): void {
    this.sendUserControl(USER_CONTROL_STREAM_BEGIN, streamId);
    this.sendStatus(streamId, 'status', 'NetStream.Play.Reset', 'Playing and resetting stream.');
    this.sendStatus(streamId, 'status', 'NetStream.Play.Start', 'Started playing stream.');
    this.sendData(streamId, ['|RtmpSampleAccess', false, false]);
  }

  refusePlay(streamId: number, code: string, description: string): void {
    this.sendStatus(streamId, 'error', code, description);
  }

  /** Tells a player the stream ended (User Control StreamEOF, RTMP spec 7.1.7) without closing. */
  sendStreamEnd(streamId: number): void {
    this.sendUserControl(USER_CONTROL_STREAM_EOF, streamId);
  }

  protected onCommand(command: Command): void {
    const { name, transId, streamId } = command;
    if (name === 'connect') return this.connect(command);
    if (!this.connected) throw new RtmpProtocolError(`"${peerText(name)}" before connect`);
    switch (name) {
      case 'createStream':
        return this.sendCommand(0, ['_result', transId, null, ++this.streams]);
      case 'publish':
        return this.events.publish(streamName(command), streamId);
      case 'play':
        return this.events.play(streamName(command), streamId);
      case 'deleteStream':
      case 'closeStream':
      case 'FCUnpublish':
        return this.events.closeStream();
      default:
        if (ACKNOWLEDGED_COMMANDS.has(name)) {
          return this.sendCommand(0, ['_result', transId, null, null]);
        }
        if (SILENT_COMMANDS.has(name)) return;
        return this.sendCommand(0, [
          '_error',
          transId,
          null,
          { level: 'error', code: 'NetConnection.Call.Failed', description: 'unknown command' },
        ]);
    }
  }

  private connect(command: Command): void {
    if (this.connected) throw new RtmpProtocolError('a second connect');
    const info = command.object;
    if (!isAmf0Object(info)) throw new RtmpProtocolError('connect without a command object');
    const { app, tcUrl, objectEncoding } = info;
    const appName = typeof app === 'string' ? app.split('?')[0].replace(/\/+$/, '') : '';
    if (!appName) throw new RtmpProtocolError('connect without app');
    let url: URL;
    try {
      url = new URL(typeof tcUrl === 'string' ? tcUrl : '');
    } catch {
      throw new RtmpProtocolError(`connect with a malformed tcUrl`);
    }
    if (!/^rtmp[a-z]{0,2}:$/.test(url.protocol)) {
      throw new RtmpProtocolError('connect with a tcUrl that is not rtmp://');
    }
    this.connected = true;
    this.events.connect(appName, url);
    this.sendControl(TYPE_WINDOW_ACK_SIZE, uint32(SERVER_WINDOW_BYTES));
    const bandwidth = Buffer.alloc(5);
    bandwidth.writeUInt32BE(SERVER_WINDOW_BYTES, 0);
    bandwidth[4] = PEER_BANDWIDTH_DYNAMIC;
    this.sendControl(TYPE_SET_PEER_BANDWIDTH, bandwidth);
    this.announceChunkSize(SERVER_CHUNK_SIZE_BYTES);
    this.sendCommand(0, [
      '_result',
      command.transId,
      { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
      {
        level: 'status',
        code: 'NetConnection.Connect.Success',
        description: 'Connection succeeded.',
        // AMF0 (0) or AMF3 (3); nothing else is a valid answer, whatever the peer sent.
        objectEncoding: objectEncoding === 3 ? 3 : 0,
      },
    ]);
  }

  private sendStatus(streamId: number, level: string, code: string, description: string): void {
    this.sendCommand(streamId, ['onStatus', 0, null, { level, code, description }]);
  }
}

/** What the client side of a connection hears from the server. */
export interface RtmpClientEvents {
  output(bytes: Buffer): void;
  media(packet: MediaPacket): void;
  /** `_result`, `_error` or `onStatus`; `info` is the status object or the result value. */
  reply(name: string, transId: number, info: Amf0Value): void;
}

/**
 * The client side of an RTMP connection (relays): the owner does the handshake and then feeds the
 * server's bytes; commands are sent with `command`.
 */
export class RtmpClientProtocol extends RtmpEndpoint {
  private transactions = 1;

  constructor(
    private readonly events: RtmpClientEvents,
    limits: RtmpLimits,
  ) {
    super(events, limits);
  }

  /**
   * Sends a command (AMF0): its name, a new transaction id, then `args` (the command object first) on
   * message stream `streamId`. Returns the transaction id.
   */
  command(name: string, args: readonly Amf0Out[], streamId = 0): number {
    const transId = this.transactions++;
    this.sendCommand(streamId, [name, transId, ...args]);
    return transId;
  }

  /** Announces the chunk size we send with from now on. */
  setChunkSize(size: number): void {
    this.announceChunkSize(size);
  }

  protected onCommand({ name, transId, args }: Command): void {
    if (name === '_result' || name === '_error' || name === 'onStatus') {
      this.events.reply(name, transId, args[0]);
    }
    // onBWDone and other server calls need no answer from a relay.
  }
}

/** The name, transaction id, command object and arguments of a command message (RTMP spec 7.1.1). */
function readCommand(message: RtmpMessage): Command {
  // An AMF3 command starts with a format byte and is AMF0 after it (RTMP spec 7.1.1).
  const body = message.type === TYPE_COMMAND_AMF3 ? message.payload.subarray(1) : message.payload;
  let values: Amf0Value[];
  try {
    values = new Amf0Reader(body).readMany(COMMAND_VALUES_READ);
  } catch (error) {
    if (error instanceof Amf0Error) throw new RtmpProtocolError(error.message);
    throw error;
  }
  const [name, transId, object, ...args] = values;
  return {
    name: typeof name === 'string' ? name : '',
    transId: typeof transId === 'number' ? transId : 0,
    object,
    args,
    streamId: message.streamId,
  };
}

function isAmf0Object(value: Amf0Value): value is Amf0Object {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}

function streamName(command: Command): string {
  const name = command.args[0];
  return typeof name === 'string' ? name.split('?')[0] : '';
}

function uint32(value: number): Buffer {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeUInt32BE(value >>> 0, 0);
  return bytes;
}
