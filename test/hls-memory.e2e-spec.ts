import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hlsUrl, livePlaylist } from './helpers/hls';
import { call } from './helpers/http';
import { decode, publish, Publisher } from './helpers/media';
import { makeTempDir, ServerProcess, startServer, startupError } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';

/**
 * What HLS holds, and when it muxes: a bounded number of segments in memory (and in /metrics), segments
 * on disk with `hls_dir`, muxing on demand with `hls_on_demand`, and none at all without `hls_addr`.
 */

const FRAGMENT_SECONDS = 1;
const WINDOW = 3;

/** A heavy publish: random noise coded losslessly, about 20 Mbit/s, cheap to encode at 320x240. */
function heavyPublish(url: string, seconds = 40): ChildProcess {
  return spawn(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi'],
      ...['-i', `nullsrc=s=320x240:r=25:d=${seconds},geq=random(1)*255:128:128`],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-g', '25', '-pix_fmt', 'yuv420p'],
      ...['-f', 'flv', url],
    ],
    { stdio: 'ignore' },
  );
}

async function metric(server: ServerProcess, name: string): Promise<number> {
  const text = (await call(server.apiUrl('/metrics'))).text;
  const line = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!line) throw new Error(`${name} is not in /metrics`);
  return Number(line[1]);
}

/** Sizes of the segments a playlist lists, as served. */
async function segmentSizes(server: ServerProcess, playlist: string): Promise<number[]> {
  const names = playlist.split('\n').filter((line) => /\.(ts|m4s)$/.test(line));
  const sizes: number[] = [];
  for (const name of names) {
    const response = await fetch(hlsUrl(server, `/live/${name}`));
    sizes.push((await response.arrayBuffer()).byteLength);
  }
  return sizes;
}

describe.each(['mpegts', 'lowlatency'] as const)('HLS memory, %s', (variant) => {
  let server: ServerProcess;
  let encoder: ChildProcess;

  beforeAll(async () => {
    server = await startServer({
      off: ['httpflv_addr'],
      args: [
        `--hls_variant=${variant}`,
        `--hls_fragment=${FRAGMENT_SECONDS}`,
        `--hls_window=${WINDOW}`,
        '--rtmp_noauth=true',
      ],
    });
    encoder = heavyPublish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/cam`);
    await livePlaylist(server, 'cam', WINDOW);
  });

  afterAll(async () => {
    encoder?.kill('SIGKILL');
    await server?.stop();
  });

  it('holds at most hls_window + 2 segments of a 20 Mbit/s publish, as /metrics says', async () => {
    let largestSegment = 0;
    let largestHeld = 0;
    for (let i = 0; i < 6; i++) {
      const sizes = await segmentSizes(server, await livePlaylist(server, 'cam', WINDOW));
      largestSegment = Math.max(largestSegment, ...sizes);
      largestHeld = Math.max(
        largestHeld,
        await metric(server, 'livego_hls_room_retained_bytes_max'),
      );
      await sleep(500);
    }
    // The publish is heavy: segments are megabytes, so the bound is not met by accident.
    expect(largestSegment).toBeGreaterThan(1_000_000);
    expect(largestHeld).toBeGreaterThan(largestSegment);
    expect(largestHeld).toBeLessThanOrEqual((WINDOW + 2) * largestSegment);
    expect(await metric(server, 'livego_hls_rooms')).toBe(1);
  });
});

describe('hls_dir', () => {
  let server: ServerProcess;
  let encoder: ChildProcess;
  let dir: string;

  beforeAll(async () => {
    dir = join(makeTempDir(), 'segments');
    server = await startServer({
      off: ['httpflv_addr'],
      args: [
        '--hls_variant=lowlatency',
        `--hls_fragment=${FRAGMENT_SECONDS}`,
        `--hls_window=${WINDOW}`,
        `--hls_dir=${dir}`,
        '--rtmp_noauth=true',
      ],
    });
    encoder = heavyPublish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/cam`);
    await livePlaylist(server, 'cam', WINDOW);
  });

  afterAll(async () => {
    encoder?.kill('SIGKILL');
    await server?.stop();
  });

  it('keeps finished segments as files, serves them from there, and removes those that left', async () => {
    const playlist = await livePlaylist(server, 'cam', WINDOW);
    const listed = playlist.split('\n').filter((line) => line.endsWith('.m4s'));
    const oldest = listed[0];
    const onDisk = () => readdirSync(join(dir, 'live')).filter((name) => name.endsWith('.m4s'));
    // Listed segments plus the one that just left, and one being written.
    expect(onDisk().length).toBeLessThanOrEqual(WINDOW + 2);
    expect(onDisk()).toEqual(expect.arrayContaining(listed.slice(0, -1)));
    const served = Buffer.from(
      await (await fetch(hlsUrl(server, `/live/${oldest}`))).arrayBuffer(),
    );
    expect(served.equals(readFileSync(join(dir, 'live', oldest)))).toBe(true);
    // A part of a finished segment is served as its byte range of the file.
    const part = /URI="([^"]+\.0\.m4s)"/.exec(playlist)?.[1] ?? '';
    const partBytes = Buffer.from(
      await (await fetch(hlsUrl(server, `/live/${part}`))).arrayBuffer(),
    );
    const segmentFile = part.replace(/\.0\.m4s$/, '.m4s');
    if (existsSync(join(dir, 'live', segmentFile))) {
      const file = readFileSync(join(dir, 'live', segmentFile));
      expect(file.subarray(0, partBytes.length).equals(partBytes)).toBe(true);
    }
    await waitFor(
      async () => (existsSync(join(dir, 'live', oldest)) ? undefined : true),
      10000,
      200,
    );
    // No temporary file is ever listed or left behind for long: written under another name, renamed.
    expect(onDisk().every((name) => !name.includes('.tmp'))).toBe(true);
  });

  it('holds a few parts in memory instead of the window', async () => {
    const sizes = await segmentSizes(server, await livePlaylist(server, 'cam', WINDOW));
    const largest = Math.max(...sizes);
    let held = 0;
    for (let i = 0; i < 5; i++) {
      held = Math.max(held, await metric(server, 'livego_hls_room_retained_bytes_max'));
      await sleep(300);
    }
    expect(largest).toBeGreaterThan(1_000_000);
    expect(held).toBeLessThan(2 * largest);
  });

  it('stops start-up with one line naming hls_dir when the folder cannot be made', async () => {
    const file = join(makeTempDir(), 'a-file');
    writeFileSync(file, 'not a folder');
    const line = await startupError({ args: [`--hls_dir=${file}/segments`] });
    expect(line).toMatch(/^livego: hls_dir \S*segments is not usable: ENOTDIR/);
  });

  it('plays from disk in ffmpeg', () => {
    const decoded = decode(hlsUrl(server, '/live/cam.m3u8'), 2);
    expect(decoded.errors).toEqual([]);
    expect(decoded.videoFrames).toBeGreaterThan(25);
  });
});

