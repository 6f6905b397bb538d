/**
 * The RTMP chunk stream, read side (RTMP spec 5.3): chunks in, whole messages out. Every chunk header is
 * checked, not only a message's first: one that changes the length or type of a message in progress
 * breaks the protocol. A message's buffer grows with the bytes that arrive (never past the length it
 * declared), so what a connection holds is in proportion to what its peer sent, and bytes cost the same
 * whatever chunk size carries them.
 */

/** A peer broke the protocol or a limit; the connection that owns the reader closes. */
export class RtmpProtocolError extends Error {
  override readonly name = 'RtmpProtocolError';
}

/** One reassembled message (RTMP spec 5.4, 6.1). */
export interface RtmpMessage {
  readonly type: number;
  /** Unsigned 32-bit milliseconds; wraps. */
  readonly timestamp: number;
  readonly streamId: number;
  /** Exactly the message's bytes; the reader keeps no reference to it. */
  readonly payload: Buffer;
}

export interface ChunkReaderLimits {
  /** Largest message of any type. */
  readonly maxMessageSizeBytes: number;
  /** Largest message per type, below maxMessageSizeBytes (commands, protocol control). */
  readonly maxBytesForType: (type: number) => number;
  /** What a type is called in errors ("command", "control", "type 8"). */
  readonly typeName: (type: number) => string;
  /** Chunk streams one connection may use. */
  readonly maxChunkStreams: number;
  /** Bytes all unfinished messages of the connection may hold together. */
  readonly heldBytesBudget: number;
}

/** Set Chunk Size above this is refused; below 1 is invalid (RTMP spec 5.4.1). */
export const MAX_CHUNK_SIZE_BYTES = 16 * 1024 * 1024;
/** Chunk size until the peer sets one (RTMP spec 5.4.1). */
const DEFAULT_CHUNK_SIZE_BYTES = 128;
/** What a message buffer starts at before it grows with the bytes that arrive. */
const INITIAL_MESSAGE_BUFFER_BYTES = 16 * 1024;
/** Basic header (up to 3) + type-0 message header (11) + extended timestamp (4). */
const MAX_CHUNK_HEADER_BYTES = 18;
const MESSAGE_HEADER_BYTES = [11, 7, 3, 0] as const;
const EXTENDED_TIMESTAMP = 0xffffff;
/** Below this, bytes are copied one by one: cheaper than a native copy call. */
const SMALL_COPY_BYTES = 32;

interface ChunkStream {
  /** Absolute timestamp of the last message header, and the delta type-3 chunks of a new message add. */
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  /** Whether the last header carried an extended timestamp (type-3 chunks then repeat it). */
  extended: boolean;
  /** The message being reassembled: undefined between messages. */
  payload: Buffer | undefined;
  received: number;
}

interface ChunkHeader {
  readonly bytes: number;
  readonly fmt: number;
  readonly csid: number;
  /** Timestamp or delta field (extended already applied); undefined for type 3. */
  readonly time: number | undefined;
  readonly length: number | undefined;
  readonly type: number | undefined;
  readonly streamId: number | undefined;
  readonly extended: boolean;
}

export class RtmpChunkReader {
  /** Chunk size the peer sends with (its Set Chunk Size). */
  chunkSize = DEFAULT_CHUNK_SIZE_BYTES;
  private readonly streams = new Map<number, ChunkStream>();
  /** Header bytes that arrived without the rest of their header. */
  private partial: Buffer | undefined;
  /** The chunk whose payload is being read, and how many of its bytes are still to come. */
  private current: ChunkStream | undefined;
  private currentLeft = 0;
  /** The chunk stream of the last chunk (csid below 64), for the one-byte continuation fast path. */
  private last: ChunkStream | undefined;
  private lastCsid = -1;
  private held = 0;

  constructor(
    private readonly limits: ChunkReaderLimits,
    private readonly onMessage: (message: RtmpMessage) => void,
  ) {}

