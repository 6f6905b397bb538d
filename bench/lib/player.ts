import { connect, Socket } from 'node:net';

/**
 * One read buffer for every player socket of the process (`net.connect({ onread })`): the kernel copies
 * into it and the parsers walk it in place, so receiving allocates nothing per read. Parsers copy the
 * few header bytes they keep.
 */
const SHARED_READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/** Where players report every video frame's timestamp (for publish → player latency). */
export interface VideoSink {
  /** Called at the first byte of each video message / tag; `timestampMs` is the stream's DTS. */
  video(timestampMs: number): void;
}

/** What a player has received so far. */
export interface PlayerStats {
  /** Bytes read from the socket since the play command / HTTP request was sent. */
  bytes: number;
  /** Audio + video payload bytes. */
  mediaBytes: number;
  videoFrames: number;
  /** ms from sending play (RTMP) or the request (HTTP) to the first byte of the first video key frame. */
  firstKeyframeMs: number | undefined;
  closed: boolean;
  error: string | undefined;
}

/** FLV VIDEODATA (FLV spec E.4.3.1): FrameType 1 = key frame, CodecID 7 = AVC, AVCPacketType 1 = NALU. */
function isAvcKeyframe(first: number, second: number): boolean {
  return first === 0x17 && second === 1;
}

export interface PlayerOptions {
  readonly host: string;
  readonly port: number;
  readonly sink?: VideoSink;
  /** Fails the start after this long. */
  readonly timeoutMs?: number;
}

/** Socket plumbing and counters shared by the RTMP and HTTP-FLV players. */
export abstract class Player {
  readonly stats: PlayerStats = {
    bytes: 0,
    mediaBytes: 0,
    videoFrames: 0,
    firstKeyframeMs: undefined,
    closed: false,
    error: undefined,
  };
  /** performance.now() when play / the request was sent. */
  protected requestAt = 0;
  protected counting = false;
  private paused = false;
  private readonly closedPromise: Promise<void>;
  protected readonly socket: Socket;
  private readonly connected: Promise<void>;

  protected constructor(protected readonly options: PlayerOptions) {
    this.socket = connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      onread: {
        buffer: SHARED_READ_BUFFER,
        callback: (bytes: number, buffer: Uint8Array) => this.onRead(buffer as Buffer, bytes),
      },
    });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('error', (error) => {
      this.stats.error ??= error.message;
    });
    this.closedPromise = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.stats.closed = true;
        this.onClosed();
        resolve();
      }),
    );
  }

  /** Connects and sends what starts playback (RTMP: handshake … play; HTTP: the request). */
  abstract start(): Promise<void>;

  protected abstract parse(buffer: Buffer, start: number, end: number): void;

  protected onClosed(): void {}

  protected waitConnected(): Promise<void> {
    return this.connected;
  }

  /** Stops reading: the server sees a receiver that no longer drains (a stalled viewer). */
  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.socket.resume();
  }

  get closed(): Promise<void> {
    return this.closedPromise;
  }

  close(): void {
    this.socket.destroy();
  }

  protected write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  protected sawVideo(first: number, second: number): void {
    if (this.stats.firstKeyframeMs === undefined && isAvcKeyframe(first, second)) {
      this.stats.firstKeyframeMs = performance.now() - this.requestAt;
    }
  }

  private onRead(buffer: Buffer, bytes: number): boolean {
    if (this.counting) this.stats.bytes += bytes;
    try {
      this.parse(buffer, 0, bytes);
    } catch (error) {
      this.stats.error ??= error instanceof Error ? error.message : String(error);
      this.socket.destroy();
    }
    return !this.paused;
  }
}

/** Rejects with `what` after `ms` unless `promise` settles first. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
