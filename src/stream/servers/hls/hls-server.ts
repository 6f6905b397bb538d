import { createReadStream } from 'node:fs';
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
import {
  acceptMediaRequest,
  answerJson,
  closeHttpServer,
  createMediaServer,
  decodePathSegment,
} from '../media-http';
import { HlsService } from './hls.service';

/** Distinct HLS viewers tracked at once; the oldest is forgotten beyond it (a flood cannot grow memory). */
const MAX_TRACKED_VIEWERS = 100_000;
/** How often quiet viewers are looked for (the map is ordered by last request: a check stops early). */
const VIEWER_PRUNE_INTERVAL_MS = 1000;

/** One HLS viewer (address + User-Agent of one room): its session once StreamAccess has answered. */
interface Viewer {
  lastSeen: number;
  /** The session, or undefined when refused; settles once. */
  readonly admitted: Promise<PlaySession | undefined>;
  session: PlaySession | undefined;
}

/** A room muxed on demand (`hls_on_demand`): its live stream, and whether someone fetches it. */
interface OnDemand {
  readonly stream: LiveStream;
  muxing: boolean;
  lastRequest: number;
}

/** What a request names: a room's playlist, or one of its files. */
interface Target {
  readonly app: string;
  readonly room: string;
  readonly file?: string;
}

const PLAYLIST_PATH = /^\/([^/]+)\/([^/]+)\.m3u8$/;
/** `{room}-{n}.ts` (mpegts), `{room}-{publish}-{n}[.{part}].m4s` and `{room}-{publish}-init{v}.mp4` (fMP4). */
const FILE_PATH =
  /^\/([^/]+)\/(([^/]+?)-(?:\d{1,15}\.ts|[0-9a-z]{1,16}-(?:\d{1,15}(?:\.\d{1,6})?\.m4s|init\d{1,6}\.mp4)))$/;
/** How long one wait for a room's change lasts before the condition is looked at again. */
const WAIT_STEP_MS = 1000;

function parseTarget(path: string): Target | undefined {
  let match = PLAYLIST_PATH.exec(path);
  if (match) {
    const [app, room] = [decodePathSegment(match[1]), decodePathSegment(match[2])];
    return app && room ? { app, room } : undefined;
  }
  match = FILE_PATH.exec(path);
  if (!match) return undefined;
  const [app, file, room] = [
    decodePathSegment(match[1]),
    decodePathSegment(match[2]),
    decodePathSegment(match[3]),
  ];
  return app && file && room ? { app, room, file } : undefined;
}

/** `_HLS_msn` / `_HLS_part` of a blocking playlist reload (RFC 8216bis §6.2.5.2), checked. */
function blockingReload(
  query: URLSearchParams,
): { msn: number; part: number | undefined } | undefined | 'invalid' {
  const msn = query.get('_HLS_msn');
  const part = query.get('_HLS_part');
  if (msn === null) return part === null ? undefined : 'invalid';
  const whole = /^\d{1,15}$/;
  if (!whole.test(msn) || (part !== null && !whole.test(part))) return 'invalid';
  return { msn: Number(msn), part: part === null ? undefined : Number(part) };
}

