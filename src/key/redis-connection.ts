import { Logger } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { errorText, StartupError } from '../common/errors';

/** How long start-up waits for Redis (README "Limits and hardening": one clear line within 10 s, process boot included). */
const STARTUP_TIMEOUT_MS = 5000;
/** A command not answered within this is an outage: the API answers 503 instead of hanging. */
const COMMAND_TIMEOUT_MS = 2000;
/** Reconnect back-off cap: a returning Redis is used again within a few seconds. */
const MAX_RECONNECT_DELAY_MS = 2000;

/** Where Redis is: one server (`redis_addr`) or a master found through Sentinel. */
export interface RedisPlace {
  readonly redis_addr: string;
  readonly redis_pwd: string;
  readonly redis_sentinels: string;
  readonly redis_master_name: string;
}

/** `host:port` → its parts (IPv6 in brackets allowed). */
function hostAndPort(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(':');
  return {
    host: address.slice(0, separator).replace(/^\[|\]$/g, ''),
    port: Number(address.slice(separator + 1)),
  };
}

/**
 * The one pair of ioredis clients of this process, shared by the key store and the cluster: one for
 * commands (fails fast when Redis is away: no offline queue, a command timeout) and one for pub/sub
 * (it re-subscribes by itself after a reconnect). With `redis_sentinels`, both follow the master that
 * Sentinel names, across a failover.
 */
export class RedisConnection {
  private readonly logger = new Logger(RedisConnection.name);
  private readonly handlers = new Map<string, Set<(message: string) => void>>();
  private readonly readyListeners = new Set<() => void>();

  private constructor(
    readonly client: Redis,
    readonly subscriber: Redis,
    /** For logs: `127.0.0.1:6379`, or `master mymaster via 127.0.0.1:26379,…`. */
    readonly where: string,
  ) {
    subscriber.on('message', (channel: string, message: string) => {
      for (const handler of this.handlers.get(channel) ?? []) handler(message);
    });
    let connected = true;
    client.on('error', (error: Error) => {
      if (connected) this.logger.warn(`Redis ${where} connection lost: ${error.message}`);
      connected = false;
    });
    subscriber.on('error', () => undefined);
    client.on('ready', () => {
      if (!connected) this.logger.log(`Redis ${where} connection restored`);
      connected = true;
      for (const listener of this.readyListeners) listener();
    });
  }

  /** Connects both clients, or throws StartupError naming the setting within STARTUP_TIMEOUT_MS. */
  static async connect(place: RedisPlace): Promise<RedisConnection> {
    const sentinels = place.redis_sentinels
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
    const common: RedisOptions = {
      password: place.redis_pwd || undefined,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(attempt * 200, MAX_RECONNECT_DELAY_MS),
    };
    const options: RedisOptions =
      sentinels.length > 0
        ? {
            ...common,
            sentinels: sentinels.map(hostAndPort),
            name: place.redis_master_name,
            sentinelRetryStrategy: (attempt) => Math.min(attempt * 200, MAX_RECONNECT_DELAY_MS),
            // A failover makes the old master a replica: reconnect to the new one rather than fail writes.
            reconnectOnError: (error) => error.message.startsWith('READONLY'),
          }
        : { ...common, ...hostAndPort(place.redis_addr) };
    const setting =
      sentinels.length > 0
        ? `redis_sentinels ${place.redis_sentinels} (master ${place.redis_master_name})`
        : `redis_addr ${place.redis_addr}`;
    const where =
      sentinels.length > 0
        ? `master ${place.redis_master_name} via ${place.redis_sentinels}`
        : place.redis_addr;
    const client = new Redis(options);
    const subscriber = new Redis({
      ...options,
      enableOfflineQueue: true,
      commandTimeout: undefined,
    });
    let lastError = 'no answer';
    const noteError = (error: Error) => {
      lastError = error.message;
    };
    client.on('error', noteError);
    subscriber.on('error', noteError);
    try {
      await withDeadline(
        Promise.all([waitReady(client), waitReady(subscriber)]),
        STARTUP_TIMEOUT_MS,
        () => lastError,
      );
    } catch (error) {
      client.disconnect();
      subscriber.disconnect();
      throw new StartupError(`${setting} is unreachable: ${errorText(error)}`);
    }
    client.off('error', noteError);
    subscriber.off('error', noteError);
    return new RedisConnection(client, subscriber, where);
  }

  /** Calls `handler` with every message on `channel` (subscribed once, kept across reconnects). */
  async listen(channel: string, handler: (message: string) => void): Promise<() => void> {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      await this.subscriber.subscribe(channel);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /** Calls `listener` each time the command connection is ready again after a loss. */
  onReady(listener: () => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.handlers.clear();
    this.readyListeners.clear();
    await Promise.allSettled([this.client.quit(), this.subscriber.quit()]);
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}

/**
 * The process's Redis connection when the key store is Redis (`redis_addr` or `redis_sentinels`), for
 * whoever else needs it (the cluster); `connection` is undefined with the memory store.
 */
export class SharedRedis {
  constructor(readonly connection: RedisConnection | undefined) {}
}

function waitReady(client: Redis): Promise<void> {
  return new Promise<void>((resolve) => {
    client.once('ready', () => resolve());
    // connect() rejects on the first failure, but the retry strategy keeps trying until the deadline.
    client.connect().catch(() => undefined);
  });
}

async function withDeadline<T>(work: Promise<T>, ms: number, reason: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${reason()} (after ${ms / 1000} s)`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
