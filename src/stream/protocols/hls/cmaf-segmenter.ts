import { MediaPacket } from '../../core/media-packet';
import { Fmp4Fragment, Fmp4Fragmenter } from '../fmp4/fmp4-fragmenter';
import { TIMELINE_START_MS } from './hls-segmenter';

/** One LL-HLS partial segment (RFC 8216bis §4.4.4.9): one fMP4 fragment. */
export interface HlsPart {
  /** Media sequence number of the segment it belongs to. */
  readonly sequence: number;
  /** Its index within that segment, from 0. */
  readonly index: number;
  readonly durationSeconds: number;
  /** Starts with a video key frame (or carries audio only): `INDEPENDENT=YES`. */
  readonly independent: boolean;
  readonly data: Buffer;
  readonly videoBytes: number;
  readonly audioBytes: number;
  /** The init segment version its samples need, and whether its segment starts a discontinuity. */
  readonly initVersion: number;
  readonly discontinuity: boolean;
}

/** A finished CMAF segment: its parts, back to back, are its bytes. */
export interface CmafSegment {
  readonly sequence: number;
  readonly durationSeconds: number;
  readonly data: Buffer;
  readonly videoBytes: number;
  readonly audioBytes: number;
  readonly discontinuity: boolean;
  /** The init segment (`#EXT-X-MAP`) its samples need, and its version within the publish. */
  readonly init: Buffer;
  readonly initVersion: number;
  /** Where each part lies in `data` (parts of an fmp4 segment without parts: one). */
  readonly parts: readonly { readonly offset: number; readonly part: HlsPart }[];
}

export interface CmafSegmenterOptions {
  /** Target segment length; segments are cut at the first key frame after it. */
  readonly fragmentSeconds: number;
  /** LL-HLS part target; undefined: one fragment per segment (plain fMP4 HLS). */
  readonly partSeconds?: number;
  readonly firstSequence?: number;
  readonly discontinuity?: boolean;
  readonly startTimeMs?: number;
}

export interface CmafSegmenterEvents {
  /** A part of the segment being built is complete (LL-HLS only), with the init section it needs. */
  part(part: HlsPart, init: Buffer): void;
  segment(segment: CmafSegment): void;
}

/** A segment is cut even without a key frame past this length (stalled or key-frame-less video). */
const MIN_FORCED_CUT_MS = 30_000;
const FORCED_CUT_FRAGMENTS = 4;
const MS_PER_SECOND = 1000;
/** A part is cut when this close to its target (frame durations rarely divide it exactly). */
const PART_CUT_TOLERANCE_MS = 1;

/**
 * Cuts one publish into CMAF segments for HLS with fMP4 (RFC 8216bis §3.1.2): each segment starts at a
 * key frame at least `fragmentSeconds` after the previous one began; with `partSeconds`, each segment is
 * built from parts of about that length, each one fMP4 fragment, reported as soon as it is complete.
 * Never throws: the fragmenter counts and drops bad packets.
 */
export class CmafSegmenter {
  private readonly fragmenter: Fmp4Fragmenter;
  private readonly fragmentMs: number;
  private readonly partMs: number | undefined;
  private readonly forcedCutMs: number;
  private sequence: number;
  private pendingDiscontinuity: boolean;
  private parts: HlsPart[] = [];
  private segmentMs = 0;
  private segmentInit: { init: Buffer; version: number } | undefined;
  private hasVideo = false;
  private endMs: number;

  constructor(
    options: CmafSegmenterOptions,
    private readonly events: CmafSegmenterEvents,
  ) {
    this.fragmentMs = options.fragmentSeconds * MS_PER_SECOND;
    this.partMs =
      options.partSeconds === undefined ? undefined : options.partSeconds * MS_PER_SECOND;
    this.forcedCutMs = Math.max(MIN_FORCED_CUT_MS, FORCED_CUT_FRAGMENTS * this.fragmentMs);
    this.sequence = options.firstSequence ?? 0;
    this.pendingDiscontinuity = options.discontinuity ?? false;
    this.endMs = options.startTimeMs ?? TIMELINE_START_MS;
    this.fragmenter = new Fmp4Fragmenter({ startTimeMs: this.endMs });
  }

