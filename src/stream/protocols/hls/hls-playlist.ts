import { HlsSegment } from './hls-segmenter';
import { HlsFile, NO_BYTES, SegmentStore } from './segment-store';

/** How many segments a playlist lists and how they are named. */
export interface HlsPlaylistOptions {
  /** Segments listed (the newest ones). */
  readonly window: number;
  /** Configured target; `#EXT-X-TARGETDURATION` is never below it. */
  readonly fragmentSeconds: number;
  /** Relative URI of a segment, resolved against the playlist's own URL (RFC 8216 §4.1). */
  readonly segmentUri: (sequence: number) => string;
  /** Media sequence number of the first segment (0 by default). */
  readonly firstSequence?: number;
  /** Keep finished segments there instead of memory (`hls_dir`). */
  readonly store?: SegmentStore;
}

/** EXTINF durations are printed with millisecond precision. */
const EXTINF_DECIMALS = 3;

/**
 * A live media playlist (RFC 8216 §4.3.3, §6.2.1–6.2.2) over a sliding window of segments. It keeps the
 * listed segments plus the one that just left the list (a player that read the previous playlist may
 * still fetch it); anything older is released.
 */
export class HlsPlaylist {
  private readonly retained: HlsSegment[] = [];
  /** Segments the store holds, by sequence number: where to read them. */
  private readonly stored = new Map<number, { readonly path: string; readonly length: number }>();
  private discontinuitySequence = 0;
  private ended = false;
  private cached: string | undefined;
  /**
   * `#EXT-X-TARGETDURATION`: it must not change while the playlist lives (RFC 8216 §6.2.1), so it only
   * ever grows, to cover the longest segment seen (a segment cut late for want of a keyframe).
   */
  private targetSeconds: number;

  /** Listed segments; at least one, so a misconfigured window of 0 cannot list (and keep) everything. */
  private readonly window: number;

  constructor(private readonly options: HlsPlaylistOptions) {
    this.window = Math.max(1, Math.floor(options.window));
    this.targetSeconds = Math.ceil(options.fragmentSeconds);
  }

  /** True once `end()` was called and no new publish resumed the playlist. */
  get isEnded(): boolean {
    return this.ended;
  }

  get hasSegments(): boolean {
    return this.retained.length > 0;
  }

  /** Segments held in memory: at most `window + 1`. */
  get retainedCount(): number {
    return this.retained.length;
  }

  /** Bytes of the retained segments. */
  get retainedBytes(): number {
    return this.retained.reduce((sum, segment) => sum + segment.data.length, 0);
  }

  /** The sequence number after the newest segment (0 when there is none). */
  get nextSequence(): number {
    const newest = this.retained[this.retained.length - 1];
    return newest ? newest.sequence + 1 : (this.options.firstSequence ?? 0);
  }

  append(segment: HlsSegment): void {
    this.retained.push(segment);
    // EXTINF rounded to the nearest integer must not exceed the target (RFC 8216 §4.3.3.1).
    const printed = Number(segment.durationSeconds.toFixed(EXTINF_DECIMALS));
    this.targetSeconds = Math.max(this.targetSeconds, Math.ceil(printed));
    const window = this.window;
    // The segment that just left the listed window: when it carried a discontinuity tag, the tag
    // leaves the playlist with it, so EXT-X-DISCONTINUITY-SEQUENCE must count it (RFC 8216 §6.2.2).
    const leaving = this.retained[this.retained.length - window - 1];
    if (leaving?.discontinuity) this.discontinuitySequence++;
    while (this.retained.length > window + 1) this.release(this.retained.shift());
    this.cached = undefined;
    this.persist(segment);
  }

  private persist(segment: HlsSegment): void {
    const store = this.options.store;
    if (!store) return;
    store
      .save(this.options.segmentUri(segment.sequence), segment.data)
      .then((path) => {
        const at = this.retained.indexOf(segment);
        if (at < 0) return store.remove(path); // it left the window while it was written
        // From now on it is read from the file: its bytes leave memory.
        this.retained[at] = { ...segment, data: NO_BYTES };
        this.stored.set(segment.sequence, { path, length: segment.data.length });
      })
      .catch(() => undefined); // the store logged it; the segment stays in memory
  }

  private release(segment: HlsSegment | undefined): void {
    const stored = segment && this.stored.get(segment.sequence);
    if (!segment || stored === undefined) return;
    this.stored.delete(segment.sequence);
    this.options.store?.remove(stored.path);
  }

  /** The publish ended: the playlist gets `#EXT-X-ENDLIST` (RFC 8216 §4.3.3.4). */
  end(): void {
    this.ended = true;
    this.cached = undefined;
  }

  /** A new publish continues the playlist: it is live again. */
  resume(): void {
    this.ended = false;
    this.cached = undefined;
  }

  /** A retained segment by sequence number. */
  find(sequence: number): HlsFile | undefined {
    const segment = this.retained.find((candidate) => candidate.sequence === sequence);
    const stored = this.stored.get(sequence);
    if (!segment || stored === undefined) return segment;
    return { ...segment, path: stored.path, start: 0, length: stored.length };
  }

  /** The playlist text, or undefined while it lists no segment. */
  render(): string | undefined {
    if (this.cached !== undefined) return this.cached;
    const listed = this.retained.slice(-this.window);
    if (listed.length === 0) return undefined;
    const lines = [
      '#EXTM3U',
      // Version 3: decimal EXTINF durations (RFC 8216 §7).
      '#EXT-X-VERSION:3',
      `#EXT-X-TARGETDURATION:${this.targetSeconds}`,
      `#EXT-X-MEDIA-SEQUENCE:${listed[0].sequence}`,
    ];
    if (this.discontinuitySequence > 0) {
      lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${this.discontinuitySequence}`);
    }
    for (const segment of listed) {
      if (segment.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
      lines.push(
        `#EXTINF:${segment.durationSeconds.toFixed(EXTINF_DECIMALS)},`,
        this.options.segmentUri(segment.sequence),
      );
    }
    if (this.ended) lines.push('#EXT-X-ENDLIST');
    this.cached = lines.join('\n') + '\n';
    return this.cached;
  }
}
