import type { Writable } from 'node:stream';
import { traffic } from '../metrics/traffic';
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
 */
export class PlayerOutput {
  private skipping = false;
  private stallTimer: NodeJS.Timeout | undefined;
  skippedPackets = 0;

  constructor(
    private readonly out: Writable,
    private readonly writeTimeoutMs: number,
    private readonly onStall: (reason: string) => void,
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
          this.skippedPackets++;
          return false;
        }
        this.skipping = false;
      } else if (queued > this.maxQueuedBytes) {
        this.skipping = true;
        this.skippedPackets++;
        this.watchStall();
        return false;
      }
    }
    this.out.write(bytes);
    traffic.bytesOut += bytes.length;
    if (this.out.writableLength > 0) this.watchStall();
    return true;
  }

  /** Writes bytes that are not media (headers, control): never skipped. */
  writeRaw(bytes: Buffer): void {
    if (!this.out.destroyed && !this.out.writableEnded) this.out.write(bytes);
  }

  close(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  private watchStall(): void {
    if (this.stallTimer) return;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      this.onStall('player stopped reading for longer than write_timeout');
    }, this.writeTimeoutMs);
    this.stallTimer.unref();
    this.out.once('drain', () => {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
    });
  }
}
