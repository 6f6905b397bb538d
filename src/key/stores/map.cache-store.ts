import type { Store } from 'cache-manager';

/**
 * A cache-manager store over a plain Map. cache-manager's own memory store is an LRU capped at 500 entries
 * by default: channel keys are not a cache, and evicting one would silently revoke it.
 * Entries never expire; `ttl` arguments are ignored on purpose.
 */
export class MapCacheStore implements Store {
  private readonly entries = new Map<string, unknown>();

  get<T>(key: string): Promise<T | undefined> {
    return Promise.resolve(this.entries.get(key) as T | undefined);
  }

  set<T>(key: string, data: T): Promise<void> {
    this.entries.set(key, data);
    return Promise.resolve();
  }

  del(key: string): Promise<void> {
    this.entries.delete(key);
    return Promise.resolve();
  }

  reset(): Promise<void> {
    this.entries.clear();
    return Promise.resolve();
  }

  mset(pairs: Array<[string, unknown]>): Promise<void> {
    for (const [key, value] of pairs) this.entries.set(key, value);
    return Promise.resolve();
  }

  mget(...keys: string[]): Promise<unknown[]> {
    return Promise.resolve(keys.map((key) => this.entries.get(key)));
  }

  mdel(...keys: string[]): Promise<void> {
    for (const key of keys) this.entries.delete(key);
    return Promise.resolve();
  }

  keys(): Promise<string[]> {
    return Promise.resolve([...this.entries.keys()]);
  }

  ttl(): Promise<number> {
    return Promise.resolve(-1);
  }
}
