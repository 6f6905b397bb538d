import { call } from './helpers/http';
import { decode, probe, publish, Publisher } from './helpers/media';
import { RawRtmpClient } from './helpers/rtmp-client';
import { ServerProcess, startServer } from './helpers/server';
import { waitFor } from './helpers/wait';

/** Waits until the room is live, as an HTTP-FLV viewer sees it. */
async function waitLive(server: ServerProcess, room: string): Promise<void> {
  await waitFor(async () => {
    const response = await fetch(`http://127.0.0.1:${server.ports.httpflv_addr}/live/${room}.flv`, {
      method: 'HEAD',
    });
    return response.status === 200 ? true : undefined;
  }, 15000);
}

async function keyFor(server: ServerProcess, room: string): Promise<string> {
  const response = await call<string>(server.apiUrl(`/control/get?room=${room}`));
  return response.json?.data as string;
}

describe('publishing with a key, playing over RTMP and HTTP-FLV', () => {
  let server: ServerProcess;
  let encoder: Publisher;

  beforeAll(async () => {
    server = await startServer({ off: ['hls_addr'] });
    const key = await keyFor(server, 'news');
    encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`, { gop: 250 });
    await waitLive(server, 'news');
  });

  afterAll(async () => {
    await encoder.stop();
    await server.stop();
  });

  it('plays over RTMP by room name: ffprobe sees H.264 + AAC and ffmpeg decodes frames', () => {
    const url = `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/news`;
    expect(probe(url).codecs).toEqual(['aac', 'h264']);
    const decoded = decode(url, 2);
    expect(decoded.errors).toEqual([]);
    expect(decoded.videoFrames).toBeGreaterThan(20);
    expect(decoded.audioFrames).toBeGreaterThan(20);
  });

  it('plays over HTTP-FLV with the right content type and CORS', async () => {
    const url = `http://127.0.0.1:${server.ports.httpflv_addr}/live/news.flv`;
    const controller = new AbortController();
    const response = await fetch(url, { signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('video/x-flv');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    controller.abort();
    expect(probe(url).codecs).toEqual(['aac', 'h264']);
    const decoded = decode(url, 2);
    expect(decoded.errors).toEqual([]);
    expect(decoded.videoFrames).toBeGreaterThan(20);
  });

  it('gives a player joining mid-stream the cached GOP at once', async () => {
    // The encoder sends one keyframe every 10 s; without the GOP cache a new player would wait for it.
    const { client, streamId } = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    client.play('news', streamId);
    await client.until(
      () =>
        client
          .mediaMessages()
          .some((m) => m.type === 9 && m.payload[0] >> 4 === 1 && m.payload[1] === 1),
      2000,
      'a keyframe',
    );
    const video = client.mediaMessages().filter((m) => m.type === 9);
    expect(video[0].payload[1]).toBe(0); // AVC sequence header first
    expect(video[1].payload[0] >> 4).toBe(1); // then the cached keyframe
    expect(video[1].timestamp).toBeLessThan(10000);
    expect(client.messages.some((m) => m.type === 18 && m.values[0] === 'onMetaData')).toBe(true);
    client.close();
  });

  it('lists the stream on GET /streams', async () => {
    const response = await call(`http://127.0.0.1:${server.ports.httpflv_addr}/streams`);
    expect(response.status).toBe(200);
    expect(response.text).toContain('"key":"live/news"');
    expect(response.text).not.toMatch(/[0-9A-Za-z]{48}/); // the key never shows
  });

  it('answers 404 for a room that is not live and for an unknown app', async () => {
    for (const path of ['/live/nobody.flv', '/other/news.flv', '/live/news.mp4']) {
      const response = await call(`http://127.0.0.1:${server.ports.httpflv_addr}${path}`);
      expect(response.status).toBe(404);
    }
  });
});

describe('an RTMP player that arrives before the publisher', () => {
  it('waits, then starts when the publish begins', async () => {
    const server = await startServer({ off: ['hls_addr'] });
    const { client, streamId } = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    client.play('later', streamId);
    await client.waitForStatus('NetStream.Play.Start');
    const key = await keyFor(server, 'later');
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`);
    await client.until(() => client.mediaMessages().some((m) => m.type === 9), 15000, 'video');
    expect(client.isClosed).toBe(false);
    client.close();
    await encoder.stop();
    await server.stop();
  });
});

describe('per-app switches', () => {
  it('serves no HTTP-FLV for an app with flv: false', async () => {
    const server = await startServer({
      off: ['hls_addr'],
      args: ['--server=[{"appname":"live","live":true,"flv":false}]'],
    });
    const key = await keyFor(server, 'quiet');
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`);
    await waitFor(
      async () =>
        probe(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/quiet`, 5).ok ? true : undefined,
      15000,
    );
    const response = await call(`http://127.0.0.1:${server.ports.httpflv_addr}/live/quiet.flv`);
    expect(response.status).toBe(404);
    await encoder.stop();
    await server.stop();
  });
});
