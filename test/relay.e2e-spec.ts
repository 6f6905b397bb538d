import { call } from './helpers/http';
import { probe, publish, Publisher } from './helpers/media';
import { ServerProcess, startServer } from './helpers/server';
import { waitFor } from './helpers/wait';

const rtmp = (server: ServerProcess, path: string) =>
  `rtmp://127.0.0.1:${server.ports.rtmp_addr}${path}`;

/** Resolves once ffprobe sees H.264 + AAC at `url`. */
async function playable(url: string, timeoutMs = 20000): Promise<void> {
  await waitFor(
    async () => (probe(url, 4).codecs.join() === 'aac,h264' ? true : undefined),
    timeoutMs,
    500,
  );
}

async function keyFor(server: ServerProcess, room: string): Promise<string> {
  return (await call<string>(server.apiUrl(`/control/get?room=${room}`))).json?.data as string;
}

describe('relays between two instances on loopback', () => {
  let a: ServerProcess;
  let b: ServerProcess;
  let encoder: Publisher;

  beforeAll(async () => {
    a = await startServer({ off: ['hls_addr'], args: ['--rtmp_noauth=true'] });
    b = await startServer({ off: ['hls_addr'], args: ['--rtmp_noauth=true'] });
    encoder = publish(rtmp(a, `/live/${await keyFor(a, 'news')}`));
    await playable(rtmp(a, '/live/news'));
  });

  afterAll(async () => {
    await encoder.stop();
    await Promise.all([a.stop(), b.stop()]);
  });

  it('pulls a far-end stream into a local room, lists it in stats, and stops', async () => {
    const url = encodeURIComponent(rtmp(a, '/live/news'));
    const started = await call(b.apiUrl(`/control/pull?oper=start&app=live&name=copy&url=${url}`));
    expect(started.status).toBe(200);
    await playable(rtmp(b, '/live/copy'));
    const stats = await call<{ publishers: { protocol: string; key: string; url: string }[] }>(
      b.apiUrl('/stat/livestat?room=live/copy'),
    );
    expect(stats.json?.data.publishers).toEqual([
      expect.objectContaining({ key: 'live/copy', protocol: 'relay' }),
    ]);
    expect(stats.json?.data.publishers[0].url).not.toContain('news');
    const again = await call(b.apiUrl(`/control/pull?oper=start&app=live&name=copy&url=${url}`));
    expect(again.status).toBe(409);
    expect((await call(b.apiUrl('/control/pull?oper=stop&app=live&name=copy'))).status).toBe(200);
    await waitFor(
      async () =>
        (await call(b.apiUrl('/stat/livestat?room=live/copy'))).status === 404 ? true : undefined,
      5000,
    );
  });

  it('pushes a local room to a far end', async () => {
    const url = encodeURIComponent(rtmp(b, '/live/pushed'));
    expect(
      (await call(a.apiUrl(`/control/push?oper=start&app=live&name=news&url=${url}`))).status,
    ).toBe(200);
    await playable(rtmp(b, '/live/pushed'));
    const players = (
      await call<{ players: { protocol: string }[] }>(a.apiUrl('/stat/livestat?room=live/news'))
    ).json?.data.players;
    expect(players?.some((p) => p.protocol === 'relay')).toBe(true);
    expect(
      (await call(a.apiUrl(`/control/push?oper=stop&app=live&name=news&url=${url}`))).status,
    ).toBe(200);
    expect(
      (await call(a.apiUrl(`/control/push?oper=stop&app=live&name=news&url=${url}`))).status,
    ).toBe(404);
  });

  it('answers bad relay calls with 4xx', async () => {
    const cases: [string, number][] = [
      ['/control/pull?app=live&name=x&url=rtmp://127.0.0.1/live/x', 400],
      ['/control/pull?oper=go&app=live&name=x&url=rtmp://127.0.0.1/live/x', 400],
      ['/control/pull?oper=start&app=live&name=x&url=http://127.0.0.1/live/x', 400],
      ['/control/pull?oper=start&app=live&name=x&url=rtmp://127.0.0.1/onlyapp', 400],
      ['/control/pull?oper=start&app=live&name=x', 400],
      ['/control/pull?oper=start&app=nope&name=x&url=rtmp://127.0.0.1/live/x', 400],
      ['/control/pull?oper=start&app=live&name=.bad&url=rtmp://127.0.0.1/live/x', 400],
      ['/control/pull?oper=start&app=live&name=news&url=rtmp://127.0.0.1/live/x', 409],
      ['/control/pull?oper=stop&app=live&name=never', 404],
      ['/control/push?oper=stop&app=live&name=news&url=rtmp://127.0.0.1/live/x', 404],
      ['/control/push?oper=start&app=live&name=news', 400],
    ];
    for (const [path, status] of cases) {
      const response = await call(a.apiUrl(path));
      expect({ path, status: response.status }).toEqual({ path, status });
      expect(response.json?.status).toBe(status);
    }
  });
});

describe('relays survive the far side restarting', () => {
  it('a pull reconnects when its source instance comes back', async () => {
    const source = await startServer({ off: ['hls_addr'], args: ['--rtmp_noauth=true'] });
    const sink = await startServer({ off: ['hls_addr'] });
    let encoder = publish(rtmp(source, '/live/origin'));
    await playable(rtmp(source, '/live/origin'));
    const url = encodeURIComponent(rtmp(source, '/live/origin'));
    expect(
      (await call(sink.apiUrl(`/control/pull?oper=start&app=live&name=mirror&url=${url}`))).status,
    ).toBe(200);
    await playable(rtmp(sink, '/live/mirror'));

    await encoder.stop();
    await source.stop();
    const restarted = await startServer({
      off: ['hls_addr'],
      args: ['--rtmp_noauth=true'],
      ports: source.ports,
    });
    encoder = publish(rtmp(restarted, '/live/origin'));
    await playable(rtmp(sink, '/live/mirror'), 40000);
    await encoder.stop();
    await Promise.all([restarted.stop(), sink.stop()]);
  }, 90000);

  it('a push reconnects when its target instance comes back, and static_push pushes every publish', async () => {
    const target = await startServer({ off: ['hls_addr'], args: ['--rtmp_noauth=true'] });
    const origin = await startServer({
      off: ['hls_addr'],
      args: [
        `--server=[{"appname":"live","live":true,"flv":true,"static_push":["rtmp://127.0.0.1:${target.ports.rtmp_addr}/live"]}]`,
      ],
    });
    const encoder = publish(rtmp(origin, `/live/${await keyFor(origin, 'auto')}`));
    await playable(rtmp(target, '/live/auto'));
    await target.stop();
    const restarted = await startServer({
      off: ['hls_addr'],
      args: ['--rtmp_noauth=true'],
      ports: target.ports,
    });
    await playable(rtmp(restarted, '/live/auto'), 40000);
    await encoder.stop();
    await Promise.all([restarted.stop(), origin.stop()]);
  }, 90000);
});
