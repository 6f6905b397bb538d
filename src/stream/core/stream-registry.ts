import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { LiveStream, StreamSubscriber } from './live-stream';
import { PublishSession } from './session';
import { streamKey } from './stream-name';
import { StreamPacket } from './stream-packet';

/**
 * Called when a publish starts; may return a subscriber (HLS segmenter, archive, static push) that is
 * attached to the stream for the duration of that publish.
 */
export type PublishListener = (stream: LiveStream) => StreamSubscriber | undefined;

/**
 * Every stream of this instance, by `app/room`, and its fan-out: who publishes, who reads. Only
 * StreamAccess changes it; sessions, admission and events are StreamAccess's business, not this one's.
 */
@Injectable()
export class StreamRegistry {
  private readonly logger = new Logger(StreamRegistry.name);
  private readonly streams = new Map<string, LiveStream>();
  private readonly publishListeners: PublishListener[] = [];
  /** Internal subscribers attached for the current publish of each stream. */
  private readonly internal = new Map<LiveStream, StreamSubscriber[]>();

  constructor(private readonly config: AppConfig) {}

  /** The stream `app/room`, if it is live or has waiting players. */
  get(app: string, room: string): LiveStream | undefined {
    return this.streams.get(streamKey(app, room));
  }

  all(): IterableIterator<LiveStream> {
    return this.streams.values();
  }

  onPublish(listener: PublishListener): void {
    this.publishListeners.push(listener);
  }

  /** Makes `publisher` the source of `app/room`; a previous publisher must have ended first. */
  startPublish(app: string, room: string, publisher: PublishSession): LiveStream {
    const current = this.get(app, room);
    if (current?.publisher) this.endPublish(current, current.publisher);
    const stream = this.obtain(app, room);
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
    for (const subscriber of stream.subscribers) {
      if (!attached.includes(subscriber)) subscriber.publishStarted?.();
    }
    return stream;
  }

  /** Feeds one packet of the current publisher. Packets of a replaced one are ignored. */
  push(stream: LiveStream, publisher: PublishSession, packet: StreamPacket): void {
    if (stream.publisher === publisher) stream.push(packet);
  }

  /** The publisher left: subscribers are told, internal ones detached, the stream dropped when unused. */
  endPublish(stream: LiveStream, publisher: PublishSession): void {
    if (stream.publisher !== publisher) return;
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
    this.dropIfUnused(stream);
  }

  /** The entry of `app/room`, created when absent so that a player can wait for a publish. */
  entry(app: string, room: string): LiveStream {
    return this.obtain(app, room);
  }

  /** Attaches a reader: it gets the startup packets now when the stream is live, then every packet. */
  attach(stream: LiveStream, subscriber: StreamSubscriber): void {
    stream.attach(subscriber);
  }

  detach(stream: LiveStream, subscriber: StreamSubscriber): void {
    stream.detach(subscriber);
    this.dropIfUnused(stream);
  }

  private obtain(app: string, room: string): LiveStream {
    const key = streamKey(app, room);
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
