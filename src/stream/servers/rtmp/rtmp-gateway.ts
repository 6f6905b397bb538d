import { readFileSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { listenOn } from '../../../common/listen';
import { peerText, RefusalLog } from '../../../common/peer-text';
import { AppConfig } from '../../../config/app-config';
import { ListenAddress } from '../../../config/listen-address';
import { StreamAccess } from '../../core/stream-access';
import { RtmpConnection, RtmpConnectionContext } from './rtmp-connection';

/** How long publishers asked to reconnect keep their connection before it closes (within §6's 5 s). */
const DRAIN_GRACE_MS = 500;

/**
 * Owns the RTMP and RTMPS listeners (`rtmp_addr`, TLS when `enable_rtmps`; optional `rtmps_addr`) and
 * every connection on them. Starts and stops with the application.
 */
@Injectable()
export class RtmpGateway
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger(RtmpGateway.name);
  private readonly servers: Server[] = [];
  private readonly connections = new Set<RtmpConnection>();
  /** TCP connections open (max_connections), and per remote address (max_connections_per_ip). */
  private open = 0;
  private readonly perAddress = new Map<string, number>();
  private readonly refusals = new RefusalLog(this.logger);
  private readonly context: RtmpConnectionContext;

  constructor(
    private readonly config: AppConfig,
    access: StreamAccess,
  ) {
    this.context = { config, access, logger: this.logger, refusals: this.refusals };
  }

  async onApplicationBootstrap(): Promise<void> {
    const { config } = this;
    if (config.rtmp_addr) {
      await this.listen(config.rtmp_addr, 'rtmp_addr', config.enable_rtmps);
    }
    if (config.rtmps_addr) await this.listen(config.rtmps_addr, 'rtmps_addr', true);
  }

  /**
   * Drain (README "Cluster"): before anything closes, every publisher is asked to reconnect (E-RTMP v2
   * ReconnectRequest), so an encoder that knows it comes back through the balancer to another node
   * while this one still holds the stream; its connection closes shortly after.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const publishers = [...this.connections].filter((connection) => connection.isPublishing);
    for (const connection of publishers)
      connection.requestReconnect('this server is shutting down; reconnect to continue');
    if (publishers.length > 0) await new Promise((resolve) => setTimeout(resolve, DRAIN_GRACE_MS));
  }

  async onApplicationShutdown(): Promise<void> {
    const closed = this.servers.map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const connection of [...this.connections]) connection.close();
    await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, 1000))]);
  }

  private async listen(address: ListenAddress, key: string, secure: boolean): Promise<void> {
    const scheme = secure ? 'rtmps' : 'rtmp';
    const server = secure
      ? createTlsServer(
          {
            cert: readFileSync(this.config.rtmps_cert),
            key: readFileSync(this.config.rtmps_key),
            handshakeTimeout: this.config.read_timeout * 1000,
          },
          (socket: Socket) => this.accept(socket, scheme),
        )
      : createServer((socket) => {
          if (this.admit(socket, scheme)) this.accept(socket, scheme);
        });
    if (secure) {
      // Counted as TCP connections, before their TLS handshakes cost anything.
      server.on('connection', (socket: Socket) => this.admit(socket, scheme));
    }
    server.on('tlsClientError', (error: Error, socket: Socket) => {
      const host = socket.remoteAddress ?? '?';
      this.refusals.warn(
        host,
        'TLS handshake failed',
        `rtmps ${host}:${socket.remotePort ?? 0}: TLS handshake failed: ${peerText(error.message)}`,
      );
    });
    await listenOn(server, address, key);
    this.servers.push(server);
    this.logger.log(`${scheme.toUpperCase()} listening on ${address.text}`);
  }

  /**
   * Counts a new TCP connection against max_connections and max_connections_per_ip, or refuses it at
   * once (before a byte is read). Returns whether it was admitted.
   */
  private admit(socket: Socket, scheme: 'rtmp' | 'rtmps'): boolean {
    const host = socket.remoteAddress ?? '?';
    const held = this.perAddress.get(host) ?? 0;
    const { max_connections, max_connections_per_ip } = this.config;
    let refusal: string | undefined;
    if (this.open >= max_connections) {
      refusal = `max_connections ${max_connections} reached`;
    } else if (held >= max_connections_per_ip) {
      refusal = `max_connections_per_ip ${max_connections_per_ip} reached`;
    }
    if (refusal) {
      this.refusals.warn(
        host,
        refusal,
        `${scheme} ${host}:${socket.remotePort ?? 0}: refused, ${refusal}`,
      );
      socket.destroy();
      return false;
    }
    this.open++;
    this.perAddress.set(host, held + 1);
    socket.once('close', () => {
      this.open--;
      const left = (this.perAddress.get(host) ?? 1) - 1;
      if (left > 0) this.perAddress.set(host, left);
      else this.perAddress.delete(host);
    });
    return true;
  }

  private accept(socket: Socket, scheme: 'rtmp' | 'rtmps'): void {
    const connection = new RtmpConnection(socket, scheme, this.context);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }
}
