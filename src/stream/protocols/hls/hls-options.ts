import { AppConfig } from '../../../config/app-config';

export type HlsVariant = AppConfig['hls_variant'];

/** How the HLS service segments, lists and keeps each room's stream. */
export interface HlsOptions {
  /** Target segment length in seconds; segments are cut on the first key frame after it (`hls_fragment`). */
  readonly fragmentSeconds: number;
  /** Segments listed in a live playlist (`hls_window`). */
  readonly window: number;
  /** Keep an ended playlist and its segments until the room publishes again (`hls_keep_after_end`). */
  readonly keepAfterEnd: boolean;
  /** Seconds an ended playlist is still served when `keepAfterEnd` is off (README "Publish and watch": 30). */
  readonly graceSeconds: number;
  /** `mpegts` (TS segments), `fmp4` (CMAF segments) or `lowlatency` (LL-HLS parts); default mpegts. */
  readonly variant?: HlsVariant;
  /** LL-HLS part target in seconds (`hls_part_duration`). */
  readonly partSeconds?: number;
  /** Keep finished segments in this folder instead of memory (`hls_dir`). */
  readonly dir?: string;
}

/** README "Publish and watch": an ended playlist is served 30 s more, then 404. */
export const HLS_GRACE_SECONDS = 30;

/** Injection token for {@link HlsOptions}. */
export const HLS_OPTIONS = Symbol('HLS_OPTIONS');
/** Injection token for an {@link HlsScheduler} (tests pass a fake clock). */
export const HLS_SCHEDULER = Symbol('HLS_SCHEDULER');

/** Clock and timers of the HLS service, replaceable in tests. */
export interface HlsScheduler {
  /** Milliseconds, monotonic enough for grace periods. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real time; timers are unref'd so a pending grace period never keeps the process alive. */
export const systemScheduler: HlsScheduler = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The HLS options of the validated configuration. */
export function hlsOptionsFromConfig(config: AppConfig): HlsOptions {
  return {
    fragmentSeconds: config.hls_fragment,
    window: config.hls_window,
    keepAfterEnd: config.hls_keep_after_end,
    graceSeconds: HLS_GRACE_SECONDS,
    variant: config.hls_variant,
    partSeconds: config.hls_part_duration,
    dir: config.hls_dir || undefined,
  };
}
