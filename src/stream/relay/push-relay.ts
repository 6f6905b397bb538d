import { Logger } from '@nestjs/common';
import type { RtmpUrl } from '../../common/urls';
import { LiveStream } from '../core/live-stream';
import { PlaySession } from '../core/session';
import { StreamPlayer } from '../core/stream-access';
import { StreamPacket } from '../core/stream-packet';
import { RtmpRelayClient } from '../servers/rtmp/rtmp-client';
import { Backoff } from './backoff';
import { RelayEvents } from './relay-events';

/**
 * Pushes local `app/name` to a far end while it is live: connects when a publish starts, sends the
 * stream's headers and GOP once the far end accepts, then every packet, through the client's bounded
 * queue. An API push is a player session (shown in stats); a `static_push` one is part of its publish.
 */
export class PushRelay implements StreamPlayer {
  private client: RtmpRelayClient | undefined;
  private readonly backoff = new Backoff();
  private stopped = false;
  private stream: LiveStream | undefined;
  private session: PlaySession | undefined;

  constructor(
    readonly target: RtmpUrl,
    private readonly logger: Logger,
    private readonly writeTimeoutMs: number,
    readonly events: RelayEvents,
  ) {}

  get connected(): boolean {
    return this.client?.isReady ?? false;
  }

  /** StreamPlayer: admitted as a player of `stream`. */
  begin(session: PlaySession, stream: LiveStream): void {
    this.session = session;
    this.follow(stream);
  }

  /** Pushes `stream` whenever it is live (now, and at each later publish). */
  follow(stream: LiveStream): void {
    this.stream = stream;
    if (stream.isLive) this.connect();
  }

  deliver(packet: StreamPacket): void {
    const bytes = this.client?.sendMedia(packet) ?? 0;
    if (bytes > 0) this.session?.sent(packet, bytes);
  }

  publishStarted(): void {
    this.connect();
  }

  publishEnded(): void {
    this.backoff.cancel();
    this.client?.close('local publish ended');
    this.client = undefined;
  }

  /** Stops for good (the API, the end of a static push, or the core ending its session). */
  stop(): void {
    this.stopped = true;
    this.publishEnded();
    this.session?.end();
  }

  private connect(): void {
    const stream = this.stream;
    if (this.stopped || this.client || !stream) return;
    this.backoff.started();
    const client = new RtmpRelayClient(
      this.target,
      'publish',
      {
        ready: () => {
          this.logger.log(`push ${stream.key} → ${this.target.redacted}: publishing`);
          for (const packet of stream.startupPackets()) this.deliver(packet);
        },
        closed: (reason) => {
          if (this.client !== client) return;
          this.client = undefined;
          if (this.stopped || !stream.isLive) return;
          this.events.failed(reason);
          const delay = this.backoff.schedule(() => this.connect());
          this.logger.warn(
            `push ${stream.key} → ${this.target.redacted}: ${reason}; retrying in ${delay / 1000} s`,
          );
        },
      },
      this.writeTimeoutMs,
    );
    this.client = client;
    client.start();
  }
}
