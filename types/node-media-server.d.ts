/**
 * The parts of node-media-server 4.4.3 this project uses: its RTMP protocol engine (handshake, chunk
 * parser, AMF0 commands) and its logger. The package ships no typings; these describe its internals,
 * which src/stream/rtmp/nms-internals.spec.ts checks at test time so that an upgrade that moves them
 * fails loudly. Only src/stream/rtmp/ imports these modules.
 */
declare module 'node-media-server/src/protocol/rtmp.js' {
  export interface RtmpMessageHeader {
    fmt: number;
    cid: number;
    timestamp: number;
    length: number;
    type: number;
    stream_id: number;
  }

  export interface RtmpPacket {
    header: RtmpMessageHeader;
    /** Message clock in ms; the library adds deltas without wrapping it. */
    clock: number;
    payload: Buffer;
    capacity: number;
    bytes: number;
  }

  export interface AmfCommand {
    cmd?: unknown;
    transId?: unknown;
    cmdObj?: unknown;
    streamName?: unknown;
    [field: string]: unknown;
  }

  /** One connection's protocol state; the owner feeds it bytes and receives output through callbacks. */
  class Rtmp {
    handshakeState: number;
    parserPacket: RtmpPacket;
    inPackets: Map<number, RtmpPacket>;
    inChunkSize: number;
    outChunkSize: number;
    streamApp?: string;
    streamName?: string;
    streamId?: number;
    objectEncoding?: number;

    onOutputCallback: (buffer: Buffer) => void;

    /** Feeds received bytes; returns an error text or null. May throw on malformed input. */
    parserData(buffer: Buffer): string | null;

    packetParse(): void;
    packetAlloc(): void;
    controlHandler(): void;
    invokeHandler(): void;
    dataHandler(): void;

    onConnect(invokeMessage: AmfCommand): void;
    onCreateStream(invokeMessage: AmfCommand): void;
    onPublish(invokeMessage: AmfCommand): void;
    onPlay(invokeMessage: AmfCommand): void;
    onDeleteStream(invokeMessage: AmfCommand): void;

    respondPublish(): void;
    respondPlay(): void;
    sendStatusMessage(sid: number, level: string, code: string, description: string): void;
    sendInvokeMessage(sid: number, opt: Record<string, unknown>): void;
    sendStreamStatus(status: number, streamId: number): void;
    sendACK(size: number): void;
    setChunkSize(size: number): void;
  }
  export = Rtmp;
}

declare module 'node-media-server/src/protocol/amf.js' {
  import type { AmfCommand } from 'node-media-server/src/protocol/rtmp.js';
  export function decodeAmf0Cmd(buffer: Buffer): AmfCommand;
  export function encodeAmf0Cmd(command: Record<string, unknown>): Buffer;
}

declare module 'node-media-server/src/core/logger.js' {
  interface NmsLogger {
    level: string;
    log(message: unknown, level?: string): void;
  }
  const logger: NmsLogger;
  export = logger;
}
