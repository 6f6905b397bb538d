import { Logger } from '@nestjs/common';
import { errorText } from '../../common/errors';
import { parseRtmpUrl, RtmpUrl } from '../../common/urls';
import { MediaPacket } from '../core/media-packet';
import { RoomHost, RoomLease } from '../core/room-directory';
import { PublishSession } from '../core/session';
import { streamKey } from '../core/stream-name';
import { HeldMedia } from '../relay/held-media';
import { RtmpRelayClient } from '../servers/rtmp/rtmp-client';
import { CLUSTER_PULL_PARAM, RoomClaim } from './cluster-names';
import type { ClusterIdentity } from './redis-room-directory';

/** README "Cluster": the upstream closes this long after its last local reader left. */
export const EDGE_IDLE_CLOSE_MS = 10_000;
/** How long a reader that must see the stream live (HTTP-FLV) waits for the pull's first packet. */
const FIRST_PACKET_WAIT_MS = 3000;
/** Between look-ups while the room is live nowhere (or here): well within README "Cluster"'s 3 s to reconnect. */
const LOOKUP_INTERVAL_MS = 1000;
/** After an upstream broke: look the room up again at once, then at this pace. */
const RECONNECT_DELAY_MS = 250;

export interface EdgePullContext {
  lookup(): Promise<RoomClaim | undefined>;
  /** The pull has no reader left and closed. */
  gone(pull: EdgePull): void;
}

/**
 * The one upstream of `app/room` on this node (README "Cluster"): while local readers hold leases, it finds the
 * room's owner in Redis, plays it over RTMP with the relay client and publishes it here as a pulled copy
 * (protocol `relay`, never claimed), which local players, the HLS muxer and stats share. When the owner
 * changes or the upstream breaks it looks again; when the room is gone, the copy ends (players get the end
 * of the stream). It is dormant while this node has its own publisher for the room.
 */
export class EdgePull {
  private readers = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private client: RtmpRelayClient | undefined;
  /** The claim the current upstream follows. */
  private source: string | undefined;
  private session: PublishSession | undefined;
  private readonly held = new HeldMedia();
  private waiters: ((live: boolean) => void)[] = [];
  private looking = false;
  private disposed = false;
  readonly since = new Date();

  constructor(
    readonly app: string,
    readonly room: string,
    private readonly host: RoomHost,
    private readonly identity: ClusterIdentity,
    private readonly logger: Logger,
    private readonly context: EdgePullContext,
  ) {}

  get key(): string {
    return streamKey(this.app, this.room);
  }

  /** The owner the upstream plays from (`rtmp://host:port`), when connected. */
  get upstream(): string | undefined {
    return this.client?.isReady ? this.target?.redacted : undefined;
  }

  private target: RtmpUrl | undefined;

  /** A local reader joins: the pull starts (or goes on). */
  join(): RoomLease {
    this.readers++;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.kick(0);
    let released = false;
    return {
      live: this.whenLive(),
      release: () => {
        if (released) return;
        released = true;
        this.leave();
      },
    };
  }

