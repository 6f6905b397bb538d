import { Logger } from '@nestjs/common';

/** Longest piece of peer-sent text a log line carries. */
export const PEER_TEXT_MAX_CHARS = 200;

/** Control characters, quotes, backslashes, line separators and bidirectional controls. */
// eslint-disable-next-line no-control-regex -- control characters are what this escapes
const UNSAFE_IN_LOGS = /[\u0000-\u001f\u007f-\u009f"\\\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text a peer chose (a command name, a URL, a header), safe for one log line: control characters,
 * quotes and backslashes escaped, cut to PEER_TEXT_MAX_CHARS with a mark when it was longer. A peer can
 * neither forge log lines (nor reorder them with bidirectional controls) nor make one line cost more
 * than this.
 */
export function peerText(text: string): string {
  const cut = text.length > PEER_TEXT_MAX_CHARS;
  const head = cut ? text.slice(0, PEER_TEXT_MAX_CHARS) : text;
  const escaped = head.replace(UNSAFE_IN_LOGS, (char) => {
    if (char === '"' || char === '\\') return `\\${char}`;
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return cut ? `${escaped}…(${text.length} chars)` : escaped;
}

/** Lines logged per address and kind of refusal in a window before the rest are only counted. */
const BURST_LINES = 3;
/** The window: one line with the count of what was held back, at most this often. */
export const REFUSAL_LOG_WINDOW_MS = 60_000;
/** Windows open at once; beyond it, refusals from further addresses share one window. */
const MAX_TRACKED = 10_000;

interface Window {
  logged: number;
  heldBack: number;
}

/**
 * Warnings about refused peers, bounded per address: the first few lines of each kind in a minute are
 * logged, the rest are counted and reported in one line when the minute ends. A flood of refused
 * connections from one address cannot turn into a flood of log lines (a slow log pipe blocks the whole
 * process), and an operator still sees each kind of refusal and how many there were.
 */
export class RefusalLog {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly logger: Logger,
    private readonly windowMs = REFUSAL_LOG_WINDOW_MS,
  ) {}

  /**
   * Logs `line` at warn unless this address has had its share of `kind` this minute. `kind` is fixed
   * text chosen by the caller (never peer text), so that one peer cannot open new windows at will.
   */
  warn(address: string, kind: string, line: string): void {
    let key = `${address} ${kind}`;
    let window = this.windows.get(key);
    if (!window && this.windows.size >= MAX_TRACKED) {
      address = 'other addresses';
      key = `${address} ${kind}`;
      window = this.windows.get(key);
    }
    if (!window) {
      window = { logged: 0, heldBack: 0 };
      this.windows.set(key, window);
      const opened = window;
      setTimeout(() => {
        this.windows.delete(key);
        if (opened.heldBack > 0) {
          this.logger.warn(
            `${address}: ${opened.heldBack} more refusals (${kind}) in the last minute were not logged`,
          );
        }
      }, this.windowMs).unref();
    }
    if (window.logged < BURST_LINES) {
      window.logged++;
      this.logger.warn(line);
    } else {
      window.heldBack++;
    }
  }
}
