import type { Browser } from 'puppeteer-core';
import { closeAllBrowsers, launchBrowser, playHls } from './helpers/browser';
import { livePlaylist } from './helpers/hls';
import { publish, Publisher } from './helpers/media';
import { ServerProcess, startServer } from './helpers/server';
import { sleep } from './helpers/wait';

/** Seconds of playback measured per variant, after hls.js has settled on the live edge. */
const WATCH_SECONDS = 6;

/**
 * Each HLS variant plays in headless Chromium with hls.js (as a viewer's page would), from a live ffmpeg
 * publish; LL-HLS with `lowLatencyMode` stays within 2 s of live.
 */
describe.each([
  ['mpegts', {}],
  ['fmp4', {}],
  ['lowlatency', { lowLatencyMode: true }],
] as const)('hls_variant %s in a browser with hls.js', (variant, hlsConfig) => {
  let browser: Browser;
  let server: ServerProcess;
  let encoder: Publisher;

  beforeAll(async () => {
    server = await startServer({
      off: ['httpflv_addr'],
      args: [
        `--hls_variant=${variant}`,
        '--hls_fragment=1',
        '--hls_window=6',
        '--rtmp_noauth=true',
      ],
    });
    encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/cam`, { gop: 25 });
    await livePlaylist(server, 'cam');
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await closeAllBrowsers();
    await encoder?.stop();
    await server?.stop();
  });

  it('plays: the video advances, with no fatal player error', async () => {
    const player = await playHls(
      browser,
      `http://127.0.0.1:${server.ports.hls_addr}/live/cam.m3u8`,
      hlsConfig,
    );
    await player.waitForPlayback(2, 20000);
    const start = await player.currentTime();
    await sleep(WATCH_SECONDS * 1000);
    const advanced = (await player.currentTime()) - start;
    // Real time, played in real time: a stall would show as much less.
    expect(advanced).toBeGreaterThan(WATCH_SECONDS * 0.7);
    const latency = await player.latency();
    expect(player.record.errors).toEqual([]);
    if (variant === 'lowlatency') expect(latency).toBeLessThanOrEqual(2);
    // What the test saw, for the record (the latency of the other variants is not bounded here).
    process.stdout.write(`hls.js ${variant}: latency ${latency.toFixed(2)} s\n`);
    await player.close();
  });
});
