import { publish, stopAllPublishers } from './helpers/media';
import { decode } from './helpers/media';
import { FlvViewer } from './helpers/media-bystander';
import { RawRtmpClient } from './helpers/rtmp-client';
import { RedisServer } from './helpers/redis';
import { ServerProcess, startupError, stopAllServers } from './helpers/server';
import { flvUrl, rtmpUrl, startNode, waitForClaim, waitForPublish } from './helpers/cluster';
import { waitFor } from './helpers/wait';

/** README "Cluster" (faults): a node killed, a node stopped, Redis lost and back. */
describe('cluster faults', () => {
  const TTL_SECONDS = 4;
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterEach(async () => {
    stopAllPublishers();
    await stopAllServers();
  });

  afterAll(async () => {
    await redis.stop();
  });

  const node = (id: string) =>
    startNode(id, redis, { off: ['hls_addr'], extra: [`--cluster.ttl=${TTL_SECONDS}`] });

  it('ends the players on B within cluster.ttl + 3 s when A is killed with SIGKILL', async () => {
    const [a, b] = await Promise.all([node('kill-a'), node('kill-b')]);
    publish(rtmpUrl(a, 'killed'));
    await waitForPublish(a, 'killed');
    const viewer = new FlvViewer(flvUrl(b, 'killed'));
    await viewer.waitForFrames(10);
    const killedAt = Date.now();
    a.kill();
    await waitFor(
      async () => (viewer.exitCode !== undefined ? true : undefined),
      (TTL_SECONDS + 3) * 1000,
      100,
    );
    expect(Date.now() - killedAt).toBeLessThan((TTL_SECONDS + 3) * 1000);
    // The claim expires by itself: the room is live nowhere.
    await waitForClaim(redis, 'killed', undefined, (TTL_SECONDS + 1) * 1000);
    expect((await fetch(flvUrl(b, 'killed'))).status).toBe(404);
  });

  it('sends its publishers the E-RTMP ReconnectRequest on SIGTERM, then closes', async () => {
    const a: ServerProcess = await node('drain-a');
    const { client, streamId } = await RawRtmpClient.session(a.ports.rtmp_addr, 'live');
    client.publish('drained', streamId);
    await client.waitForStatus('NetStream.Publish.Start');
    await waitForClaim(redis, 'drained', 'drain-a');
    const stopped = a.stop();
    await client.waitForStatus('NetConnection.Connect.ReconnectRequest', 5000);
    const request = client.messages.find(
      (message) =>
        message.values[0] === 'onStatus' &&
        (message.values[3] as { code?: string } | undefined)?.code ===
          'NetConnection.Connect.ReconnectRequest',
    );
    expect(request?.streamId).toBe(0);
    expect(request?.values[3]).toEqual(
      expect.objectContaining({ level: 'status', description: expect.any(String) }),
    );
    await client.closed;
    expect((await stopped).code).toBe(0);
    // The claim was released on the way out.
    await waitForClaim(redis, 'drained', undefined, 1000);
  });

  it('makes live rooms playable again on every node within 15 s of Redis returning', async () => {
    const [a, b, c] = await Promise.all([node('back-a'), node('back-b'), node('back-c')]);
    publish(rtmpUrl(a, 'survivor'));
    await waitForPublish(a, 'survivor');
    await waitForClaim(redis, 'survivor', 'back-a');
    // The test Redis keeps nothing on disk: it comes back empty, as after a crash.
    await redis.restart();
    const back = Date.now();
    await waitForClaim(redis, 'survivor', 'back-a', 15000);
    for (const edge of [b, c]) {
      await waitFor(
        async () => (decode(flvUrl(edge, 'survivor'), 1).videoFrames > 5 ? true : undefined),
        15000 - (Date.now() - back),
        200,
      );
    }
    expect(Date.now() - back).toBeLessThan(15000);
  });

  it('refuses to start with one line: cluster without the Redis store', async () => {
    const line = await startupError({ args: ['--cluster.enabled=true'] });
    expect(line).toMatch(/cluster\.enabled needs the Redis store/);
  });

  it('refuses to start with one line: no address other nodes can reach', async () => {
    const line = await startupError({
      args: ['--cluster.enabled=true', `--redis_addr=${redis.addr}`],
      omitFlags: ['rtmp_addr'],
    });
    expect(line).toMatch(/cluster\.enabled needs cluster\.advertise/);
  });

  it('advertises cluster.advertise when given, whatever rtmp_addr says', async () => {
    const a = await startNode('wild', redis, {
      omitFlags: ['rtmp_addr'],
      off: ['hls_addr'],
      extra: ['--cluster.advertise=rtmp://127.0.0.1:1935', '--rtmp_addr=127.0.0.1:0'],
    });
    await a.waitForOutput(/joins the cluster as rtmp:\/\/127\.0\.0\.1:1935/);
  });
});