function contentType(file: string): string {
  return file.endsWith('.ts') ? 'video/mp2t' : 'video/mp4';
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
  private readonly onDemand = new Map<string, OnDemand>();
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
    // Without an HLS listener nothing would ever fetch: nothing is muxed.
    if (this.config.hls_addr) this.access.onPublish((stream) => this.segment(stream));
    // Viewers that went quiet are ended even when nobody reads the stats.
    this.pruneTimer = setInterval(() => {
      this.prune();
      this.stopIdleMuxing();
    }, VIEWER_PRUNE_INTERVAL_MS);
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

  /**
   * Feeds a publish on an `hls: true` app to the muxer; with `hls_on_demand` only while someone fetches
   * it (muxing then starts from the stream's cached GOP, so the first segment comes quickly).
   */
  private segment(stream: LiveStream): StreamSubscriber | undefined {
    if (!findApp(this.config, stream.app)?.hls) return undefined;
    const key = stream.key;
    if (!this.config.hls_on_demand) {
      this.hls.publishStarted(key);
      return {
        deliver: (packet: StreamPacket) => this.hls.packet(key, packet),
        publishEnded: () => this.hls.publishEnded(key),
      };
    }
    const demand: OnDemand = { stream, muxing: false, lastRequest: 0 };
    this.onDemand.set(key, demand);
    return {
      deliver: (packet: StreamPacket) => {
        if (demand.muxing) this.hls.packet(key, packet);
      },
      publishEnded: () => {
        if (this.onDemand.get(key) === demand) this.onDemand.delete(key);
        if (demand.muxing) this.hls.publishEnded(key);
      },
    };
  }

  /** A request for a room muxed on demand: start muxing it (or keep it going) now. */
  private demand(key: string): void {
    const demand = this.onDemand.get(key);
    if (!demand) return;
    demand.lastRequest = Date.now();
    if (demand.muxing) return;
    demand.muxing = true;
    this.hls.publishStarted(key);
    for (const packet of demand.stream.startupPackets()) this.hls.packet(key, packet);
    this.logger.log(`hls ${key}: muxing on demand`);
  }

  /** Rooms muxed on demand that nobody fetched for 3 × hls_fragment stop muxing and are dropped. */
  private stopIdleMuxing(): void {
    const cutoff = Date.now() - 3 * this.config.hls_fragment * 1000;
    for (const [key, demand] of this.onDemand) {
      if (!demand.muxing || demand.lastRequest >= cutoff) continue;
      demand.muxing = false;
      this.hls.drop(key);
      this.logger.log(`hls ${key}: nobody fetches it; muxing stopped`);
    }
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    if (!acceptMediaRequest(request, response)) return;
    const [path, query = ''] = (request.url ?? '/').split('?', 2);
    const target = parseTarget(path);
    if (!target || !this.access.serves(target.app, target.room, 'hls'))
      return answerJson(response, 404, 'not found');
    const key = streamKey(target.app, target.room);
    this.demand(key);
    void this.answer(request, response, target, key, new URLSearchParams(query), path).catch(() => {
      if (!response.headersSent) answerJson(response, 503, 'the play check failed');
    });
  }

  private async answer(
    request: IncomingMessage,
    response: ServerResponse,
    target: Target,
    key: string,
    query: URLSearchParams,
    path: string,
  ): Promise<void> {
    const { file } = target;
    const gone = () => response.destroyed;
    if (file === undefined) {
      const reload = blockingReload(query);
      if (reload === 'invalid') return answerJson(response, 400, 'bad _HLS_msn / _HLS_part');
      if (this.hls.playlist(key) === undefined) {
        // A room live on another node (cluster): the viewer's session makes this node pull it, and the
        // first request waits for its first segment, as it does for a room muxed on demand.
        const elsewhere =
          !this.access.isLive(target.app, target.room) &&
          this.access.mightBeLive(target.app, target.room);
        if (elsewhere && !(await this.viewer(request, target, path)))
          return answerJson(response, 403, 'refused');
        const waitMs = elsewhere || this.config.hls_on_demand ? this.firstSegmentWaitMs : 0;
        const ready = () => this.hls.playlist(key) !== undefined;
        if (!(await this.waitFor(key, ready, waitMs, gone)))
          return answerJson(response, 404, 'not found');
      }
      const session = await this.viewer(request, target, path);
      if (!session) return answerJson(response, 403, 'refused');
      if (reload && this.hls.isLowLatency) {
        const ready = await this.waitFor(
          key,
          () => this.hls.blocking(key, reload.msn, reload.part) !== 'wait',
          this.blockingLimitMs,
          gone,
        );
        if (gone()) return;
        const state = this.hls.blocking(key, reload.msn, reload.part);
        if (state === 'invalid')
          return answerJson(response, 400, 'that segment is not in or next to the playlist window');
        if (!ready || state !== 'ready')
          return answerJson(response, 503, 'the requested part did not come in time');
      }
      const skip = this.hls.isLowLatency && /^(YES|v2)$/.test(query.get('_HLS_skip') ?? '');
      const text = this.hls.playlist(key, skip);
      if (text === undefined) return answerJson(response, 404, 'not found');
      return send(
        request,
        response,
        'application/vnd.apple.mpegurl',
        'no-cache',
        Buffer.from(text),
      );
    }
    let found = this.hls.segment(key, file);
    // A part the playlist hinted may be asked for before it exists: held, then served whole.
    const hinted = !found && file === this.hls.hintedPart(key);
    if (!found && !hinted) return answerJson(response, 404, 'not found');
    const session = await this.viewer(request, target, path);
    if (!session) return answerJson(response, 403, 'refused');
    if (!found) {
      await this.waitFor(
        key,
        () => this.hls.segment(key, file) !== undefined,
        this.blockingLimitMs,
        gone,
      );
      found = this.hls.segment(key, file);
      if (gone()) return;
      if (!found) return answerJson(response, 503, 'the hinted part did not come in time');
    }
    const length = found.length ?? found.data.length;
    session.sentFile(found.videoBytes, found.audioBytes, length);
    // A segment's or part's name is never reused for other media: it may be cached for good.
    const cache = 'public, max-age=86400, immutable';
    if (found.path === undefined)
      return send(request, response, contentType(file), cache, found.data);
    sendStored(request, response, contentType(file), cache, found.path, found.start ?? 0, length);
  }

  /** Waits until `ready()` or `limitMs` (false), waking at each change of the room. */
  private async waitFor(
    key: string,
    ready: () => boolean,
    limitMs: number,
    gone: () => boolean,
  ): Promise<boolean> {
    const deadline = Date.now() + limitMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0 || gone()) return false;
      if (!(await this.hls.changed(key, Math.min(left, WAIT_STEP_MS)))) {
        // No room yet (muxing on demand is starting) or too many waiters: look again shortly.
        await new Promise((resolve) => setTimeout(resolve, Math.min(left, WAIT_STEP_MS)).unref());
      }
    }
    return true;
  }

  /** A blocking reload or a hinted part is held at most three target durations (then 503). */
  private get blockingLimitMs(): number {
    return 3 * Math.ceil(this.config.hls_fragment) * 1000;
  }

  /** The first request of a room muxed on demand (or pulled from another node) waits this long. */
  private get firstSegmentWaitMs(): number {
    return 2 * this.config.hls_fragment * 1000 + 2000;
  }

  /**
   * The session of the viewer making this request (address + User-Agent identify it). A new one asks
   * StreamAccess once to play (a refused viewer stays refused until it goes quiet).
   */
  private viewer(
    request: IncomingMessage,
    { app, room }: Target,
    path: string,
  ): Promise<PlaySession | undefined> {
    const address = request.socket.remoteAddress ?? '?';
    const agent = String(request.headers['user-agent'] ?? '').slice(0, 256);
    const id = `${streamKey(app, room)}\n${address}\n${agent}`;
    const known = this.viewers.get(id);
    if (known) {
      this.viewers.delete(id); // re-inserted: the map stays ordered by last request
      known.lastSeen = Date.now();
      this.viewers.set(id, known);
      return known.admitted;
    }
    if (this.viewers.size >= MAX_TRACKED_VIEWERS) {
      const oldest = this.viewers.entries().next().value;
      if (oldest) this.forget(oldest[0], oldest[1]);
    }
    const viewer: Viewer = {
      lastSeen: Date.now(),
      session: undefined,
      admitted: this.access
        .play(
          { app, room, protocol: 'hls', remoteAddress: address, url: path },
          undefined,
          // A kick ends the session; the viewer's next request opens a new one.
          { stop: () => this.forget(id, viewer) },
        )
        .then((result) => {
          if (!result.ok) return undefined; // a hook's veto is logged by the hooks
          // Forgotten while the hooks were asked (a flood of new viewers): the session ends at once.
          if (this.viewers.get(id) !== viewer) result.session.end();
          else viewer.session = result.session;
          return result.session;
        }),
    };
    this.viewers.set(id, viewer);
    return viewer.admitted;
  }

  private forget(id: string, viewer: Viewer): void {
    if (this.viewers.get(id) === viewer) this.viewers.delete(id);
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

/** Streams `length` bytes of a segment file from `start` (`hls_dir`); 404 when it is already gone. */
function sendStored(
  request: IncomingMessage,
  response: ServerResponse,
  type: string,
  cacheControl: string,
  path: string,
  start: number,
  length: number,
): void {
  const file = createReadStream(path, { start, end: start + length - 1 });
  file.once('error', () => {
    if (!response.headersSent) answerJson(response, 404, 'not found');
    else response.destroy();
  });
  file.once('open', () => {
    response.writeHead(200, {
      'Content-Type': type,
      'Content-Length': length,
      'Cache-Control': cacheControl,
    });
    if (request.method === 'HEAD') {
      file.destroy();
      response.end();
    } else file.pipe(response);
  });
  response.once('close', () => file.destroy());
}
