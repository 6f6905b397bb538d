import type { Percentiles } from './histogram';

/** Messages between the orchestrator (bench/run.ts) and the load process (bench/load-process.ts). */

export type PlayProtocol = 'rtmp' | 'flv';

/**
 * A ramp gets its nominal time (count / rate) plus this; players not begun by then are not started (a
 * saturated server answers handshakes slowly, and the step must still end).
 */
export const RAMP_GRACE_MS = 20000;
/** After the ramp deadline, players still connecting get this long (one start timeout) before they count as failed. */
export const RAMP_LAST_START_MS = 16000;

export interface PlayTarget {
  readonly protocol: PlayProtocol;
  readonly host: string;
  readonly port: number;
  /** RTMP app and stream name. */
  readonly app: string;
  readonly name: string;
  /** HTTP-FLV path (`/live/bench.flv`). */
  readonly path: string;
}

export type LoadRequest =
  | {
      readonly cmd: 'start';
      readonly target: PlayTarget;
      readonly count: number;
      /** New connections per second. */
      readonly rate: number;
      /** Connections being set up at once. */
      readonly concurrency: number;
    }
  /** Opens the measurement window: byte counters are noted; latency is recorded against `baseMs`. */
  | { readonly cmd: 'window-start'; readonly latencyBaseMs: number | undefined }
  | { readonly cmd: 'window-end' }
  /** The first `count` players stop reading. */
  | { readonly cmd: 'pause'; readonly count: number }
  /** Paused players read again; answers how many the server had closed meanwhile. */
  | { readonly cmd: 'resume'; readonly waitMs: number }
  | { readonly cmd: 'stop' };

export interface StartReply {
  readonly connected: number;
  readonly failed: number;
  /** Players never begun because the ramp ran past its deadline. */
  readonly notStarted: number;
  readonly errors: string[];
  readonly ms: number;
}

export interface WindowReply {
  /** Bytes each player received during the window (players alive at its start). */
  readonly bytes: number[];
  /** Players whose connection closed before the window ended. */
  readonly closed: number;
  /** Publish → player latency of video frames during the window, ms above the base. */
  readonly latency: Percentiles;
  /** Time to first key frame of the load players when they joined. */
  readonly firstKeyframe: Percentiles;
  readonly seconds: number;
}

export interface ResumeReply {
  readonly paused: number;
  readonly closedByServer: number;
}

export type LoadReply = StartReply | WindowReply | ResumeReply | Record<string, never>;

export interface LoadEnvelope {
  readonly id: number;
  readonly request: LoadRequest;
}

export interface LoadReplyEnvelope {
  readonly id: number;
  readonly reply?: LoadReply;
  readonly error?: string;
}
