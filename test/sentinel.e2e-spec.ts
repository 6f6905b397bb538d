import { call } from './helpers/http';
import { decode, publish, stopAllPublishers } from './helpers/media';
import { RedisSentinelSet } from './helpers/redis';
import { ServerProcess, startServer, stopAllServers } from './helpers/server';
import { flvUrl, rtmpUrl, waitForPublish } from './helpers/cluster';
import { waitFor } from './helpers/wait';

/** Redis without a single point of failure: keys and cluster through Sentinel, across a failover. */
describe('Redis through Sentinel', () => {
  let set: RedisSentinelSet;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    set = await RedisSentinelSet.start();
    const args = (id: string) => [
      `--redis_sentinels=${set.sentinels}`,
      `--redis_master_name=${RedisSentinelSet.MASTER_NAME}`,
      '--cluster.enabled=true',
      `--cluster.node_id=${id}`,
      '--cluster.ttl=4',
    ];
    [a, b] = await Promise.all([
      startServer({ off: ['hls_addr'], args: args('sentinel-a') }),
      startServer({ off: ['hls_addr'], args: args('sentinel-b') }),
    ]);
  });

  afterAll(async () => {
    stopAllPublishers();
    await stopAllServers();
    await set.stop();
  });

  it('keeps keys and claims across a master failover', async () => {
    const key = (await call<string>(a.apiUrl('/control/get?room=ha'))).json?.data as string;
    expect(key).toMatch(/^[0-9A-Za-z]{48}$/);
    publish(rtmpUrl(a, key));
    await waitForPublish(a, 'ha');
    expect(decode(flvUrl(b, 'ha'), 1).videoFrames).toBeGreaterThan(5);
    await set.waitForSync();
    await set.failover();
    // The key is the same on both nodes, read from the new master.
    await waitFor(async () => {
      const again = await call<string>(b.apiUrl('/control/get?room=ha')).catch(() => undefined);
      return again?.status === 200 ? again : undefined;
    }, 15000);
    expect((await call<string>(b.apiUrl('/control/get?room=ha'))).json?.data).toBe(key);
    // The claim survived (and its owner keeps refreshing it on the new master): a new player on B plays.
    const replica = set.replica.client();
    await replica.connect();
    try {
      await waitFor(async () => {
        const claim = await replica.get('livego:cluster:room:live/ha');
        const ttl = await replica.pttl('livego:cluster:room:live/ha');
        return claim?.includes('sentinel-a') && ttl > 0 ? true : undefined;
      }, 10000);
    } finally {
      replica.disconnect();
    }
    await waitFor(
      async () => (decode(flvUrl(b, 'ha'), 1).videoFrames > 5 ? true : undefined),
      15000,
    );
    // Writes go to the new master: a new publish claims its room.
    const other = (await call<string>(b.apiUrl('/control/get?room=ha2'))).json?.data as string;
    publish(rtmpUrl(b, other));
    await waitForPublish(b, 'ha2');
  });
});
