import { Logger } from '@nestjs/common';
import { errorText } from '../../common/errors';
import { RedisConnection } from '../../key/redis-connection';
import { AccessRefusal, refusal } from '../core/admission';
import { RoomDirectory, RoomHost, RoomLease } from '../core/room-directory';
import { PublishSession } from '../core/session';
import { streamKey } from '../core/stream-name';
import {
  CLUSTER_CHANNEL,
  ClusterMessage,
  EPOCH_KEY,
  parseClaim,
  RoomClaim,
  roomClaimKey,
} from './cluster-names';
import { EdgePull } from './edge-pull';

/*
 * Claims are compare-and-set scripts (atomic in Redis, one round trip), as the key store's are.
 * CLAIM: KEYS[1] = room claim, KEYS[2] = epoch counter; ARGV[1] = node, ARGV[2] = advertise,
 * ARGV[3] = ttl ms, ARGV[4] = channel, ARGV[5] = app/room. A new claim always wins (README "Cluster": a publish on
 * another node replaces the first); the previous owner learns it from the message. Returns the new value.
 */
const CLAIM = `
local previous = redis.call('GET', KEYS[1])
local epoch = redis.call('INCR', KEYS[2])
local value = cjson.encode({node = ARGV[1], advertise = ARGV[2], epoch = epoch})
redis.call('SET', KEYS[1], value, 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], cjson.encode({type = 'claimed', room = ARGV[5], claim = value, previous = previous or false}))
return value`;

/*
 * REFRESH (owner only): KEYS[1] = room claim; ARGV[1] = our value, ARGV[2] = ttl ms, ARGV[3] = channel,
 * ARGV[4] = app/room. 1: extended; 2: it was gone (Redis lost it) and is ours again; 0: another owns it.
 */
const REFRESH = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('PUBLISH', ARGV[3], cjson.encode({type = 'claimed', room = ARGV[4], claim = ARGV[1], previous = false}))
  return 2
end
return 0`;

/* RELEASE (owner only): same KEYS and ARGV as REFRESH, without the ttl. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], cjson.encode({type = 'released', room = ARGV[3], claim = ARGV[1]}))
  return 1
end
return 0`;

/** This node's identity in the cluster. */
export interface ClusterIdentity {
  readonly nodeId: string;
  readonly advertise: string;
  readonly ttlMs: number;
}

interface OwnClaim {
  readonly app: string;
  readonly room: string;
  readonly value: string;
  session: PublishSession | undefined;
}

/**
 * The Redis room directory (README "Cluster"): claims rooms for this node's publishers (refreshed every quarter of
 * the TTL, re-claimed when Redis comes back without them, released by the owner only), stops a local
 * publisher replaced on another node, and keeps one edge pull per room read here but live elsewhere.
 */
