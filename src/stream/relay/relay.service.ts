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
import { LiveStream, StreamSubscriber } from '../core/live-stream';
import { StreamAccess } from '../core/stream-access';
import { streamKey } from '../core/stream-name';
import { PullRelay } from './pull-relay';
import { PushRelay } from './push-relay';
import { RelayEvents } from './relay-events';

/** A relay as the API describes it when it starts. */
export interface RelayInfo {
  readonly app: string;
  readonly name: string;
  /** The far end without its stream name. */
  readonly url: string;
  readonly connected: boolean;
}

/** `/control/pull`, `/control/push` and `static_push` (README "Relays"). */
@Injectable()
export class RelayService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RelayService.name);
  private readonly pulls = new Map<string, PullRelay>();
  private readonly pushes = new Map<string, PushRelay>();

  constructor(
    private readonly config: AppConfig,
    private readonly access: StreamAccess,
    private readonly bus: StreamEventBus,
  ) {}

  onModuleInit(): void {
    this.access.onPublish((stream) => this.staticPush(stream));
  }

  onApplicationShutdown(): void {
    for (const pull of this.pulls.values()) pull.stop();
    for (const push of this.pushes.values()) push.stop();
    this.pulls.clear();
    this.pushes.clear();
  }

  /** `app` and `name` are checked names (the API's pipes); `target` came from parseRtmpUrl. */
  startPull(app: string, room: string, target: RtmpUrl): RelayInfo {
    this.checkApp(app);
    const id = streamKey(app, room);
    if (this.pulls.has(id)) throw new ConflictError(`${id} is already pulled`);
    if (this.access.isLive(app, room)) throw new ConflictError(`${id} already has a publisher`);
    const events = new RelayEvents(this.bus, 'pull', app, room, target);
    const pull = new PullRelay(app, room, target, this.access, this.logger, events, () => {
      this.pulls.delete(id);
      events.stopped();
    });
    this.pulls.set(id, pull);
    pull.start();
    events.started();
    this.logger.log(`pull ${target.redacted} → ${id} started`);
    return { app, name: room, url: target.redacted, connected: false };
  }

  stopPull(app: string, room: string): void {
    this.checkApp(app);
    const id = streamKey(app, room);
    const pull = this.pulls.get(id);
    if (!pull) throw new NotFoundError(`no pull relay into ${id}`);
    this.pulls.delete(id);
    pull.stop();
    this.logger.log(`pull into ${id} stopped`);
    pull.events.stopped();
  }

  startPush(app: string, room: string, target: RtmpUrl): RelayInfo {
    this.checkApp(app);
    const id = pushId(app, room, target);
    if (this.pushes.has(id))
      throw new ConflictError(`${app}/${room} is already pushed to that url`);
    const events = new RelayEvents(this.bus, 'push', app, room, target);
    const push = new PushRelay(target, this.logger, this.config.write_timeout * 1000, events);
    this.pushes.set(id, push);
    this.access
      .play(
        {
          app,
          room,
          protocol: 'relay',
          remoteAddress: `${target.host}:${target.port}`,
          url: target.redacted,
          byApi: true,
        },
        push,
      )
      .then((result) => {
        if (!result.ok) this.logger.warn(`push of ${app}/${room} not started: ${result.message}`);
      })
      .catch((error: unknown) =>
        this.logger.error(`push of ${app}/${room} not started: ${errorText(error)}`),
      );
    events.started();
    this.logger.log(`push ${app}/${room} → ${target.redacted} started`);
    return { app, name: room, url: target.redacted, connected: push.connected };
  }

  stopPush(app: string, room: string, target: RtmpUrl): void {
    this.checkApp(app);
    const id = pushId(app, room, target);
    const push = this.pushes.get(id);
    if (!push) throw new NotFoundError(`no push relay of ${app}/${room} to that url`);
    this.pushes.delete(id);
    push.stop();
    this.logger.log(`push ${app}/${room} → ${push.target.redacted} stopped`);
    push.events.stopped();
  }

  /** `static_push`: every publish on the app is pushed to `{prefix}/{room}` for as long as it lasts. */
  private staticPush(stream: LiveStream): StreamSubscriber | undefined {
    const prefixes = findApp(this.config, stream.app)?.static_push ?? [];
    if (prefixes.length === 0) return undefined;
    // Prefixes passed the same validator at start-up; a failure here is logged, never thrown into the
    // publish that triggered it.
    const pushes = prefixes.flatMap((prefix) => {
      let target: RtmpUrl;
      try {
        target = parseRtmpUrl(`${prefix}/${stream.room}`);
      } catch (error) {
        this.logger.warn(`static_push of ${stream.key} skipped: url ${errorText(error)}`);
        return [];
      }
      const events = new RelayEvents(this.bus, 'push', stream.app, stream.room, target);
      return [new PushRelay(target, this.logger, this.config.write_timeout * 1000, events)];
    });
    if (pushes.length === 0) return undefined;
    // Connect once this publish is registered (the listener runs inside startPublish).
    setImmediate(() =>
      pushes.forEach((push) => {
        push.follow(stream);
        push.events.started();
      }),
    );
    return {
      deliver: (packet) => pushes.forEach((push) => push.deliver(packet)),
      publishEnded: () =>
        pushes.forEach((push) => {
          push.stop();
          push.events.stopped();
        }),
    };
  }

  private checkApp(app: string): void {
    if (!findApp(this.config, app))
      throw new InvalidParameterError(`app "${app}" is not configured`);
  }
}

/** A push relay is named by its far end: the URL as parsed, so spellings of one URL are one relay. */
function pushId(app: string, room: string, target: RtmpUrl): string {
  return `${streamKey(app, room)} ${target.tcUrl}/${target.streamName}`;
}
