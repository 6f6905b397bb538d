import { call } from './helpers/http';
import { publish } from './helpers/media';
import { RawRtmpClient } from './helpers/rtmp-client';
import { ServerProcess, startServer } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';

const RANDOM_KEY = 'Zx9'.repeat(16);

async function keyFor(server: ServerProcess, room: string, action = 'get'): Promise<string> {
  const response = await call<string>(server.apiUrl(`/control/${action}?room=${room}`));
  expect(response.status).toBe(200);
  return response.json?.data as string;
}

/** A raw publish attempt: the status codes the server sent and whether it closed the connection. */
async function attemptPublish(server: ServerProcess, app: string, name: string) {
  const { client, streamId } = await RawRtmpClient.session(server.ports.rtmp_addr, app);
  client.publish(name, streamId);
  await client.until(() => client.statusCodes().length > 0, 5000, 'an answer to publish');
  // A client that ignores the refusal and sends media anyway: none of it may reach a player.
  const video = Buffer.from([0x17, 0x01, 0, 0, 0, 0, 0, 0, 5, 0x65, 1, 2, 3, 4]);
  for (let i = 0; i < 5; i++)
    client.sendMessage(9, video, { streamId, timestamp: i * 40, csid: 6 });
  await Promise.race([client.closed, sleep(3000)]);
  return { codes: client.statusCodes(), closed: client.isClosed };
}

describe('publish admission', () => {
  let server: ServerProcess;
  let watcher: RawRtmpClient;

  beforeAll(async () => {
    server = await startServer({ off: ['hls_addr'] });
    // A player already waiting on the room: it must receive no frame from any refused publish.
    const session = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    watcher = session.client;
    watcher.play('news', session.streamId);
    await watcher.waitForStatus('NetStream.Play.Start');
  });

  afterAll(async () => {
    watcher.close();
    await server.stop();
  });

  afterEach(() => {
    expect(watcher.mediaMessages()).toEqual([]);
    expect(watcher.messages.some((m) => m.values[0] === 'onMetaData')).toBe(false);
  });

  it('refuses the room name used as a key', async () => {
    await keyFor(server, 'news');
    const result = await attemptPublish(server, 'live', 'news');
    expect(result.codes).toEqual(['NetStream.Publish.BadName']);
    expect(result.closed).toBe(true);
  });

  it('refuses a random key', async () => {
    const result = await attemptPublish(server, 'live', RANDOM_KEY);
    expect(result.codes).toEqual(['NetStream.Publish.BadName']);
    expect(result.closed).toBe(true);
  });

  it('refuses an app that is not configured', async () => {
    const key = await keyFor(server, 'news');
    const result = await attemptPublish(server, 'elsewhere', key);
    expect(result.codes).toEqual(['NetStream.Publish.BadName']);
    expect(result.closed).toBe(true);
  });

  it('refuses a key that was reset', async () => {
    const old = await keyFor(server, 'news');
    await keyFor(server, 'news', 'reset');
    const result = await attemptPublish(server, 'live', old);
    expect(result.codes).toEqual(['NetStream.Publish.BadName']);
    expect(result.closed).toBe(true);
  });

  it('logs the refusal at warn with the peer address and without the key', async () => {
    const key = await keyFor(server, 'news');
    await keyFor(server, 'news', 'reset');
    await attemptPublish(server, 'live', key);
    expect(server.stdout).toMatch(/WARN.*rtmp 127\.0\.0\.1:\d+: publish on "live" refused/);
    expect(server.stdout).not.toContain(key);
  });

  it('makes ffmpeg fail when it publishes with the room name', async () => {
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/news`, { seconds: 5 });
    const code = await encoder.exited;
    expect(code).not.toBe(0);
  });

  it('admits a live key with NetStream.Publish.Start', async () => {
    const key = await keyFor(server, 'admitted');
    const { client, streamId } = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    client.publish(key, streamId);
    await client.waitForStatus('NetStream.Publish.Start');
    client.close();
  });
});

describe('rtmp_noauth', () => {
  it('admits the room name as the publish name', async () => {
    const server = await startServer({ off: ['hls_addr'], args: ['--rtmp_noauth=true'] });
    const { client, streamId } = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    client.publish('open-room', streamId);
    await client.waitForStatus('NetStream.Publish.Start');
    client.close();
    await server.stop();
  });
});

describe('revocation and replacement', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({ off: ['hls_addr'] });
  });

  afterAll(async () => {
    await server.stop();
  });

  it.each(['reset', 'delete'])('%s drops the live publisher within seconds', async (action) => {
    const room = `drop-${action}`;
    const key = await keyFor(server, room);
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`);
    await waitFor(
      async () => (server.stdout.includes(`publishes live/${room}`) ? true : undefined),
      15000,
    );
    const started = Date.now();
    await call(server.apiUrl(`/control/${action}?room=${room}`));
    const code = await Promise.race([encoder.exited, sleep(5000).then(() => 'still running')]);
    expect(code).not.toBe('still running');
    expect(Date.now() - started).toBeLessThan(5000);
    await encoder.stop();
  });

  it('lets a second publisher replace the first', async () => {
    const key = await keyFor(server, 'twice');
    const first = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    first.client.publish(key, first.streamId);
    await first.client.waitForStatus('NetStream.Publish.Start');
    const second = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    second.client.publish(key, second.streamId);
    await second.client.waitForStatus('NetStream.Publish.Start');
    await Promise.race([first.client.closed, sleep(3000)]);
    expect(first.client.isClosed).toBe(true);
    expect(second.client.isClosed).toBe(false);
    second.client.close();
  });
});
