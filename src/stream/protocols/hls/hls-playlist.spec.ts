import { HlsPlaylist } from './hls-playlist';
import { HlsSegment } from './hls-segmenter';

function seg(sequence: number, durationSeconds: number, discontinuity = false): HlsSegment {
  return {
    sequence,
    durationSeconds,
    data: Buffer.from([sequence]),
    videoBytes: 0,
    audioBytes: 0,
    discontinuity,
  };
}

function playlist(window = 3, fragmentSeconds = 3): HlsPlaylist {
  return new HlsPlaylist({ window, fragmentSeconds, segmentUri: (n) => `room-${n}.ts` });
}

describe('HlsPlaylist', () => {
  it('renders nothing before the first segment', () => {
    expect(playlist().render()).toBeUndefined();
  });

  it('renders an RFC 8216 live playlist of the newest `window` segments', () => {
    const p = playlist(3, 2);
    [2.0, 2.04, 1.9996, 2.5].forEach((d, i) => p.append(seg(i, d)));
    expect(p.render()).toBe(
      [
        '#EXTM3U',
        '#EXT-X-VERSION:3',
        '#EXT-X-TARGETDURATION:3',
        '#EXT-X-MEDIA-SEQUENCE:1',
        '#EXTINF:2.040,',
        'room-1.ts',
        '#EXTINF:2.000,',
        'room-2.ts',
        '#EXTINF:2.500,',
        'room-3.ts',
        '',
      ].join('\n'),
    );
  });

  it('never lowers the target duration while the playlist lives (RFC 8216 §6.2.1)', () => {
    const p = playlist(2, 2);
    p.append(seg(0, 4.2)); // cut late: no keyframe in time
    expect(p.render()).toContain('#EXT-X-TARGETDURATION:5\n');
    [2, 2, 2].forEach((d, i) => p.append(seg(i + 1, d)));
    expect(p.render()).not.toContain('room-0.ts');
    expect(p.render()).toContain('#EXT-X-TARGETDURATION:5\n');
  });

  it('never sets the target duration below the configured fragment, and covers the longest segment', () => {
    const p = playlist(3, 4);
    p.append(seg(0, 1.5));
    expect(p.render()).toContain('#EXT-X-TARGETDURATION:4\n');
    p.append(seg(1, 6.0004));
    expect(p.render()).toContain('#EXT-X-TARGETDURATION:6\n');
    p.append(seg(2, 6.0006));
    expect(p.render()).toContain('#EXT-X-TARGETDURATION:7\n');
  });

  it('keeps the listed segments plus one and releases older ones', () => {
    const p = playlist(3);
    for (let i = 0; i < 10; i++) p.append(seg(i, 3));
    expect(p.retainedCount).toBe(4);
    expect(p.find(5)).toBeUndefined();
    expect(p.find(6)?.data[0]).toBe(6);
    expect(p.find(9)?.data[0]).toBe(9);
    expect(p.nextSequence).toBe(10);
  });

  it('lists at least one segment even with a window of 0', () => {
    const p = playlist(0);
    for (let i = 0; i < 5; i++) p.append(seg(i, 3));
    expect(p.render()).toContain('#EXT-X-MEDIA-SEQUENCE:4\n#EXTINF:3.000,\nroom-4.ts\n');
    expect(p.retainedCount).toBe(2);
  });

  it('tags discontinuities and counts them in EXT-X-DISCONTINUITY-SEQUENCE once they leave', () => {
    const p = playlist(2);
    p.append(seg(0, 3));
    p.append(seg(1, 3, true));
    expect(p.render()).toBe(
      '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n' +
        '#EXTINF:3.000,\nroom-0.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:3.000,\nroom-1.ts\n',
    );
    p.append(seg(2, 3));
    expect(p.render()).not.toContain('#EXT-X-DISCONTINUITY-SEQUENCE');
    p.append(seg(3, 3));
    const text = p.render()!;
    expect(text).toContain('#EXT-X-MEDIA-SEQUENCE:2\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n');
    expect(text).not.toContain('#EXT-X-DISCONTINUITY\n');
  });

  it('ends with EXT-X-ENDLIST after end() and drops it when resumed', () => {
    const p = playlist();
    p.append(seg(0, 3));
    p.end();
    expect(p.isEnded).toBe(true);
    expect(p.render()!.endsWith('room-0.ts\n#EXT-X-ENDLIST\n')).toBe(true);
    p.resume();
    expect(p.render()).not.toContain('#EXT-X-ENDLIST');
  });
});
