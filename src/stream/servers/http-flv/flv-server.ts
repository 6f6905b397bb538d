import { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { listenOn } from '../../../common/listen';
import { AppConfig, findApp } from '../../../config/app-config';
import { AdmissionHooks } from '../../../events/admission-hooks';
import { countMediaBytes, LiveStream, SessionInfo, StreamSubscriber } from '../../core/live-stream';
import {
  acceptMediaRequest,
  answerJson,
  closeHttpServer,
  createMediaServer,
  decodePathSegment,
} from '../media-http';
import { StatItem, StatSnapshot, StatsService } from '../../stats/stats.service';
import { PlayerOutput } from '../../core/player-output';
import { newSessionId, StreamRegistry } from '../../core/stream-registry';
import { flvFileHeader, StreamPacket } from '../../core/stream-packet';

const FLV_PATH = /^\/([^/]+)\/([^/]+)\.flv$/;

/** One HTTP-FLV viewer: an FLV header, then the stream's tags, until the publish ends or it leaves. */
export class FlvPlayer implements StreamSubscriber {
  readonly session: SessionInfo;
  private readonly output: PlayerOutput;

  constructor(
    private readonly response: ServerResponse,
    remoteAddress: string,
    url: string,
    writeTimeoutMs: number,
    logger: Logger,
  ) {
    this.session = {
      id: newSessionId(),
      protocol: 'http-flv',
      remoteAddress,
      url,
      streamId: 0,
      since: new Date(),
      videoBytes: 0,
      audioBytes: 0,
    };
    this.output = new PlayerOutput(
      response,
      writeTimeoutMs,
      (reason) => {
        logger.warn(`http-flv ${remoteAddress}: ${reason}; closing`);
        response.destroy();
      },
      false,
    );
    this.output.writeRaw(flvFileHeader());
  }

  deliver(packet: StreamPacket): void {
    const tag = packet.flvTag();
    if (this.output.write(packet, tag)) countMediaBytes(this.session, packet, tag.length);
  }

  publishEnded(): void {
    this.response.end();
  }

  close(): void {
    this.output.close();
  }
}

/** HTTP-FLV playback on `httpflv_addr`: `GET /{app}/{room}.flv` and `GET /streams` (SPEC §1, §5). */
@Injectable()
export class FlvServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(FlvServer.name);
  private readonly server: Server;

  constructor(
    private readonly config: AppConfig,
    private readonly registry: StreamRegistry,
    private readonly stats: StatsService,
    private readonly hooks: AdmissionHooks,
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
    const entry = app === undefined ? undefined : findApp(this.config, app);
    const stream =
      entry?.flv && room !== undefined ? this.registry.get(app as string, room) : undefined;
    if (!stream?.isLive) return answerJson(response, 404, 'stream not found or not live');
    if (request.method === 'HEAD') {
      response.writeHead(200, { 'Content-Type': 'video/x-flv' }).end();
      return;
    }
    const remote = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? 0}`;
    if (!this.hooks.hasPlayHooks) return this.play(request, response, stream, remote, path);
    void this.hooks
      .checkPlay({ app: stream.app, room: stream.room, protocol: 'http-flv', remote_addr: remote })
      .then((verdict) => {
        if (response.destroyed) return;
        if (!verdict.allowed) return answerJson(response, 403, verdict.reason);
        if (!stream.isLive) return answerJson(response, 404, 'stream not found or not live');
        this.play(request, response, stream, remote, path);
      })
      .catch(() => {
        if (!response.headersSent) answerJson(response, 503, 'the play check failed');
      });
  }

  private play(
    request: IncomingMessage,
    response: ServerResponse,
    stream: LiveStream,
    remote: string,
    path: string,
  ): void {
    response.writeHead(200, {
      'Content-Type': 'video/x-flv',
      'Cache-Control': 'no-cache, no-store',
      Connection: 'close',
    });
    response.flushHeaders();
    request.socket.setNoDelay(true);
    const player = new FlvPlayer(
      response,
      remote,
      path,
      this.config.write_timeout * 1000,
      this.logger,
    );
    response.on('close', () => {
      player.close();
      this.registry.detach(stream, player);
      this.logger.log(`http-flv ${remote} left ${stream.key}`);
    });
    this.registry.attach(stream.app, stream.room, player);
    this.logger.log(`http-flv ${remote} plays ${stream.key}`);
  }
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