  /** Bytes held by unfinished messages and partial headers. */
  get heldBytes(): number {
    return this.held + (this.partial?.length ?? 0);
  }

  /** Feeds bytes; may throw RtmpProtocolError (and whatever onMessage throws). */
  feed(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      if (this.current) {
        offset += this.readPayload(data, offset);
        continue;
      }
      // The common case, and the one a peer repeats most at a small chunk size: a one-byte type-3
      // header continuing the message of the last chunk stream. Handled without a header object.
      const byte = data[offset];
      const last = this.last;
      if (
        !this.partial &&
        byte >> 6 === 3 &&
        last !== undefined &&
        (byte & 0x3f) === this.lastCsid &&
        last.payload !== undefined &&
        !last.extended
      ) {
        offset++;
        this.current = last;
        this.currentLeft = Math.min(this.chunkSize, last.length - last.received);
        continue;
      }
      let header: ChunkHeader | undefined;
      if (this.partial) {
        const joined = Buffer.concat([
          this.partial,
          data.subarray(offset, offset + MAX_CHUNK_HEADER_BYTES),
        ]);
        header = this.parseHeader(joined, 0);
        if (!header) {
          this.partial = joined;
          return;
        }
        offset += header.bytes - this.partial.length;
        this.partial = undefined;
      } else {
        header = this.parseHeader(data, offset);
        if (!header) {
          this.partial = Buffer.from(data.subarray(offset));
          return;
        }
        offset += header.bytes;
      }
      this.startChunk(header);
    }
  }

  /** Drops the unfinished message of a chunk stream (Abort Message, RTMP spec 5.4.2). */
  abort(csid: number): void {
    const stream = this.streams.get(csid);
    if (!stream?.payload) return;
    if (this.current === stream) this.current = undefined;
    this.release(stream);
  }

  private parseHeader(data: Buffer, at: number): ChunkHeader | undefined {
    const available = data.length - at;
    if (available < 1) return undefined;
    const fmt = data[at] >> 6;
    let csid = data[at] & 0x3f;
    let basic = 1;
    if (csid === 0) {
      if (available < 2) return undefined;
      csid = 64 + data[at + 1];
      basic = 2;
    } else if (csid === 1) {
      if (available < 3) return undefined;
      csid = 64 + data[at + 1] + data[at + 2] * 256;
      basic = 3;
    }
    let bytes = basic + MESSAGE_HEADER_BYTES[fmt];
    if (available < bytes) return undefined;
    const field = at + basic;
    let time: number | undefined = fmt <= 2 ? data.readUIntBE(field, 3) : undefined;
    const length = fmt <= 1 ? data.readUIntBE(field + 3, 3) : undefined;
    const type = fmt <= 1 ? data[field + 6] : undefined;
    const streamId = fmt === 0 ? data.readUInt32LE(field + 7) : undefined;
    const extended =
      time === EXTENDED_TIMESTAMP || (fmt === 3 && this.streams.get(csid)?.extended === true);
    if (extended) {
      if (available < bytes + 4) return undefined;
      const value = data.readUInt32BE(at + bytes);
      bytes += 4;
      if (fmt <= 2) time = value;
    }
    return { bytes, fmt, csid, time, length, type, streamId, extended };
  }

  private startChunk(header: ChunkHeader): void {
    const stream = this.streamFor(header.csid);
    if (stream.payload) {
      // A chunk of the message in progress: only a header that repeats its length and type may come.
      if (
        (header.length !== undefined && header.length !== stream.length) ||
        (header.type !== undefined && header.type !== stream.type)
      ) {
        throw new RtmpProtocolError(
          `a chunk header changed message ${stream.type} of ${stream.length} bytes to type ${header.type} of ${header.length} bytes midway`,
        );
      }
    } else {
      this.startMessage(stream, header);
    }
    if (header.fmt <= 2) stream.extended = header.extended;
    this.last = stream;
    this.lastCsid = header.csid;
    this.current = stream;
    this.currentLeft = Math.min(this.chunkSize, stream.length - stream.received);
    if (this.currentLeft === 0) this.finishChunk(stream);
  }

  private streamFor(csid: number): ChunkStream {
    let stream = this.streams.get(csid);
    if (!stream) {
      if (this.streams.size >= this.limits.maxChunkStreams) {
        throw new RtmpProtocolError(`more than ${this.limits.maxChunkStreams} chunk streams`);
      }
      stream = {
        timestamp: 0,
        delta: 0,
        length: 0,
        type: 0,
        streamId: 0,
        extended: false,
        payload: undefined,
        received: 0,
      };
      this.streams.set(csid, stream);
    }
    return stream;
  }

  private startMessage(stream: ChunkStream, header: ChunkHeader): void {
    if (header.fmt === 0) {
      stream.timestamp = header.time as number;
      // "If a Type 3 chunk follows a Type 0 chunk, then the timestamp delta for this Type 3 chunk is the
      // same as the timestamp of the Type 0 chunk" (RTMP spec 5.3.1.2.4).
      stream.delta = stream.timestamp;
      stream.streamId = header.streamId as number;
    } else {
      if (header.time !== undefined) stream.delta = header.time;
      stream.timestamp = (stream.timestamp + stream.delta) >>> 0;
    }
    if (header.length !== undefined) stream.length = header.length;
    if (header.type !== undefined) stream.type = header.type;
    const { length, type } = stream;
    if (length > this.limits.maxMessageSizeBytes) {
      throw new RtmpProtocolError(
        `message of ${length} bytes exceeds max_message_size ${this.limits.maxMessageSizeBytes}`,
      );
    }
    const typeLimit = this.limits.maxBytesForType(type);
    if (length > typeLimit) {
      throw new RtmpProtocolError(
        `${this.limits.typeName(type)} message of ${length} bytes exceeds ${typeLimit}`,
      );
    }
    stream.received = 0;
    stream.payload = this.allocate(Math.min(length, INITIAL_MESSAGE_BUFFER_BYTES), 0);
  }

  private readPayload(data: Buffer, offset: number): number {
    const stream = this.current as ChunkStream;
    const bytes = Math.min(this.currentLeft, data.length - offset);
    let payload = stream.payload as Buffer;
    const needed = stream.received + bytes;
    if (needed > payload.length) {
      const grown = this.allocate(
        Math.min(stream.length, Math.max(needed, payload.length * 2)),
        payload.length,
      );
      payload.copy(grown, 0, 0, stream.received);
      payload = stream.payload = grown;
    }
    if (bytes <= SMALL_COPY_BYTES) {
      for (let i = 0; i < bytes; i++) payload[stream.received + i] = data[offset + i];
    } else {
      data.copy(payload, stream.received, offset, offset + bytes);
    }
    stream.received = needed;
    this.currentLeft -= bytes;
    if (this.currentLeft === 0) this.finishChunk(stream);
    return bytes;
  }

  private finishChunk(stream: ChunkStream): void {
    this.current = undefined;
    if (stream.received < stream.length) return;
    const message: RtmpMessage = {
      type: stream.type,
      timestamp: stream.timestamp,
      streamId: stream.streamId,
      payload: (stream.payload as Buffer).subarray(0, stream.length),
    };
    this.release(stream);
    this.onMessage(message);
  }

  /** A buffer of `bytes` in place of one of `replaces` bytes, within the connection's budget. */
  private allocate(bytes: number, replaces: number): Buffer {
    const held = this.held - replaces + bytes;
    if (held > this.limits.heldBytesBudget) {
      throw new RtmpProtocolError(
        `unfinished messages on several chunk streams exceed ${this.limits.heldBytesBudget} bytes`,
      );
    }
    this.held = held;
    return Buffer.allocUnsafe(bytes);
  }

  private release(stream: ChunkStream): void {
    this.held -= stream.payload?.length ?? 0;
    stream.payload = undefined;
    stream.received = 0;
  }
}
