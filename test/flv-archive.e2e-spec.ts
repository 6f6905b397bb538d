import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/http';
import { decode, probe, publish } from './helpers/media';
import { makeTempDir, ServerProcess, startServer } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';

function ffprobeDuration(file: string): number {
  const result = spawnSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file],
    {
      encoding: 'utf8',
    },
  );
  return Number(result.stdout.trim());
}

async function keyFor(server: ServerProcess, room: string): Promise<string> {
  return (await call<string>(server.apiUrl(`/control/get?room=${room}`))).json?.data as string;
}

describe('flv_archive', () => {
  it('writes one valid FLV per publish whose duration matches the publish', async () => {
    const dir = makeTempDir();
    const server = await startServer({
      off: ['hls_addr'],
      args: ['--flv_archive=true', `--flv_dir=${dir}`],
    });
    const key = await keyFor(server, 'rec');
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`, {
      seconds: 6,
    });
    expect(await encoder.exited).toBe(0);
    await waitFor(async () => (server.stdout.includes('closed') ? true : undefined), 5000);
    const files = readdirSync(join(dir, 'live'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^rec_\d{10}\.flv$/);
    const file = join(dir, 'live', files[0]);
    expect(probe(file).codecs).toEqual(['aac', 'h264']);
    expect(ffprobeDuration(file)).toBeGreaterThan(5.5);
    expect(ffprobeDuration(file)).toBeLessThan(6.5);
    const decoded = decode(file, 10);
    expect(decoded.errors).toEqual([]);
    expect(decoded.videoFrames).toBeGreaterThanOrEqual(148);
    await server.stop();
  });

  it('closes the archive properly when the server stops during a publish', async () => {
    const dir = makeTempDir();
    const server = await startServer({
      off: ['hls_addr'],
      args: ['--flv_archive=true', `--flv_dir=${dir}`],
    });
    const encoder = publish(
      `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${await keyFor(server, 'cut')}`,
    );
    await waitFor(
      async () => (server.stdout.includes('publishes live/cut') ? true : undefined),
      15000,
    );
    await sleep(4000);
    const result = await server.stop();
    expect(result.code).toBe(0);
    await encoder.stop();
    const [file] = readdirSync(join(dir, 'live'));
    const duration = ffprobeDuration(join(dir, 'live', file));
    expect(duration).toBeGreaterThan(3);
    expect(duration).toBeLessThan(6);
    expect(decode(join(dir, 'live', file), 10).errors).toEqual([]);
  });

  it('keeps the stream playing when flv_dir cannot be written, and says so', async () => {
    // Tests run as root, which ignores permission bits: a directory under a regular file can never be
    // created, whoever asks.
    const blocker = join(makeTempDir(), 'not-a-dir');
    writeFileSync(blocker, 'x');
    const server = await startServer({
      off: ['hls_addr'],
      args: ['--flv_archive=true', `--flv_dir=${join(blocker, 'archives')}`],
    });
    expect(server.output()).toMatch(/ERROR.*flv_dir .* is not writable/);
    const encoder = publish(
      `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${await keyFor(server, 'safe')}`,
    );
    const url = `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/safe`;
    await waitFor(async () => (probe(url, 4).ok ? true : undefined), 20000, 500);
    const decoded = decode(url, 2);
    expect(decoded.errors).toEqual([]);
    expect(decoded.videoFrames).toBeGreaterThan(20);
    // The server's output is read by this process's event loop, which spawnSync above held up.
    await waitFor(
      async () =>
        /ERROR.*archive of live\/safe not recorded/.test(server.output()) ? true : undefined,
      5000,
    );
    await encoder.stop();
    await server.stop();
  });
});
