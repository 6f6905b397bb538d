/** A key that stopped admitting publishes (reset or delete), as announced to every instance. */
export interface KeyRevocation {
  readonly key: string;
  readonly room: string;
}

/**
 * Where rooms and their publish keys live. Rooms and keys are separate namespaces: a room maps to its key
 * and a key back to its room, and neither lookup ever falls through to the other.
 *
 * Implementations: MemoryKeyStore (one process) and RedisKeyStore (shared by instances). A team adding a
 * store writes one subclass and selects it in KeyModule. Every method may throw StoreUnavailableError when
 * the backing service does not answer; none may hang for more than a few seconds.
 */
export abstract class ChannelKeyStore {
  /** Short name for logs and /healthz (`memory`, `redis`). */
  abstract readonly kind: string;

  /** The room's key; stores `candidate` first when the room has none. Atomic across instances. */
  abstract getOrCreate(room: string, candidate: string): Promise<string>;

  /** Gives the room `key` (creating the room if absent) and revokes its old key, which is returned. */
  abstract replace(room: string, key: string): Promise<string | undefined>;

  /** Removes the room and revokes its key, which is returned; undefined when the room does not exist. */
  abstract remove(room: string): Promise<string | undefined>;

  /** The room a key admits, or undefined. */
  abstract roomOf(key: string): Promise<string | undefined>;

  /**
   * Calls `listener` for every revocation made by any instance sharing this store, including this one.
   * Returns a function that unsubscribes.
   */
  abstract onRevoked(listener: (revocation: KeyRevocation) => void): () => void;

  /** Resolves when the store answers; rejects with StoreUnavailableError otherwise. */
  abstract ping(): Promise<void>;

  /** Releases connections. */
  abstract close(): Promise<void>;
}
