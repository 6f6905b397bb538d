import { Amf0Error, Amf0Object, Amf0Reader, Amf0Value } from './amf0';
import { RtmpMessage, RtmpProtocolError } from './rtmp-chunk-reader';

/*
 * The message layer of RTMP shared by both ends of a connection: message types, chunk streams, limits
 * per type, and reading a command (RTMP spec 5.4, 6.2, 7.1).
 */

/** Limits enforced before anything is allocated (README, "Hostile input"). */
export interface RtmpLimits {
  readonly maxMessageSizeBytes: number;
}

/** Chunk streams one connection may open; real encoders use fewer than 10. */
export const MAX_CHUNK_STREAMS = 64;
/** Largest command message (connect, publish...); real ones are well under 1 KiB. */
export const MAX_COMMAND_MESSAGE_BYTES = 64 * 1024;
/** Protocol control and user control messages carry at most 10 bytes (RTMP spec 5.4, 6.2). */
export const MAX_CONTROL_MESSAGE_BYTES = 64;
/** Values of a command read: name, transaction id, command object and the arguments any command uses. */
export const COMMAND_VALUES_READ = 8;
/**
 * Bytes all unfinished messages of one connection may hold, in units of max_message_size: one message of
 * the largest size being reassembled while smaller ones interleave.
 */
export const MESSAGE_BUFFER_BUDGET_FACTOR = 2;
/** Bytes received between two Acknowledgements when the peer asks for none (as LiveGo). */
export const DEFAULT_ACK_WINDOW_BYTES = 2_500_000;
/** Chunk size before either side announces one (RTMP spec 5.4.1). */
export const DEFAULT_CHUNK_SIZE_BYTES = 128;

/* Message types (RTMP spec 5.4, 6.2, 7.1). */
export const TYPE_SET_CHUNK_SIZE = 1;
export const TYPE_ABORT = 2;
export const TYPE_ACKNOWLEDGEMENT = 3;
export const TYPE_USER_CONTROL = 4;
export const TYPE_WINDOW_ACK_SIZE = 5;
export const TYPE_SET_PEER_BANDWIDTH = 6;
export const TYPE_AUDIO = 8;
export const TYPE_VIDEO = 9;
export const TYPE_DATA_AMF3 = 15;
export const TYPE_COMMAND_AMF3 = 17;
export const TYPE_DATA_AMF0 = 18;
export const TYPE_COMMAND_AMF0 = 20;

/* Chunk streams of what the server sends besides media (RTMP spec 5.3.1.1, 6.1). */
export const CHUNK_STREAM_CONTROL = 2;
export const CHUNK_STREAM_COMMAND = 3;
export const CHUNK_STREAM_DATA = 6;

/* User Control events (RTMP spec 7.1.7). */
export const USER_CONTROL_STREAM_BEGIN = 0;
export const USER_CONTROL_STREAM_EOF = 1;

/** Largest message of each type a peer may send, below max_message_size. */
export function maxBytesForType(type: number): number {
  if (type >= TYPE_SET_CHUNK_SIZE && type <= TYPE_SET_PEER_BANDWIDTH) {
    return MAX_CONTROL_MESSAGE_BYTES;
  }
  if (type === TYPE_COMMAND_AMF0 || type === TYPE_COMMAND_AMF3) return MAX_COMMAND_MESSAGE_BYTES;
  return Number.MAX_SAFE_INTEGER;
}

export function typeName(type: number): string {
  if (type >= TYPE_SET_CHUNK_SIZE && type <= TYPE_SET_PEER_BANDWIDTH) return 'control';
  if (type === TYPE_COMMAND_AMF0 || type === TYPE_COMMAND_AMF3) return 'command';
  return `type ${type}`;
}

/** A command as read: its name and transaction id, its command object and the values after it. */
export interface Command {
  readonly name: string;
  /** The transaction id when it is a number; 0 otherwise (nothing else a peer sends is echoed). */
  readonly transId: number;
  readonly object: Amf0Value;
  readonly args: readonly Amf0Value[];
  readonly streamId: number;
}

/** The name, transaction id, command object and arguments of a command message (RTMP spec 7.1.1). */
export function readCommand(message: RtmpMessage): Command {
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

export function isAmf0Object(value: Amf0Value): value is Amf0Object {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}

export function streamName(command: Command): string {
  const name = command.args[0];
  return typeof name === 'string' ? name.split('?')[0] : '';
}

export function uint32(value: number): Buffer {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeUInt32BE(value >>> 0, 0);
  return bytes;
}
