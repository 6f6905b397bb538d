import { MAX_TIMESTAMP_JUMP_MS, MediaTimeline } from './media-timeline';

const UINT32_RANGE = 2 ** 32;

describe('MediaTimeline', () => {
  it('maps the first DTS to the start and keeps the spacing of the ones after it', () => {
    const timeline = new MediaTimeline(10_000);
    expect([5000, 5040, 5023, 5080, 9000].map((t) => timeline.map(t))).toEqual([
      10_000, 10_040, 10_023, 10_080, 14_000,
    ]);
  });

  it('unwraps a DTS that wraps past 2^32 ms into a monotonic timeline', () => {
    const timeline = new MediaTimeline(0);
    const raw = [UINT32_RANGE - 80, UINT32_RANGE - 40, 0, 40, 80];
    expect(raw.map((t) => timeline.map(t))).toEqual([0, 40, 80, 120, 160]);
    // and through a second wrap, with interleaved audio slightly behind video
    const again = new MediaTimeline(0);
    let last = -Infinity;
    for (let t = UINT32_RANGE - 5000; t < UINT32_RANGE + 5000; t += 20) {
      const video = again.map(t % UINT32_RANGE);
      const audio = again.map((t - 7) % UINT32_RANGE);
      expect(video).toBeGreaterThan(last);
      expect(video - audio).toBe(7);
      last = video;
    }
    expect(again.jumps).toBe(0);
  });

  it('re-anchors a forward or backward jump beyond the limit 100 ms after the latest output', () => {
    const timeline = new MediaTimeline(0);
    timeline.map(50_000);
    timeline.map(50_040);
    expect(timeline.map(50_040 + MAX_TIMESTAMP_JUMP_MS + 1)).toBe(140);
    expect(timeline.map(50_040 + MAX_TIMESTAMP_JUMP_MS + 41)).toBe(180);
    expect(timeline.map(200)).toBe(280);
    expect(timeline.map(240)).toBe(320);
    expect(timeline.jumps).toBe(2);
  });

  it('keeps a gap below the limit (a pause is real time)', () => {
    const timeline = new MediaTimeline(0);
    timeline.map(0);
    expect(timeline.map(MAX_TIMESTAMP_JUMP_MS)).toBe(MAX_TIMESTAMP_JUMP_MS);
    expect(timeline.jumps).toBe(0);
  });

  it('maps stragglers of the old clock that arrive just after a jump with the old anchor', () => {
    const timeline = new MediaTimeline(0);
    timeline.map(5000); // video, old clock
    timeline.map(5010); // audio
    expect(timeline.map(900_000)).toBe(110); // video jumps
    expect(timeline.map(5030)).toBe(30); // audio still on the old clock
    expect(timeline.map(900_040)).toBe(150);
    expect(timeline.map(5070)).toBe(70);
    expect(timeline.jumps).toBe(1);
    // once the new clock has run for a while, the old one is forgotten: going back is a jump
    for (let t = 900_080; t <= 905_000; t += 40) timeline.map(t);
    expect(timeline.map(5110)).toBe(5210);
    expect(timeline.jumps).toBe(2);
  });
});
