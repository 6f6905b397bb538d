import Redis from 'ioredis';
import { freePort } from './helpers/free-port';
import { call, expectEnvelope } from './helpers/http';
import { RedisServer } from './helpers/redis';
import { ServerProcess, spawnServer, startServer } from './helpers/server';
import { lines, waitFor } from './helpers/wait';

const KEY_PATTERN = /^[0-9A-Za-z]{48}$/;

/** Every name in the database, by SCAN (the server itself must never use KEYS). */
async function allNames(redis: Redis): Promise<string[]> {
  const names: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
    names.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return names.sort();
}

describe('channel keys in Redis shared by two instances', () => {
  let redis: RedisServer;
  let client: Redis;
  let a: ServerProcess;
  let b: ServerProcess;
  const startInstance = () => startServer({ args: [`--redis_addr=${redis.addr}`] });
  const key = async (server: ServerProcess, op: string, room: string) =>
    expectEnvelope(await call<string>(server.apiUrl(`/control/${op}?room=${room}`)), 200);

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = redis.client();
    await client.connect();
    // Someone else's data in the same database, with and without a TTL.
    await client.set('other:app:setting', 'keep me');
    await client.set('other:app:session', 'expiring', 'EX', 3600);
    [a, b] = await Promise.all([startInstance(), startInstance()]);
  });

  afterAll(async () => {
    client?.disconnect();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it('reports the redis store on /healthz', async () => {
    expect(expectEnvelope(await call(a.apiUrl('/healthz')), 200)).toEqual({
      ok: true,
      store: 'redis',
    });
  });

  it('returns one key to 50 concurrent gets for a new room split across both instances', async () => {
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call<string>((i % 2 ? a : b).apiUrl('/control/get?room=shared-stampede')),
      ),
    );
    const keys = new Set(answers.map((answer) => expectEnvelope(answer, 200)));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(KEY_PATTERN);
  });

  it('shows a reset or delete made on one instance to the other at once', async () => {
    const first = await key(a, 'get', 'cross');
    expect(await key(b, 'get', 'cross')).toBe(first);
    const fresh = await key(b, 'reset', 'cross');
    expect(fresh).not.toBe(first);
    expect(await key(a, 'get', 'cross')).toBe(fresh);
    expect(await key(a, 'delete', 'cross')).toBe('Ok');
    expect(expectEnvelope(await call(b.apiUrl('/control/delete?room=cross')), 404)).toBe(
      'room not found',
    );
  });

  it('stores only livego: names, never with a TTL, and leaves other data alone', async () => {
    const kept = await key(a, 'get', 'kept');
    const before = await key(a, 'get', 'reset-me');
    const after = await key(b, 'reset', 'reset-me');
    await key(a, 'get', 'delete-me');
    await key(b, 'delete', 'delete-me');

    const names = await allNames(client);
    const ours = names.filter((name) => name.startsWith('livego:'));
    expect(names.filter((name) => !name.startsWith('livego:'))).toEqual([
      'other:app:session',
      'other:app:setting',
    ]);
    expect(ours).toEqual(
      expect.arrayContaining([
        'livego:room:kept',
        `livego:key:${kept}`,
        'livego:room:reset-me',
        `livego:key:${after}`,
      ]),
    );
    expect(ours).not.toContain(`livego:key:${before}`);
    expect(ours).not.toContain('livego:room:delete-me');
    for (const name of ours) expect([name, await client.ttl(name)]).toEqual([name, -1]);

    expect(await client.get('other:app:setting')).toBe('keep me');
    expect(await client.get('other:app:session')).toBe('expiring');
    expect(await client.ttl('other:app:session')).toBeGreaterThan(3000);
  });

  it('keeps a key across an instance restart', async () => {
    const before = await key(a, 'get', 'survivor');
    expect((await a.stop()).code).toBe(0);
    a = await startInstance();
    expect(await key(a, 'get', 'survivor')).toBe(before);
  });
});