export class RedisRoomDirectory extends RoomDirectory {
  readonly clustered = true;
  private readonly logger = new Logger('Cluster');
  private host: RoomHost | undefined;
  private readonly claims = new Map<string, OwnClaim>();
  private readonly pulls = new Map<string, EdgePull>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly cleanups: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly redis: RedisConnection,
    readonly identity: ClusterIdentity,
  ) {
    super();
  }

  bind(host: RoomHost): void {
    this.host = host;
  }

  /** Subscribes and starts refreshing. */
  async start(): Promise<void> {
    this.cleanups.push(await this.redis.listen(CLUSTER_CHANNEL, (text) => this.onMessage(text)));
    this.cleanups.push(this.redis.onReady(() => void this.refreshAll()));
    this.refreshTimer = setInterval(() => void this.refreshAll(), this.identity.ttlMs / 4);
    this.refreshTimer.unref();
  }

  /** Stops pulls and releases every claim (before the Redis connection closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.refreshTimer);
    for (const cleanup of this.cleanups) cleanup();
    for (const pull of this.pulls.values()) pull.dispose();
    this.pulls.clear();
    await Promise.allSettled([...this.claims.values()].map((claim) => this.release(claim)));
    this.claims.clear();
  }

  async claim(app: string, room: string): Promise<AccessRefusal | undefined> {
    if (this.stopped) return refusal('closed', 'this node is shutting down');
    const key = streamKey(app, room);
    let value: unknown;
    try {
      value = await this.redis.client.eval(
        CLAIM,
        2,
        roomClaimKey(key),
        EPOCH_KEY,
        this.identity.nodeId,
        this.identity.advertise,
        this.identity.ttlMs,
        CLUSTER_CHANNEL,
        key,
      );
    } catch (error) {
      return refusal('store', `room claim failed: ${errorText(error)}`);
    }
    if (typeof value !== 'string') return refusal('store', 'room claim failed');
    this.claims.set(key, { app, room, value, session: undefined });
    return undefined;
  }

  opened(session: PublishSession): void {
    const claim = this.claims.get(session.streamKey);
    if (claim && !claim.session) claim.session = session;
  }

  closed(app: string, room: string, session: PublishSession | undefined): void {
    const key = streamKey(app, room);
    const claim = this.claims.get(key);
    if (!claim || claim.session !== session) return;
    this.claims.delete(key);
    void this.release(claim);
  }

  lease(app: string, room: string): RoomLease | undefined {
    const host = this.host;
    if (!host || this.stopped) return undefined;
    const key = streamKey(app, room);
    let pull = this.pulls.get(key);
    if (!pull) {
      pull = new EdgePull(app, room, host, this.identity, this.logger, {
        lookup: () => this.lookup(key),
        gone: (ended) => {
          if (this.pulls.get(key) === ended) this.pulls.delete(key);
        },
      });
      this.pulls.set(key, pull);
    }
    return pull.join();
  }

  /** Edge pulls of this node, for stats. */
  edgePulls(): IterableIterator<EdgePull> {
    return this.pulls.values();
  }

  /** Rooms this node owns (claimed, with a live publisher). */
  ownedCount(): number {
    let count = 0;
    for (const claim of this.claims.values()) if (claim.session?.isOpen) count++;
    return count;
  }

  /** The claim of `app/room` in Redis; undefined when none, or when Redis does not answer. */
  private async lookup(key: string): Promise<RoomClaim | undefined> {
    try {
      return parseClaim(await this.redis.client.get(roomClaimKey(key)));
    } catch {
      return undefined;
    }
  }

  private async release(claim: OwnClaim): Promise<void> {
    const key = streamKey(claim.app, claim.room);
    try {
      await this.redis.client.eval(
        RELEASE,
        1,
        roomClaimKey(key),
        claim.value,
        CLUSTER_CHANNEL,
        key,
      );
    } catch (error) {
      // Redis away: the claim expires after the TTL by itself.
      this.logger.debug(`${key}: release failed: ${errorText(error)}`);
    }
  }

  /** Extends every claim of a live publisher; takes back those Redis lost; gives up those taken over. */
  private async refreshAll(): Promise<void> {
    if (this.stopped) return;
    for (const [key, claim] of [...this.claims]) {
      if (!claim.session) continue; // still opening
      let result: unknown;
      try {
        result = await this.redis.client.eval(
          REFRESH,
          1,
          roomClaimKey(key),
          claim.value,
          this.identity.ttlMs,
          CLUSTER_CHANNEL,
          key,
        );
      } catch {
        return; // Redis away: retried on the next tick or when it is ready again
      }
      if (result === 2) this.logger.log(`${key}: claimed again (Redis had lost it)`);
      if (result === 0 && this.claims.get(key) === claim) this.replaced(key, claim);
    }
  }

  private onMessage(text: string): void {
    let message: ClusterMessage;
    try {
      message = JSON.parse(text) as ClusterMessage;
    } catch {
      return;
    }
    if (message.type === 'claimed') {
      const claim = this.claims.get(message.room);
      // Only the claim that overwrote ours means another publisher took over (a claim by this node
      // replaces its own publisher in the core already).
      const by = parseClaim(message.claim);
      if (claim && by?.node !== this.identity.nodeId && message.previous === claim.value)
        this.replaced(message.room, claim);
      this.pulls.get(message.room)?.ownerChanged(message.claim);
    } else if (message.type === 'released') {
      this.pulls.get(message.room)?.ownerChanged(undefined);
    }
  }

  /** Another node owns the room now: this node's publisher stops (README "Cluster", within 2 s). */
  private replaced(key: string, claim: OwnClaim): void {
    this.claims.delete(key);
    if (claim.session?.isOpen) {
      this.logger.log(`${key}: a publisher on another node replaces this one`);
      claim.session.stop('replaced by a publisher on another node');
    }
  }
}
