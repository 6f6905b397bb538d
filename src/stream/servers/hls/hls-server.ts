import { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { listenOn } from '../../../common/listen';
import { AppConfig, findApp } from '../../../config/app-config';
import { LiveStream, StreamSubscriber } from '../../core/live-stream';
import { PlaySession } from '../../core/session';
import { StreamAccess } from '../../core/stream-access';
import { streamKey } from '../../core/stream-name';
import { StreamPacket } from '../../core/stream-packet';
import { HlsSegment } from '../../protocols/hls/hls-segmenter';
import {
  acceptMediaRequest,
  answerJson,
  closeHttpServer,
  createMediaServer,
  decodePathSegment,
} from '../media-http';
import { HlsService } from './hls.service';

const PLAYLIST_PATH = /^\/([^/]+)\/([^/]+)\.m3u8$/;
const SEGMENT_PATH = /^\/([^/]+)\/(([^/]+)-\d+\.ts)$/;
/** Distinct HLS viewers tracked at once; the oldest is forgotten beyond it (a flood cannot grow memory). */
const MAX_TRACKED_VIEWERS = 100_000;
/** How often quiet viewers are looked for (the map is ordered by last request: a check stops early). */
const VIEWER_PRUNE_INTERVAL_MS = 1000;

/** One HLS viewer (address + User-Agent of one room): its session once StreamAccess has answered. */
interface Viewer {
  lastSeen: number;
  /** The session, or undefined when refused; settles once. */
  readonly admitted: Promise<PlaySession | undefined>;
  settled: boolean;
  session: PlaySession | undefined;
}

/** What a request asks for: a playlist, or a segment. */
interface Found {
  readonly app: string;
  readonly room: string;
  readonly playlist?: Buffer;
  readonly segment?: HlsSegment;
}

/**
 * HLS playback on `hls_addr` (README "Publish and watch"): `/{app}/{room}.m3u8` and its segments, muxed
 * natively by HlsService from every publish on an app with `hls: true`. A viewer is a client (address +
 * User-Agent) that fetched a playlist or segment within 3 × `hls_fragment`: it opens a play session
 * through StreamAccess on its first request and ends it when it goes quiet.
 */
@Injectable()
export class HlsServer implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(HlsServer.name);
  private readonly server: Server;
  private readonly viewers = new Map<string, Viewer>();
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly access: StreamAccess,
    private readonly hls: HlsService,
  ) {
    this.server = createMediaServer('hls', config, this.logger, (request, response) =>
      this.handle(request, response),
    );
  }

  onModuleInit(): void {
    this.access.onPublish((stream) => this.segment(stream));
    // Viewers that went quiet are ended even when nobody reads the stats.
    this.pruneTimer = setInterval(() => this.prune(), VIEWER_PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.hls_addr) return;
    await listenOn(this.server, this.config.hls_addr, 'hls_addr');
    this.logger.log(`HLS listening on ${this.config.hls_addr.text}`);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.pruneTimer);
    for (const viewer of this.viewers.values()) viewer.session?.end();
    this.viewers.clear();
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
    const serve = (session: PlaySession | undefined): void => {
      if (!session) return answerJson(response, 403, 'refused');
      const { segment, playlist } = found;
      if (segment) {
        session.sentFile(segment.videoBytes, segment.audioBytes, segment.data.length);
        // A segment's URL never names other media: it may be cached for good.
        return send(
          request,
          response,
          'video/mp2t',
          'public, max-age=86400, immutable',
          segment.data,
        );
      }
      if (playlist) send(request, response, 'application/vnd.apple.mpegurl', 'no-cache', playlist);
    };
    const viewer = this.viewer(request, found, path);
    if (viewer.settled) return serve(viewer.session);
    viewer.admitted
      .then((session) => {
        if (!response.destroyed) serve(session);
      })
      .catch(() => {
        if (!response.headersSent) answerJson(response, 503, 'the play check failed');
      });
  }

  /** The playlist or segment at `path`, when its app serves HLS and it exists. */
  private find(path: string): Found | undefined {
    let match = PLAYLIST_PATH.exec(path);
    if (match) {
      const [app, room] = [decodePathSegment(match[1]), decodePathSegment(match[2])];
      if (!app || !room || !this.access.serves(app, room, 'hls')) return undefined;
      const playlist = this.hls.playlist(streamKey(app, room));
      return playlist === undefined ? undefined : { app, room, playlist: Buffer.from(playlist) };
    }
    match = SEGMENT_PATH.exec(path);
    if (match) {
      const [app, file, room] = [
        decodePathSegment(match[1]),
        decodePathSegment(match[2]),
        decodePathSegment(match[3]),
      ];
      if (!app || !file || !room || !this.access.serves(app, room, 'hls')) return undefined;
      const segment = this.hls.segment(streamKey(app, room), file);
      return segment === undefined ? undefined : { app, room, segment };
    }
    return undefined;
  }

  /**
   * The viewer making this request (address + User-Agent identify it). A new one asks StreamAccess once
   * to play (a refused viewer stays refused until it goes quiet).
   */
  private viewer(request: IncomingMessage, { app, room }: Found, path: string): Viewer {
    const address = request.socket.remoteAddress ?? '?';
    const agent = String(request.headers['user-agent'] ?? '').slice(0, 256);
    const id = `${streamKey(app, room)}\n${address}\n${agent}`;
    const known = this.viewers.get(id);
    if (known) {
      this.viewers.delete(id); // re-inserted: the map stays ordered by last request
      known.lastSeen = Date.now();
      this.viewers.set(id, known);
      return known;
    }
    if (this.viewers.size >= MAX_TRACKED_VIEWERS) {
      const oldest = this.viewers.entries().next().value;
      if (oldest) this.forget(oldest[0], oldest[1]);
    }
    const admitted = this.access
      .play({ app, room, protocol: 'hls', remoteAddress: address, url: path })
      .then((result) => {
        viewer.settled = true;
        if (!result.ok) return undefined; // a hook's veto is logged by the hooks
        // Forgotten while the hooks were asked (a flood of new viewers): the session ends at once.
        if (this.viewers.get(id) !== viewer) result.session.end();
        else viewer.session = result.session;
        return result.session;
      });
    const viewer: Viewer = { lastSeen: Date.now(), admitted, settled: false, session: undefined };
    this.viewers.set(id, viewer);
    return viewer;
  }

  private forget(id: string, viewer: Viewer): void {
    this.viewers.delete(id);
    viewer.session?.end();
  }

  /** Forgets viewers quiet for 3 × hls_fragment (the map is ordered by last request). */
  private prune(): void {
    const cutoff = Date.now() - 3 * this.config.hls_fragment * 1000;
    for (const [id, viewer] of this.viewers) {
      if (viewer.lastSeen >= cutoff) break;
      this.forget(id, viewer);
    }
  }
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
