import { CmafSegment, HlsPart } from './cmaf-segmenter';
import { HlsFile, NO_BYTES, SegmentStore } from './segment-store';

export interface CmafPlaylistOptions {
  /** Segments listed (the newest ones). */
  readonly window: number;
  /** Configured target; `#EXT-X-TARGETDURATION` is never below it. */
  readonly fragmentSeconds: number;
  /** LL-HLS part target (`#EXT-X-PART-INF`); undefined for plain fMP4 HLS. */
  readonly partTargetSeconds?: number;
  readonly firstSequence?: number;
  /** Keep finished segments there instead of memory (`hls_dir`); parts being built stay in memory. */
  readonly store?: SegmentStore;
}

/** A segment or part with the name prefix of the publish that made it (each publish has its own). */
interface Named<T> {
  item: T;
  readonly prefix: string;
  /** Where the store keeps it (its bytes then left memory) and how many bytes it has. */
  stored?: { readonly path: string; readonly length: number };
}

/** Where a blocking playlist request stands (RFC 8216bis §6.2.5.2). */
export type BlockingState = 'ready' | 'wait' | 'invalid';

const DURATION_DECIMALS = 3;
/** PART-HOLD-BACK is three part targets: the minimum RFC 8216bis §4.4.3.8 allows. */
const PART_HOLD_BACK_PARTS = 3;
/** CAN-SKIP-UNTIL: six target durations, the minimum §4.4.3.8 allows. */
const SKIP_UNTIL_TARGETS = 6;
/** Parts are listed for the segments of the last three target durations (§6.2.2). */
const PART_LISTED_TARGETS = 3;

/** The name of a publish's segment, part and init section, from its prefix. */
export const cmafNames = {
  segment: (prefix: string, sequence: number) => `${prefix}${sequence}.m4s`,
  part: (prefix: string, sequence: number, index: number) => `${prefix}${sequence}.${index}.m4s`,
  init: (prefix: string, version: number) => `${prefix}init${version}.mp4`,
};

/**
 * A live media playlist of fMP4 segments (RFC 8216bis §4.4, `#EXT-X-MAP`), and with a part target an
 * LL-HLS one: `#EXT-X-PART` for recent and in-progress parts, `#EXT-X-PRELOAD-HINT` for the next part,
 * `#EXT-X-SERVER-CONTROL` with blocking reload and delta updates. It retains the listed segments plus the
 * one that just left, and the parts of the segment being built.
 */
export class CmafPlaylist {
  private readonly retained: Named<CmafSegment>[] = [];
  private current: Named<HlsPart>[] = [];
  private currentPrefix = '';
  /** The init section of the parts being built, before their segment holds it. */
  private currentInit: { readonly version: number; readonly data: Buffer } | undefined;
  private discontinuitySequence = 0;
  private ended = false;
  private targetSeconds: number;
  private readonly window: number;
  private sequenceBase: number;

