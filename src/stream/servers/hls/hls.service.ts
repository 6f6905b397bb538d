import { Inject, Injectable, Logger, OnApplicationShutdown, Optional } from '@nestjs/common';
import { MediaPacket } from '../../core/media-packet';
import {
  HLS_OPTIONS,
  HLS_SCHEDULER,
  HlsOptions,
  HlsScheduler,
  systemScheduler,
} from '../../protocols/hls/hls-options';
import { BlockingState } from '../../protocols/hls/cmaf-playlist';
import { CmafRoom } from '../../protocols/hls/cmaf-room';
import { HlsFile, SegmentStore } from '../../protocols/hls/segment-store';
import { HlsDisk } from './hls-disk';
import { HlsRoom, HlsRoomInfo } from '../../protocols/hls/hls-room';

const MS_PER_SECOND = 1000;
/** Requests one room may hold waiting at once (blocking reloads, hinted parts); more answer at once. */
const MAX_WAITERS_PER_ROOM = 10_000;

interface RoomEntry {
  readonly room: HlsRoom | CmafRoom;
  /** Requests waiting for the room to change (a blocking playlist reload, a preload-hinted part). */
  readonly waiters: Set<() => void>;
  /** When the last publish ended (scheduler ms), while no new one is live. */
  endedAtMs: number | undefined;
  expiryTimer: unknown;
}

/**
 * Native HLS for every live stream: H.264 + AAC packets in, an RFC 8216 live playlist and MPEG-TS
 * segments out, all in memory (no ffmpeg, no files). The RTMP side reports a publish with
 * `publishStarted` / `packet` / `publishEnded`; the HTTP side serves `playlist` and `segment`
 * (`application/vnd.apple.mpegurl` and `video/mp2t`), answering 404 for `undefined`.
 *
 * Streams are named by their key `app/room`; segment file names are `{room}-{sequence}.ts`, relative to
 * the playlist's URL `/{app}/{room}.m3u8`. An ended playlist (with `#EXT-X-ENDLIST`) is served for
 * `graceSeconds` more, or until the next publish with `keepAfterEnd`; a publish in that time continues
 * it after `#EXT-X-DISCONTINUITY`. Bad or unsupported media is dropped, never thrown.
 *
 * Provide it with {@link HLS_OPTIONS} (see `hlsOptionsFromConfig`), or construct it directly.
 */
@Injectable()
export class HlsService implements OnApplicationShutdown {
  private readonly logger = new Logger(HlsService.name);
  private readonly rooms = new Map<string, RoomEntry>();
  /** Next sequence number of each room whose playlist expired (one number per room name). */
  private readonly expiredSequences = new Map<string, number>();

  /** Where segments are kept with `hls_dir`; in memory without it. */
  private readonly disk: HlsDisk | undefined;

  constructor(
    @Inject(HLS_OPTIONS) private readonly options: HlsOptions,
    @Optional() @Inject(HLS_SCHEDULER) private readonly scheduler: HlsScheduler = systemScheduler,
  ) {
    this.disk = options.dir ? new HlsDisk(options.dir) : undefined;
  }

  /** A publish on `key` (`app/room`) began; continues the room's playlist if it is still served. */
  publishStarted(key: string): void {
    let entry = this.liveEntry(key);
    if (!entry) {
      entry = {
        room: this.newRoom(key, () => this.wake(key)),
        waiters: new Set(),
        endedAtMs: undefined,
        expiryTimer: undefined,
      };
      this.rooms.set(key, entry);
    }
    this.cancelExpiry(entry);
    entry.endedAtMs = undefined;
    entry.room.start();
  }

  /** One media packet of the live publish on `key`; ignored when `key` is not publishing. */
  packet(key: string, packet: MediaPacket): void {
    const entry = this.rooms.get(key);
    if (entry && entry.endedAtMs === undefined) entry.room.push(packet);
  }

  /** The publish on `key` ended: flush the last segment, add ENDLIST, start the grace period. */
  publishEnded(key: string): void {
    const entry = this.rooms.get(key);
    if (!entry || entry.endedAtMs !== undefined) return;
    entry.room.end();
    entry.endedAtMs = this.scheduler.now();
    const { malformedPackets, unsupportedPackets, internalErrors } = entry.room.info.counters;
    if (internalErrors > 0) {
      this.logger.warn(`${key}: HLS muxing failed on ${internalErrors} packets`);
    }
    if (malformedPackets > 0 || unsupportedPackets > 0) {
      this.logger.debug(
        `${key}: publish ended; HLS skipped ${malformedPackets} malformed and ${unsupportedPackets} unsupported packets`,
      );
    }
    if (this.options.keepAfterEnd) return;
    entry.expiryTimer = this.scheduler.setTimeout(() => {
      if (this.rooms.get(key) === entry && entry.endedAtMs !== undefined) this.expire(key, entry);
    }, this.graceMs);
  }

