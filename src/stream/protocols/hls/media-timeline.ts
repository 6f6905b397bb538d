/**
 * Turns the 32-bit millisecond DTS of RTMP/FLV (wraps after 2^32 ms ≈ 49.7 days) into one monotonic
 * millisecond timeline for a publish:
 *
 * - Wrap: the signed 32-bit difference to the previous timestamp is the true step, so a DTS that goes
 *   "back" by more than 2^31 is read as a wrap forward (serial number arithmetic, RFC 1982, as the RTMP spec asks for).
 * - Rebase: the first packet maps to `startMs`, so output timestamps start small (33-bit PTS wrap stays
 *   26.5 h away) and a republish can continue where the last one stopped.
 * - Jumps: a step of more than `MAX_TIMESTAMP_JUMP_MS` either way (encoder restart, clock fix) re-anchors
 *   the timeline shortly after the latest output, so segments never get a huge or negative duration.
 *   Packets of the other track still on the old clock (interleaving stragglers) keep the old anchor.
 */

/** A DTS step larger than this (either way) is a jump, not a gap. */
export const MAX_TIMESTAMP_JUMP_MS = 10_000;
/**
 * After a jump, the new clock continues this far after the latest output timestamp: more than a frame
 * interval (down to 10 fps), so the first frame of each track after the jump still lands after that
 * track's previous frame.
 */
const JUMP_RESUME_STEP_MS = 100;
/**
 * Within this long after a jump, a packet this close to the pre-jump clock is a straggler of that clock
 * (the other track, interleaved a little late), not a jump back.
 */
const STRAGGLER_WINDOW_MS = 2_000;

export class MediaTimeline {
  private started = false;
  private lastRaw = 0;
  private lastUnwrapped = 0;
  /** output = unwrapped + shift, for the current clock. */
  private shift = 0;
  /** Latest unwrapped DTS on the current clock. */
  private reference = 0;
  /** The clock before the last jump, while stragglers on it are still expected. */
  private previous: { reference: number; shift: number; jumpedAtMs: number } | undefined;
  private latestOutputMs = 0;
  private jumpCount = 0;

  constructor(private readonly startMs: number) {}

  /** Number of jumps re-anchored so far. */
  get jumps(): number {
    return this.jumpCount;
  }

  /** Maps an unsigned 32-bit ms DTS to the output timeline (ms, may exceed 2^32). */
  map(rawDtsMs: number): number {
    const raw = rawDtsMs >>> 0;
    if (!this.started) {
      this.started = true;
      this.lastRaw = raw;
      this.lastUnwrapped = raw;
      this.shift = this.startMs - raw;
      this.reference = raw;
      this.latestOutputMs = this.startMs;
      return this.startMs;
    }
    // `| 0` reduces the difference modulo 2^32 into [-2^31, 2^31): the serial-number step.
    const unwrapped = this.lastUnwrapped + ((raw - this.lastRaw) | 0);
    this.lastRaw = raw;
    this.lastUnwrapped = unwrapped;

    if (Math.abs(unwrapped - this.reference) > MAX_TIMESTAMP_JUMP_MS) {
      const previous = this.previous;
      if (
        previous &&
        this.latestOutputMs - previous.jumpedAtMs <= STRAGGLER_WINDOW_MS &&
        Math.abs(unwrapped - previous.reference) <= STRAGGLER_WINDOW_MS
      ) {
        return unwrapped + previous.shift;
      }
      const resumeAtMs = this.latestOutputMs + JUMP_RESUME_STEP_MS;
      this.previous = { reference: this.reference, shift: this.shift, jumpedAtMs: resumeAtMs };
      this.shift = resumeAtMs - unwrapped;
      this.jumpCount++;
    }
    this.reference = unwrapped;
    const output = unwrapped + this.shift;
    if (output > this.latestOutputMs) this.latestOutputMs = output;
    return output;
  }
}
