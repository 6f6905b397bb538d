import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { call, expectEnvelope } from './helpers/http';
import { publish } from './helpers/media';
import { HttpReceiver } from './helpers/receiver';
import { RawRtmpClient } from './helpers/rtmp-client';
import { makeTempDir, startServer } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';

describe('shutdown order: sessions first, then webhooks', () => {
  it('delivers publish.ended and archive.finished of the publish a SIGTERM ends, and exits 0 within 5 s', async () => {
    const hook = await HttpReceiver.start();
    const dir = makeTempDir();
    const server = await startServer({
      off: ['hls_addr'],
      args: [
        `--webhooks=${JSON.stringify([{ url: hook.url, events: [] }])}`,
        '--flv_archive=true',
        `--flv_dir=${dir}`,
      ],
    });
    const key = expectEnvelope(await call<string>(server.apiUrl('/control/get?room=ending')), 200);
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`, {
      seconds: 60,
    });
    await waitFor(
      async () => (hook.events().includes('publish.admitted') ? true : undefined),
      10000,
    );
    await sleep(1000); // some media in the archive
    const { code, ms } = await server.stop();
    expect({ code, ms: ms < 5000 }).toEqual({ code: 0, ms: true });
    const events = hook.events();
    expect(events).toEqual(expect.arrayContaining(['publish.ended', 'archive.finished']));
    const finished = hook.got.find((request) => request.body.includes('"archive.finished"'));
    expect(JSON.parse(finished?.body ?? '{}')).toMatchObject({ room: 'ending', complete: true });
    await encoder.stop();
    await hook.close();
  });
});

describe('archive names', () => {
  it('keeps both archives when a room publishes twice in the same second', async () => {
    const dir = makeTempDir();
    const server = await startServer({
      off: ['hls_addr'],
      args: ['--rtmp_noauth', '--flv_archive=true', `--flv_dir=${dir}`],
    });
    const first = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    const second = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    // Start early in a second, so that both publishes (the second replaces the first) share it.
    await waitFor(async () => (Date.now() % 1000 < 200 ? true : undefined), 2000, 5);
    first.client.publish('twice', first.streamId);
    await first.client.waitForStatus('NetStream.Publish.Start');
    second.client.publish('twice', second.streamId);
    await second.client.waitForStatus('NetStream.Publish.Start');
    first.client.close();
    second.client.close();
    expect((await server.stop()).code).toBe(0);
    const files = readdirSync(join(dir, 'live')).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^twice_\d+-2\.flv$/);
    expect(files[1]).toBe(files[0].replace('-2', ''));
  });
});
