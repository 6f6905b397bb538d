import { spawnSync } from 'node:child_process';
import { call } from './helpers/http';
import { decode, probe, publish, Publisher } from './helpers/media';
import { ServerProcess, startServer } from './helpers/server';
import { waitFor } from './helpers/wait';

const FRAGMENT_SECONDS = 2;

function hlsUrl(server: ServerProcess, path: string): string {
  return `http://127.0.0.1:${server.ports.hls_addr}${path}`;
}

async function keyFor(server: ServerProcess, room: string): Promise<string> {
  return (await call<string>(server.apiUrl(`/control/get?room=${room}`))).json?.data as string;
}

/** Waits until the playlist lists at least `segments` segments, and returns it. */
async function playlistWith(
  server: ServerProcess,
  room: string,
  segments: number,
  timeoutMs = 30000,
): Promise<string> {
  const { value } = await waitFor(
    async () => {
      const response = await call(hlsUrl(server, `/live/${room}.m3u8`));
      const count = (response.text.match(/\.ts$/gm) ?? []).length;
      return response.status === 200 && count >= segments ? response.text : undefined;
    },
    timeoutMs,
    250,
  );
  return value;
}

/** Start times of the first video and audio packets, as ffprobe reads them. */
function startTimes(url: string): { video: number; audio: number } {
  const result = spawnSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'stream=codec_type,start_time', '-of', 'json', url],
    { encoding: 'utf8', timeout: 20000 },
  );
  const streams = (
    JSON.parse(result.stdout) as { streams: { codec_type: string; start_time: string }[] }
  ).streams;
  const time = (type: string) => Number(streams.find((s) => s.codec_type === type)?.start_time);
  return { video: time('video'), audio: time('audio') };
}

describe('HLS from a live ffmpeg publish', () => {
  let server: ServerProcess;
  let encoder: Publisher;

  beforeAll(async () => {
    server = await startServer({
      off: ['httpflv_addr'],
      args: [`--hls_fragment=${FRAGMENT_SECONDS}`, '--hls_window=4'],
    });
    encoder = publish(
      `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${await keyFor(server, 'tv')}`,
      { gop: 25 },
    );
    await playlistWith(server, 'tv', 3);
  });

  afterAll(async () => {
    await encoder.stop();
    await server.stop();
  });

  it('serves an RFC 8216 playlist with the right headers', async () => {
    const response = await call(hlsUrl(server, '/live/tv.m3u8'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const lines = response.text.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['#EXTM3U', '#EXT-X-VERSION:3']);
    const target = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(response.text)?.[1]);
    const durations = [...response.text.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
    expect(durations.length).toBeGreaterThanOrEqual(3);
    for (const duration of durations) {
      expect(Math.round(duration)).toBeLessThanOrEqual(target);
      expect(duration).toBeGreaterThan(FRAGMENT_SECONDS - 0.5);
      expect(duration).toBeLessThan(FRAGMENT_SECONDS + 1.1);
    }
    const uris = lines.filter((line) => line.endsWith('.ts'));
    for (const uri of uris) expect(uri).toMatch(/^tv-\d+\.ts$/); // relative
    const segment = await fetch(hlsUrl(server, `/live/${uris[0]}`));
    expect(segment.status).toBe(200);
    expect(segment.headers.get('content-type')).toBe('video/mp2t');
    expect(segment.headers.get('access-control-allow-origin')).toBe('*');
    expect(Buffer.from(await segment.arrayBuffer())[0]).toBe(0x47);
  });

  it('probes as H.264 + AAC, decodes without an error line, and keeps audio and video together', () => {
    const url = hlsUrl(server, '/live/tv.m3u8');
    expect(probe(url).codecs).toEqual(['aac', 'h264']);
    const decoded = decode(url, 4);
    expect(decoded.errors).toEqual([]);
    expect(decoded.videoFrames).toBeGreaterThanOrEqual(95);
    expect(decoded.audioFrames).toBeGreaterThan(150);
    const { video, audio } = startTimes(url);
    expect(Math.abs(video - audio)).toBeLessThan(0.1);
  });

  it('counts the media sequence up and forgets segments that left the window', async () => {
    const first = await playlistWith(server, 'tv', 4);
    const sequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(first)?.[1]);
    const later = await waitFor(
      async () => {
        const text = (await call(hlsUrl(server, '/live/tv.m3u8'))).text;
        return Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1]) >= sequence + 2
          ? text
          : undefined;
      },
      20000,
      500,
    );
    expect(later.value).not.toContain(`tv-${sequence}.ts`);
    expect((await call(hlsUrl(server, `/live/tv-${sequence}.ts`))).status).toBe(404);
  });

  it('answers 404 for unknown rooms, apps and files', async () => {
    for (const path of [
      '/live/none.m3u8',
      '/other/tv.m3u8',
      '/live/tv-99999999.ts',
      '/live/tv.mp4',
      '/',
    ]) {
      expect((await call(hlsUrl(server, path))).status).toBe(404);
    }
  });
});

