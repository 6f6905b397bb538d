import { call } from './helpers/http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decode, publish } from './helpers/media';
import { RawRtmpClient } from './helpers/rtmp-client';
import { makeTempDir, startServer } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';

describe('shutdown with live streams', () => {
  it('exits 0 within 5 s on SIGTERM while a publisher and players are connected', async () => {
    const server = await startServer({ off: ['hls_addr'] });
    const key = (await call<string>(server.apiUrl('/control/get?room=busy'))).json?.data as string;
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`);
    await waitFor(
      async () => (server.stdout.includes('publishes live/busy') ? true : undefined),
      15000,
    );
    const player = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    player.client.play('busy', player.streamId);
    await player.client.until(() => player.client.mediaMessages().length > 0, 5000, 'media');
    const flv = await fetch(`http://127.0.0.1:${server.ports.httpflv_addr}/live/busy.flv`);
    expect(flv.status).toBe(200);

    const result = await server.stop(8000);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    expect(result.ms).toBeLessThan(5000);
    await player.client.closed;
    await encoder.stop();
  });

  it('exits 0 within 5 s on SIGINT too, with an archive being written, which ends complete', async () => {
    const dir = makeTempDir();
    const server = await startServer({
      off: ['hls_addr'],
      args: ['--flv_archive=true', `--flv_dir=${dir}`],
    });
    const key = (await call<string>(server.apiUrl('/control/get?room=ctrlc'))).json?.data as string;
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`);
    await waitFor(
      async () => (server.stdout.includes('publishes live/ctrlc') ? true : undefined),
      15000,
    );
    await sleep(2000);
    const result = await server.stop(8000, 'SIGINT');
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    expect(result.ms).toBeLessThan(5000);
    await encoder.stop();
    const [file] = readdirSync(join(dir, 'live'));
    const decoded = decode(join(dir, 'live', file), 10);
    expect(decoded.errors).toEqual([]);
    expect(decoded.videoFrames).toBeGreaterThan(25);
  });
});
