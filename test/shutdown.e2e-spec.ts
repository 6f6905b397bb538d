import { call } from './helpers/http';
import { publish } from './helpers/media';
import { RawRtmpClient } from './helpers/rtmp-client';
import { startServer } from './helpers/server';
import { waitFor } from './helpers/wait';

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
});
