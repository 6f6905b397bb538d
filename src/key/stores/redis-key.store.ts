import { Logger } from '@nestjs/common';
import { Cache, createCache } from 'cache-manager';
import { redisInsStore, RedisStore } from 'cache-manager-ioredis-yet';
import Redis from 'ioredis';
import { errorText, StoreUnavailableError } from '../../common/errors';
import { RedisConnection } from '../redis-connection';
import { ChannelKeyStore, KeyRevocation } from '../channel-key.store';
import { keyEntry, REVOCATION_CHANNEL, roomEntry } from './key-names';

/*
 * The atomic operations cache-manager lacks, as Lua scripts (one round trip, atomic in Redis).
 * Values are stored JSON-encoded, as cache-manager-ioredis-yet stores strings, so `cache.get` reads them.
 * KEYS[1] = room entry; ARGV[1] = new key entry name, ARGV[2] = JSON(new key), ARGV[3] = JSON(room),
 * ARGV[4] = key entry prefix, ARGV[5] = revocation channel.
 */
const GET_OR_CREATE = `
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', ARGV[1], ARGV[3])
redis.call('SET', KEYS[1], ARGV[2])
return ARGV[2]`;

const REPLACE = `
local old = redis.call('GET', KEYS[1])
redis.call('SET', ARGV[1], ARGV[3])
redis.call('SET', KEYS[1], ARGV[2])
if old then
  redis.call('DEL', ARGV[4] .. cjson.decode(old))
  redis.call('PUBLISH', ARGV[5], cjson.encode({key = cjson.decode(old), room = cjson.decode(ARGV[3])}))
end
return old`;

/* KEYS[1] = room entry; ARGV[1] = JSON(room), ARGV[2] = key entry prefix, ARGV[3] = channel. */
const REMOVE = `
local old = redis.call('GET', KEYS[1])
if not old then return false end
redis.call('DEL', KEYS[1])
redis.call('DEL', ARGV[2] .. cjson.decode(old))
redis.call('PUBLISH', ARGV[3], cjson.encode({key = cjson.decode(old), room = cjson.decode(ARGV[1])}))
return old`;

/**
 * Keys in Redis through cache-manager + cache-manager-ioredis-yet, shared by every instance on that Redis.
 * Entries never expire. Revocations travel on a pub/sub channel, so a publisher live on another instance
 * is dropped too. Never calls the store's `reset()` (FLUSHDB) or `keys()` (KEYS).
 */
export class RedisKeyStore extends ChannelKeyStore {
  readonly kind = 'redis';
  private readonly logger = new Logger(RedisKeyStore.name);
  private readonly listeners = new Set<(revocation: KeyRevocation) => void>();

  private readonly cache: Cache<RedisStore>;
  private readonly client: Redis;

  private constructor(private readonly connection: RedisConnection) {
    super();
    this.client = connection.client;
    this.cache = createCache(redisInsStore(connection.client)) as Cache<RedisStore>;
  }

  /** The store on a connection (shared with the cluster), subscribed to revocations. */
  static async on(connection: RedisConnection): Promise<RedisKeyStore> {
    const store = new RedisKeyStore(connection);
    await connection.listen(REVOCATION_CHANNEL, (message) => store.deliver(message));
    return store;
  }

  getOrCreate(room: string, candidate: string): Promise<string> {
    return this.run(async () => {
      const stored = await this.client.eval(
        GET_OR_CREATE,
        1,
        roomEntry(room),
        keyEntry(candidate),
        JSON.stringify(candidate),
        JSON.stringify(room),
      );
      return decode(stored) as string;
    });
  }

  replace(room: string, key: string): Promise<string | undefined> {
    return this.run(async () => {
      const old = await this.client.eval(
        REPLACE,
        1,
        roomEntry(room),
        keyEntry(key),
        JSON.stringify(key),
        JSON.stringify(room),
        keyEntry(''),
        REVOCATION_CHANNEL,
      );
      return decode(old);
    });
  }

  remove(room: string): Promise<string | undefined> {
    return this.run(async () => {
      const old = await this.client.eval(
        REMOVE,
        1,
        roomEntry(room),
        JSON.stringify(room),
        keyEntry(''),
        REVOCATION_CHANNEL,
      );
      return decode(old);
    });
  }

  roomOf(key: string): Promise<string | undefined> {
    return this.run(() => this.cache.get<string>(keyEntry(key)));
  }

  onRevoked(listener: (revocation: KeyRevocation) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async ping(): Promise<void> {
    await this.run(() => this.client.ping());
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.connection.close();
  }

  private deliver(message: string): void {
    let revocation: KeyRevocation;
    try {
      revocation = JSON.parse(message) as KeyRevocation;
    } catch {
      this.logger.warn(`ignored a malformed message on ${REVOCATION_CHANNEL}`);
      return;
    }
    if (typeof revocation.key !== 'string' || typeof revocation.room !== 'string') return;
    for (const listener of this.listeners) listener(revocation);
  }

  /** Runs a Redis operation; any failure (disconnected, timed out) becomes StoreUnavailableError. */
  private async run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new StoreUnavailableError(`key store unavailable: ${errorText(error)}`);
    }
  }
}

/** Reads a JSON-encoded string a script returned (nil → undefined). */
function decode(reply: unknown): string | undefined {
  return typeof reply === 'string' ? (JSON.parse(reply) as string) : undefined;
}
