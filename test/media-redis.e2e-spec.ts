import { call } from './helpers/http';
import { publish } from './helpers/media';
import { RawRtmpClient } from './helpers/rtmp-client';
import { RedisServer } from './helpers/redis';
import { ServerProcess, startServer } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';

describe('media plane on two instances sharing Redis', () => {
  let redis: RedisServer;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const args = [`--redis_addr=127.0.0.1:${redis.port}`];
    [a, b] = await Promise.all([
      startServer({ off: ['hls_addr'], args }),
      startServer({ off: ['hls_addr'], args }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([a.stop(), b.stop()]);
    await redis.stop();
  });

  it('admits on one instance a key created through the API of the other', async () => {
    const key = (await call<string>(a.apiUrl('/control/get?room=shared'))).json?.data as string;
    const { client, streamId } = await RawRtmpClient.session(b.ports.rtmp_addr, 'live');
    client.publish(key, streamId);
    await client.waitForStatus('NetStream.Publish.Start');
    client.close();
  });

  it.each(['reset', 'delete'])(
    '%s on one instance drops the publisher live on the other within 5 s',
    async (action) => {
      const room = `cross-${action}`;
      const key = (await call<string>(a.apiUrl(`/control/get?room=${room}`))).json?.data as string;
      const encoder = publish(`rtmp://127.0.0.1:${b.ports.rtmp_addr}/live/${key}`);
      await waitFor(
        async () => (b.stdout.includes(`publishes live/${room}`) ? true : undefined),
        15000,
      );
      const started = Date.now();
      expect((await call(a.apiUrl(`/control/${action}?room=${room}`))).status).toBe(200);
      const outcome = await Promise.race([encoder.exited, sleep(5000).then(() => 'still running')]);
      expect(outcome).not.toBe('still running');
      expect(Date.now() - started).toBeLessThan(5000);
      await encoder.stop();
    },
  );

  it('refuses publishes (fails closed) while Redis is down', async () => {
    const key = (await call<string>(a.apiUrl('/control/get?room=outage'))).json?.data as string;
    await redis.stop();
    try {
      const { client, streamId } = await RawRtmpClient.session(b.ports.rtmp_addr, 'live');
      client.publish(key, streamId);
      await client.until(() => client.statusCodes().length > 0, 8000, 'an answer');
      expect(client.statusCodes()).not.toContain('NetStream.Publish.Start');
      client.close();
    } finally {
      await redis.start();
    }
    // Once Redis is back (empty: the test server keeps nothing on disk), publishing works again.
    await waitFor(
      async () => {
        const fresh = await call<string>(a.apiUrl('/control/get?room=outage'));
        if (fresh.status !== 200) return undefined;
        const { client, streamId } = await RawRtmpClient.session(b.ports.rtmp_addr, 'live');
        client.publish(fresh.json?.data as string, streamId);
        try {
          await client.until(() => client.statusCodes().length > 0, 4000, 'an answer');
          return client.statusCodes().includes('NetStream.Publish.Start') ? true : undefined;
        } finally {
          client.close();
        }
      },
      15000,
      500,
    );
  });
});
