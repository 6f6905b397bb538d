import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { StreamEventBus } from '../../events/stream-event-bus';
import { StreamEvent } from '../../events/stream-events';
import {
  countMediaBytes,
  LiveStream,
  Publisher,
  SessionInfo,
  StreamSubscriber,
} from './live-stream';
import { StreamPacket } from './stream-packet';

/**
 * Called when a publish starts; may return a subscriber (HLS segmenter, archive, static push) that is
 * attached to the stream for the duration of that publish.
 */
export type PublishListener = (stream: LiveStream) => StreamSubscriber | undefined;

let nextSessionId = 1;
/** Process-wide session ids for stats (`stream_id` is the RTMP one; this one is unique). */
export function newSessionId(): number {
  return nextSessionId++;
}

/**
 * Every stream of this instance, by `app/room`. Protocol front-ends (RTMP gateway, HTTP-FLV, relays)
 * publish into it and attach players to it; internal consumers register a PublishListener.
 */
@Injectable()
export class StreamRegistry {
  private readonly logger = new Logger(StreamRegistry.name);
  private readonly streams = new Map<string, LiveStream>();
  private readonly publishListeners: PublishListener[] = [];
  /** Internal subscribers attached for the current publish of each stream. */
  private readonly internal = new Map<LiveStream, StreamSubscriber[]>();

  constructor(
    private readonly config: AppConfig,
    private readonly events: StreamEventBus,
  ) {}

  /** The stream `app/room`, if it is live or has waiting players. */
  get(app: string, room: string): LiveStream | undefined {
    return this.streams.get(`${app}/${room}`);
  }

  all(): LiveStream[] {
    return [...this.streams.values()];
  }

  onPublish(listener: PublishListener): void {
    this.publishListeners.push(listener);
  }

  /**
   * Makes `publisher` the source of `app/room`. A publisher already live there is stopped: an encoder
   * reconnecting after a network blip must not be locked out by its own stale session.
   */
  startPublish(app: string, room: string, publisher: Publisher): LiveStream {
    const stream = this.obtain(app, room);
    const previous = stream.publisher;
    if (previous) {
      this.logger.log(
        `${stream.key}: a new publisher from ${publisher.remoteAddress} replaces ${previous.remoteAddress}`,
      );
      this.finishPublish(stream);
      previous.stop('replaced by a new publisher');
    }
    stream.resetCaches();
    stream.publisher = publisher;
    const attached: StreamSubscriber[] = [];
    for (const listener of this.publishListeners) {
      const subscriber = listener(stream);
      if (subscriber) {
        stream.attach(subscriber);
        attached.push(subscriber);
      }
    }
    this.internal.set(stream, attached);
    this.events.emit(StreamEvent.PublishAdmitted, this.sessionFields(stream, publisher));
    for (const subscriber of stream.subscribers) {
      if (!attached.includes(subscriber)) subscriber.publishStarted?.();
    }
    return stream;
  }

  /** Feeds one packet of the current publisher (and counts it). Packets of a replaced one are ignored. */
  push(stream: LiveStream, publisher: Publisher, packet: StreamPacket): void {
    if (stream.publisher !== publisher) return;
    countMediaBytes(publisher, packet, packet.payload.length);
    stream.push(packet);
  }

  /** The publisher left: subscribers are told, internal ones detached, the stream dropped when unused. */
  endPublish(stream: LiveStream, publisher: Publisher): void {
    if (stream.publisher !== publisher) return;
    this.finishPublish(stream);
    this.dropIfUnused(stream);
  }

  /** Attaches a player to `app/room`, creating the stream entry so a player can wait for a publish. */
  attach(app: string, room: string, subscriber: StreamSubscriber): LiveStream {
    const stream = this.obtain(app, room);
    stream.attach(subscriber);
    if (subscriber.session)
      this.events.emit(StreamEvent.PlayerJoined, this.sessionFields(stream, subscriber.session));
    return stream;
  }

  detach(stream: LiveStream, subscriber: StreamSubscriber): void {
    const attached = stream.subscribers.has(subscriber);
    stream.detach(subscriber);
    if (attached && subscriber.session) {
      this.events.emit(StreamEvent.PlayerLeft, this.sessionFields(stream, subscriber.session));
    }
    this.dropIfUnused(stream);
  }

  private finishPublish(stream: LiveStream): void {
    if (stream.publisher)
      this.events.emit(StreamEvent.PublishEnded, this.sessionFields(stream, stream.publisher));
    stream.publisher = undefined;
    const internal = new Set(this.internal.get(stream) ?? []);
    this.internal.delete(stream);
    for (const subscriber of internal) stream.detach(subscriber);
    for (const subscriber of [...internal, ...stream.subscribers]) {
      try {
        subscriber.publishEnded?.();
      } catch (error) {
        this.logger.warn(`${stream.key}: a subscriber failed at publish end: ${String(error)}`);
      }
    }
    stream.resetCaches();
  }

  /** What publish and player events say of a session (a publisher is a session too). */
  private sessionFields(stream: LiveStream, session: SessionInfo) {
    return {
      app: stream.app,
      room: stream.room,
      protocol: session.protocol,
      remote_addr: session.remoteAddress,
      session_id: session.id,
    };
  }

  private obtain(app: string, room: string): LiveStream {
    const key = `${app}/${room}`;
    let stream = this.streams.get(key);
    if (!stream) {
      stream = new LiveStream(app, room, this.config.gop_num);
      this.streams.set(key, stream);
    }
    return stream;
  }

  private dropIfUnused(stream: LiveStream): void {
    if (
      !stream.isLive &&
      stream.subscribers.size === 0 &&
      this.streams.get(stream.key) === stream
    ) {
      this.streams.delete(stream.key);
    }
  }
}
