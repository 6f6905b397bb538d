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
import { NODES_KEY, nodeKey } from './cluster-names';
import { RedisRoomDirectory } from './redis-room-directory';

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
 * This node in the cluster (SPEC §8): starts the room directory, beats every quarter of `cluster.ttl`
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
    await directory.stop();
    await Promise.allSettled([
      redis.client.del(nodeKey(directory.identity.nodeId)),
      redis.client.zrem(NODES_KEY, directory.identity.nodeId),
    ]);
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

  /** The stream core this node serves (for the kick). */
  get streams(): StreamAccess {
    return this.access;
  }
}
