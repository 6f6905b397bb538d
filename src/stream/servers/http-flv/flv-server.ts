import { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { listenOn } from '../../../common/listen';
import { AppConfig } from '../../../config/app-config';
import { PlayerOutput } from '../../core/player-output';
import { PlaySession } from '../../core/session';
import { StreamAccess, StreamPlayer } from '../../core/stream-access';
import { StreamPacket } from '../../core/stream-packet';
import { FLV_TAG, flvFileHeader } from '../../protocols/flv/flv-writer';
import { StatItem, StatSnapshot, StatsService } from '../../stats/stats.service';
import {
  acceptMediaRequest,
  answerJson,
  closeHttpServer,
  createMediaServer,
  decodePathSegment,
} from '../media-http';

const FLV_PATH = /^\/([^/]+)\/([^/]+)\.flv$/;

/** One HTTP-FLV viewer: an FLV header, then the stream's tags, until the publish ends or it leaves. */
class FlvPlayer implements StreamPlayer {
  private output: PlayerOutput | undefined;
  private session: PlaySession | undefined;

  constructor(
    private readonly request: IncomingMessage,
    private readonly response: ServerResponse,
    private readonly writeTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /** Admitted: the answer's head and the FLV header go out before the first tag. */
  begin(session: PlaySession): void {
    this.session = session;
    const { response } = this;
    response.writeHead(200, {
      'Content-Type': 'video/x-flv',
      'Cache-Control': 'no-cache, no-store',
      Connection: 'close',
    });
    response.flushHeaders();
    this.request.socket.setNoDelay(true);
    this.output = new PlayerOutput(
      response,
      this.writeTimeoutMs,
      (reason) => {
        this.logger.warn(`http-flv ${session.remoteAddress}: ${reason}; closing`);
        response.destroy();
      },
      false,
    );
    this.output.writeRaw(flvFileHeader());
    response.on('close', () => {
      this.output?.close();
      session.end();
      this.logger.log(`http-flv ${session.remoteAddress} left ${session.streamKey}`);
    });
  }

  deliver(packet: StreamPacket): void {
    const tag = packet.wire(FLV_TAG);
    if (this.output?.write(packet, tag)) this.session?.sent(packet, tag.length);
  }

  publishEnded(): void {
    this.response.end();
  }

  stop(): void {
    this.response.destroy();
  }
}

/** HTTP-FLV playback on `httpflv_addr`: `GET /{app}/{room}.flv` and `GET /streams` (README "Publish and watch"). */
@Injectable()
export class FlvServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(FlvServer.name);
  private readonly server: Server;

  constructor(
    private readonly config: AppConfig,
    private readonly access: StreamAccess,
    private readonly stats: StatsService,
  ) {
    this.server = createMediaServer('http-flv', config, this.logger, (request, response) =>
      this.handle(request, response),
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.httpflv_addr) return;
    await listenOn(this.server, this.config.httpflv_addr, 'httpflv_addr');
    this.logger.log(`HTTP-FLV listening on ${this.config.httpflv_addr.text}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await closeHttpServer(this.server);
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    if (!acceptMediaRequest(request, response)) return;
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/streams') return answerJson(response, 200, publicListing(this.stats.snapshot()));
    const match = FLV_PATH.exec(path);
    if (!match) return answerJson(response, 404, 'not found');
    const [app, room] = [decodePathSegment(match[1]), decodePathSegment(match[2])];
    if (
      app === undefined ||
      room === undefined ||
      !this.access.serves(app, room, 'http-flv') ||
      !this.access.mightBeLive(app, room)
    )
      return answerJson(response, 404, 'stream not found or not live');
    if (request.method === 'HEAD') {
      response.writeHead(200, { 'Content-Type': 'video/x-flv' }).end();
      return;
    }
    const gone = new AbortController();
    response.on('close', () => gone.abort());
    const remoteAddress = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? 0}`;
    const player = new FlvPlayer(request, response, this.config.write_timeout * 1000, this.logger);
    this.access
      .play(
        {
          app,
          room,
          protocol: 'http-flv',
          remoteAddress,
          url: path,
          mustBeLive: true,
          signal: gone.signal,
        },
        player,
      )
      .then((result) => {
        if (result.ok)
          this.logger.log(`http-flv ${remoteAddress} plays ${result.session.streamKey}`);
        else if (!response.destroyed)
          answerJson(response, httpStatusOf(result.reason), result.message);
      })
      .catch(() => {
        if (!response.headersSent) answerJson(response, 503, 'the play check failed');
      });
  }
}

/** A refused play as HTTP: not served here 404, refused by a hook 403. */
export function httpStatusOf(reason: string): number {
  return reason === 'hook' ? 403 : 404;
}

/**
 * `GET /streams` is public (as in LiveGo), so it names streams and sessions only: `key` and `stream_id`.
 * Addresses, URLs and traffic are for the guarded `/stat/livestat`.
 */
function publicListing(snapshot: StatSnapshot | undefined): {
  publishers: { key: string; stream_id: number }[];
  players: { key: string; stream_id: number }[];
} {
  const brief = (items: readonly StatItem[] = []) =>
    items.map(({ key, stream_id }) => ({ key, stream_id }));
  return { publishers: brief(snapshot?.publishers), players: brief(snapshot?.players) };
}