  get counters(): Fmp4Fragmenter['counters'] {
    return this.fragmenter.counters;
  }

  /** Sequence number of the segment being built. */
  get nextSequence(): number {
    return this.sequence;
  }

  /** Index the next part of the segment being built will get. */
  get nextPart(): number {
    return this.parts.length;
  }

  /** End of the media cut so far on the output timeline, ms. */
  get endTimeMs(): number {
    return this.endMs;
  }

  push(packet: MediaPacket): void {
    this.fragmenter.push(packet);
    this.drain();
  }

  /** The publish ended: what is pending becomes the last part and the last segment. */
  flush(): void {
    for (;;) {
      const fragment = this.fragmenter.flush(true);
      if (!fragment) break;
      this.add(fragment);
    }
    this.closeSegment();
  }

  private drain(): void {
    const fragmenter = this.fragmenter;
    for (;;) {
      const pending = fragmenter.pendingDurationMs;
      if (pending <= 0) return;
      const atKeyframe = fragmenter.holdingKeyframe;
      const due = this.segmentMs + pending;
      const cutSegment = this.hasVideo
        ? (atKeyframe && due >= this.fragmentMs) || due >= this.forcedCutMs
        : due >= this.fragmentMs;
      const cutPart =
        cutSegment ||
        (this.partMs !== undefined &&
          (pending >= this.partMs - PART_CUT_TOLERANCE_MS ||
            (atKeyframe && this.parts.length > 0)));
      if (!cutPart) return;
      const fragment = fragmenter.flush();
      if (!fragment) return;
      this.add(fragment);
      if (cutSegment) this.closeSegment();
    }
  }

  private add(fragment: Fmp4Fragment): void {
    if (fragment.videoSamples > 0) this.hasVideo = true;
    // A new decoder configuration needs a new init segment: it starts a new segment, after a discontinuity.
    if (this.segmentInit && fragment.initVersion !== this.segmentInit.version) {
      this.closeSegment();
      this.pendingDiscontinuity = true;
    }
    this.segmentInit ??= { init: fragment.init, version: fragment.initVersion };
    const part: HlsPart = {
      sequence: this.sequence,
      index: this.parts.length,
      durationSeconds: fragment.durationMs / MS_PER_SECOND,
      independent: fragment.independent,
      data: fragment.bytes,
      videoBytes: fragment.videoBytes,
      audioBytes: fragment.audioBytes,
      initVersion: this.segmentInit.version,
      discontinuity: this.pendingDiscontinuity,
    };
    this.parts.push(part);
    this.segmentMs += fragment.durationMs;
    this.endMs = fragment.startDtsMs + fragment.durationMs;
    if (this.partMs !== undefined) this.events.part(part, fragment.init);
  }

  private closeSegment(): void {
    const parts = this.parts;
    const init = this.segmentInit;
    if (parts.length === 0 || !init) return;
    const data = Buffer.concat(parts.map((part) => part.data));
    let offset = 0;
    const placed = parts.map((part) => {
      const at = offset;
      offset += part.data.length;
      // The part is now a view of the segment's bytes: one copy in memory, not two.
      return { offset: at, part: { ...part, data: data.subarray(at, offset) } };
    });
    this.events.segment({
      sequence: this.sequence++,
      durationSeconds: Math.max(this.segmentMs, 1) / MS_PER_SECOND,
      data,
      videoBytes: parts.reduce((sum, part) => sum + part.videoBytes, 0),
      audioBytes: parts.reduce((sum, part) => sum + part.audioBytes, 0),
      discontinuity: this.pendingDiscontinuity,
      init: init.init,
      initVersion: init.version,
      parts: placed,
    });
    this.pendingDiscontinuity = false;
    this.parts = [];
    this.segmentMs = 0;
    this.segmentInit = undefined;
  }
}
