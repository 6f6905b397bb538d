import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InvalidParameterError, RoomNotFoundError } from '../common/errors';
import { isValidName, NAME_RULE } from '../common/names';
import { StreamEventBus } from '../events/stream-event-bus';
import { StreamEvent } from '../events/stream-events';
import { MetricsService } from '../metrics/metrics.service';
import { ChannelKeyStore, KeyRevocation } from './channel-key.store';

export const KEY_LENGTH = 48;
const KEY_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Bytes at or above this are discarded so that `byte % 62` stays uniform (248 = 4 × 62). */
const UNBIASED_BYTE_LIMIT = 256 - (256 % KEY_ALPHABET.length);
const KEY_PATTERN = new RegExp(`^[0-9A-Za-z]{${KEY_LENGTH}}$`);

/** 48 characters of [0-9A-Za-z] from the cryptographic random source (≈ 286 bits). */
export function generateKey(): string {
  let key = '';
  while (key.length < KEY_LENGTH) {
    for (const byte of randomBytes(KEY_LENGTH * 2)) {
      if (byte < UNBIASED_BYTE_LIMIT) key += KEY_ALPHABET[byte % KEY_ALPHABET.length];
      if (key.length === KEY_LENGTH) break;
    }
  }
  return key;
}

export function isKeyShaped(name: string): boolean {
  return KEY_PATTERN.test(name);
}

/** Rooms and their secret publish keys: what the control API and the media plane's admission use. */
@Injectable()
export class KeyService {
  constructor(
    private readonly store: ChannelKeyStore,
    private readonly metrics: MetricsService,
    private readonly events: StreamEventBus,
  ) {}

  get storeKind(): string {
    return this.store.kind;
  }

  /** The room's key, created if the room has none. Concurrent calls anywhere return the same key. */
  async get(room: unknown): Promise<string> {
    // async so that a bad room rejects the promise rather than throwing before one exists.
    const name = checkRoom(room);
    const candidate = generateKey();
    const key = await this.metrics.timeKeyStore('get', () =>
      this.store.getOrCreate(name, candidate),
    );
    if (key === candidate) this.events.emit(StreamEvent.KeyCreated, { room: name });
    return key;
  }

  /** A new key for the room; the old one is revoked at once. */
  async reset(room: unknown): Promise<string> {
    const name = checkRoom(room);
    const key = generateKey();
    await this.metrics.timeKeyStore('reset', () => this.store.replace(name, key));
    this.events.emit(StreamEvent.KeyReset, { room: name });
    return key;
  }

  /** Removes the room and revokes its key. Throws RoomNotFoundError when it has none. */
  async delete(room: unknown): Promise<void> {
    const name = checkRoom(room);
    const removed = await this.metrics.timeKeyStore('delete', () => this.store.remove(name));
    if (removed === undefined) throw new RoomNotFoundError();
    this.events.emit(StreamEvent.KeyDeleted, { room: name });
  }

  /**
   * The room a publish name admits: the room of a live key, or, when `allowRoomName` (rtmp_noauth), the
   * name itself if it is a valid room. Undefined means refuse. A room name is never taken as a key.
   */
  async roomForPublishName(name: string, allowRoomName: boolean): Promise<string | undefined> {
    if (isKeyShaped(name)) {
      const room = await this.metrics.timeKeyStore('lookup', () => this.store.roomOf(name));
      if (room !== undefined) return room;
    }
    return allowRoomName && isValidName(name) ? name : undefined;
  }

  /** Whether `key` still admits `room`: the media plane re-checks live publishers with this. */
  async admits(key: string, room: string): Promise<boolean> {
    return isKeyShaped(key) && (await this.store.roomOf(key)) === room;
  }

  /** Called for every revocation on any instance sharing the store. Returns an unsubscribe function. */
  onRevoked(listener: (revocation: KeyRevocation) => void): () => void {
    return this.store.onRevoked(listener);
  }

  ping(): Promise<void> {
    return this.store.ping();
  }
}

function checkRoom(room: unknown): string {
  if (room === undefined || room === '')
    throw new InvalidParameterError(`room is required; it ${NAME_RULE}`);
  if (!isValidName(room)) throw new InvalidParameterError(`invalid room: it ${NAME_RULE}`);
  return room;
}
