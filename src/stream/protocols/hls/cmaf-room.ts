import { MediaPacket } from '../../core/media-packet';
import { BlockingState, CmafPlaylist } from './cmaf-playlist';
import { CmafSegmenter } from './cmaf-segmenter';
import { Fmp4Counters } from '../fmp4/fmp4-fragmenter';
import { HlsOptions } from './hls-options';
import { HlsRoomInfo } from './hls-room';
import { HlsFile, SegmentStore } from './segment-store';

/** Gap left on the timeline between two publishes of a room (players see a discontinuity anyway). */
const REPUBLISH_GAP_MS = 1_000;

/**
 * One room's fMP4 HLS across publishes (`hls_variant: fmp4` or `lowlatency`): the playlist and the
 * segmenter of the current publish. Each publish names its files with a prefix of its own, so that a URL
 * a cache holds never names other media; a new publish continues the playlist after a discontinuity.
 * `changed` is called whenever a part or segment is added or the publish ends (blocked requests wake).
 */
export class CmafRoom {
  private readonly playlist: CmafPlaylist;
  private segmenter: CmafSegmenter | undefined;
  private timelineEndMs: number | undefined;
  private publishes = 0;
  private lastCounters: Fmp4Counters = {
    malformedPackets: 0,
    unsupportedPackets: 0,
    waitingPackets: 0,
    overflowPackets: 0,
    internalErrors: 0,
  };

  constructor(
    private readonly name: string,
    private readonly options: HlsOptions,
    firstSequence: number,
    private readonly changed: () => void,
    store?: SegmentStore,
  ) {
    this.playlist = new CmafPlaylist({
      store,
      window: options.window,
      fragmentSeconds: options.fragmentSeconds,
      partTargetSeconds: options.variant === 'lowlatency' ? options.partSeconds : undefined,
      firstSequence,
    });
  }

  get live(): boolean {
    return this.segmenter !== undefined;
  }

  get info(): HlsRoomInfo {
    const counters = this.segmenter?.counters ?? this.lastCounters;
    return {
      live: this.live,
      ended: this.playlist.isEnded,
      retainedSegments: this.playlist.retainedCount,
      retainedBytes: this.playlist.retainedBytes,
      nextSequence: this.playlist.nextSequence,
      counters: {
        malformedPackets: counters.malformedPackets,
        unsupportedPackets: counters.unsupportedPackets,
        waitingPackets: counters.waitingPackets + counters.overflowPackets,
        internalErrors: counters.internalErrors,
      },
    };
  }

  start(): void {
    if (this.segmenter) this.finishPublish();
    this.publishes++;
    const prefix = `${this.name}-${Date.now().toString(36)}${this.publishes.toString(36)}-`;
    const playlist = this.playlist;
    playlist.resume(prefix);
    this.segmenter = new CmafSegmenter(
      {
        fragmentSeconds: this.options.fragmentSeconds,
        partSeconds: playlist.isLowLatency ? this.options.partSeconds : undefined,
        firstSequence: playlist.nextSequence,
        discontinuity: playlist.hasSegments,
        startTimeMs:
          this.timelineEndMs === undefined ? undefined : this.timelineEndMs + REPUBLISH_GAP_MS,
      },
      {
        part: (part, init) => {
          playlist.appendPart(part, init);
          this.changed();
        },
        segment: (segment) => {
          playlist.append(segment);
          this.changed();
        },
      },
    );
  }

  push(packet: MediaPacket): void {
    this.segmenter?.push(packet);
  }

  end(): void {
    if (this.segmenter) this.finishPublish();
    this.playlist.end();
    this.changed();
  }

  playlistText(skip = false): string | undefined {
    return this.playlist.render(skip);
  }

  file(fileName: string): HlsFile | undefined {
    return this.playlist.find(fileName);
  }

  blocking(msn: number, part: number | undefined): BlockingState {
    return this.playlist.blocking(msn, part);
  }

  /** The part the playlist's preload hint names now. */
  get hintedPart(): string | undefined {
    return this.playlist.hintedPart;
  }

  private finishPublish(): void {
    const segmenter = this.segmenter;
    if (!segmenter) return;
    this.segmenter = undefined;
    segmenter.flush();
    this.timelineEndMs = segmenter.endTimeMs;
    this.lastCounters = { ...segmenter.counters };
  }
}
