import { MediaPacket } from '../../core/media-packet';
import { HlsOptions } from './hls-options';
import { HlsPlaylist } from './hls-playlist';
import { HlsSegmenter, HlsSegmenterCounters } from './hls-segmenter';
import { HlsFile, SegmentStore } from './segment-store';

/** What a room holds right now (for stats and tests). */
export interface HlsRoomInfo {
  readonly live: boolean;
  readonly ended: boolean;
  /** Segments in memory: at most `window + 1`. */
  readonly retainedSegments: number;
  /** Sequence number the next segment will get. */
  readonly nextSequence: number;
  /** Packets dropped or skipped by the current (or last) publish. */
  /** Bytes of the retained segments (and, for fMP4, of the parts being built). */
  readonly retainedBytes: number;
  readonly counters: Readonly<HlsSegmenterCounters>;
}

/** Gap left on the timeline between two publishes of a room (players see a discontinuity anyway). */
const REPUBLISH_GAP_MS = 1_000;
const SEGMENT_EXTENSION = '.ts';

/**
 * One room's HLS state across publishes: the playlist and the segmenter of the current publish. A new
 * publish continues the playlist (media sequence and timeline keep counting) after a discontinuity.
 */
export class HlsRoom {
  private readonly playlist: HlsPlaylist;
  private readonly segmentPrefix: string;
  private segmenter: HlsSegmenter | undefined;
  private lastCounters: HlsSegmenterCounters = {
    malformedPackets: 0,
    unsupportedPackets: 0,
    waitingPackets: 0,
    internalErrors: 0,
  };
  private timelineEndMs: number | undefined;

  /** @param name the room name (last part of the stream key); segment URIs are `{name}-{seq}.ts`. */
  constructor(
    name: string,
    private readonly options: HlsOptions,
    firstSequence = 0,
    /** Called when a segment is added or the publish ends (requests waiting for the room wake). */
    private readonly changed: () => void = () => undefined,
    store?: SegmentStore,
  ) {
    this.segmentPrefix = `${name}-`;
    this.playlist = new HlsPlaylist({
      store,
      firstSequence,
      window: options.window,
      fragmentSeconds: options.fragmentSeconds,
      segmentUri: (sequence) => `${this.segmentPrefix}${sequence}${SEGMENT_EXTENSION}`,
    });
  }

  get live(): boolean {
    return this.segmenter !== undefined;
  }

  get info(): HlsRoomInfo {
    return {
      live: this.live,
      ended: this.playlist.isEnded,
      retainedSegments: this.playlist.retainedCount,
      retainedBytes: this.playlist.retainedBytes,
      nextSequence: this.segmenter?.nextSequence ?? this.playlist.nextSequence,
      counters: { ...(this.segmenter?.counters ?? this.lastCounters) },
    };
  }

  /** A publish starts. If one is live (a publisher replaced another), its partial segment is kept. */
  start(): void {
    if (this.segmenter) this.finishPublish();
    this.segmenter = new HlsSegmenter({
      fragmentSeconds: this.options.fragmentSeconds,
      firstSequence: this.playlist.nextSequence,
      discontinuity: this.playlist.hasSegments,
      startTimeMs:
        this.timelineEndMs === undefined ? undefined : this.timelineEndMs + REPUBLISH_GAP_MS,
    });
    this.playlist.resume();
  }

  push(packet: MediaPacket): void {
    const segment = this.segmenter?.push(packet);
    if (!segment) return;
    this.playlist.append(segment);
    this.changed();
  }

  /** The publish ended: the partial segment becomes the last one and the playlist gets ENDLIST. */
  end(): void {
    if (this.segmenter) this.finishPublish();
    this.playlist.end();
    this.changed();
  }

  playlistText(): string | undefined {
    return this.playlist.render();
  }

  /** A retained segment by file name (`{name}-{seq}.ts`); undefined for anything else. */
  segment(fileName: string): HlsFile | undefined {
    if (!fileName.startsWith(this.segmentPrefix) || !fileName.endsWith(SEGMENT_EXTENSION)) {
      return undefined;
    }
    const digits = fileName.slice(this.segmentPrefix.length, -SEGMENT_EXTENSION.length);
    if (!/^\d{1,15}$/.test(digits)) return undefined;
    return this.playlist.find(Number(digits));
  }

  private finishPublish(): void {
    const segmenter = this.segmenter;
    if (!segmenter) return;
    const last = segmenter.flush();
    if (last) this.playlist.append(last);
    this.timelineEndMs = segmenter.endTimeMs;
    this.lastCounters = { ...segmenter.counters };
    this.segmenter = undefined;
  }
}
