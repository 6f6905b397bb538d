import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { listenOn } from '../../common/listen';
import { AppConfig, findApp } from '../../config/app-config';
import { LiveStream, StreamSubscriber } from '../live-stream';
import { PlayerOutput } from '../player-output';
import { newSessionId, StreamRegistry } from '../stream-registry';
import { flvFileHeader, StreamPacket } from '../stream-packet';
import { PacketType } from '../media-packet';

const FLV_PATH = /^\/([^/]+)\/([^/]+)\.flv$/;

/** One HTTP-FLV viewer: an FLV header, then the stream's tags, until the publish ends or it leaves. */
export class FlvPlayer implements StreamSubscriber {
  readonly id = newSessionId();
  readonly since = new Date();
  readonly counters = { videoBytes: 0, audioBytes: 0 };
  private readonly output: PlayerOutput;

  constructor(
    private readonly response: ServerResponse,
    readonly remoteAddress: string,
    readonly url: string,
    writeTimeoutMs: number,
  ) {
    this.output = new PlayerOutput(response, writeTimeoutMs, () => response.destroy());
    this.output.writeRaw(flvFileHeader());
  }

  deliver(packet: StreamPacket): void {
    const tag = packet.flvTag();
    if (!this.output.write(packet, tag)) return;
    if (packet.type === PacketType.Video) this.counters.videoBytes += tag.length;
    else if (packet.type === PacketType.Audio) this.counters.audioBytes += tag.length;
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
  readonly players = new Map<FlvPlayer, LiveStream>();

  constructor(
    private readonly config: AppConfig,
    private readonly registry: StreamRegistry,
  ) {
    this.server = createServer((request, response) => this.handle(request, response));
    this.server.keepAliveTimeout = 5000;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.httpflv_addr) return;
    await listenOn(this.server, this.config.httpflv_addr, 'httpflv_addr');
    this.logger.log(`HTTP-FLV listening on ${this.config.httpflv_addr.text}`);
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    response.setHeader('Access-Control-Allow-Origin', '*');
    if (request.method === 'OPTIONS') {
      response.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS' }).end();
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return sendJson(response, 405, 'method not allowed');
    }
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/streams') return sendJson(response, 200, this.streams());
    const match = FLV_PATH.exec(path);
    if (!match) return sendJson(response, 404, 'not found');
    const [app, room] = [safeDecode(match[1]), safeDecode(match[2])];
    const entry = app === undefined ? undefined : findApp(this.config, app);
    const stream =
      entry?.flv && room !== undefined ? this.registry.get(app as string, room) : undefined;
    if (!stream?.isLive) return sendJson(response, 404, 'stream not found or not live');
    if (request.method === 'HEAD') {
      response.writeHead(200, { 'Content-Type': 'video/x-flv' }).end();
      return;
    }
    response.writeHead(200, {
      'Content-Type': 'video/x-flv',
      'Cache-Control': 'no-cache, no-store',
      Connection: 'close',
    });
    response.flushHeaders();
    request.socket.setNoDelay(true);
    const remote = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? 0}`;
    const player = new FlvPlayer(response, remote, path, this.config.write_timeout * 1000);
    this.players.set(player, stream);
    response.on('close', () => {
      player.close();
      this.players.delete(player);
      this.registry.detach(stream, player);
    });
    stream.attach(player);
  }

  /** LiveGo's `/streams`: who publishes and who plays on this instance. */
  private streams(): { publishers: object[]; players: object[] } {
    const publishers = this.registry
      .all()
      .filter((stream) => stream.isLive)
      .map((stream) => ({ key: stream.key, id: stream.publisher?.id, url: stream.publisher?.url }));
    const players = [...this.players].map(([player, stream]) => ({
      key: stream.key,
      id: player.id,
      url: player.url,
    }));
    return { publishers, players };
  }
}

function sendJson(response: ServerResponse, status: number, data: unknown): void {
  const body = JSON.stringify(status === 200 ? data : { status, data });
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' }).end(body);
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