describe('HLS across the end of a publish', () => {
  it('ends the playlist with ENDLIST, then continues it after DISCONTINUITY on republish', async () => {
    const server = await startServer({
      off: ['httpflv_addr'],
      args: [`--hls_fragment=${FRAGMENT_SECONDS}`, '--hls_window=6'],
    });
    const key = await keyFor(server, 'again');
    const url = `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`;
    const first = publish(url, { seconds: 5 });
    expect(await first.exited).toBe(0);
    const ended = await waitFor(async () => {
      const text = (await call(hlsUrl(server, '/live/again.m3u8'))).text;
      return text.includes('#EXT-X-ENDLIST') ? text : undefined;
    }, 10000);
    expect(ended.value).not.toContain('#EXT-X-DISCONTINUITY');

    const second = publish(url, { seconds: 5 });
    const resumed = await waitFor(
      async () => {
        const text = (await call(hlsUrl(server, '/live/again.m3u8'))).text;
        return text.includes('#EXT-X-DISCONTINUITY') && !text.includes('#EXT-X-ENDLIST')
          ? text
          : undefined;
      },
      20000,
      250,
    );
    expect(resumed.value).toMatch(/#EXT-X-DISCONTINUITY\n#EXTINF:/);
    expect(await second.exited).toBe(0);
    await waitFor(
      async () =>
        (await call(hlsUrl(server, '/live/again.m3u8'))).text.includes('#EXT-X-ENDLIST')
          ? true
          : undefined,
      10000,
    );
    const decoded = decode(hlsUrl(server, '/live/again.m3u8'), 30);
    expect(decoded.errors).toEqual([]);
    expect(decoded.videoFrames).toBeGreaterThan(150);
    await server.stop();
  });

  it('segments an audio-only publish by time', async () => {
    const server = await startServer({
      off: ['httpflv_addr'],
      args: [`--hls_fragment=${FRAGMENT_SECONDS}`],
    });
    const encoder = publish(
      `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${await keyFor(server, 'radio')}`,
      {
        video: false,
      },
    );
    await playlistWith(server, 'radio', 2);
    const url = hlsUrl(server, '/live/radio.m3u8');
    expect(probe(url).codecs).toEqual(['aac']);
    expect(decode(url, 2).errors).toEqual([]);
    await encoder.stop();
    await server.stop();
  });

  it('serves no HLS for an app with hls: false', async () => {
    const server = await startServer({
      args: ['--server=[{"appname":"live","live":true,"hls":false}]'],
    });
    const encoder = publish(
      `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${await keyFor(server, 'nohls')}`,
    );
    await waitFor(
      async () => (server.stdout.includes('publishes live/nohls') ? true : undefined),
      15000,
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await call(hlsUrl(server, '/live/nohls.m3u8'))).status).toBe(404);
    await encoder.stop();
    await server.stop();
  });
});
