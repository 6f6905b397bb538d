import { randomBytes } from 'node:crypto';
import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { errorText } from '../../common/errors';
import { AppConfig } from '../../config/app-config';
import { clusterAdvertise } from '../../config/config.loader';
import { RedisConnection, SharedRedis } from '../../key/redis-connection';
import { LocalRoomDirectory, RoomDirectory } from '../core/room-directory';
import { StreamAccess } from '../core/stream-access';
import { StatItem, StatSnapshot, StatsService } from '../stats/stats.service';
import { CLUSTER_CHANNEL, ClusterMessage, KickedItem, NODES_KEY, nodeKey } from './cluster-names';
import { RedisRoomDirectory } from './redis-room-directory';

/** How long `/control/kick` waits for the node holding the session. */
const KICK_ANSWER_MS = 2000;

/** A node as `/stat/cluster` lists it. */
export interface ClusterNodeItem {
  readonly id: string;
  readonly advertise: string;
  readonly since: string;
  readonly last_seen: string;
  /** Rooms this node owns (its own publishers). */
  readonly streams: number;
  readonly players: number;
}

/** What a node's heartbeat holds: its item and its sessions, for the cluster-wide stats. */
interface NodeBeat extends ClusterNodeItem {
  readonly sessions: StatSnapshot;
}

type WithNode<T> = T & { readonly node: string };
export interface ClusterStatSnapshot {
  readonly publishers: WithNode<StatSnapshot['publishers'][number]>[];
  readonly players: WithNode<StatItem>[];
}

/** The RoomDirectory the stream core gets: Redis with `cluster.enabled`, the local one otherwise. */
export function roomDirectoryFor(config: AppConfig, redis: SharedRedis): RoomDirectory {
  if (!config.cluster.enabled || !redis.connection) return new LocalRoomDirectory();
  return new RedisRoomDirectory(redis.connection, {
    nodeId: config.cluster.node_id || `node-${randomBytes(4).toString('hex')}`,
    // The loader refuses cluster.enabled without one (one line at start-up).
    advertise: clusterAdvertise(config) ?? '',
    ttlMs: config.cluster.ttl * 1000,
  });
}

/**
 * This node in the cluster (README "Cluster"): starts the room directory, beats every quarter of `cluster.ttl`
 * (a heartbeat key with the TTL, holding the node's stats), and answers `/stat/cluster` and
 * `/stat/livestat?scope=cluster` from every live node's heartbeat. On shutdown it releases its claims
 * before the Redis connection closes.
 */