describe('hls_on_demand', () => {
  let server: ServerProcess;
  let encoder: Publisher;

  beforeAll(async () => {
    server = await startServer({
      off: ['httpflv_addr'],
      args: ['--hls_on_demand=true', '--hls_fragment=1', '--rtmp_noauth=true'],
    });
    encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/cam`, { gop: 25 });
    await waitFor(
      async () => ((await metric(server, 'livego_streams')) === 1 ? true : undefined),
      10000,
      200,
    );
  });

  afterAll(async () => {
    await encoder?.stop();
    await server?.stop();
  });

  it('muxes nothing until the first request, which waits for the first segment', async () => {
    await sleep(2500);
    expect(await metric(server, 'livego_hls_rooms')).toBe(0);
    const asked = Date.now();
    const response = await call(hlsUrl(server, '/live/cam.m3u8'));
    expect(response.status).toBe(200);
    expect(response.text).toMatch(/\.ts$/m);
    expect(Date.now() - asked).toBeLessThan(2 * 1000 + 2000 + 500);
    expect(await metric(server, 'livego_hls_rooms')).toBe(1);
  });

  it('stops muxing once nobody fetched it for 3 × hls_fragment', async () => {
    await call(hlsUrl(server, '/live/cam.m3u8'));
    await waitFor(
      async () => ((await metric(server, 'livego_hls_rooms')) === 0 ? true : undefined),
      8000,
      250,
    );
    // And starts again for the next viewer.
    expect((await call(hlsUrl(server, '/live/cam.m3u8'))).status).toBe(200);
  });
});

describe('without hls_addr', () => {
  it('muxes nothing', async () => {
    const server = await startServer({
      off: ['httpflv_addr', 'hls_addr'],
      args: ['--rtmp_noauth=true'],
    });
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/cam`, { gop: 25 });
    try {
      await waitFor(
        async () => ((await metric(server, 'livego_streams')) === 1 ? true : undefined),
        10000,
        200,
      );
      await sleep(2500);
      expect(await metric(server, 'livego_hls_rooms')).toBe(0);
      expect(await metric(server, 'livego_hls_retained_bytes')).toBe(0);
    } finally {
      await encoder.stop();
      await server.stop();
    }
  });
});
