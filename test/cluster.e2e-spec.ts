import { decode } from './helpers/media';
import { publish, Publisher, stopAllPublishers } from './helpers/media';
import { FlvViewer } from './helpers/media-bystander';
import { RedisServer } from './helpers/redis';
import { ServerProcess, stopAllServers } from './helpers/server';
import { call } from './helpers/http';
import {
  firstVideoKeyframeMs,
  flvUrl,
  hlsUrl,
  livestat,
  rtmpUrl,
  startNode,
  waitForClaim,
  waitForPublish,
} from './helpers/cluster';
import { sleep, waitFor } from './helpers/wait';

/** README "Cluster": three instances on one redis-server act as one service. */
describe('cluster of three nodes on one Redis', () => {
  let redis: RedisServer;
  let a: ServerProcess;
  let b: ServerProcess;
  let c: ServerProcess;
  const encoders: Publisher[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    [a, b, c] = await Promise.all([
      startNode('node-a', redis, { off: ['hls_addr'] }),
      startNode('node-b', redis, { off: ['hls_addr'] }),
      startNode('node-c', redis),
    ]);
  });

  afterAll(async () => {
    for (const encoder of encoders) await encoder.stop();
    stopAllPublishers();
    await stopAllServers();
    await redis.stop();
  });

  it('plays on B and C over RTMP and HTTP-FLV a room published on A', async () => {
    encoders.push(publish(rtmpUrl(a, 'everywhere')));
    await waitForPublish(a, 'everywhere');
    await waitForClaim(redis, 'everywhere', 'node-a');
    for (const node of [b, c]) {
      const rtmp = decode(rtmpUrl(node, 'everywhere'), 2);
      expect(rtmp.videoFrames).toBeGreaterThan(20);
      expect(rtmp.audioFrames).toBeGreaterThan(20);
      const flv = decode(flvUrl(node, 'everywhere'), 2);
      expect(flv.videoFrames).toBeGreaterThan(20);
    }
    // Pulls show as relays; the origin sends one upstream per edge whatever the number of players.
    const stats = await livestat(b);
    expect(stats.publishers.map((item) => item.protocol)).toEqual(['relay']);
  });

  it('gives a player on an edge its first keyframe within 1 s while the room is live', async () => {
    // Another room, so that no pull is running on C yet.
    encoders.push(publish(rtmpUrl(a, 'fast'), { gop: 25 }));
    await waitForPublish(a, 'fast');
    await sleep(1500);
    const ms = await firstVideoKeyframeMs(flvUrl(c, 'fast'));
    expect(ms).toBeLessThan(1000);
  });

  it('pulls once per edge whatever the number of players, and closes the upstream 10 s after the last', async () => {
    encoders.push(publish(rtmpUrl(a, 'shared')));
    await waitForPublish(a, 'shared');
    const viewers = [1, 2, 3].map(() => new FlvViewer(flvUrl(b, 'shared')));
    for (const viewer of viewers) await viewer.waitForFrames(5);
    const upstreams = async () =>
      (await livestat(a)).players.filter(
        (item) => item.key === 'live/shared' && item.protocol === 'relay',
      ).length;
    expect(await upstreams()).toBe(1);
    for (const viewer of viewers) await viewer.stop();
    const left = Date.now();
    await sleep(8000);
    expect(await upstreams()).toBe(1); // still there: a player coming back starts at once
    await waitFor(async () => ((await upstreams()) === 0 ? true : undefined), 5000, 200);
    expect(Date.now() - left).toBeGreaterThan(9500);
    expect(Date.now() - left).toBeLessThan(13000);
  });

  it('answers 404 on an edge for a room live nowhere', async () => {
    const answer = await fetch(flvUrl(b, 'nowhere'));
    expect(answer.status).toBe(404);
  });

  it('lets a publish on B replace A cluster-wide; players on C follow B', async () => {
    const first = publish(rtmpUrl(a, 'handover'));
    encoders.push(first);
    await waitForPublish(a, 'handover');
    const viewer = new FlvViewer(flvUrl(c, 'handover'));
    await viewer.waitForFrames(10);
    const second = publish(rtmpUrl(b, 'handover'));
    encoders.push(second);
    await waitForPublish(b, 'handover');
    const replacedAt = Date.now();
    // A stops its publisher within 2 s: the encoder on A is disconnected.
    const outcome = await Promise.race([first.exited, sleep(2500).then(() => 'still running')]);
    expect(outcome).not.toBe('still running');
    expect(Date.now() - replacedAt).toBeLessThan(2500);
    await waitForClaim(redis, 'handover', 'node-b');
    // One source cluster-wide: A holds no publisher of the room, B holds its own.
    await waitFor(async () => {
      const onA = await livestat(a);
      return onA.publishers.some((item) => item.key === 'live/handover') ? undefined : true;
    }, 3000);
    // A new player on C plays B's stream.
    const again = decode(flvUrl(c, 'handover'), 2);
    expect(again.videoFrames).toBeGreaterThan(20);
    await viewer.stop();
  });

  it('serves HLS on an edge while the room is pulled there (the pulled copy is a local publish)', async () => {
    const viewer = new FlvViewer(flvUrl(c, 'everywhere'));
    await viewer.waitForFrames(5);
    const { value: playlist } = await waitFor(async () => {
      const answer = await fetch(hlsUrl(c, 'everywhere')).catch(() => undefined);
      const text = answer?.status === 200 ? await answer.text() : '';
      return text.includes('#EXTINF') ? text : undefined;
    }, 15000);
    expect(playlist).toMatch(/^#EXTM3U/);
    expect(decode(hlsUrl(c, 'everywhere'), 2).videoFrames).toBeGreaterThan(10);
    await viewer.stop();
  });

  it('starts the pull on an edge from a first HLS playlist request', async () => {
    encoders.push(publish(rtmpUrl(a, 'cold-hls')));
    await waitForPublish(a, 'cold-hls');
    const answer = await fetch(hlsUrl(c, 'cold-hls'), { signal: AbortSignal.timeout(15000) });
    expect(answer.status).toBe(200);
    expect(await answer.text()).toMatch(/#EXTINF/);
    expect(decode(hlsUrl(c, 'cold-hls'), 2).videoFrames).toBeGreaterThan(10);
  });

  it('lists every node and every session once in the cluster stats', async () => {
    const viewer = new FlvViewer(flvUrl(c, 'everywhere'));
    await viewer.waitForFrames(5);
    await waitFor(async () => {
      const all = await livestat(b, true);
      const onC = all.players.filter(
        (item) => item.node === 'node-c' && item.key === 'live/everywhere',
      );
      return onC.length >= 1 ? all : undefined;
    }, 8000);
    const all = await livestat(a, true);
    const ids = [...all.publishers, ...all.players].map(
      (item) => `${item.node}#${item.session_id}`,
    );
    expect(new Set(ids).size).toBe(ids.length);
    const own = all.publishers.filter((item) => item.key === 'live/everywhere');
    expect(own.find((item) => item.protocol !== 'relay')?.node).toBe('node-a');
    const nodes = (await call<{ id: string }[]>(b.apiUrl('/stat/cluster'))).json?.data ?? [];
    expect(nodes.map((node) => node.id).sort()).toEqual(['node-a', 'node-b', 'node-c']);
    await viewer.stop();
  });

  it('kicks, through the API of A, a player that C holds', async () => {
    const viewer = new FlvViewer(flvUrl(c, 'everywhere'));
    await viewer.waitForFrames(5);
    const { value: item } = await waitFor(async () => {
      const onC = (await livestat(c)).players.find((player) => player.protocol === 'http-flv');
      return onC;
    }, 5000);
    const answer = await call<{ session_id: number; key: string }>(
      a.apiUrl(`/control/kick?id=${item.session_id}&node=node-c`),
    );
    expect(answer.status).toBe(200);
    expect(answer.json?.data).toEqual(
      expect.objectContaining({ session_id: item.session_id, key: 'live/everywhere' }),
    );
    await waitFor(async () => (viewer.exitCode !== undefined ? true : undefined), 3000, 100);
    // A session no node holds: 404 (within the 2 s the nodes have to answer).
    const missing = await call(a.apiUrl('/control/kick?id=999999&node=node-c'));
    expect(missing.status).toBe(404);
  });
});
