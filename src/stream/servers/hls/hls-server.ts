import { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { listenOn } from '../../../common/listen';
import { AdmissionHooks } from '../../../events/admission-hooks';
import { StreamEventBus } from '../../../events/stream-event-bus';
import { StreamEvent } from '../../../events/stream-events';
import { AppConfig, findApp } from '../../../config/app-config';
import { traffic } from '../../../metrics/traffic';
import { LiveStream, SessionInfo, StreamSubscriber } from '../../core/live-stream';
import {
  acceptMediaRequest,
  answerJson,
  closeHttpServer,
  createMediaServer,
  decodePathSegment,
} from '../media-http';
import { StatsService } from '../../stats/stats.service';
import { newSessionId, StreamRegistry } from '../../core/stream-registry';
import { StreamPacket } from '../../core/stream-packet';
import { HlsService } from './hls.service';
import { PID_AUDIO, PID_VIDEO, TS_PACKET_SIZE_BYTES } from '../../protocols/mpegts/ts-muxer';

const PLAYLIST_PATH = /^\/([^/]+)\/([^/]+)\.m3u8$/;
const SEGMENT_PATH = /^\/([^/]+)\/(([^/]+)-\d+\.ts)$/;
/** Distinct HLS viewers tracked at once; the oldest is forgotten beyond it (a flood cannot grow memory). */
const MAX_TRACKED_VIEWERS = 100_000;

interface Viewer {
  readonly streamKey: string;
  readonly session: SessionInfo;
  lastSeen: number;
  /** False when a play hook refused it. */
  allowed: boolean;
}

/**
 * HLS playback on `hls_addr` (SPEC §5): `/{app}/{room}.m3u8` and its segments, muxed natively by
 * HlsService from every publish on an app with `hls: true`. HLS viewers (address + User-Agent) that
 * fetched a playlist or segment within 3 × `hls_fragment` are listed in stats.
 */
@Injectable()
export class HlsServer implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(HlsServer.name);
  private readonly server: Server;
  private readonly viewers = new Map<string, Viewer>();
  private pruneTimer: NodeJS.Timeout | undefined;
  /** Video and audio bytes of each segment, counted once per segment (by PID). */
  private readonly segmentBytes = new WeakMap<Buffer, { video: number; audio: number }>();

  constructor(
    private readonly config: AppConfig,
    private readonly registry: StreamRegistry,
    private readonly hls: HlsService,
    private readonly stats: StatsService,
    private readonly hooks: AdmissionHooks,
    private readonly events: StreamEventBus,
  ) {
    this.server = createMediaServer('hls', config, this.logger, (request, response) =>
      this.handle(request, response),
    );
  }

  onModuleInit(): void {
    this.registry.onPublish((stream) => this.segment(stream));
    this.stats.addViewerSource(() => this.activeViewers());
    // Viewers that went quiet are announced as gone even when nobody reads the stats.
    this.pruneTimer = setInterval(() => this.prune(), this.config.hls_fragment * 1000);
    this.pruneTimer.unref();
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.hls_addr) return;
    await listenOn(this.server, this.config.hls_addr, 'hls_addr');
    this.logger.log(`HLS listening on ${this.config.hls_addr.text}`);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.pruneTimer);
    await closeHttpServer(this.server);
  }

  /** Feeds a publish on an `hls: true` app to the muxer. */
  private segment(stream: LiveStream): StreamSubscriber | undefined {
    if (!findApp(this.config, stream.app)?.hls) return undefined;
    const key = stream.key;
    this.hls.publishStarted(key);
    return {
      deliver: (packet: StreamPacket) => this.hls.packet(key, packet),
      publishEnded: () => this.hls.publishEnded(key),
    };
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    if (!acceptMediaRequest(request, response)) return;
    const path = (request.url ?? '/').split('?')[0];
    const found = this.find(path);
    if (!found) return answerJson(response, 404, 'not found');
    const { key, body, segment } = found;
    const serve = (viewer: Viewer | undefined): void => {
      if (!viewer) return answerJson(response, 403, 'refused');
      if (segment) {
        const bytes = this.bytesOf(body);
        viewer.session.videoBytes += bytes.video;
        viewer.session.audioBytes += bytes.audio;
        traffic.bytesOut += body.length;
        // A segment's URL never names other media: it may be cached for good.
        return send(request, response, 'video/mp2t', 'public, max-age=86400, immutable', body);
      }
      send(request, response, 'application/vnd.apple.mpegurl', 'no-cache', body);
    };
    const viewer = this.viewer(request, key, path);
    if (viewer instanceof Promise) {
      viewer
        .then((admitted) => {
          if (!response.destroyed) serve(admitted);
        })
        .catch(() => {
          if (!response.headersSent) answerJson(response, 503, 'the play check failed');
        });
    } else {
      serve(viewer);
    }
  }

  /** The playlist or segment at `path`: its stream key and bytes. */
  private find(path: string): { key: string; body: Buffer; segment: boolean } | undefined {
    let match = PLAYLIST_PATH.exec(path);
    if (match) {
      const [app, room] = [decodePathSegment(match[1]), decodePathSegment(match[2])];
      if (!app || !room || !findApp(this.config, app)?.hls) return undefined;
      const playlist = this.hls.playlist(`${app}/${room}`);
      return playlist === undefined
        ? undefined
        : { key: `${app}/${room}`, body: Buffer.from(playlist), segment: false };
    }
    match = SEGMENT_PATH.exec(path);
    if (match) {
      const [app, file, room] = [
        decodePathSegment(match[1]),
        decodePathSegment(match[2]),
        decodePathSegment(match[3]),
      ];
      if (!app || !file || !room || !findApp(this.config, app)?.hls) return undefined;
      const data = this.hls.segment(`${app}/${room}`, file);
      return data === undefined ? undefined : { key: `${app}/${room}`, body: data, segment: true };
    }
    return undefined;
  }

  /**
   * The viewer making this request (address + User-Agent identify it), new ones announced and, when
   * play hooks are registered, checked once (a refused viewer stays refused until it goes quiet).
   */
  private viewer(
    request: IncomingMessage,
    streamKey: string,
    path: string,
  ): Viewer | undefined | Promise<Viewer | undefined> {
    const address = request.socket.remoteAddress ?? '?';
    const agent = String(request.headers['user-agent'] ?? '').slice(0, 256);
    const id = `${streamKey}\n${address}\n${agent}`;
    const known = this.viewers.get(id);
    if (known) {
      this.viewers.delete(id); // re-inserted: the map stays ordered by last request
      known.lastSeen = Date.now();
      this.viewers.set(id, known);
      return known.allowed ? known : undefined;
    }
    if (this.viewers.size >= MAX_TRACKED_VIEWERS) {
      const oldest = this.viewers.entries().next().value;
      if (oldest) this.forget(oldest[0], oldest[1]);
    }
    const viewer: Viewer = {
      streamKey,
      lastSeen: Date.now(),
      allowed: true,
      session: {
        id: newSessionId(),
        protocol: 'hls',
        remoteAddress: address,
        url: path,
        streamId: 0,
        since: new Date(),
        videoBytes: 0,
        audioBytes: 0,
      },
    };
    this.viewers.set(id, viewer);
    const [app, room] = splitKey(streamKey);
    const announce = () => {
      this.events.emit(StreamEvent.PlayerJoined, {
        app,
        room,
        protocol: 'hls',
        remote_addr: address,
        session_id: viewer.session.id,
      });
      return viewer;
    };
    if (!this.hooks.hasPlayHooks) return announce();
    return this.hooks
      .checkPlay({ app, room, protocol: 'hls', remote_addr: address })
      .then((verdict) => {
        viewer.allowed = verdict.allowed;
        return verdict.allowed ? announce() : undefined;
      });
  }

  private forget(id: string, viewer: Viewer): void {
    this.viewers.delete(id);
    if (!viewer.allowed) return;
    const [app, room] = splitKey(viewer.streamKey);
    this.events.emit(StreamEvent.PlayerLeft, {
      app,
      room,
      protocol: 'hls',
      remote_addr: viewer.session.remoteAddress,
      session_id: viewer.session.id,
    });
  }

  /** Viewers seen within 3 × hls_fragment; older ones are forgotten. */
  private *activeViewers(): Generator<Viewer> {
    this.prune();
    for (const viewer of this.viewers.values()) if (viewer.allowed) yield viewer;
  }

  /** Forgets viewers quiet for 3 × hls_fragment (the map is ordered by last request). */
  private prune(): void {
    const cutoff = Date.now() - 3 * this.config.hls_fragment * 1000;
    for (const [id, viewer] of this.viewers) {
      if (viewer.lastSeen >= cutoff) break;
      this.forget(id, viewer);
    }
  }

  private bytesOf(segment: Buffer): { video: number; audio: number } {
    let counted = this.segmentBytes.get(segment);
    if (!counted) {
      counted = { video: 0, audio: 0 };
      for (
        let offset = 0;
        offset + TS_PACKET_SIZE_BYTES <= segment.length;
        offset += TS_PACKET_SIZE_BYTES
      ) {
        const pid = ((segment[offset + 1] & 0x1f) << 8) | segment[offset + 2];
        if (pid === PID_VIDEO) counted.video += TS_PACKET_SIZE_BYTES;
        else if (pid === PID_AUDIO) counted.audio += TS_PACKET_SIZE_BYTES;
      }
      this.segmentBytes.set(segment, counted);
    }
    return counted;
  }
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function send(
  request: IncomingMessage,
  response: ServerResponse,
  type: string,
  cacheControl: string,
  body: Buffer,
): void {
  response.writeHead(200, {
    'Content-Type': type,
    'Content-Length': body.length,
    'Cache-Control': cacheControl,
  });
  response.end(request.method === 'HEAD' ? undefined : body);
}
