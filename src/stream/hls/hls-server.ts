import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { listenOn } from '../../common/listen';
import { AppConfig, findApp } from '../../config/app-config';
import { traffic } from '../../metrics/traffic';
import { LiveStream, SessionInfo, StreamSubscriber } from '../live-stream';
import { StatsService } from '../stats/stats.service';
import { newSessionId, StreamRegistry } from '../stream-registry';
import { StreamPacket } from '../stream-packet';
import { HlsService } from './hls.service';
import { PID_AUDIO, PID_VIDEO, TS_PACKET_SIZE_BYTES } from './ts-muxer';

const PLAYLIST_PATH = /^\/([^/]+)\/([^/]+)\.m3u8$/;
const SEGMENT_PATH = /^\/([^/]+)\/(([^/]+)-\d+\.ts)$/;
/** Distinct HLS viewers tracked at once; the oldest is forgotten beyond it (a flood cannot grow memory). */
const MAX_TRACKED_VIEWERS = 100_000;

interface Viewer {
  readonly streamKey: string;
  readonly session: SessionInfo;
  lastSeen: number;
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
  /** Video and audio bytes of each segment, counted once per segment (by PID). */
  private readonly segmentBytes = new WeakMap<Buffer, { video: number; audio: number }>();

  constructor(
    private readonly config: AppConfig,
    private readonly registry: StreamRegistry,
    private readonly hls: HlsService,
    private readonly stats: StatsService,
  ) {
    this.server = createServer((request, response) => this.handle(request, response));
    this.server.keepAliveTimeout = 10_000;
  }

  onModuleInit(): void {
    this.registry.onPublish((stream) => this.segment(stream));
    this.stats.addViewerSource(() => this.activeViewers());
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.hls_addr) return;
    await listenOn(this.server, this.config.hls_addr, 'hls_addr');
    this.logger.log(`HLS listening on ${this.config.hls_addr.text}`);
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
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
    response.setHeader('Access-Control-Allow-Origin', '*');
    if (request.method === 'OPTIONS') {
      response.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS' }).end();
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return notFound(response, 405, 'method not allowed');
    const path = (request.url ?? '/').split('?')[0];
    let match = PLAYLIST_PATH.exec(path);
    if (match) {
      const [app, room] = [decode(match[1]), decode(match[2])];
      const key = `${app}/${room}`;
      const playlist =
        app && room && findApp(this.config, app)?.hls ? this.hls.playlist(key) : undefined;
      if (playlist === undefined) return notFound(response, 404, 'stream not found or not live');
      this.seen(request, key, path, 0, 0);
      return send(
        request,
        response,
        'application/vnd.apple.mpegurl',
        'no-cache',
        Buffer.from(playlist),
      );
    }
    match = SEGMENT_PATH.exec(path);
    if (match) {
      const [app, file, room] = [decode(match[1]), decode(match[2]), decode(match[3])];
      const key = `${app}/${room}`;
      const data =
        app && file && room && findApp(this.config, app)?.hls
          ? this.hls.segment(key, file)
          : undefined;
      if (data === undefined) return notFound(response, 404, 'segment not found');
      const bytes = this.bytesOf(data);
      this.seen(request, key, path, bytes.video, bytes.audio);
      traffic.bytesOut += data.length;
      // A segment's URL never names other media: it may be cached for good.
      return send(request, response, 'video/mp2t', 'public, max-age=86400, immutable', data);
    }
    notFound(response, 404, 'not found');
  }

  /** Records a viewer's request (address + User-Agent identify it). */
  private seen(
    request: IncomingMessage,
    streamKey: string,
    path: string,
    video: number,
    audio: number,
  ): void {
    const address = request.socket.remoteAddress ?? '?';
    const agent = String(request.headers['user-agent'] ?? '').slice(0, 256);
    const id = `${streamKey}\n${address}\n${agent}`;
    let viewer = this.viewers.get(id);
    if (viewer) {
      this.viewers.delete(id); // re-inserted below: the map stays ordered by last request
    } else {
      if (this.viewers.size >= MAX_TRACKED_VIEWERS) {
        const oldest = this.viewers.keys().next().value;
        if (oldest !== undefined) this.viewers.delete(oldest);
      }
      viewer = {
        streamKey,
        lastSeen: 0,
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
    }
    viewer.lastSeen = Date.now();
    viewer.session.videoBytes += video;
    viewer.session.audioBytes += audio;
    this.viewers.set(id, viewer);
  }

  /** Viewers seen within 3 × hls_fragment; older ones are forgotten. */
  private *activeViewers(): Generator<Viewer> {
    const cutoff = Date.now() - 3 * this.config.hls_fragment * 1000;
    for (const [id, viewer] of this.viewers) {
      if (viewer.lastSeen < cutoff) this.viewers.delete(id);
      else yield viewer;
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

function notFound(response: ServerResponse, status: number, data: string): void {
  response
    .writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-cache',
    })
    .end(JSON.stringify({ status, data }));
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
