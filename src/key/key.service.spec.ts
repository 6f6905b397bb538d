import { EventEmitter2 } from '@nestjs/event-emitter';
import { StreamEventBus } from '../events/stream-event-bus';
import { MetricsService } from '../metrics/metrics.service';
import { InvalidParameterError, RoomNotFoundError } from '../common/errors';
import { KeyRevocation } from './channel-key.store';
import { generateKey, KEY_LENGTH, KeyService } from './key.service';
import { MemoryKeyStore } from './stores/memory-key.store';

const KEY_PATTERN = /^[0-9A-Za-z]{48}$/;

async function memoryService(): Promise<KeyService> {
  return new KeyService(
    await MemoryKeyStore.create(),
    new MetricsService(),
    new StreamEventBus(new EventEmitter2()),
  );
}

describe('generateKey', () => {
  it('makes 48 characters of [0-9A-Za-z]', () => {
    expect(KEY_LENGTH).toBe(48);
    for (let i = 0; i < 100; i++) expect(generateKey()).toMatch(KEY_PATTERN);
  });

  it('never repeats a key in 10 000 draws', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 10_000; i++) keys.add(generateKey());
    expect(keys.size).toBe(10_000);
  });

  it('uses the whole alphabet, about evenly', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      for (const char of generateKey()) counts.set(char, (counts.get(char) ?? 0) + 1);
    }
    // 96 000 characters over 62 symbols: about 1548 each; a biased `byte % 62` would give some ~25% more.
    expect(counts.size).toBe(62);
    for (const count of counts.values()) {
      expect(count).toBeGreaterThan(1300);
      expect(count).toBeLessThan(1800);
    }
  });
});

