import { readFileSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import nmsLogger from 'node-media-server/src/core/logger.js';
import { listenOn } from '../../common/listen';
import { AdmissionHooks } from '../../events/admission-hooks';
import { AppConfig } from '../../config/app-config';
import { ListenAddress } from '../../config/listen-address';
import { KeyService } from '../../key/key.service';
import { PublishAdmission } from '../publish-admission';
import { StreamRegistry } from '../stream-registry';
import { RtmpConnection, RtmpConnectionContext } from './rtmp-connection';

/**
 * How often live publishers' keys are re-read from the store. Revocations also arrive by event (pub/sub
 * with Redis); this catches one missed while an instance was cut off from Redis (SPEC §3: within 5 s).
 */
const KEY_RECHECK_INTERVAL_MS = 2000;
/**
 * A refusal costs a flood nothing, so refusals are logged at most this often, with a count of the ones
 * in between: a flood must not turn into a flood of log lines (a slow log pipe blocks the process).
 */
const REFUSAL_LOG_INTERVAL_MS = 1000;

/**
 * Owns the RTMP and RTMPS listeners (`rtmp_addr`, TLS when `enable_rtmps`; optional `rtmps_addr`) and
 * every connection on them. Starts and stops with the application.
 */
@Injectable()
export class RtmpGateway implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RtmpGateway.name);
  private readonly servers: Server[] = [];
  private readonly connections = new Set<RtmpConnection>();
  private readonly context: RtmpConnectionContext;
  private unsubscribe: (() => void) | undefined;
  private recheckTimer: NodeJS.Timeout | undefined;
  private refusedUnlogged = 0;
  private lastRefusalLog = 0;

  constructor(
    private readonly config: AppConfig,
    private readonly keys: KeyService,
    registry: StreamRegistry,
    admission: PublishAdmission,
    hooks: AdmissionHooks,
  ) {
    this.context = { config, registry, admission, hooks, logger: this.logger };
  }

  async onApplicationBootstrap(): Promise<void> {
    this.routeLibraryLogs();
    const { config } = this;
    if (config.rtmp_addr) {
      await this.listen(config.rtmp_addr, 'rtmp_addr', config.enable_rtmps);
    }
    if (config.rtmps_addr) await this.listen(config.rtmps_addr, 'rtmps_addr', true);
    this.unsubscribe = this.keys.onRevoked(({ key }) => {
      for (const connection of this.connections) {
        if (connection.isPublishing && connection.admittedKey === key) {
          this.logger.log(`${connection.remoteAddress}: its stream key was revoked; disconnecting`);
          connection.close();
        }
      }
    });
    this.recheckTimer = setInterval(() => void this.recheckKeys(), KEY_RECHECK_INTERVAL_MS);
    this.recheckTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.recheckTimer);
    const closed = this.servers.map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const connection of [...this.connections]) connection.close();
    await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, 1000))]);
  }

  private async listen(address: ListenAddress, key: string, secure: boolean): Promise<void> {
    const scheme = secure ? 'rtmps' : 'rtmp';
    const accept = (socket: Socket) => this.accept(socket, scheme);
    const server = secure
      ? createTlsServer(
          {
            cert: readFileSync(this.config.rtmps_cert),
            key: readFileSync(this.config.rtmps_key),
            handshakeTimeout: this.config.read_timeout * 1000,
          },
          accept,
        )
      : createServer(accept);
    server.on('tlsClientError', (error: Error, socket: Socket) =>
      this.logger.warn(
        `rtmps ${socket.remoteAddress ?? '?'}: TLS handshake failed: ${error.message}`,
      ),
    );
    await listenOn(server, address, key);
    this.servers.push(server);
    this.logger.log(`${scheme.toUpperCase()} listening on ${address.text}`);
  }

  private accept(socket: Socket, scheme: 'rtmp' | 'rtmps'): void {
    if (this.connections.size >= this.config.max_connections) {
      this.logRefusal(socket, scheme);
      socket.destroy();
      return;
    }
    const connection = new RtmpConnection(socket, scheme, this.context);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }

  private logRefusal(socket: Socket, scheme: 'rtmp' | 'rtmps'): void {
    const now = Date.now();
    if (now - this.lastRefusalLog < REFUSAL_LOG_INTERVAL_MS) {
      this.refusedUnlogged++;
      return;
    }
    const others = this.refusedUnlogged
      ? ` (and ${this.refusedUnlogged} more since the last one)`
      : '';
    this.logger.warn(
      `${scheme} ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}: refused, max_connections ${this.config.max_connections} reached${others}`,
    );
    this.lastRefusalLog = now;
    this.refusedUnlogged = 0;
  }

  private async recheckKeys(): Promise<void> {
    for (const connection of this.connections) {
      const key = connection.admittedKey;
      const room = connection.room;
      if (!connection.isPublishing || key === undefined || room === undefined) continue;
      try {
        if (!(await this.keys.admits(key, room))) {
          this.logger.log(
            `${connection.remoteAddress}: its stream key no longer admits ${room}; disconnecting`,
          );
          connection.close();
        }
      } catch {
        // The store is unreachable: live publishers keep going; new publishes are refused meanwhile.
      }
    }
  }

  /** node-media-server logs through its own console logger at debug level; send it to ours, at debug. */
  private routeLibraryLogs(): void {
    const libraryLogger = new Logger('node-media-server');
    nmsLogger.log = (message: unknown) => libraryLogger.debug(String(message));
  }
}