  constructor(private readonly options: CmafPlaylistOptions) {
    this.window = Math.max(1, Math.floor(options.window));
    this.targetSeconds = Math.ceil(options.fragmentSeconds);
    this.sequenceBase = options.firstSequence ?? 0;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  get hasSegments(): boolean {
    return this.retained.length > 0;
  }

  get retainedCount(): number {
    return this.retained.length;
  }

  /** Bytes held: retained segments and the parts of the one being built. */
  get retainedBytes(): number {
    let bytes = 0;
    for (const { item } of this.retained) bytes += item.data.length;
    for (const { item } of this.current) bytes += item.data.length;
    return bytes;
  }

  /** Sequence number of the segment being built (the one after the newest finished one). */
  get nextSequence(): number {
    const newest = this.retained[this.retained.length - 1];
    return newest ? newest.item.sequence + 1 : this.sequenceBase;
  }

  get isLowLatency(): boolean {
    return this.options.partTargetSeconds !== undefined;
  }

  /** A publish starts: its segments and parts are named with `prefix`. */
  resume(prefix: string): void {
    this.currentPrefix = prefix;
    this.current = [];
    this.ended = false;
  }

  appendPart(part: HlsPart, init: Buffer): void {
    this.current.push({ item: part, prefix: this.currentPrefix });
    this.currentInit = { version: part.initVersion, data: init };
  }

  append(segment: CmafSegment): void {
    const entry: Named<CmafSegment> = { item: segment, prefix: this.currentPrefix };
    this.retained.push(entry);
    this.current = [];
    const printed = Number(segment.durationSeconds.toFixed(DURATION_DECIMALS));
    this.targetSeconds = Math.max(this.targetSeconds, Math.ceil(printed));
    const leaving = this.retained[this.retained.length - this.window - 1];
    if (leaving?.item.discontinuity) this.discontinuitySequence++;
    while (this.retained.length > this.window + 1) {
      const gone = this.retained.shift();
      if (gone?.stored) this.options.store?.remove(gone.stored.path);
    }
    this.persist(entry);
  }

  private persist(entry: Named<CmafSegment>): void {
    const store = this.options.store;
    if (!store) return;
    const segment = entry.item;
    store
      .save(cmafNames.segment(entry.prefix, segment.sequence), segment.data)
      .then((path) => {
        if (!this.retained.includes(entry)) return store.remove(path); // left the window meanwhile
        entry.stored = { path, length: segment.data.length };
        // Read from the file from now on: the segment's bytes (and its parts', views of them) leave memory.
        entry.item = {
          ...segment,
          data: NO_BYTES,
          parts: segment.parts.map(({ offset, part }) => ({
            offset,
            part: { ...part, data: NO_BYTES },
          })),
        };
      })
      .catch(() => undefined); // the store logged it; the segment stays in memory
  }

  /** The publish ended: `#EXT-X-ENDLIST`, and no preload hint. */
  end(): void {
    this.ended = true;
    this.current = [];
  }

  /** A retained segment, part or init section by file name, with the bytes' audio/video counts. */
  find(fileName: string): HlsFile | undefined {
    for (const { item: segment, prefix, stored } of this.retained) {
      if (!fileName.startsWith(prefix)) continue;
      if (fileName === cmafNames.segment(prefix, segment.sequence))
        return stored
          ? { ...segment, path: stored.path, start: 0, length: stored.length }
          : segment;
      if (fileName === cmafNames.init(prefix, segment.initVersion))
        return { data: segment.init, videoBytes: 0, audioBytes: 0 };
      for (const [i, { offset, part }] of segment.parts.entries()) {
        if (fileName !== cmafNames.part(prefix, part.sequence, part.index)) continue;
        if (!stored) return part;
        // Parts lie back to back in their segment's file.
        const end = segment.parts[i + 1]?.offset ?? stored.length;
        return { ...part, path: stored.path, start: offset, length: end - offset };
      }
    }
    for (const { item: part, prefix } of this.current) {
      if (fileName === cmafNames.part(prefix, part.sequence, part.index)) return part;
    }
    const init = this.currentInit;
    if (init && fileName === cmafNames.init(this.currentPrefix, init.version))
      return { data: init.data, videoBytes: 0, audioBytes: 0 };
    return undefined;
  }

  /** The file name the preload hint names now (the next part), or undefined. */
  get hintedPart(): string | undefined {
    if (!this.isLowLatency || this.ended) return undefined;
    return cmafNames.part(this.currentPrefix, this.nextSequence, this.current.length);
  }

  /**
   * Whether a playlist asked for with `_HLS_msn` / `_HLS_part` can be answered now: `invalid` before
   * the window or beyond the segment after the one being built (400), `wait` until then.
   */
  blocking(msn: number, part: number | undefined): BlockingState {
    const first = this.retained[Math.max(0, this.retained.length - this.window)]?.item.sequence;
    const building = this.nextSequence;
    if ((first !== undefined && msn < first) || msn > building + 1) return 'invalid';
    if (this.ended || msn < building) return 'ready';
    if (msn > building || part === undefined) return 'wait';
    return part < this.current.length ? 'ready' : 'wait';
  }

  /** The playlist text (undefined before anything can be listed); `skip` asks for a delta update. */
  render(skip = false): string | undefined {
    const listed = this.retained.slice(-this.window);
    const partTarget = this.options.partTargetSeconds;
    if (listed.length === 0 && (partTarget === undefined || this.current.length === 0))
      return undefined;
    const target = this.targetSeconds;
    const lines = [
      '#EXTM3U',
      `#EXT-X-VERSION:${partTarget === undefined ? 7 : 9}`,
      `#EXT-X-TARGETDURATION:${target}`,
    ];
    const skipUntil = SKIP_UNTIL_TARGETS * target;
    if (partTarget !== undefined) {
      lines.push(
        `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${seconds(PART_HOLD_BACK_PARTS * partTarget)},CAN-SKIP-UNTIL=${seconds(skipUntil)}`,
        `#EXT-X-PART-INF:PART-TARGET=${seconds(partTarget)}`,
      );
    }
    const firstSequence = listed[0]?.item.sequence ?? this.nextSequence;
    lines.push(`#EXT-X-MEDIA-SEQUENCE:${firstSequence}`);
    if (this.discontinuitySequence > 0) {
      lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${this.discontinuitySequence}`);
    }
    const skipped = skip && partTarget !== undefined ? this.skippable(listed, skipUntil) : 0;
    if (skipped > 0) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);
    let map: string | undefined;
    const tagsOf = (prefix: string, version: number, discontinuity: boolean) => {
      if (discontinuity) lines.push('#EXT-X-DISCONTINUITY');
      const uri = cmafNames.init(prefix, version);
      if (uri !== map) lines.push(`#EXT-X-MAP:URI="${uri}"`);
      map = uri;
    };
    // Parts are listed for the newest segments only (the last PART_LISTED_TARGETS target durations).
    let recentFrom = listed.length;
    for (let seconds = 0; recentFrom > 0 && seconds < PART_LISTED_TARGETS * target;) {
      recentFrom--;
      seconds += listed[recentFrom].item.durationSeconds;
    }
    listed.forEach(({ item: segment, prefix }, i) => {
      if (i < skipped) return;
      tagsOf(prefix, segment.initVersion, segment.discontinuity && i > 0);
      if (partTarget !== undefined && i >= recentFrom) {
        for (const { part } of segment.parts) lines.push(partLine(prefix, part));
      }
      lines.push(
        `#EXTINF:${segment.durationSeconds.toFixed(DURATION_DECIMALS)},`,
        cmafNames.segment(prefix, segment.sequence),
      );
    });
    if (partTarget !== undefined && !this.ended) {
      const first = this.current[0];
      if (first)
        tagsOf(first.prefix, first.item.initVersion, first.item.discontinuity && listed.length > 0);
      for (const { item, prefix } of this.current) lines.push(partLine(prefix, item));
      lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${this.hintedPart ?? ''}"`);
    }
    if (this.ended) lines.push('#EXT-X-ENDLIST');
    return lines.join('\n') + '\n';
  }

  /** Leading segments a delta update may leave out: those older than CAN-SKIP-UNTIL (§6.2.5.1). */
  private skippable(listed: readonly Named<CmafSegment>[], skipUntilSeconds: number): number {
    let after = listed.reduce((sum, { item }) => sum + item.durationSeconds, 0);
    let skipped = 0;
    for (const { item } of listed) {
      // A discontinuity stays in the update, so the client never has to infer it.
      if (after - item.durationSeconds < skipUntilSeconds || item.discontinuity) break;
      after -= item.durationSeconds;
      skipped++;
    }
    return skipped;
  }
}

function seconds(value: number): string {
  return Number(value.toFixed(DURATION_DECIMALS)).toString();
}

function partLine(prefix: string, part: HlsPart): string {
  const independent = part.independent ? ',INDEPENDENT=YES' : '';
  return `#EXT-X-PART:DURATION=${seconds(part.durationSeconds)},URI="${cmafNames.part(prefix, part.sequence, part.index)}"${independent}`;
}