  /** The room's claim changed (another owner, or released): follow it at once. */
  ownerChanged(claim: string | undefined): void {
    if (this.disposed || this.readers === 0) return;
    if (this.client && claim !== this.source) this.client.close('the room has another owner');
    else if (!this.client) this.kick(0);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.idleTimer);
    clearTimeout(this.retryTimer);
    this.client?.close('no local reader left');
    this.client = undefined;
    this.endCopy();
    this.settle(false);
    this.context.gone(this);
  }

  private leave(): void {
    this.readers = Math.max(0, this.readers - 1);
    if (this.readers > 0 || this.disposed) return;
    if (!this.client && !this.session) return this.dispose();
    this.idleTimer = setTimeout(() => this.dispose(), EDGE_IDLE_CLOSE_MS);
    this.idleTimer.unref();
  }

  private whenLive(): Promise<boolean> {
    if (this.session?.isOpen && !this.held.opening) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), FIRST_PACKET_WAIT_MS);
      timer.unref();
      const finish = (live: boolean) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== finish);
        resolve(live);
      };
      this.waiters.push(finish);
    });
  }

  private settle(live: boolean): void {
    for (const waiter of [...this.waiters]) waiter(live);
  }

  /** Looks the room up after `delayMs` (once at a time). */
  private kick(delayMs: number): void {
    if (this.disposed || this.client || this.retryTimer || this.looking) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.look();
    }, delayMs);
    this.retryTimer.unref();
  }

  private async look(): Promise<void> {
    if (this.disposed || this.client || this.readers === 0) return;
    if (this.host.ownsLive(this.app, this.room)) return this.kick(LOOKUP_INTERVAL_MS); // dormant
    this.looking = true;
    const claim = await this.context.lookup();
    this.looking = false;
    if (this.disposed || this.client || this.readers === 0) return;
    if (
      !claim ||
      claim.node === this.identity.nodeId ||
      claim.advertise === this.identity.advertise
    ) {
      // Live nowhere (or the claim is this node's, about to be refreshed or released): wait for it.
      this.settle(false);
      return this.kick(LOOKUP_INTERVAL_MS);
    }
    this.connect(claim);
  }

  private connect(claim: RoomClaim): void {
    let target: RtmpUrl;
    try {
      const url = parseRtmpUrl(`${claim.advertise}/${this.app}/${this.room}`);
      // The owner serves an edge only what it owns, and never pulls for it (README "Cluster").
      target = { ...url, tcUrl: `${url.tcUrl}?${CLUSTER_PULL_PARAM}=${this.identity.nodeId}` };
    } catch (error) {
      this.logger.warn(
        `${this.key}: owner ${claim.node} advertises a bad address: ${errorText(error)}`,
      );
      return this.kick(LOOKUP_INTERVAL_MS);
    }
    this.target = target;
    this.source = JSON.stringify(claim);
    const client = new RtmpRelayClient(target, 'play', {
      ready: () => this.logger.log(`${this.key}: pulling from ${claim.node} (${claim.advertise})`),
      media: (packet) => this.onMedia(client, packet),
      closed: (reason) => this.onClosed(client, reason),
    });
    this.client = client;
    client.start();
  }

  private onMedia(client: RtmpRelayClient, packet: MediaPacket): void {
    if (this.disposed || this.client !== client) return;
    if (this.session && !this.held.opening)
      return this.session.push(packet.type, packet.timestamp, packet.payload);
    if (!this.held.hold(packet)) return;
    this.open(client).catch((error: unknown) =>
      client.close(`publish failed: ${errorText(error)}`),
    );
  }

  /** Opens the local copy on the first packet; what arrived meanwhile follows in order. */
  private async open(client: RtmpRelayClient): Promise<void> {
    const target = this.target;
    const result = await this.host.publish(
      {
        app: this.app,
        name: this.room,
        protocol: 'relay',
        remoteAddress: target ? `${target.host}:${target.port}` : '?',
        streamId: client.messageStreamId,
        url: () => target?.redacted ?? '',
        byApi: true,
        pulled: true,
      },
      { stop: (reason) => this.replacedHere(client, reason) },
    );
    if (this.disposed || this.client !== client || !client.isReady) {
      if (result.ok) result.session.end();
      return;
    }
    if (!result.ok) {
      this.held.drop();
      return client.close(`local publish refused: ${result.message}`);
    }
    this.session = result.session;
    this.held.release(result.session);
    this.settle(true);
  }

  /** A publisher of this node's own took the room over: the copy gives way (dormant while it lives). */
  private replacedHere(client: RtmpRelayClient, reason: string): void {
    this.logger.log(`${this.key}: pulled copy stops: ${reason}`);
    this.session = undefined; // ended by the core
    if (this.client === client) client.close(reason);
  }

  private onClosed(client: RtmpRelayClient, reason: string): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.source = undefined;
    this.endCopy();
    if (this.disposed) return;
    this.logger.log(`${this.key}: upstream ended (${reason}); looking the room up again`);
    if (this.readers === 0) return this.dispose();
    this.kick(RECONNECT_DELAY_MS);
  }

  private endCopy(): void {
    this.held.drop();
    this.session?.end();
    this.session = undefined;
  }
}
