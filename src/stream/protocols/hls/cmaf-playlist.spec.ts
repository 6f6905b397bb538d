import { CmafPlaylist, cmafNames } from './cmaf-playlist';
import { CmafSegment, HlsPart } from './cmaf-segmenter';

const INIT = Buffer.from('init');

function part(sequence: number, index: number, independent = index === 0): HlsPart {
  return {
    sequence,
    index,
    durationSeconds: 0.2,
    independent,
    data: Buffer.from(`p${sequence}.${index}`),
    videoBytes: 3,
    audioBytes: 1,
    initVersion: 1,
    discontinuity: false,
  };
}

function segment(sequence: number, parts = 5, discontinuity = false): CmafSegment {
  const made = Array.from({ length: parts }, (_, i) => part(sequence, i));
  let offset = 0;
  return {
    sequence,
    durationSeconds: parts * 0.2,
    data: Buffer.concat(made.map((p) => p.data)),
    videoBytes: 3 * parts,
    audioBytes: parts,
    discontinuity,
    init: INIT,
    initVersion: 1,
    parts: made.map((p) => {
      const at = offset;
      offset += p.data.length;
      return { offset: at, part: p };
    }),
  };
}

/** A low-latency playlist with `segments` finished segments and `parts` parts of the next one. */
function live(segments: number, parts: number, window = 3): CmafPlaylist {
  const playlist = new CmafPlaylist({ window, fragmentSeconds: 1, partTargetSeconds: 0.2 });
  playlist.resume('cam-a-');
  for (let s = 0; s < segments; s++) {
    for (let i = 0; i < 5; i++) playlist.appendPart(part(s, i), INIT);
    playlist.append(segment(s));
  }
  for (let i = 0; i < parts; i++) playlist.appendPart(part(segments, i), INIT);
  return playlist;
}

describe('CmafPlaylist (LL-HLS, RFC 8216bis)', () => {
  it('announces blocking reload, part hold-back of 3 part targets and skip of 6 target durations', () => {
    const text = live(2, 1).render() ?? '';
    expect(text).toContain('#EXT-X-VERSION:9\n');
    expect(text).toContain(
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6,CAN-SKIP-UNTIL=6\n',
    );
    expect(text).toContain('#EXT-X-PART-INF:PART-TARGET=0.2\n');
    expect(text).toContain('#EXT-X-MAP:URI="cam-a-init1.mp4"\n');
  });

  it('lists the parts of the segment being built and always ends with a hint of the next part', () => {
    const text = live(2, 2).render() ?? '';
    const lines = text.trim().split('\n');
    expect(lines.slice(-3)).toEqual([
      '#EXT-X-PART:DURATION=0.2,URI="cam-a-2.0.m4s",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.2,URI="cam-a-2.1.m4s"',
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="cam-a-2.2.m4s"',
    ]);
    // With no part of the next segment yet, the hint names its first part.
    expect(live(2, 0).render()).toMatch(/#EXT-X-PRELOAD-HINT:TYPE=PART,URI="cam-a-2\.0\.m4s"\n$/);
  });

  it('lists parts only for the segments of the last three target durations', () => {
    const text = live(6, 0, 6).render() ?? '';
    const withParts = new Set([...text.matchAll(/URI="cam-a-(\d+)\.\d+\.m4s"/g)].map((m) => m[1]));
    expect([...withParts].sort()).toEqual(['3', '4', '5', '6']);
    expect(text).toMatch(/^cam-a-0\.m4s$/m);
  });

  it('answers a blocking reload when the part exists, waits for the next ones, refuses beyond', () => {
    const playlist = live(4, 2); // segments 1..3 listed (window 3), 4 being built with parts 0 and 1
    expect(playlist.blocking(4, 1)).toBe('ready');
    expect(playlist.blocking(4, 2)).toBe('wait');
    expect(playlist.blocking(3, 99)).toBe('ready'); // segment 3 is complete: every part of it exists
    expect(playlist.blocking(5, 0)).toBe('wait'); // the segment after the one being built
    expect(playlist.blocking(6, 0)).toBe('invalid'); // beyond the next segment
    expect(playlist.blocking(0, 0)).toBe('invalid'); // before the window
    expect(playlist.blocking(4, undefined)).toBe('wait'); // the whole segment 4
    playlist.end();
    expect(playlist.blocking(5, 0)).toBe('ready'); // an ended playlist never makes anyone wait
  });

  it('skips segments older than CAN-SKIP-UNTIL in a delta update, and no discontinuity', () => {
    const playlist = live(12, 1, 10); // 10 segments of 1 s listed: 4 are older than 6 s
    const full = playlist.render() ?? '';
    const delta = playlist.render(true) ?? '';
    expect(delta).toContain('#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n');
    expect(delta).not.toMatch(/^cam-a-(2|3|4|5)\.m4s$/m);
    expect(delta).toMatch(/^cam-a-6\.m4s$/m);
    expect(full).not.toContain('EXT-X-SKIP');
    const withBreak = new CmafPlaylist({ window: 10, fragmentSeconds: 1, partTargetSeconds: 0.2 });
    withBreak.resume('cam-a-');
    for (let s = 0; s < 10; s++) withBreak.append(segment(s, 5, s === 1));
    expect(withBreak.render(true)).toContain('#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n');
  });

  it('finds parts, segments and init sections by name, and parts are views of their segment', () => {
    const playlist = live(3, 1);
    expect(playlist.find('cam-a-2.m4s')?.data.toString()).toBe('p2.0p2.1p2.2p2.3p2.4');
    expect(playlist.find('cam-a-2.3.m4s')?.data.toString()).toBe('p2.3');
    expect(playlist.find('cam-a-3.0.m4s')?.data.toString()).toBe('p3.0');
    expect(playlist.find('cam-a-init1.mp4')?.data).toBe(INIT);
    expect(playlist.find('cam-b-2.m4s')).toBeUndefined();
    expect(playlist.find(cmafNames.part('cam-a-', 3, 1))).toBeUndefined();
  });

  it('holds at most window + 1 segments and the parts being built, and counts their bytes', () => {
    const playlist = live(10, 2);
    expect(playlist.retainedCount).toBe(4);
    expect(playlist.retainedBytes).toBe(4 * 20 + 2 * 'p10.0'.length);
  });

  it('gives each publish its names, with a discontinuity and a new map', () => {
    const playlist = live(2, 0);
    playlist.end();
    expect(playlist.render()).toMatch(/#EXT-X-ENDLIST\n$/);
    playlist.resume('cam-b-');
    playlist.appendPart({ ...part(2, 0), discontinuity: true }, INIT);
    playlist.append({ ...segment(2), discontinuity: true });
    const text = playlist.render() ?? '';
    expect(text).toMatch(/cam-a-1\.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="cam-b-init1\.mp4"\n/);
    expect(text).toMatch(/^cam-b-2\.m4s$/m);
    expect(text).not.toContain('#EXT-X-ENDLIST');
  });

  it('without a part target lists whole fMP4 segments only (hls_variant fmp4)', () => {
    const playlist = new CmafPlaylist({ window: 3, fragmentSeconds: 1 });
    playlist.resume('cam-a-');
    playlist.append(segment(0));
    const text = playlist.render() ?? '';
    expect(text).toContain('#EXT-X-VERSION:7\n');
    expect(text).not.toMatch(/EXT-X-PART|PRELOAD-HINT|SERVER-CONTROL/);
    expect(text).toMatch(/#EXT-X-MAP:URI="cam-a-init1.mp4"\n#EXTINF:1.000,\ncam-a-0.m4s\n$/);
  });
});
