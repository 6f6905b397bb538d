import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import {
  ConflictError,
  errorText,
  InvalidParameterError,
  NotFoundError,
} from '../../common/errors';
import { parseRtmpUrl, RtmpUrl } from '../../common/urls';
import { AppConfig, findApp } from '../../config/app-config';
import { StreamEventBus } from '../../events/stream-event-bus';
import { StreamEvent } from '../../events/stream-events';
import {
  countMediaBytes,
  LiveStream,
  Publisher,
  SessionInfo,
  StreamSubscriber,
} from '../core/live-stream';
import { PacketType } from '../core/media-packet';
import { PlayerOutput } from '../core/player-output';
import { newSessionId, StreamRegistry } from '../core/stream-registry';
import { StreamPacket } from '../core/stream-packet';
import { RelayTarget, RtmpRelayClient } from '../protocols/rtmp/rtmp-client';

/** Reconnect back-off: 1 s, doubling, at most 30 s; back to 1 s after a session that lasted 30 s. */
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;
const STABLE_SESSION_MS = 30_000;

/** A relay as the API describes it when it starts. */
export interface RelayInfo {
  readonly app: string;
  readonly name: string;
  /** The far end without its stream name. */
  readonly url: string;
  readonly connected: boolean;
}

/** Retries an action with back-off until stopped. */
class Backoff {
  private delay = FIRST_RETRY_MS;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;

  started(): void {
    this.startedAt = Date.now();
  }

  schedule(action: () => void): number {
    if (Date.now() - this.startedAt >= STABLE_SESSION_MS) this.delay = FIRST_RETRY_MS;
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, MAX_RETRY_MS);
    clearTimeout(this.timer);
    this.timer = setTimeout(action, delay);
    this.timer.unref();
    return delay;
  }

  cancel(): void {
    clearTimeout(this.timer);
  }
}

/** Pulls a far-end stream into local `app/name`, as its publisher, reconnecting when the far end drops. */
class PullRelay {
  private client: RtmpRelayClient | undefined;
  private stream: LiveStream | undefined;
  private publisher: Publisher | undefined;
  private readonly backoff = new Backoff();
  private stopped = false;

  constructor(
    readonly app: string,
    readonly name: string,
    readonly target: RelayTarget,
    private readonly registry: StreamRegistry,
    private readonly logger: Logger,
    private readonly onGone: () => void,
    private readonly onFailure: (reason: string) => void,
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
      media: (packet) => this.onMedia(packet.type, packet.timestamp, packet.payload),
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

  private onMedia(type: PacketType, timestamp: number, payload: Buffer): void {
    if (this.stopped) return;
    if (!this.publisher || !this.stream) {
      this.publisher = {
        id: newSessionId(),
        protocol: 'relay',
        remoteAddress: `${this.target.host}:${this.target.port}`,
        url: this.target.redacted,
        streamId: this.client?.messageStreamId ?? 0,
        since: new Date(),
        videoBytes: 0,
        audioBytes: 0,
        key: undefined,
        // Another publisher took the room over: this relay gives way for good.
        stop: () => {
          this.logger.log(
            `pull into ${this.app}/${this.name} replaced by another publisher; stopping`,
          );
          this.publisher = undefined;
          this.stop();
          this.onGone();
        },
      };
      this.stream = this.registry.startPublish(this.app, this.name, this.publisher);
    }
    this.registry.push(this.stream, this.publisher, new StreamPacket(type, timestamp, payload));
  }

  private onClosed(reason: string): void {
    this.endPublish();
    if (this.stopped) return;
    this.onFailure(reason);
    const delay = this.backoff.schedule(() => this.start());
    this.logger.warn(
      `pull ${this.target.redacted} → ${this.app}/${this.name}: ${reason}; retrying in ${delay / 1000} s`,
    );
  }

  private endPublish(): void {
    if (this.stream && this.publisher) this.registry.endPublish(this.stream, this.publisher);
    this.stream = undefined;
    this.publisher = undefined;
  }
}

/**
 * Pushes local `app/name` to a far end while it is live: connects when a publish starts, sends the
 * stream's headers and GOP once the far end accepts, then every packet, through a bounded queue.
 */
class PushRelay implements StreamSubscriber {
  readonly session: SessionInfo;
  private client: RtmpRelayClient | undefined;
  private output: PlayerOutput | undefined;
  private readonly backoff = new Backoff();
  private stopped = false;
  private stream: LiveStream | undefined;

