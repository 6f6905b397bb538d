import { Logger } from '@nestjs/common';
import { errorText } from '../../common/errors';
import type { RtmpUrl } from '../../common/urls';
import { MediaPacket } from '../core/media-packet';
import { PublishSession } from '../core/session';
import { StreamAccess } from '../core/stream-access';
import { RtmpRelayClient } from '../servers/rtmp/rtmp-client';
import { HeldMedia } from './held-media';
import { Backoff } from './backoff';
import { RelayEvents } from './relay-events';

/**
 * Pulls a far-end stream into local `app/name`, as its publisher (a publish opened by the API, so no key
 * is asked), reconnecting when the far end drops. Another publisher taking the room over ends it.
 */
export class PullRelay {
  private client: RtmpRelayClient | undefined;
  private session: PublishSession | undefined;
  private readonly held = new HeldMedia();
  private readonly backoff = new Backoff();
  private stopped = false;

  constructor(
    readonly app: string,
    readonly name: string,
    readonly target: RtmpUrl,
    private readonly access: StreamAccess,
    private readonly logger: Logger,
    readonly events: RelayEvents,
    /** Called when the relay gave way to another publisher. */
    private readonly onGone: () => void,
  ) {}

  get connected(): boolean {
    return this.client?.isReady ?? false;
  }

  start(): void {
    if (this.stopped) return;
    this.backoff.started();
    const client = new RtmpRelayClient(this.target, 'play', {
      ready: () =>
        this.logger.log(`pull ${this.target.redacted} → ${this.app}/${this.name}: playing`),
      media: (packet) => this.onMedia(client, packet),
      closed: (reason) => this.onClosed(reason),
    });
    this.client = client;
    client.start();
  }

  stop(): void {
    this.stopped = true;
    this.backoff.cancel();
    this.client?.close('relay stopped');
    this.endPublish();
  }

  private onMedia(client: RtmpRelayClient, packet: MediaPacket): void {
    if (this.stopped || this.client !== client) return;
    if (this.session) return this.session.push(packet.type, packet.timestamp, packet.payload);
    if (!this.held.hold(packet)) return;
    this.open(client).catch((error: unknown) =>
      client.close(`publish failed: ${errorText(error)}`),
    );
  }

  /** Opens the local publish on the first packet; what arrived meanwhile follows in order. */
  private async open(client: RtmpRelayClient): Promise<void> {
    const result = await this.access.publish(
      {
        app: this.app,
        name: this.name,
        protocol: 'relay',
        remoteAddress: `${this.target.host}:${this.target.port}`,
        streamId: client.messageStreamId,
        url: () => this.target.redacted,
        byApi: true,
      },
      { stop: () => this.giveWay() },
    );
    if (this.stopped || this.client !== client || !client.isReady) {
      if (result.ok) result.session.end(); // the far end went while the publish was opened
      return;
    }
    if (!result.ok) {
      this.held.drop();
      return client.close(`local publish refused: ${result.message}`);
    }
    this.session = result.session;
    this.held.release(result.session);
  }

  /** Another publisher took the room over: this relay gives way for good. */
  private giveWay(): void {
    this.logger.log(`pull into ${this.app}/${this.name} replaced by another publisher; stopping`);
    this.session = undefined;
    this.stop();
    this.onGone();
  }

  private onClosed(reason: string): void {
    this.endPublish();
    if (this.stopped) return;
    this.events.failed(reason);
    const delay = this.backoff.schedule(() => this.start());
    this.logger.warn(
      `pull ${this.target.redacted} → ${this.app}/${this.name}: ${reason}; retrying in ${delay / 1000} s`,
    );
  }

  private endPublish(): void {
    this.held.drop();
    this.session?.end();
    this.session = undefined;
  }
}
