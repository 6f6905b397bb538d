/** Reconnect back-off: 1 s, doubling, at most 30 s; back to 1 s after a session that lasted 30 s. */
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;
const STABLE_SESSION_MS = 30_000;

/** Retries an action with back-off until cancelled. */
export class Backoff {
  private delay = FIRST_RETRY_MS;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;

  started(): void {
    this.startedAt = Date.now();
  }

  /** Runs `action` after the next delay; returns that delay in ms. */
  schedule(action: () => void): number {
    if (Date.now() - this.startedAt >= STABLE_SESSION_MS) this.delay = FIRST_RETRY_MS;
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, MAX_RETRY_MS);
    clearTimeout(this.timer);
    this.timer = setTimeout(action, delay);
    this.timer.unref();
    return delay;
  }

  cancel(): void {
    clearTimeout(this.timer);
  }
}
