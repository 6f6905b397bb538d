import { spawn } from 'node:child_process';
import { call } from './helpers/http';
import { publish } from './helpers/media';
import { RawRtmpClient } from './helpers/rtmp-client';
import { ServerProcess, startServer } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';

interface Item {
  key: string;
  url: string;
  stream_id: number;
  protocol: string;
  remote_addr: string;
  video_total_bytes: number;
  audio_total_bytes: number;
  video_speed: number;
  audio_speed: number;
  since: string;
}

async function livestat(
  server: ServerProcess,
  query = '',
): Promise<{ publishers: Item[]; players: Item[] }> {
  const response = await call<{ publishers: Item[]; players: Item[] }>(
    server.apiUrl(`/stat/livestat${query}`),
  );
  expect(response.status).toBe(200);
  return response.json?.data as { publishers: Item[]; players: Item[] };
}

async function metric(server: ServerProcess, line: RegExp): Promise<number> {
  const text = (await call(server.apiUrl('/metrics'))).text;
  const match = text.split('\n').find((l) => line.test(l));
  return match === undefined ? 0 : Number(match.split(' ').pop());
}

describe('live stats and metrics of a real stream', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({ args: ['--hls_fragment=1'] });
  });

  afterAll(async () => {
    await server.stop();
  });

  it('lists the publisher and an RTMP, an HTTP-FLV and an HLS viewer with growing byte counts', async () => {
    expect(await livestat(server)).toEqual({ publishers: [], players: [] });
    const key = (await call<string>(server.apiUrl('/control/get?room=show'))).json?.data as string;
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`);
    await waitFor(
      async () => (server.stdout.includes('publishes live/show') ? true : undefined),
      15000,
    );

    const rtmp = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    rtmp.client.play('show', rtmp.streamId);
    const player = (url: string) =>
      spawn('ffmpeg', ['-v', 'error', '-user_agent', 'stats-test', '-i', url, '-f', 'null', '-'], {
        stdio: 'ignore',
      });
    const flv = player(`http://127.0.0.1:${server.ports.httpflv_addr}/live/show.flv`);
    const hlsUrl = `http://127.0.0.1:${server.ports.hls_addr}/live/show.m3u8`;
    await waitFor(async () => ((await call(hlsUrl)).status === 200 ? true : undefined), 15000);
    const hls = player(hlsUrl);

    const first = await waitFor(
      async () => {
        const stats = await livestat(server, '?room=live/show');
        const protocols = stats.players.map((p) => p.protocol).sort();
        return protocols.join() === 'hls,http-flv,rtmp' &&
          stats.players.every((p) => p.video_total_bytes > 0)
          ? stats
          : undefined;
      },
      30000,
      500,
    );
    await sleep(3000);
    const later = await livestat(server, '?room=live/show');

    const publisher = first.value.publishers[0];
    expect(first.value.publishers).toHaveLength(1);
    expect(publisher).toEqual(
      expect.objectContaining({
        key: 'live/show',
        protocol: 'rtmp',
        stream_id: 1,
        url: expect.stringMatching(/\/live\/show$/),
      }),
    );
    expect(JSON.stringify(first.value)).not.toContain(key);
    expect(new Date(publisher.since).toISOString()).toBe(publisher.since);
    for (const item of [...later.publishers, ...later.players]) {
      const before = [...first.value.publishers, ...first.value.players].find(
        (p) => p.protocol === item.protocol && p.remote_addr === item.remote_addr,
      );
      expect(item.video_total_bytes).toBeGreaterThan(before?.video_total_bytes ?? 0);
      expect(item.audio_total_bytes).toBeGreaterThan(before?.audio_total_bytes ?? 0);
      expect(Number.isInteger(item.video_speed) && item.video_speed > 0).toBe(true);
      expect(Number.isInteger(item.stream_id)).toBe(true);
    }

    expect(await metric(server, /^livego_streams /)).toBe(1);
    expect(await metric(server, /^livego_connections\{protocol="http-flv"\}/)).toBe(1);
    expect(await metric(server, /^livego_publishes_total\{result="admitted"/)).toBe(1);
    const sent = await metric(server, /^livego_sent_bytes_total /);
    expect(sent).toBeGreaterThan(0);

    hls.kill('SIGKILL');
    flv.kill('SIGKILL');
    rtmp.client.close();
    await encoder.stop();
    await waitFor(
      async () => ((await metric(server, /^livego_streams /)) === 0 ? true : undefined),
      5000,
    );
    expect((await call(server.apiUrl('/stat/livestat?room=live/show'))).status).toBe(404);
    expect(await metric(server, /^livego_sent_bytes_total /)).toBeGreaterThanOrEqual(sent);
  });

  it('counts refused publishes by reason and API requests by route and status', async () => {
    const client = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    client.client.publish('Zx9'.repeat(16), client.streamId);
    await client.client.waitForStatus('NetStream.Publish.BadName');
    expect(await metric(server, /^livego_publishes_total\{result="refused",reason="key"\}/)).toBe(
      1,
    );
    await call(server.apiUrl('/control/get?room=.bad'));
    expect(
      await metric(server, /^livego_api_requests_total\{route="\/control\/get",status="400"\}/),
    ).toBe(1);
    expect(
      await metric(server, /^livego_key_store_seconds_count\{operation="get",outcome="ok"\}/),
    ).toBeGreaterThan(0);
    client.client.close();
  });

  it('answers /stat/livestat?room= for a room without a publisher with 404', async () => {
    const response = await call(server.apiUrl('/stat/livestat?room=live/nobody'));
    expect(response.status).toBe(404);
    expect(response.json).toEqual({ status: 404, data: 'room not found or inactive' });
  });
});
