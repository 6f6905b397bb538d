import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { StreamEventBus } from '../../events/stream-event-bus';
import { StreamEvent } from '../../events/stream-events';
import { KeyService } from '../../key/key.service';
import { AccessRefusal, PlayRequest, PublishRequest, refusal, StreamAdmission } from './admission';
import { LiveStream, StreamSubscriber } from './live-stream';
import { MediaTraffic } from './media-traffic';
import {
  PlayProtocol,
  PlaySession,
  PublishSession,
  SessionEndpoint,
  SessionFields,
  StreamSession,
} from './session';
import { RoomDirectory, RoomHost, RoomLease } from './room-directory';
import { PublishListener, StreamRegistry } from './stream-registry';

/**
 * How often live publishers' keys are re-read from the store. Revocations also arrive by event (pub/sub
 * with Redis); this catches one missed while an instance was cut off from Redis (README "Keys in memory or in Redis":
 * a revoked key's publisher is gone within 5 s).
 */
const KEY_RECHECK_INTERVAL_MS = 2000;

/** A reader of a stream that a protocol holds: an RTMP or HTTP-FLV player, a push relay. */
export interface StreamPlayer extends StreamSubscriber, SessionEndpoint {
  /** Admitted: called once with its session and stream, before the first packet is delivered. */
  begin(session: PlaySession, stream: LiveStream): void;
}

export type PublishResult = { readonly ok: true; readonly session: PublishSession } | AccessRefusal;
export type PlayResult = { readonly ok: true; readonly session: PlaySession } | AccessRefusal;

/**
 * The one door of the stream core. Every protocol (RTMP, RTMPS, HTTP-FLV, HLS, relays) asks it once to
 * publish or to play and gets a session or a refusal with its reason; config checks, keys, hooks, the
 * session record, stats, revocations and events are behind it. Internal consumers of every publish (HLS
 * muxing, archives, static push) register with `onPublish`.
 */
@Injectable()
export class StreamAccess implements OnApplicationBootstrap, OnApplicationShutdown, RoomHost {
  private readonly logger = new Logger(StreamAccess.name);
  private readonly sessions = new Map<number, StreamSession>();
  private nextSessionId = 1;
  private unsubscribe: (() => void) | undefined;
  private recheckTimer: NodeJS.Timeout | undefined;
  /** Publishes that are copies of a room live on another node (edge pulls). */
  private readonly pulled = new WeakSet<PublishSession>();

  constructor(
    private readonly registry: StreamRegistry,
    private readonly admission: StreamAdmission,
    private readonly keys: KeyService,
    private readonly events: StreamEventBus,
    readonly traffic: MediaTraffic,
    private readonly directory: RoomDirectory,
  ) {
    directory.bind(this);
  }

  onApplicationBootstrap(): void {
    this.unsubscribe = this.keys.onRevoked(({ key }) => {
      for (const session of this.publishers()) {
        if (session.admittedKey === key) this.revoke(session, 'its stream key was revoked');
      }
    });
    this.recheckTimer = setInterval(() => void this.recheckKeys(), KEY_RECHECK_INTERVAL_MS);
    this.recheckTimer.unref();
  }

  onApplicationShutdown(): void {
    this.unsubscribe?.();
    clearInterval(this.recheckTimer);
  }

  /**
   * Asks to publish `request.name` on `request.app`. Admitted: the room is live with this session as its
   * source (a publisher already live there is stopped: an encoder reconnecting after a blip must not be
   * locked out by its own stale session). Refused: nothing changed, and `publish.refused` was emitted.
   */
  async publish(request: PublishRequest, endpoint: SessionEndpoint): Promise<PublishResult> {
    const verdict = await this.admission.publish(request);
    if (!verdict.ok) {
      this.events.emit(StreamEvent.PublishRefused, {
        app: request.app,
        protocol: request.protocol,
        remote_addr: request.remoteAddress,
        reason: verdict.reason,
        description: verdict.message,
      });
      return verdict;
    }
    if (request.signal?.aborted) return refusal('closed', 'the peer left');
    const { room } = verdict;
    if (!request.pulled) {
      const refused = await this.directory.claim(request.app, room);
      if (refused) {
        this.events.emit(StreamEvent.PublishRefused, {
          app: request.app,
          protocol: request.protocol,
          remote_addr: request.remoteAddress,
          reason: refused.reason,
          description: refused.message,
        });
        return refused;
      }
      if (request.signal?.aborted) {
        this.directory.closed(request.app, room, undefined);
        return refusal('closed', 'the peer left');
      }
    }
    const fields = this.fields(request, room, request.url(room));
    const session = new PublishSession(
      this.nextSessionId++,
      fields,
      verdict.key,
      endpoint,
      this.traffic,
      (ended) => this.endPublish(ended as PublishSession),
      (source, packet) => this.registry.push(stream, source, packet),
    );
    const previous = this.registry.get(request.app, room)?.publisher;
    if (previous) {
      this.logger.log(
        `${previous.streamKey}: a new publisher from ${request.remoteAddress} replaces ${previous.remoteAddress}`,
      );
      previous.end();
      previous.stop('replaced by a new publisher');
    }
    this.sessions.set(session.id, session);
    if (request.pulled) this.pulled.add(session);
    const stream = this.registry.startPublish(request.app, room, session);
    if (!request.pulled) this.directory.opened(session);
    this.events.emit(StreamEvent.PublishAdmitted, this.eventFields(session));
    return { ok: true, session };
  }

