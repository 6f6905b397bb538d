import { PacketType } from './media-packet';
import { MediaTraffic } from './media-traffic';
import { streamKey } from './stream-name';
import { StreamPacket } from './stream-packet';

export type PublishProtocol = 'rtmp' | 'rtmps' | 'relay';
export type PlayProtocol = 'rtmp' | 'rtmps' | 'http-flv' | 'hls' | 'relay';
export type SessionRole = 'publisher' | 'player';

/** What stats, events and the API know of a publisher or a player. */
export interface SessionInfo {
  /** Unique in this process; `session_id` in events, the id `/control/kick` takes. */
  readonly id: number;
  readonly role: SessionRole;
  readonly app: string;
  readonly room: string;
  readonly protocol: string;
  readonly remoteAddress: string;
  /** The path the peer used, without secrets (a publisher's key is never here). */
  readonly url: string;
  /** RTMP message stream id (0 for HTTP). */
  readonly streamId: number;
  readonly since: Date;
  readonly videoBytes: number;
  readonly audioBytes: number;
}

/** The protocol side of a session: how the core ends it (replacement, revocation, a kick). */
export interface SessionEndpoint {
  /** Close the peer's connection; the protocol then ends the session. */
  stop(reason: string): void;
}

export type SessionFields = Pick<
  SessionInfo,
  'app' | 'room' | 'protocol' | 'remoteAddress' | 'url' | 'streamId'
>;

/**
 * A publisher or a player, opened by StreamAccess only. The protocol that holds it counts its bytes and
 * calls `end()` when its peer leaves; the core calls `stop()` on it to close the peer.
 */
export abstract class StreamSession implements SessionInfo {
  abstract readonly role: SessionRole;
  readonly app: string;
  readonly room: string;
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly url: string;
  readonly streamId: number;
  readonly since = new Date();
  videoBytes = 0;
  audioBytes = 0;
  private ended = false;

  constructor(
    readonly id: number,
    fields: SessionFields,
    private readonly endpoint: SessionEndpoint,
    protected readonly traffic: MediaTraffic,
    private readonly onEnd: (session: StreamSession) => void,
  ) {
    ({
      app: this.app,
      room: this.room,
      protocol: this.protocol,
      remoteAddress: this.remoteAddress,
      url: this.url,
      streamId: this.streamId,
    } = fields);
  }

  /** `app/room`. */
  get streamKey(): string {
    return streamKey(this.app, this.room);
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /** Closes the peer (its protocol ends the session when the connection goes). */
  stop(reason: string): void {
    this.endpoint.stop(reason);
  }

  /** The peer left: the session is over. Safe to call more than once. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(this);
  }

  protected count(type: PacketType, bytes: number): void {
    if (type === PacketType.Video) this.videoBytes += bytes;
    else if (type === PacketType.Audio) this.audioBytes += bytes;
  }
}

/** The source of a live stream. */
export class PublishSession extends StreamSession {
  readonly role = 'publisher';

  constructor(
    id: number,
    fields: SessionFields,
    /** The key it was admitted with; undefined when admitted by room name (`rtmp_noauth`) or by the API. */
    readonly admittedKey: string | undefined,
    endpoint: SessionEndpoint,
    traffic: MediaTraffic,
    onEnd: (session: StreamSession) => void,
    private readonly fanOut: (session: PublishSession, packet: StreamPacket) => void,
  ) {
    super(id, fields, endpoint, traffic, onEnd);
  }

  /** One media message from the publisher: classified once, counted, handed to every reader. */
  push(type: PacketType, timestamp: number, payload: Buffer): void {
    if (!this.isOpen) return;
    this.count(type, payload.length);
    this.fanOut(this, new StreamPacket(type, timestamp, payload));
  }
}

/** A viewer of a stream, on any protocol (an HLS viewer fetches files and is not a stream subscriber). */
export class PlaySession extends StreamSession {
  readonly role = 'player';

  /** `bytes` of `packet` were queued for the player. */
  sent(packet: StreamPacket, bytes: number): void {
    this.count(packet.type, bytes);
    this.traffic.bytesOut += bytes;
  }

  /** A file was sent whole (an HLS segment): its video and audio bytes, and its size. */
  sentFile(videoBytes: number, audioBytes: number, totalBytes: number): void {
    this.videoBytes += videoBytes;
    this.audioBytes += audioBytes;
    this.traffic.bytesOut += totalBytes;
  }
}
