import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { SessionInfo } from '../core/session';
import { StreamAccess } from '../core/stream-access';
import { StreamInfo, StreamProbe } from './stream-probe';

/** One publisher or player as `/stat/livestat` shows it (README "Control API"). */
export interface StatItem {
  /** The session's id, which `/control/kick` takes and events carry as `session_id`. */
  readonly session_id: number;
  readonly key: string;
  readonly url: string;
  readonly stream_id: number;
  readonly protocol: string;
  readonly remote_addr: string;
  readonly video_total_bytes: number;
  readonly audio_total_bytes: number;
  /** kbit/s over the last sampling interval. */
  readonly video_speed: number;
  readonly audio_speed: number;
  readonly since: string;
  /** kbit/s (audio + video) of each of the last HISTORY_SAMPLES samples, oldest first. */
  readonly bitrate_history: readonly number[];
}

/** A publisher's item also says what its stream is (`null` for what the stream has not said). */
export type PublisherStatItem = StatItem & StreamInfo;

export interface StatSnapshot {
  readonly publishers: PublisherStatItem[];
  readonly players: StatItem[];
}

/** How often speeds are recomputed. */
export const SPEED_SAMPLE_INTERVAL_MS = 2000;
/** Samples of `bitrate_history`: 15 × 2 s, the last 30 s. */
export const HISTORY_SAMPLES = 15;

interface Sample {
  at: number;
  video: number;
  audio: number;
  videoSpeed: number;
  audioSpeed: number;
  /** Total kbit/s of the last HISTORY_SAMPLES samples, oldest first. */
  history: number[];
}

/**
 * Who publishes and who watches, on every protocol: the sessions StreamAccess holds, with speeds sampled
 * every SPEED_SAMPLE_INTERVAL_MS, and for each publisher what its stream is (a StreamProbe attached to
 * every publish through StreamAccess.onPublish).
 */
@Injectable()
export class StatsService implements OnModuleInit, OnModuleDestroy {
  private readonly samples = new Map<number, Sample>();
  /** Probes by publisher session id, for the duration of each publish. */
  private readonly probes = new Map<number, StreamProbe>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly access: StreamAccess) {}

  onModuleInit(): void {
    this.access.onPublish((stream) => {
      const publisher = stream.publisher;
      if (!publisher) return undefined;
      const probe = new StreamProbe();
      const probes = this.probes;
      probes.set(publisher.id, probe);
      return {
        deliver: (packet) => probe.deliver(packet),
        publishEnded: () => probes.delete(publisher.id),
      };
    });
    this.timer = setInterval(() => this.sample(), SPEED_SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /**
   * Publishers and players, all or of one stream. `room` is `app/room`, or a bare room name matching that
   * room in any app. Undefined when that room has no publisher.
   */
  snapshot(room?: string): StatSnapshot | undefined {
    const matches = (key: string) =>
      room === undefined || key === room || (key.endsWith(`/${room}`) && !room.includes('/'));
    const publishers: PublisherStatItem[] = [];
    const players: StatItem[] = [];
    for (const session of this.access.all()) {
      const key = session.streamKey;
      if (!matches(key)) continue;
      if (session.role === 'publisher') {
        const info = (this.probes.get(session.id) ?? new StreamProbe()).info;
        publishers.push({ ...this.item(key, session), ...info });
      } else players.push(this.item(key, session));
    }
    if (room !== undefined && publishers.length === 0) return undefined;
    return { publishers, players };
  }

  private item(key: string, session: SessionInfo): StatItem {
    const sample = this.samples.get(session.id);
    return {
      session_id: session.id,
      key,
      url: session.url,
      stream_id: session.streamId,
      protocol: session.protocol,
      remote_addr: session.remoteAddress,
      video_total_bytes: session.videoBytes,
      audio_total_bytes: session.audioBytes,
      video_speed: sample?.videoSpeed ?? 0,
      audio_speed: sample?.audioSpeed ?? 0,
      since: session.since.toISOString(),
      bitrate_history: sample ? [...sample.history] : [],
    };
  }

  /** kbit/s per session since the previous sample; forgets sessions that ended. */
  private sample(): void {
    const now = Date.now();
    const seen = new Set<number>();
    for (const session of this.access.all()) {
      seen.add(session.id);
      const previous = this.samples.get(session.id);
      const sample: Sample = {
        at: now,
        video: session.videoBytes,
        audio: session.audioBytes,
        videoSpeed: 0,
        audioSpeed: 0,
        history: previous?.history ?? [],
      };
      if (previous && now > previous.at) {
        const seconds = (now - previous.at) / 1000;
        sample.videoSpeed = Math.round(
          ((session.videoBytes - previous.video) * 8) / 1000 / seconds,
        );
        sample.audioSpeed = Math.round(
          ((session.audioBytes - previous.audio) * 8) / 1000 / seconds,
        );
        sample.history.push(sample.videoSpeed + sample.audioSpeed);
        if (sample.history.length > HISTORY_SAMPLES) sample.history.shift();
      }
      this.samples.set(session.id, sample);
    }
    for (const id of this.samples.keys()) if (!seen.has(id)) this.samples.delete(id);
  }
}