describe('KeyService on the memory store', () => {
  let keys: KeyService;

  beforeEach(async () => {
    keys = await memoryService();
  });

  it('creates a key on the first get and returns the same key afterwards', async () => {
    const key = await keys.get('room1');
    expect(key).toMatch(KEY_PATTERN);
    expect(await keys.get('room1')).toBe(key);
    expect(await keys.get('room2')).not.toBe(key);
  });

  it('returns one key to 100 concurrent gets for a new room', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, () => keys.get('busy')));
    expect(new Set(results).size).toBe(1);
    expect(await keys.roomForPublishName(results[0], false)).toBe('busy');
  });

  it('admits a publish with the room key and maps it to the room', async () => {
    const key = await keys.get('studio');
    expect(await keys.roomForPublishName(key, false)).toBe('studio');
    expect(await keys.admits(key, 'studio')).toBe(true);
    expect(await keys.admits(key, 'other')).toBe(false);
  });

  it('rejects a room name used as a key', async () => {
    await keys.get('studio');
    expect(await keys.roomForPublishName('studio', false)).toBeUndefined();
    expect(await keys.admits('studio', 'studio')).toBe(false);
  });

  it('rejects a key-shaped room name that is not a key', async () => {
    const roomLikeAKey = 'A'.repeat(48);
    await keys.get(roomLikeAKey);
    expect(await keys.roomForPublishName(roomLikeAKey, false)).toBeUndefined();
  });

  it('keeps rooms and keys in separate namespaces', async () => {
    const key = await keys.get('alpha');
    // A room named like alpha's key is just another room with its own key.
    const otherKey = await keys.get(key);
    expect(otherKey).not.toBe(key);
    expect(await keys.roomForPublishName(key, false)).toBe('alpha');
    expect(await keys.roomForPublishName(otherKey, false)).toBe(key);
    // Deleting that room leaves alpha's key alone.
    await keys.delete(key);
    expect(await keys.get('alpha')).toBe(key);
    expect(await keys.roomForPublishName(key, false)).toBe('alpha');
  });

  it('refuses an unknown name without rtmp_noauth', async () => {
    expect(await keys.roomForPublishName('nobody', false)).toBeUndefined();
    expect(await keys.roomForPublishName(generateKey(), false)).toBeUndefined();
  });

  describe('with rtmp_noauth', () => {
    it('accepts any valid room name as itself', async () => {
      expect(await keys.roomForPublishName('walk-in_1.0', true)).toBe('walk-in_1.0');
      await keys.get('studio');
      expect(await keys.roomForPublishName('studio', true)).toBe('studio');
    });

    it('still maps a live key to its room, not to a room named like the key', async () => {
      const key = await keys.get('studio');
      expect(await keys.roomForPublishName(key, true)).toBe('studio');
    });

    it('refuses names that are not valid rooms', async () => {
      for (const name of ['', '.hidden', 'a/b', 'a b', 'x'.repeat(129), 'é']) {
        expect(await keys.roomForPublishName(name, true)).toBeUndefined();
      }
    });
  });

  it('reset gives a new key and revokes the old one at once', async () => {
    const old = await keys.get('studio');
    const fresh = await keys.reset('studio');
    expect(fresh).toMatch(KEY_PATTERN);
    expect(fresh).not.toBe(old);
    expect(await keys.get('studio')).toBe(fresh);
    expect(await keys.roomForPublishName(old, false)).toBeUndefined();
    expect(await keys.admits(old, 'studio')).toBe(false);
    expect(await keys.roomForPublishName(fresh, false)).toBe('studio');
  });

  it('reset of an unknown room creates it', async () => {
    const key = await keys.reset('new-room');
    expect(await keys.get('new-room')).toBe(key);
  });

  it('delete removes the room and revokes its key', async () => {
    const old = await keys.get('studio');
    await keys.delete('studio');
    expect(await keys.roomForPublishName(old, false)).toBeUndefined();
    const next = await keys.get('studio');
    expect(next).not.toBe(old);
  });

  it('delete of an unknown room throws RoomNotFoundError', async () => {
    await expect(keys.delete('ghost')).rejects.toBeInstanceOf(RoomNotFoundError);
    await keys.get('once');
    await keys.delete('once');
    await expect(keys.delete('once')).rejects.toThrow('room not found');
  });

  it('announces every revocation with the old key and its room', async () => {
    const seen: KeyRevocation[] = [];
    const unsubscribe = keys.onRevoked((revocation) => seen.push(revocation));
    const first = await keys.get('studio');
    const second = await keys.reset('studio');
    await keys.delete('studio');
    await keys.reset('fresh-room'); // nothing to revoke
    unsubscribe();
    await keys.reset('studio');
    expect(seen).toEqual([
      { key: first, room: 'studio' },
      { key: second, room: 'studio' },
    ]);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['129 characters', 'r'.repeat(129)],
    ['leading dot', '.room'],
    ['a slash', 'a/b'],
    ['a space', 'a b'],
    ['not text', ['a', 'b']],
  ])('refuses a room that is %s with a message saying what is allowed', async (_, room) => {
    for (const call of [() => keys.get(room), () => keys.reset(room), () => keys.delete(room)]) {
      const error: unknown = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InvalidParameterError);
      expect((error as Error).message).toMatch(/1-128 characters/);
    }
  });

  it('accepts a room of exactly 128 characters of the allowed alphabet', async () => {
    const room = `a_.-Z9${'x'.repeat(122)}`;
    expect(room).toHaveLength(128);
    expect(await keys.get(room)).toMatch(KEY_PATTERN);
  });

  it('keeps every key however many rooms there are (no cache eviction)', async () => {
    const issued = await Promise.all(Array.from({ length: 2000 }, (_, i) => keys.get(`room${i}`)));
    const rooms = await Promise.all(issued.map((key) => keys.roomForPublishName(key, false)));
    expect(rooms).toEqual(issued.map((_, i) => `room${i}`));
  });

  it('answers ping and reports its kind', async () => {
    await expect(keys.ping()).resolves.toBeUndefined();
    expect(keys.storeKind).toBe('memory');
  });
});
