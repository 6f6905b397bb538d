import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HlsService } from '../servers/hls/hls.service';

/** Runs ffmpeg quietly; throws with its stderr when it fails. */
export function ffmpeg(args: readonly string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/** An H.264 (B-frames, 1 s GOP) + AAC FLV made by ffmpeg from lavfi test sources. */
export function makeTestFlv(
  file: string,
  options: { seconds: number; video?: boolean; audio?: boolean },
): void {
  const { seconds, video = true, audio = true } = options;
  const args: string[] = [];
  if (video) args.push('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25');
  if (audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100');
  args.push('-t', String(seconds));
  if (video)
    args.push(
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      '25',
      '-bf',
      '2',
      '-pix_fmt',
      'yuv420p',
    );
  if (audio) args.push('-c:a', 'aac', '-b:a', '96k');
  args.push('-f', 'flv', file);
  ffmpeg(args);
}

export interface ProbedStream {
  codec_name: string;
  codec_type: 'video' | 'audio';
  start_time?: string;
  nb_read_frames?: string;
}

/** ffprobe's stream list; with `countFrames` every frame is decoded and counted. */
export function probeStreams(input: string, countFrames = false): ProbedStream[] {
  const args = ['-v', 'error', '-print_format', 'json', '-show_streams'];
  if (countFrames) args.push('-count_frames');
  const result = execFileSync('ffprobe', [...args, input], { encoding: 'utf8' });
  return (JSON.parse(result) as { streams: ProbedStream[] }).streams;
}

/** Decodes everything with `ffmpeg -v error ... -f null -`; returns what it printed on stderr. */
export function decodeErrors(input: string): string {
  const result = spawnSync(
    'ffmpeg',
    ['-hide_banner', '-v', 'error', '-i', input, '-f', 'null', '-'],
    {
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) return `exit ${result.status}: ${result.stderr}`;
  return result.stderr.trim();
}

export function framesOf(streams: ProbedStream[], type: 'video' | 'audio'): number {
  const stream = streams.find((s) => s.codec_type === type);
  return Number(stream?.nb_read_frames ?? NaN);
}

/** Writes a room's playlist and every segment it lists to `dir`; returns the playlist path. */
export function writeHls(service: HlsService, key: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const playlist = service.playlist(key);
  if (playlist === undefined) throw new Error(`no playlist for ${key}`);
  for (const line of playlist.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const data = service.segment(key, line)?.data;
    if (!data) throw new Error(`listed segment ${line} is not served`);
    writeFileSync(join(dir, line), data);
  }
  const file = join(dir, 'playlist.m3u8');
  writeFileSync(file, playlist);
  return file;
}
