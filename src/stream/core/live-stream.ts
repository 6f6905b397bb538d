import { PublishSession } from './session';
import { streamKey } from './stream-name';
import { StreamPacket } from './stream-packet';

/**
 * Anything fed with a stream's packets: a player, or an internal consumer (HLS, archive, relay push).
 * Implementations must not throw and must not block: a slow consumer drops or closes itself.
 */
export interface StreamSubscriber {
  deliver(packet: StreamPacket): void;
  /** The stream's publisher left (the subscriber may stay for the next one, or close). */
  publishEnded?(): void;
  /** A publish started on the stream this subscriber was already attached to. */
  publishStarted?(): void;
}

/** Largest GOP cache a stream keeps; a publisher that never sends a keyframe cannot grow it further. */
const MAX_GOP_CACHE_BYTES = 32 * 1024 * 1024;

/** One stream (`app/room`): its publisher, subscribers, and what a new player needs to start at once. */
export class LiveStream {
  publisher: PublishSession | undefined;
  readonly subscribers = new Set<StreamSubscriber>();
  private metadata: StreamPacket | undefined;
  private audioHeader: StreamPacket | undefined;
  private videoHeader: StreamPacket | undefined;
  /** The last `gopNum` GOPs, each starting with a keyframe. */
  private gops: StreamPacket[][] = [];
  private gopBytes = 0;

  constructor(
    readonly app: string,
    readonly room: string,
    private readonly gopNum: number,
  ) {}

  get key(): string {
    return streamKey(this.app, this.room);
  }

  get isLive(): boolean {
    return this.publisher !== undefined;
  }

  /** Packets a new subscriber gets before live ones: metadata, sequence headers, cached GOPs. */
  startupPackets(): StreamPacket[] {
    const packets: StreamPacket[] = [];
    if (this.metadata) packets.push(this.metadata);
    if (this.audioHeader) packets.push(this.audioHeader);
    if (this.videoHeader) packets.push(this.videoHeader);
    for (const gop of this.gops) packets.push(...gop);
    return packets;
  }

  /** Caches what a new player needs, then hands the packet to every subscriber. */
  push(packet: StreamPacket): void {
    this.remember(packet);
    for (const subscriber of this.subscribers) subscriber.deliver(packet);
  }

  /** Starts a subscriber: startup packets now (when live), then every pushed packet. */
  attach(subscriber: StreamSubscriber): void {
    if (this.isLive) for (const packet of this.startupPackets()) subscriber.deliver(packet);
    this.subscribers.add(subscriber);
  }

  detach(subscriber: StreamSubscriber): void {
    this.subscribers.delete(subscriber);
  }

  /** Forgets the previous publish's headers and GOPs (a new publisher may use other codecs). */
  resetCaches(): void {
    this.metadata = undefined;
    this.audioHeader = undefined;
    this.videoHeader = undefined;
    this.gops = [];
    this.gopBytes = 0;
  }

  private remember(packet: StreamPacket): void {
    if (packet.isMetadata) {
      this.metadata = packet;
      return;
    }
    if (packet.isSequenceHeader) {
      if (packet.isVideo) this.videoHeader = packet;
      else this.audioHeader = packet;
      return;
    }
    if (this.gopNum === 0) return;
    if (packet.isKeyframe) {
      this.gops.push([]);
      while (this.gops.length > this.gopNum) {
        for (const old of this.gops.shift() ?? []) this.gopBytes -= old.payload.length;
      }
    }
    const current = this.gops[this.gops.length - 1];
    if (!current) return; // nothing cached until the first keyframe
    current.push(packet);
    this.gopBytes += packet.payload.length;
    if (this.gopBytes > MAX_GOP_CACHE_BYTES) {
      this.gops = [];
      this.gopBytes = 0;
    }
  }
}
