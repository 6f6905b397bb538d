import { MediaPacket, PacketType } from '../../core/media-packet';
import { stripSetDataFrame } from '../flv/flv-writer';
import { Amf0Out, encodeAmf0 } from './amf0';
import { encodeChunks } from './rtmp-chunk';
import {
  MAX_CHUNK_SIZE_BYTES,
  RtmpChunkReader,
  RtmpMessage,
  RtmpProtocolError,
} from './rtmp-chunk-reader';
import {
  CHUNK_STREAM_COMMAND,
  CHUNK_STREAM_CONTROL,
  CHUNK_STREAM_DATA,
  Command,
  DEFAULT_ACK_WINDOW_BYTES,
  DEFAULT_CHUNK_SIZE_BYTES,
  MAX_CHUNK_STREAMS,
  maxBytesForType,
  MESSAGE_BUFFER_BUDGET_FACTOR,
  readCommand,
  RtmpLimits,
  TYPE_ABORT,
  TYPE_ACKNOWLEDGEMENT,
  TYPE_AUDIO,
  TYPE_COMMAND_AMF0,
  TYPE_COMMAND_AMF3,
  TYPE_DATA_AMF0,
  TYPE_DATA_AMF3,
  TYPE_SET_CHUNK_SIZE,
  TYPE_USER_CONTROL,
  TYPE_VIDEO,
  TYPE_WINDOW_ACK_SIZE,
  typeName,
  uint32,
} from './rtmp-messages';

/**
 * One end of an RTMP connection after the handshake: chunk stream in (every header checked), messages
 * dispatched, answers chunked out. Everything it sends is built here from fixed fields and numbers.
 *
 * `feed` throws RtmpProtocolError (or Amf0Error) when the peer breaks the protocol or a limit; the owner
 * catches it and closes that connection only.
 */
export abstract class RtmpEndpoint {
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
