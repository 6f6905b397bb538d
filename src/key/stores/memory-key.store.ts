import { EventEmitter } from 'node:events';
import { Cache, caching } from 'cache-manager';
import { ChannelKeyStore, KeyRevocation } from '../channel-key.store';
import { keyEntry, roomEntry } from './key-names';
import { MapCacheStore } from './map.cache-store';

/** Keys in this process's memory, through cache-manager. Lost on restart; not shared between instances. */
export class MemoryKeyStore extends ChannelKeyStore {
  readonly kind = 'memory';
  private readonly revocations = new EventEmitter();
  /** Serialises read-modify-write sequences, which are several awaits long. */
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(private readonly cache: Cache) {
    super();
    this.revocations.setMaxListeners(0);
  }

  static async create(): Promise<MemoryKeyStore> {
    return new MemoryKeyStore(await caching(new MapCacheStore()));
  }

  getOrCreate(room: string, candidate: string): Promise<string> {
    return this.serial(async () => {
      const existing = await this.cache.get<string>(roomEntry(room));
      if (existing !== undefined) return existing;
      await this.cache.set(keyEntry(candidate), room);
      await this.cache.set(roomEntry(room), candidate);
      return candidate;
    });
  }

  replace(room: string, key: string): Promise<string | undefined> {
    return this.serial(async () => {
      const old = await this.cache.get<string>(roomEntry(room));
      await this.cache.set(keyEntry(key), room);
      await this.cache.set(roomEntry(room), key);
      if (old !== undefined) await this.revoke(old, room);
      return old;
    });
  }

  remove(room: string): Promise<string | undefined> {
    return this.serial(async () => {
      const old = await this.cache.get<string>(roomEntry(room));
      if (old === undefined) return undefined;
      await this.cache.del(roomEntry(room));
      await this.revoke(old, room);
      return old;
    });
  }

  roomOf(key: string): Promise<string | undefined> {
    return this.cache.get<string>(keyEntry(key));
  }

  onRevoked(listener: (revocation: KeyRevocation) => void): () => void {
    this.revocations.on('revoked', listener);
    return () => this.revocations.off('revoked', listener);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.revocations.removeAllListeners();
    return Promise.resolve();
  }

  private async revoke(key: string, room: string): Promise<void> {
    await this.cache.del(keyEntry(key));
    const revocation: KeyRevocation = { key, room };
    this.revocations.emit('revoked', revocation);
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.tail.then(task, task);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