  /**
   * Asks to play `request.app/room`. With a `player`, it is attached to the stream (it waits for a
   * publish unless `mustBeLive`); without one (HLS, whose viewers fetch files), only the session opens.
   */
  async play(
    request: PlayRequest,
    player?: StreamPlayer,
    /** How the core ends a session without a player (an HLS viewer): by default it cannot. */
    endpoint: SessionEndpoint = player ?? { stop: () => undefined },
  ): Promise<PlayResult> {
    const { app, room } = request;
    if (request.clusterPull && !this.ownsLive(app, room))
      return refusal('not-live', 'stream not live on this node');
    const canPull = this.directory.clustered && !request.clusterPull;
    if (request.mustBeLive && !canPull && !this.isLive(app, room))
      return refusal('not-live', 'stream not found or not live');
    const verdict = await this.admission.play(request);
    if (!verdict.ok) return verdict;
    if (request.signal?.aborted) return refusal('closed', 'the peer left');
    // Every local reader holds a lease, so that it follows the room wherever it goes in the cluster.
    const lease: RoomLease | undefined = canPull ? this.directory.lease(app, room) : undefined;
    if (request.mustBeLive && !this.isLive(app, room)) {
      // A hook may have taken a while (the publish may have ended), or the room lives on another node.
      if (!lease || !(await lease.live) || !this.isLive(app, room) || request.signal?.aborted) {
        lease?.release();
        return refusal('not-live', 'stream not found or not live');
      }
    }
    let stream: LiveStream | undefined;
    const session = new PlaySession(
      this.nextSessionId++,
      this.fields(request, request.room, request.url),
      endpoint,
      this.traffic,
      (ended) => {
        this.sessions.delete(ended.id);
        lease?.release();
        if (stream && player) this.registry.detach(stream, player);
        this.events.emit(StreamEvent.PlayerLeft, this.eventFields(ended));
      },
    );
    this.sessions.set(session.id, session);
    this.events.emit(StreamEvent.PlayerJoined, this.eventFields(session));
    if (player) {
      stream = this.registry.entry(request.app, request.room);
      player.begin(session, stream);
      this.registry.attach(stream, player);
    }
    return { ok: true, session };
  }

  /** Registers an internal consumer of every publish (see PublishListener). */
  onPublish(listener: PublishListener): void {
    this.registry.onPublish(listener);
  }

  /** Whether `app/room` can be played on `protocol` (its app's config, a valid name), without asking hooks. */
  serves(app: string, room: string, protocol: PlayProtocol): boolean {
    return this.admission.serves(app, room, protocol);
  }

  isLive(app: string, room: string): boolean {
    return this.registry.get(app, room)?.isLive ?? false;
  }

  /**
   * Whether a play of `app/room` that must find it live can succeed without waiting: it is live here, or
   * (cluster) it may be live on another node, which play() then looks up (README "Cluster").
   */
  mightBeLive(app: string, room: string): boolean {
    return this.isLive(app, room) || this.directory.clustered;
  }

  /** RoomHost: a local publisher of its own (not a copy pulled from another node) is live on `app/room`. */
  ownsLive(app: string, room: string): boolean {
    const publisher = this.registry.get(app, room)?.publisher;
    return publisher !== undefined && !this.pulled.has(publisher);
  }

  /** RoomHost: local publishers of their own. */
  *ownPublishers(): Generator<PublishSession> {
    for (const session of this.publishers()) if (!this.pulled.has(session)) yield session;
  }

  /** Whether a publisher is a copy of a room live on another node (shown as `relay`). */
  isPulled(session: StreamSession): boolean {
    return session instanceof PublishSession && this.pulled.has(session);
  }

  /** Every open session, publishers and players of every protocol. */
  all(): IterableIterator<StreamSession> {
    return this.sessions.values();
  }

  session(id: number): StreamSession | undefined {
    return this.sessions.get(id);
  }

  /** Streams with a live publisher. */
  liveStreamCount(): number {
    let count = 0;
    for (const stream of this.registry.all()) if (stream.isLive) count++;
    return count;
  }

  private endPublish(session: PublishSession): void {
    this.sessions.delete(session.id);
    const stream = this.registry.get(session.app, session.room);
    if (stream) this.registry.endPublish(stream, session);
    if (!this.pulled.has(session)) this.directory.closed(session.app, session.room, session);
    this.events.emit(StreamEvent.PublishEnded, this.eventFields(session));
  }

  private *publishers(): Generator<PublishSession> {
    for (const session of this.sessions.values())
      if (session instanceof PublishSession) yield session;
  }

  private revoke(session: PublishSession, why: string): void {
    session.stop(`${session.streamKey}: ${why}`);
  }

  private async recheckKeys(): Promise<void> {
    for (const session of [...this.publishers()]) {
      const key = session.admittedKey;
      if (key === undefined || !session.isOpen) continue;
      try {
        if (!(await this.keys.admits(key, session.room)))
          this.revoke(session, `its stream key no longer admits ${session.room}`);
      } catch {
        // The store is unreachable: live publishers keep going; new publishes are refused meanwhile.
      }
    }
  }

  private fields(request: PublishRequest | PlayRequest, room: string, url: string): SessionFields {
    return {
      app: request.app,
      room,
      protocol: request.protocol,
      remoteAddress: request.remoteAddress,
      url,
      streamId: request.streamId ?? 0,
    };
  }

  /** What publish and player events say of a session. */
  private eventFields(session: StreamSession) {
    return {
      app: session.app,
      room: session.room,
      protocol: session.protocol,
      remote_addr: session.remoteAddress,
      session_id: session.id,
    };
  }
}