@Injectable()
export class ClusterService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Cluster');
  private readonly directory: RedisRoomDirectory | undefined;
  private readonly redis: RedisConnection | undefined;
  private beatTimer: NodeJS.Timeout | undefined;
  private readonly since = new Date();
  private unlisten: (() => void) | undefined;
  /** Kicks this node asked another to run, by request id. */
  private readonly kicks = new Map<string, (result: KickedItem | undefined) => void>();

  constructor(
    directory: RoomDirectory,
    shared: SharedRedis,
    private readonly access: StreamAccess,
    private readonly stats: StatsService,
  ) {
    this.directory = directory instanceof RedisRoomDirectory ? directory : undefined;
    this.redis = shared.connection;
  }

  get enabled(): boolean {
    return this.directory !== undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    const { directory } = this;
    if (!directory) return;
    await directory.start();
    this.unlisten = await (this.redis as RedisConnection).listen(CLUSTER_CHANNEL, (text) =>
      this.onMessage(text),
    );
    await this.beat().catch(() => undefined);
    this.beatTimer = setInterval(
      () => void this.beat().catch(() => undefined),
      directory.identity.ttlMs / 4,
    );
    this.beatTimer.unref();
    this.logger.log(
      `node ${directory.identity.nodeId} joins the cluster as ${directory.identity.advertise}`,
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    const { directory, redis } = this;
    if (!directory || !redis) return;
    clearInterval(this.beatTimer);
    this.unlisten?.();
    await directory.stop();
    await Promise.allSettled([
      redis.client.del(nodeKey(directory.identity.nodeId)),
      redis.client.zrem(NODES_KEY, directory.identity.nodeId),
    ]);
  }

  /** This node's id, when the cluster is on. */
  get nodeId(): string | undefined {
    return this.directory?.identity.nodeId;
  }

  /**
   * `/control/kick` of a session on another node: that node closes it (pub/sub) and says what it was.
   * Undefined when no node answers within KICK_ANSWER_MS (no such node or session).
   */
  async kick(node: string, id: number): Promise<KickedItem | undefined> {
    const { redis } = this;
    if (!redis) return undefined;
    const request = randomBytes(8).toString('hex');
    const answered = new Promise<KickedItem | undefined>((resolve) => {
      const timer = setTimeout(() => finish(undefined), KICK_ANSWER_MS);
      const finish = (result: KickedItem | undefined) => {
        clearTimeout(timer);
        this.kicks.delete(request);
        resolve(result);
      };
      this.kicks.set(request, finish);
    });
    const message: ClusterMessage = { type: 'kick', node, session_id: id, request };
    try {
      await redis.client.publish(CLUSTER_CHANNEL, JSON.stringify(message));
    } catch {
      this.kicks.get(request)?.(undefined);
    }
    return answered;
  }

  /** Closes a session of this node; what it was, or undefined when no open session has that id. */
  kickHere(id: number): KickedItem | undefined {
    const session = this.access.session(id);
    if (!session?.isOpen) return undefined;
    session.stop(`${session.streamKey}: kicked through the control API`);
    return {
      session_id: session.id,
      role: session.role,
      key: session.streamKey,
      protocol: session.protocol,
    };
  }

  private onMessage(text: string): void {
    let message: ClusterMessage;
    try {
      message = JSON.parse(text) as ClusterMessage;
    } catch {
      return;
    }
    if (message.type === 'kick' && message.node === this.nodeId) {
      const result = this.kickHere(Number(message.session_id));
      const reply: ClusterMessage = {
        type: 'kicked',
        request: message.request,
        result: result ?? null,
      };
      this.redis?.client.publish(CLUSTER_CHANNEL, JSON.stringify(reply)).catch(() => undefined);
    } else if (message.type === 'kicked') {
      this.kicks.get(message.request)?.(message.result ?? undefined);
    }
  }

  /** Every live node, this one first. Undefined when the cluster is off. */
  async nodes(): Promise<ClusterNodeItem[] | undefined> {
    const beats = await this.beats();
    return beats?.map(({ sessions: _sessions, ...item }) => item);
  }

  /** Every node's publishers and players, each with `node`; this node's are current. */
  async snapshot(): Promise<ClusterStatSnapshot | undefined> {
    const beats = await this.beats();
    if (!beats) return undefined;
    const publishers: ClusterStatSnapshot['publishers'] = [];
    const players: ClusterStatSnapshot['players'] = [];
    for (const beat of beats) {
      for (const item of beat.sessions.publishers) publishers.push({ ...item, node: beat.id });
      for (const item of beat.sessions.players) players.push({ ...item, node: beat.id });
    }
    return { publishers, players };
  }

  private local(): NodeBeat {
    const directory = this.directory as RedisRoomDirectory;
    const sessions = this.stats.snapshot() ?? { publishers: [], players: [] };
    return {
      id: directory.identity.nodeId,
      advertise: directory.identity.advertise,
      since: this.since.toISOString(),
      last_seen: new Date().toISOString(),
      streams: directory.ownedCount(),
      players: sessions.players.length,
      sessions,
    };
  }

  private async beats(): Promise<NodeBeat[] | undefined> {
    const { directory, redis } = this;
    if (!directory || !redis) return undefined;
    const mine = this.local();
    const now = Date.now();
    let others: NodeBeat[] = [];
    try {
      const ids = (
        await redis.client.zrangebyscore(NODES_KEY, now - directory.identity.ttlMs, '+inf')
      ).filter((id) => id !== mine.id);
      const values = ids.length > 0 ? await redis.client.mget(ids.map(nodeKey)) : [];
      others = values.flatMap((value) => {
        if (!value) return [];
        try {
          return [JSON.parse(value) as NodeBeat];
        } catch {
          return [];
        }
      });
    } catch (error) {
      this.logger.debug(`cluster view without other nodes: ${errorText(error)}`);
    }
    return [mine, ...others];
  }

  private async beat(): Promise<void> {
    const { directory, redis } = this;
    if (!directory || !redis) return;
    const beat = this.local();
    const now = Date.now();
    await redis.client
      .multi()
      .set(nodeKey(beat.id), JSON.stringify(beat), 'PX', directory.identity.ttlMs)
      .zadd(NODES_KEY, now, beat.id)
      .zremrangebyscore(NODES_KEY, '-inf', now - 10 * directory.identity.ttlMs)
      .exec();
  }
}