describe('Redis outages', () => {
  let redis: RedisServer;
  let server: ServerProcess;

  beforeAll(async () => {
    redis = await RedisServer.start();
    server = await startServer({ args: [`--redis_addr=${redis.addr}`] });
  });

  afterAll(async () => {
    await server?.stop();
    await redis?.stop();
  });

  it('answers 503 within 5 s while Redis is down and recovers within 15 s of its return', async () => {
    const getUrl = server.apiUrl('/control/get?room=outage');
    const key = expectEnvelope(await call<string>(getUrl), 200);
    await redis.stop();

    const started = Date.now();
    const down = await call(getUrl);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(expectEnvelope(down, 503)).toEqual(expect.any(String));
    for (const op of ['reset', 'delete']) {
      expectEnvelope(await call(server.apiUrl(`/control/${op}?room=outage`)), 503);
    }
    const health = await call(server.apiUrl('/healthz'));
    expect(expectEnvelope(health, 503)).toMatchObject({ ok: false, store: 'redis' });
    // Bad parameters are still a 400, not a 503.
    expectEnvelope(await call(server.apiUrl('/control/get?room=.bad')), 400);

    await redis.start();
    const { ms } = await waitFor(
      async () => {
        const response = await call<string>(getUrl);
        return response.status === 200 ? response : undefined;
      },
      15000,
      250,
    );
    expect(ms).toBeLessThan(15000);
    // Redis kept nothing (persistence is off), so the room has a new key; what matters is that it works.
    const after = expectEnvelope(await call<string>(getUrl), 200);
    expect(after).toMatch(KEY_PATTERN);
    expect(after).not.toBe(key);
    expectEnvelope(await call(server.apiUrl('/healthz')), 200);
    expect(server.exitInfo).toBeUndefined();
  });

  it('answers 503 within 5 s while Redis hangs (SIGSTOP) and recovers once it answers again', async () => {
    const getUrl = server.apiUrl('/control/get?room=hang');
    const key = expectEnvelope(await call<string>(getUrl), 200);
    redis.pause();
    try {
      const [get, health] = await Promise.all(
        [getUrl, server.apiUrl('/healthz')].map(async (url) => {
          const started = Date.now();
          const response = await call(url);
          return { response, ms: Date.now() - started };
        }),
      );
      expectEnvelope(get.response, 503);
      expect(get.ms).toBeLessThan(5000);
      expect(expectEnvelope(health.response, 503)).toMatchObject({ ok: false });
      expect(health.ms).toBeLessThan(5000);
    } finally {
      redis.resume();
    }
    const { value } = await waitFor(
      async () => {
        const response = await call<string>(getUrl);
        return response.status === 200 ? response : undefined;
      },
      15000,
      250,
    );
    // Nothing was lost this time: the process only paused.
    expect(expectEnvelope(value, 200)).toBe(key);
  });

  it('exits 0 within 5 s on SIGTERM, with Redis up', async () => {
    const other = await startServer({ args: [`--redis_addr=${redis.addr}`] });
    const { code, ms } = await other.stop();
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5000);
  });

  it('exits 0 within 5 s on SIGTERM while Redis is down', async () => {
    const other = await startServer({ args: [`--redis_addr=${redis.addr}`] });
    await redis.stop();
    const { code, ms } = await other.stop();
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5000);
    await redis.start();
  });
});

describe('Redis with a password (redis_pwd)', () => {
  it('works with the right password; the wrong one stops start-up naming redis_addr', async () => {
    const redis = await RedisServer.start({ password: 'e2e-redis-pw' });
    const [good, bad] = await Promise.all([
      startServer({ args: [`--redis_addr=${redis.addr}`], env: { REDIS_PWD: 'e2e-redis-pw' } }),
      spawnServer({ args: [`--redis_addr=${redis.addr}`, '--redis_pwd=wrong'] }),
    ]);
    expect(expectEnvelope(await call(good.apiUrl('/control/get?room=pw')), 200)).toMatch(
      KEY_PATTERN,
    );
    const { code, ms } = await bad.waitForExit(10000);
    expect(code).toBe(1);
    expect(ms).toBeLessThan(10000);
    expect(lines(bad.stderr)).toEqual([expect.stringContaining(`redis_addr ${redis.addr}`)]);
    await good.stop();
    await redis.stop();
  });
});

describe('Redis unreachable at start-up', () => {
  it('exits 1 within 10 s with one line naming redis_addr, port closed or Redis hung', async () => {
    const hung = await RedisServer.start();
    hung.pause();
    const addresses = [`127.0.0.1:${await freePort()}`, hung.addr];
    const servers = await Promise.all(
      addresses.map((address) => spawnServer({ args: [`--redis_addr=${address}`] })),
    );
    const exits = await Promise.all(servers.map((server) => server.waitForExit(10000)));
    await hung.stop();
    servers.forEach((server, i) => {
      expect(exits[i].code).toBe(1);
      expect(exits[i].ms).toBeLessThan(10000);
      expect(lines(server.stderr)).toEqual([expect.stringContaining(`redis_addr ${addresses[i]}`)]);
      expect(server.stdout + server.stderr).not.toContain('    at ');
    });
  });
});
