import type { Writable } from 'node:stream';
import { StreamPacket } from './stream-packet';

/**
 * Bytes a player may have queued in its socket before it skips ahead. About 4 s of a 8 Mbit/s stream:
 * enough to ride out a hiccup, small enough that 2000 stalled players cannot exhaust memory.
 */
export const MAX_PLAYER_QUEUE_BYTES = 4 * 1024 * 1024;
/**
 * Sequence headers and metadata are never skipped, so a publisher sending nothing else would grow a
 * stalled player's queue until write_timeout; past this many times the queue bound the player is closed.
 */
const ESSENTIAL_QUEUE_FACTOR = 4;

/**
 * Writes a stream to one player with a bounded queue: when the player falls behind by more than
 * MAX_PLAYER_QUEUE_BYTES, media is skipped until it has caught up and a keyframe arrives (sequence
 * headers and metadata are never skipped); when its queue does not move for `writeTimeoutMs`, or grows
 * past ESSENTIAL_QUEUE_FACTOR times the bound on unskippable packets, `onStall` is called with the
 * reason (the owner closes the player). The publisher and other players never wait for it.
 *
 * Writes of one event-loop tick are batched (cork, then uncork on the next tick): the audio and video
 * messages a publisher's packet carried leave in one system call per player instead of one each.
 */
export class PlayerOutput {
  private skipping = false;
  private corked = false;
  private stallTimer: NodeJS.Timeout | undefined;
  /** Bytes handed to `out`; minus `out.writableLength`, what has actually left. */
  private written = 0;

  constructor(
    private readonly out: Writable,
    private readonly writeTimeoutMs: number,
    private readonly onStall: (reason: string) => void,
    /** False for an HTTP response: Node's HTTP layer already corks its socket until the next tick. */
    private readonly batch = true,
    private readonly maxQueuedBytes = MAX_PLAYER_QUEUE_BYTES,
  ) {}

  /** Queues `bytes` (the wire form of `packet`) unless the player is too far behind. */
  write(packet: StreamPacket, bytes: Buffer): boolean {
    if (this.out.destroyed || this.out.writableEnded) return false;
    const queued = this.out.writableLength;
    const essential = packet.isSequenceHeader || packet.isMetadata;
    if (essential && queued > this.maxQueuedBytes * ESSENTIAL_QUEUE_FACTOR) {
      this.close();
      this.onStall(`player fell ${queued} bytes behind`);
      return false;
    }
    if (!essential) {
      if (this.skipping) {
        if (!packet.isKeyframe || queued > this.maxQueuedBytes / 2) {
          return false;
        }
        this.skipping = false;
      } else if (queued > this.maxQueuedBytes) {
        this.skipping = true;
        this.watchStall();
        return false;
      }
    }
    this.send(bytes);
    return true;
  }

  /** Writes bytes that are not media (headers, control): never skipped. */
  writeRaw(bytes: Buffer): void {
    if (!this.out.destroyed && !this.out.writableEnded) this.send(bytes);
  }

  close(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  private send(bytes: Buffer): void {
    if (this.batch && !this.corked) {
      this.corked = true;
      this.out.cork();
      process.nextTick(() => {
        this.corked = false;
        this.out.uncork();
        if (this.out.writableLength > 0) this.watchStall();
      });
    }
    this.out.write(bytes);
    this.written += bytes.length;
    // Batched writes are checked when they are flushed, on the next tick.
    if (!this.batch && this.out.writableLength > 0) this.watchStall();
  }

  /**
   * Closes the player when its queue stays non-empty without moving for `writeTimeoutMs`. Progress is
   * measured as bytes that left the queue, so a player that reads slowly but steadily is not closed.
   */
  private watchStall(): void {
    if (this.stallTimer) return;
    const flushedAtStart = this.flushed();
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (this.out.destroyed || this.out.writableLength === 0) return;
      if (this.flushed() > flushedAtStart) this.watchStall();
      else this.onStall('player stopped reading for longer than write_timeout');
    }, this.writeTimeoutMs);
    this.stallTimer.unref();
  }

  private flushed(): number {
    return this.written - this.out.writableLength;
  }
}
