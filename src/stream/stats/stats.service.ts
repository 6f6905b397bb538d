import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { SessionInfo } from '../core/live-stream';
import { StreamRegistry } from '../core/stream-registry';

/** One publisher or player as `/stat/livestat` shows it (SPEC §4). */
export interface StatItem {
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
}

export interface StatSnapshot {
  readonly publishers: StatItem[];
  readonly players: StatItem[];
}

/** Players that are not stream subscribers (HLS viewers, who fetch files) report through this. */
export type ViewerSource = () => Iterable<{
  readonly streamKey: string;
  readonly session: SessionInfo;
}>;

/** How often speeds are recomputed. */
export const SPEED_SAMPLE_INTERVAL_MS = 2000;

interface Sample {
  at: number;
  video: number;
  audio: number;
  videoSpeed: number;
  audioSpeed: number;
}

/**
 * Who publishes and who watches, on every protocol: RTMP/RTMPS and HTTP-FLV players are read from the
 * streams' subscribers, HLS viewers from registered ViewerSources.
 */
@Injectable()
export class StatsService implements OnModuleInit, OnModuleDestroy {
  private readonly viewerSources: ViewerSource[] = [];
  private readonly samples = new Map<number, Sample>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly registry: StreamRegistry) {}

  onModuleInit(): void {
    this.timer = setInterval(() => this.sample(), SPEED_SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  addViewerSource(source: ViewerSource): void {
    this.viewerSources.push(source);
  }

  /**
   * Publishers and players, all or of one stream. `room` is `app/room`, or a bare room name matching that
   * room in any app. Undefined when that room has no publisher.
   */
  snapshot(room?: string): StatSnapshot | undefined {
    const matches = (key: string) =>
      room === undefined || key === room || (key.endsWith(`/${room}`) && !room.includes('/'));
    const publishers: StatItem[] = [];
    const players: StatItem[] = [];
    for (const [key, session, isPublisher] of this.sessions()) {
      if (!matches(key)) continue;
      (isPublisher ? publishers : players).push(this.item(key, session));
    }
    if (room !== undefined && publishers.length === 0) return undefined;
    return { publishers, players };
  }

  /** Every session: stream key, session, whether it publishes. */
  *sessions(): Generator<[string, SessionInfo, boolean]> {
    for (const stream of this.registry.all()) {
      if (stream.publisher) yield [stream.key, stream.publisher, true];
      for (const subscriber of stream.subscribers) {
        if (subscriber.session) yield [stream.key, subscriber.session, false];
      }
    }
    for (const source of this.viewerSources) {
      for (const viewer of source()) yield [viewer.streamKey, viewer.session, false];
    }
  }

  private item(key: string, session: SessionInfo): StatItem {
    const sample = this.samples.get(session.id);
    return {
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
    };
  }

  /** kbit/s per session since the previous sample; forgets sessions that ended. */
  private sample(): void {
    const now = Date.now();
    const seen = new Set<number>();
    for (const [, session] of this.sessions()) {
      seen.add(session.id);
      const previous = this.samples.get(session.id);
      const sample: Sample = {
        at: now,
        video: session.videoBytes,
        audio: session.audioBytes,
        videoSpeed: 0,
        audioSpeed: 0,
      };
      if (previous && now > previous.at) {
        const seconds = (now - previous.at) / 1000;
        sample.videoSpeed = Math.round(
          ((session.videoBytes - previous.video) * 8) / 1000 / seconds,
        );
        sample.audioSpeed = Math.round(
          ((session.audioBytes - previous.audio) * 8) / 1000 / seconds,
        );
      }
      this.samples.set(session.id, sample);
    }
    for (const id of this.samples.keys()) if (!seen.has(id)) this.samples.delete(id);
  }
}