  constructor(
    readonly target: RelayTarget,
    private readonly logger: Logger,
    private readonly writeTimeoutMs: number,
    private readonly onFailure: (reason: string) => void,
  ) {
    this.session = {
      id: newSessionId(),
      protocol: 'relay',
      remoteAddress: `${target.host}:${target.port}`,
      url: target.redacted,
      streamId: 0,
      since: new Date(),
      videoBytes: 0,
      audioBytes: 0,
    };
  }

  get connected(): boolean {
    return this.client?.isReady ?? false;
  }

  /** Starts pushing `stream` if it is live now; later publishes start it through publishStarted. */
  begin(stream: LiveStream): void {
    this.stream = stream;
    if (stream.isLive) this.connect();
  }

  deliver(packet: StreamPacket): void {
    const { client, output } = this;
    if (!client?.isReady || !output) return;
    const bytes = packet.rtmpMessage(client.messageStreamId, client.chunkSize);
    if (output.write(packet, bytes)) countMediaBytes(this.session, packet, bytes.length);
  }

  publishStarted(): void {
    this.connect();
  }

  publishEnded(): void {
    this.backoff.cancel();
    this.client?.close('local publish ended');
    this.client = undefined;
  }

  stop(): void {
    this.stopped = true;
    this.publishEnded();
  }