  /**
   * The playlist of `key`, or undefined (404) before its first segment and after the grace; `skip`
   * asks an LL-HLS playlist for a delta update.
   */
  playlist(key: string, skip = false): string | undefined {
    const room = this.liveEntry(key)?.room;
    return room instanceof CmafRoom ? room.playlistText(skip) : room?.playlistText();
  }

  /** A segment, part or init section of `key` by file name, or undefined once it left the window. */
  segment(key: string, fileName: string): HlsFile | undefined {
    const room = this.liveEntry(key)?.room;
    return room instanceof CmafRoom ? room.file(fileName) : room?.segment(fileName);
  }

  /** Whether an LL-HLS blocking reload of `key` can be answered (undefined: not an LL-HLS room). */
  blocking(key: string, msn: number, part: number | undefined): BlockingState | undefined {
    const room = this.liveEntry(key)?.room;
    return room instanceof CmafRoom && this.isLowLatency ? room.blocking(msn, part) : undefined;
  }

  /** The file name an LL-HLS room's preload hint names now. */
  hintedPart(key: string): string | undefined {
    const room = this.liveEntry(key)?.room;
    return room instanceof CmafRoom ? room.hintedPart : undefined;
  }

  get isLowLatency(): boolean {
    return this.options.variant === 'lowlatency';
  }

  /**
   * Resolves at the room's next change (a part, a segment, the end of the publish) or after
   * `timeoutMs`, whichever comes first; false when the room is gone or holds too many waiters.
   */
  changed(key: string, timeoutMs: number): Promise<boolean> {
    const entry = this.rooms.get(key);
    if (!entry || entry.waiters.size >= MAX_WAITERS_PER_ROOM) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        entry.waiters.delete(done);
        resolve(true);
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      timer.unref();
      entry.waiters.add(done);
    });
  }

  /** Bytes every room holds (segments and parts), for `/metrics`. */
  retainedBytes(): { total: number; largest: number; rooms: number } {
    let total = 0;
    let largest = 0;
    for (const { room } of this.rooms.values()) {
      const bytes = room.info.retainedBytes;
      total += bytes;
      largest = Math.max(largest, bytes);
    }
    return { total, largest, rooms: this.rooms.size };
  }

  /** State of a room (segments retained, counters), or undefined when it is not served. */
  info(key: string): HlsRoomInfo | undefined {
    return this.liveEntry(key)?.room.info;
  }

  /** Forgets a room at once (muxing on demand stopped: nobody fetches it). */
  drop(key: string): void {
    const entry = this.rooms.get(key);
    if (!entry) return;
    this.cancelExpiry(entry);
    this.expire(key, entry);
  }

  /** Clears every timer and forgets every room. */
  close(): void {
    for (const entry of this.rooms.values()) this.cancelExpiry(entry);
    this.rooms.clear();
  }

  onApplicationShutdown(): void {
    this.close();
  }

  private get graceMs(): number {
    return this.options.graceSeconds * MS_PER_SECOND;
  }

  /** The room entry if it is still served; an ended one past its grace is dropped here too. */
  private liveEntry(key: string): RoomEntry | undefined {
    const entry = this.rooms.get(key);
    if (!entry) return undefined;
    if (
      entry.endedAtMs !== undefined &&
      !this.options.keepAfterEnd &&
      this.scheduler.now() - entry.endedAtMs >= this.graceMs
    ) {
      this.cancelExpiry(entry);
      this.expire(key, entry);
      return undefined;
    }
    return entry;
  }

  private newRoom(key: string, changed: () => void): HlsRoom | CmafRoom {
    // A room that comes back after its playlist expired continues the sequence numbers of its earlier
    // playlist, so a segment URL a cache may still hold is never reused for other media.
    const first = this.expiredSequences.get(key) ?? 0;
    const name = roomName(key);
    return this.options.variant === 'fmp4' || this.options.variant === 'lowlatency'
      ? new CmafRoom(name, this.options, first, changed, this.storeFor(key))
      : new HlsRoom(name, this.options, first, changed, this.storeFor(key));
  }

  /** With `hls_dir`, a room's segments go to `{hls_dir}/{app}/`. */
  private storeFor(key: string): SegmentStore | undefined {
    if (!this.disk) return undefined;
    const disk = this.disk;
    const app = key.slice(0, key.lastIndexOf('/'));
    return {
      save: (name, data) => disk.save(app, name, data),
      remove: (path) => disk.remove(path),
    };
  }

  private wake(key: string): void {
    const entry = this.rooms.get(key);
    if (entry) for (const waiter of [...entry.waiters]) waiter();
  }

  private expire(key: string, entry: RoomEntry): void {
    this.wake(key);
    this.expiredSequences.set(key, entry.room.info.nextSequence);
    this.rooms.delete(key);
  }

  private cancelExpiry(entry: RoomEntry): void {
    if (entry.expiryTimer !== undefined) this.scheduler.clearTimeout(entry.expiryTimer);
    entry.expiryTimer = undefined;
  }
}

/** The room part of a stream key `app/room` (segment URIs are relative to `/app/`). */
function roomName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
