import { hlsUrl, livePlaylist } from './helpers/hls';
import { expectRssWithin } from './fuzz/hostile-kit';
import { call } from './helpers/http';
import { HealthProbe } from './helpers/media-bystander';
import { rssBytes } from './helpers/proc';
import { decode, probe, publish, Publisher } from './helpers/media';
import { ServerProcess, startServer } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';

/**
 * HLS on fMP4 (`hls_variant: fmp4`) and LL-HLS (`lowlatency`) from a live ffmpeg publish: ffmpeg plays
 * both; the low-latency playlist follows RFC 8216bis (parts, preload hint, blocking reload, delta updates).
 */

const FRAGMENT_SECONDS = 1;
const PART_SECONDS = 0.2;

/** The preload hint's part: its URI, segment number and part index. */
function hint(playlist: string): { uri: string; msn: number; part: number } {
  const uri = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(playlist)?.[1] ?? '';
  const [, msn, part] = /-(\d+)\.(\d+)\.m4s$/.exec(uri) ?? [];
  return { uri, msn: Number(msn), part: Number(part) };
}

describe.each(['fmp4', 'lowlatency'] as const)('hls_variant %s', (variant) => {
  let server: ServerProcess;
  let encoder: Publisher;

  beforeAll(async () => {
    server = await startServer({
      off: ['httpflv_addr'],
      args: [
        `--hls_variant=${variant}`,
        `--hls_fragment=${FRAGMENT_SECONDS}`,
        `--hls_part_duration=${PART_SECONDS}`,
        '--hls_window=12',
        '--rtmp_noauth=true',
      ],
    });
    encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/cam`, { gop: 25 });
    await livePlaylist(server, 'cam', 3);
  });

  afterAll(async () => {
    await encoder?.stop();
    await server?.stop();
  });

  it('plays in ffmpeg: fMP4 segments with H.264 and AAC, no decoding errors', () => {
    const playlistUrl = hlsUrl(server, '/live/cam.m3u8');
    expect(probe(playlistUrl).codecs.sort()).toEqual(['aac', 'h264']);
    const decoded = decode(playlistUrl, 3);
    expect(decoded.errors).toEqual([]);
    expect(decoded.videoFrames).toBeGreaterThanOrEqual(50);
    expect(decoded.audioFrames).toBeGreaterThan(0);
  });

  it('lists an init section and .m4s segments, served as video/mp4 and cacheable', async () => {
    const playlist = await livePlaylist(server, 'cam');
    expect(playlist).toMatch(variant === 'fmp4' ? /^#EXT-X-VERSION:7$/m : /^#EXT-X-VERSION:9$/m);
    const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist)?.[1];
    const segment = /^(cam-[0-9a-z]+-\d+\.m4s)$/m.exec(playlist)?.[1];
    expect(map).toMatch(/^cam-[0-9a-z]+-init\d+\.mp4$/);
    for (const file of [map, segment]) {
      const response = await fetch(hlsUrl(server, `/live/${file}`));
      const body = Buffer.from(await response.arrayBuffer());
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('video/mp4');
      expect(response.headers.get('cache-control')).toMatch(/max-age=\d+/);
      // ftyp first in the init section, moof first in a segment (ISO/IEC 14496-12 §4.3, §8.8.4).
      expect(body.subarray(4, 8).toString('latin1')).toBe(file === map ? 'ftyp' : 'moof');
    }
    const head = await fetch(hlsUrl(server, '/live/cam.m3u8'));
    expect(head.headers.get('cache-control')).toBe('no-cache');
    if (variant === 'fmp4') expect(playlist).not.toMatch(/#EXT-X-PART|PRELOAD-HINT/);
  });

  if (variant !== 'lowlatency') return;

  it('lists parts of the part target, the first of each segment independent, and a preload hint', async () => {
    const playlist = await livePlaylist(server, 'cam');
    expect(playlist).toMatch(
      /^#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0\.6,CAN-SKIP-UNTIL=6$/m,
    );
    expect(playlist).toMatch(/^#EXT-X-PART-INF:PART-TARGET=0\.2$/m);
    const parts = [
      ...playlist.matchAll(/^#EXT-X-PART:DURATION=([\d.]+),URI="([^"]+)"(,INDEPENDENT=YES)?$/gm),
    ];
    expect(parts.length).toBeGreaterThan(5);
    for (const [, duration] of parts)
      expect(Number(duration)).toBeLessThanOrEqual(PART_SECONDS + 0.05);
    for (const [, , uri, independent] of parts) {
      if (uri.endsWith('.0.m4s')) expect(independent).toBe(',INDEPENDENT=YES');
    }
    expect(hint(playlist).uri).toMatch(/^cam-[0-9a-z]+-\d+\.\d+\.m4s$/);
    // A part is the same bytes as its place in its segment.
    const [, , firstPart] = parts[0];
    const part = Buffer.from(
      await (await fetch(hlsUrl(server, `/live/${firstPart}`))).arrayBuffer(),
    );
    const segmentName = firstPart.replace(/\.\d+\.m4s$/, '.m4s');
    const segment = Buffer.from(
      await (await fetch(hlsUrl(server, `/live/${segmentName}`))).arrayBuffer(),
    );
    expect(segment.subarray(0, part.length).equals(part)).toBe(true);
  });

  it('holds a blocking reload until the asked part exists, then lists it', async () => {
    const next = hint(await livePlaylist(server, 'cam'));
    const asked = Date.now();
    const response = await call(
      hlsUrl(server, `/live/cam.m3u8?_HLS_msn=${next.msn}&_HLS_part=${next.part}`),
    );
    const heldMs = Date.now() - asked;
    expect(response.status).toBe(200);
    expect(response.text).toContain(`URI="${next.uri}"`);
    expect(heldMs).toBeLessThan(3 * FRAGMENT_SECONDS * 1000);
    // The part it waited for is served at once now.
    expect((await fetch(hlsUrl(server, `/live/${next.uri}`))).status).toBe(200);
  });

  it('holds a request for the hinted part and serves it whole once it is complete', async () => {
    const next = hint(await livePlaylist(server, 'cam'));
    const early = await fetch(hlsUrl(server, `/live/${next.uri}`));
    const body = Buffer.from(await early.arrayBuffer());
    expect(early.status).toBe(200);
    const again = Buffer.from(
      await (await fetch(hlsUrl(server, `/live/${next.uri}`))).arrayBuffer(),
    );
    expect(body.equals(again)).toBe(true);
    expect(body.subarray(4, 8).toString('latin1')).toBe('moof');
    // A part beyond the hint is not held: it does not exist.
    const beyond = next.uri.replace(/\.(\d+)\.m4s$/, (_, n: string) => `.${Number(n) + 5}.m4s`);
    expect((await fetch(hlsUrl(server, `/live/${beyond}`))).status).toBe(404);
  });

  it('answers 400 for a reload beyond the next segment or before the window, and for bad numbers', async () => {
    const playlist = await livePlaylist(server, 'cam');
    const next = hint(playlist);
    const first = Number(/^#EXT-X-MEDIA-SEQUENCE:(\d+)$/m.exec(playlist)?.[1]);
    for (const query of [
      `_HLS_msn=${next.msn + 2}`,
      `_HLS_msn=${first - 1}`,
      '_HLS_part=1',
      '_HLS_msn=x',
      `_HLS_msn=${next.msn}&_HLS_part=-1`,
    ]) {
      const response = await call(hlsUrl(server, `/live/cam.m3u8?${query}`));
      expect([query, response.status]).toEqual([query, 400]);
    }
  });

  it('holds a reload of the next segment until its first part exists', async () => {
    const next = hint(await livePlaylist(server, 'cam'));
    const response = await call(
      hlsUrl(server, `/live/cam.m3u8?_HLS_msn=${next.msn + 1}&_HLS_part=0`),
    );
    expect(response.status).toBe(200);
    expect(response.text).toMatch(new RegExp(`-${next.msn + 1}\\.0\\.m4s",INDEPENDENT=YES`));
  });

  it('gives up a blocking reload with 503 after 3 target durations when the publisher stalls', async () => {
    const next = hint(await livePlaylist(server, 'cam'));
    // The encoder stops sending but keeps its connection (well inside read_timeout).
    encoder.process.kill('SIGSTOP');
    try {
      const asked = Date.now();
      const response = await call(
        hlsUrl(server, `/live/cam.m3u8?_HLS_msn=${next.msn + 1}&_HLS_part=0`),
      );
      const heldMs = Date.now() - asked;
      expect(response.status).toBe(503);
      expect(heldMs).toBeGreaterThanOrEqual(3 * FRAGMENT_SECONDS * 1000 - 100);
      expect(heldMs).toBeLessThan(3 * FRAGMENT_SECONDS * 1000 + 1500);
    } finally {
      encoder.process.kill('SIGCONT');
    }
    await livePlaylist(server, 'cam');
  });

  it('holds 90 blocking reloads of one peer at once without making anyone else wait', async () => {
    const baseline = rssBytes(server.pid as number);
    const health = new HealthProbe(server);
    const next = hint(await livePlaylist(server, 'cam'));
    const asked = Date.now();
    // 90 of the 100 connections one address may hold (max_connections_per_ip), all waiting at once.
    const held = Array.from({ length: 90 }, () =>
      call(hlsUrl(server, `/live/cam.m3u8?_HLS_msn=${next.msn + 1}&_HLS_part=0`)),
    );
    const bystander = await call(hlsUrl(server, '/live/cam.m3u8'));
    const answers = await Promise.all(held);
    const { worstMs, failures } = await health.stop();
    expect(bystander.status).toBe(200);
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
    expect(Date.now() - asked).toBeLessThan(3 * FRAGMENT_SECONDS * 1000);
    expect(failures).toEqual([]);
    expect(worstMs).toBeLessThan(1000);
    expectRssWithin(server, baseline);
  });

  it('answers a delta update with EXT-X-SKIP for segments older than CAN-SKIP-UNTIL', async () => {
    const full = await livePlaylist(server, 'cam', 8);
    const delta = (await call(hlsUrl(server, '/live/cam.m3u8?_HLS_skip=YES'))).text;
    const skipped = Number(/^#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)$/m.exec(delta)?.[1]);
    expect(skipped).toBeGreaterThan(0);
    const count = (text: string) => (text.match(/^#EXTINF/gm) ?? []).length;
    // Same media sequence; the update lists what the full playlist lists, minus the skipped segments.
    expect(/^#EXT-X-MEDIA-SEQUENCE:\d+$/m.exec(delta)?.[0]).toBe(
      /^#EXT-X-MEDIA-SEQUENCE:\d+$/m.exec(full)?.[0],
    );
    expect(count(delta)).toBeLessThanOrEqual(count(full) - skipped + 1);
    expect(count(delta)).toBeGreaterThanOrEqual(count(full) - skipped - 1);
  });

  it('names the files of each publish with a new prefix and marks the discontinuity', async () => {
    const before = await livePlaylist(server, 'cam');
    const prefix = (text: string) => /URI="(cam-[0-9a-z]+-)init/.exec(text)?.[1];
    await encoder.stop();
    await sleep(500);
    encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/cam`, { gop: 25 });
    const { value: after } = await waitFor(
      async () => {
        const text = (await call(hlsUrl(server, '/live/cam.m3u8'))).text;
        const maps = [...text.matchAll(/#EXT-X-MAP:URI="([^"]+)"/g)];
        return new Set(maps.map((m) => m[1])).size >= 2 ? text : undefined;
      },
      20000,
      200,
    );
    expect(prefix(before)).toBeDefined();
    const prefixes = new Set([...after.matchAll(/URI="(cam-[0-9a-z]+-)init/g)].map((m) => m[1]));
    expect(prefixes.size).toBe(2);
    expect(after).toContain('#EXT-X-DISCONTINUITY');
  });
});
