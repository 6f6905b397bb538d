import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export const CACHE_DIR = join(__dirname, '..', '.cache');
/** Bump when the encoding below changes, so a stale clip is not reused. */
const CLIP_NAME = 'clip-720p30-2500k-g60-v1.flv';

/** 720p30 H.264 at ~2.5 Mbit/s (CBR-like), key frame every 60 frames (2 s), AAC 128 kbit/s, 24 s. */
const CLIP_SECONDS = 24;
const ENCODE_ARGS = [
  '-hide_banner',
  '-loglevel',
  'error',
  '-f',
  'lavfi',
  // Noise keeps x264 at the target rate: a clean test pattern would encode far below 2.5 Mbit/s.
  '-i',
  `testsrc2=size=1280x720:rate=30:duration=${CLIP_SECONDS},noise=alls=12:allf=t`,
  '-f',
  'lavfi',
  '-i',
  `sine=frequency=440:sample_rate=44100:duration=${CLIP_SECONDS}`,
  '-c:v',
  'libx264',
  '-preset',
  'veryfast',
  '-profile:v',
  'high',
  '-pix_fmt',
  'yuv420p',
  '-b:v',
  '2500k',
  '-maxrate',
  '2500k',
  '-bufsize',
  '2500k',
  '-g',
  '60',
  '-keyint_min',
  '60',
  '-sc_threshold',
  '0',
  '-c:a',
  'aac',
  '-b:a',
  '128k',
  '-ac',
  '2',
  '-f',
  'flv',
];

/** What the clip carries, read back from its FLV tags. */
export interface ClipInfo {
  readonly path: string;
  readonly durationSeconds: number;
  /** Audio + video payload bit rate, bit/s. */
  readonly mediaBitsPerSecond: number;
  readonly videoFrames: number;
  readonly keyframes: number;
  readonly keyframeIntervalSeconds: number;
  readonly tags: number;
}

/** Encodes the clip into bench/.cache once (ffmpeg), then describes it. */
export function ensureClip(log: (line: string) => void): ClipInfo {
  const path = join(CACHE_DIR, CLIP_NAME);
  if (!existsSync(path)) {
    mkdirSync(CACHE_DIR, { recursive: true });
    const partial = `${path}.partial`;
    log(`encoding the ${CLIP_SECONDS} s 720p30 fixture with ffmpeg (once) → ${path}`);
    const result = spawnSync('ffmpeg', ['-y', ...ENCODE_ARGS, partial], {
      encoding: 'utf8',
      timeout: 15 * 60 * 1000,
    });
    if (result.status !== 0) {
      throw new Error(`ffmpeg could not encode the clip: ${result.stderr || String(result.error)}`);
    }
    renameSync(partial, path);
  }
  return describeClip(path);
}

/** One tag of an FLV file (FLV spec E.4.1), body not copied. */
export interface FlvTag {
  readonly type: number;
  readonly timestamp: number;
  readonly body: Buffer;
}

/** The tags of an FLV file; stops at the first truncated one. */
export function readFlvTags(file: Buffer): FlvTag[] {
  if (file.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV file');
  const tags: FlvTag[] = [];
  let pos = file.readUInt32BE(5) + 4;
  while (pos + 11 <= file.length) {
    const type = file[pos] & 0x1f;
    const size = file.readUIntBE(pos + 1, 3);
    const timestamp = (file.readUIntBE(pos + 4, 3) | (file[pos + 7] << 24)) >>> 0;
    const start = pos + 11;
    if (start + size > file.length) break;
    tags.push({ type, timestamp, body: file.subarray(start, start + size) });
    pos = start + size + 4;
  }
  return tags;
}

export function describeClip(path: string): ClipInfo {
  const tags = readFlvTags(readFileSync(path));
  let mediaBytes = 0;
  let videoFrames = 0;
  let keyframes = 0;
  let last = 0;
  for (const tag of tags) {
    if (tag.type === 8 || tag.type === 9) mediaBytes += tag.body.length;
    if (tag.type === 9 && tag.body.length > 1 && tag.body[1] === 1) {
      videoFrames++;
      if (tag.body[0] >> 4 === 1) keyframes++;
    }
    last = Math.max(last, tag.timestamp);
  }
  const durationSeconds = last / 1000 + 1 / 30;
  return {
    path,
    durationSeconds,
    mediaBitsPerSecond: (mediaBytes * 8) / durationSeconds,
    videoFrames,
    keyframes,
    keyframeIntervalSeconds: keyframes > 0 ? durationSeconds / keyframes : 0,
    tags: tags.length,
  };
}