  private connect(): void {
    const stream = this.stream;
    if (this.stopped || this.client || !stream) return;
    this.backoff.started();
    const client = new RtmpRelayClient(this.target, 'publish', {
      ready: () => {
        const socket = client.socketStream;
        if (!socket) return;
        this.output = new PlayerOutput(socket, this.writeTimeoutMs, () =>
          client.close('far end stopped reading'),
        );
        this.logger.log(`push ${stream.key} → ${this.target.redacted}: publishing`);
        for (const packet of stream.startupPackets()) this.deliver(packet);
      },
      closed: (reason) => {
        this.output?.close();
        this.output = undefined;
        if (this.client !== client) return;
        this.client = undefined;
        if (this.stopped || !stream.isLive) return;
        this.onFailure(reason);
        const delay = this.backoff.schedule(() => this.connect());
        this.logger.warn(
          `push ${stream.key} → ${this.target.redacted}: ${reason}; retrying in ${delay / 1000} s`,
        );
      },
    });
    this.client = client;
    client.start();
  }
}

/** `/control/pull`, `/control/push` and `static_push` (SPEC §4, §5). */
@Injectable()
export class RelayService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RelayService.name);
  private readonly pulls = new Map<string, PullRelay>();
  private readonly pushes = new Map<
    string,
    { relay: PushRelay; stream: LiveStream; app: string; name: string; url: string }
  >();

  constructor(
    private readonly config: AppConfig,
    private readonly registry: StreamRegistry,
    private readonly events: StreamEventBus,
  ) {}

  onModuleInit(): void {
    this.registry.onPublish((stream) => this.staticPush(stream));
  }

  onApplicationShutdown(): void {
    for (const pull of this.pulls.values()) pull.stop();
    for (const { relay, stream } of this.pushes.values()) {
      relay.stop();
      this.registry.detach(stream, relay);
    }
    this.pulls.clear();
    this.pushes.clear();
  }

  /** `app` and `name` are checked names (the API's pipes); `target` came from parseRtmpUrl. */
  startPull(appName: string, room: string, target: RtmpUrl): RelayInfo {
    this.checkApp(appName);
    const id = `${appName}/${room}`;
    if (this.pulls.has(id)) throw new ConflictError(`${id} is already pulled`);
    if (this.registry.get(appName, room)?.isLive)
      throw new ConflictError(`${id} already has a publisher`);
    const relay = { direction: 'pull' as const, app: appName, room, url: target.redacted };
    const pull = new PullRelay(
      appName,
      room,
      target,
      this.registry,
      this.logger,
      () => {
        this.pulls.delete(id);
        this.events.emit(StreamEvent.RelayStopped, relay);
      },
      (reason) => this.events.emit(StreamEvent.RelayFailed, { ...relay, reason }),
    );
    this.pulls.set(id, pull);
    pull.start();
    this.events.emit(StreamEvent.RelayStarted, relay);
    this.logger.log(`pull ${target.redacted} → ${id} started`);
    return { app: appName, name: room, url: target.redacted, connected: false };
  }

  stopPull(appName: string, room: string): void {
    this.checkApp(appName);
    const id = `${appName}/${room}`;
    const pull = this.pulls.get(id);
    if (!pull) throw new NotFoundError(`no pull relay into ${id}`);
    this.pulls.delete(id);
    pull.stop();
    this.logger.log(`pull into ${id} stopped`);
    this.events.emit(StreamEvent.RelayStopped, {
      direction: 'pull',
      app: appName,
      room,
      url: pull.target.redacted,
    });
  }

  startPush(appName: string, room: string, target: RtmpUrl): RelayInfo {
    this.checkApp(appName);
    const text = farEnd(target);
    const id = `${appName}/${room} ${text}`;
    if (this.pushes.has(id))
      throw new ConflictError(`${appName}/${room} is already pushed to that url`);
    const fields = { direction: 'push' as const, app: appName, room, url: target.redacted };
    const relay = new PushRelay(target, this.logger, this.config.write_timeout * 1000, (reason) =>
      this.events.emit(StreamEvent.RelayFailed, { ...fields, reason }),
    );
    const stream = this.registry.attach(appName, room, relay);
    this.pushes.set(id, { relay, stream, app: appName, name: room, url: text });
    relay.begin(stream);
    this.events.emit(StreamEvent.RelayStarted, fields);
    this.logger.log(`push ${appName}/${room} → ${target.redacted} started`);
    return { app: appName, name: room, url: target.redacted, connected: relay.connected };
  }

  stopPush(appName: string, room: string, target: RtmpUrl): void {
    this.checkApp(appName);
    const text = farEnd(target);
    const id = `${appName}/${room} ${text}`;
    const entry = this.pushes.get(id);
    if (!entry) throw new NotFoundError(`no push relay of ${appName}/${room} to that url`);
    this.pushes.delete(id);
    entry.relay.stop();
    this.registry.detach(entry.stream, entry.relay);
    this.logger.log(`push ${appName}/${room} → ${entry.relay.target.redacted} stopped`);
    this.events.emit(StreamEvent.RelayStopped, {
      direction: 'push',
      app: appName,
      room,
      url: entry.relay.target.redacted,
    });
  }

  /** `static_push`: every publish on the app is pushed to `{prefix}/{room}` for as long as it lasts. */
  private staticPush(stream: LiveStream): StreamSubscriber | undefined {
    const prefixes = findApp(this.config, stream.app)?.static_push ?? [];
    if (prefixes.length === 0) return undefined;
    // Prefixes passed the same validator at start-up; a failure here is logged, never thrown into the
    // publish that triggered it.
    const relays = prefixes.flatMap((prefix) => {
      let target: RtmpUrl;
      try {
        target = parseRtmpUrl(`${prefix}/${stream.room}`);
      } catch (error) {
        this.logger.warn(`static_push of ${stream.key} skipped: url ${errorText(error)}`);
        return [];
      }
      const fields = {
        direction: 'push' as const,
        app: stream.app,
        room: stream.room,
        url: target.redacted,
      };
      const relay = new PushRelay(target, this.logger, this.config.write_timeout * 1000, (reason) =>
        this.events.emit(StreamEvent.RelayFailed, { ...fields, reason }),
      );
      return [{ relay, fields }];
    });
    if (relays.length === 0) return undefined;
    // Connect once this publish is registered (the listener runs inside startPublish).
    setImmediate(() =>
      relays.forEach(({ relay, fields }) => {
        relay.begin(stream);
        this.events.emit(StreamEvent.RelayStarted, fields);
      }),
    );
    return {
      deliver: (packet) => relays.forEach(({ relay }) => relay.deliver(packet)),
      publishEnded: () =>
        relays.forEach(({ relay, fields }) => {
          relay.stop();
          this.events.emit(StreamEvent.RelayStopped, fields);
        }),
    };
  }

  private checkApp(appName: string): void {
    if (!findApp(this.config, appName)) {
      throw new InvalidParameterError(`app "${appName}" is not configured`);
    }
  }
}

/** A push relay is named by its far end: the URL as parsed, so spellings of one URL are one relay. */
function farEnd(target: RtmpUrl): string {
  return `${target.tcUrl}/${target.streamName}`;
}
