import { MediaPacket } from '../../core/media-packet';
import { HlsOptions, HlsScheduler, systemScheduler } from '../../protocols/hls/hls-options';
import { HlsService } from './hls.service';
import { syntheticStream } from '../../testing/flv-packets';

/** A manual clock: timers fire only from `advance`. */
class FakeScheduler implements HlsScheduler {
  private nowMs = 1_000_000;
  private nextId = 1;
  readonly timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.nowMs;
  }

  setTimeout(callback: () => void, delayMs: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.nowMs + delayMs, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  advance(ms: number): void {
    this.nowMs += ms;
    for (const [id, timer] of [...this.timers]) {
      if (timer.at <= this.nowMs) {
        this.timers.delete(id);
        timer.callback();
      }
    }
  }
}

const KEY = 'live/room-1';
const OPTIONS: HlsOptions = {
  fragmentSeconds: 2,
  window: 3,
  keepAfterEnd: false,
  graceSeconds: 30,
};

function publish(service: HlsService, packets: readonly MediaPacket[], key = KEY): void {
  service.publishStarted(key);
  for (const packet of packets) service.packet(key, packet);
}

function uris(playlist: string | undefined): string[] {
  return (playlist ?? '').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

describe('HlsService', () => {
  let scheduler: FakeScheduler;
  let service: HlsService;

  beforeEach(() => {
    scheduler = new FakeScheduler();
    service = new HlsService(OPTIONS, scheduler);
  });

  afterEach(() => service.close());

  it('has no playlist for an unknown room or before the first segment', () => {
    expect(service.playlist(KEY)).toBeUndefined();
    publish(service, syntheticStream({ seconds: 1.5 }));
    expect(service.playlist(KEY)).toBeUndefined();
    expect(service.info(KEY)?.live).toBe(true);
  });

  it('lists `window` segments named {room}-{seq}.ts and serves each one', () => {
    publish(service, syntheticStream({ seconds: 11 }));
    const playlist = service.playlist(KEY)!;
    expect(playlist).toContain('#EXT-X-MEDIA-SEQUENCE:2\n');
    expect(playlist).not.toContain('#EXT-X-ENDLIST');
    expect(uris(playlist)).toEqual(['room-1-2.ts', 'room-1-3.ts', 'room-1-4.ts']);
    for (const uri of uris(playlist)) expect(service.segment(KEY, uri)?.data[0]).toBe(0x47);
  });

  it('keeps only the listed segments plus one in memory', () => {
    publish(service, syntheticStream({ seconds: 21 }));
    expect(service.info(KEY)?.retainedSegments).toBe(OPTIONS.window + 1);
    expect(service.segment(KEY, 'room-1-6.ts')).toBeDefined(); // just left the list
    expect(service.segment(KEY, 'room-1-5.ts')).toBeUndefined();
    expect(service.segment(KEY, 'room-1-0.ts')).toBeUndefined();
  });

  it('answers undefined for names that are not its segments', () => {
    publish(service, syntheticStream({ seconds: 5 }));
    expect(service.segment(KEY, 'room-1-0.ts')).toBeDefined();
    for (const name of [
      'room-1-0.m3u8',
      'room-2-0.ts',
      'room-1-.ts',
      'room-1-0x1.ts',
      '../room-1-0.ts',
      'room-1--1.ts',
    ]) {
      expect(service.segment(KEY, name)).toBeUndefined();
    }
    expect(service.segment('live/other', 'room-1-0.ts')).toBeUndefined();
  });

  it('ignores packets of a room that is not publishing', () => {
    for (const packet of syntheticStream({ seconds: 5 })) service.packet(KEY, packet);
    expect(service.info(KEY)).toBeUndefined();
  });

  it('ends the playlist with the partial segment and ENDLIST, then forgets it after the grace', () => {
    publish(service, syntheticStream({ seconds: 5 }));
    service.publishEnded(KEY);
    const ended = service.playlist(KEY)!;
    expect(ended).toMatch(/#EXTINF:1\.000,\nroom-1-2\.ts\n#EXT-X-ENDLIST\n$/);
    scheduler.advance(29_999);
    expect(service.playlist(KEY)).toBe(ended);
    scheduler.advance(1);
    expect(service.playlist(KEY)).toBeUndefined();
    expect(service.segment(KEY, 'room-1-2.ts')).toBeUndefined();
    expect(scheduler.timers.size).toBe(0);
  });

  it('forgets an ended room by the clock even when the timer has not fired yet', () => {
    publish(service, syntheticStream({ seconds: 5 }));
    service.publishEnded(KEY);
    scheduler.timers.clear(); // a late timer
    scheduler.advance(30_000);
    expect(service.playlist(KEY)).toBeUndefined();
  });

  it('continues the playlist after a discontinuity when the room publishes again within the grace', () => {
    publish(service, syntheticStream({ seconds: 5 }));
    service.publishEnded(KEY);
    scheduler.advance(10_000);
    publish(service, syntheticStream({ seconds: 4 }));
    expect(scheduler.timers.size).toBe(0);
    const playlist = service.playlist(KEY)!;
    expect(playlist).not.toContain('#EXT-X-ENDLIST');
    expect(playlist).toContain('#EXT-X-MEDIA-SEQUENCE:1\n');
    expect(playlist).toContain('room-1-2.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nroom-1-3.ts\n');
    scheduler.advance(60_000);
    expect(service.playlist(KEY)).toBe(playlist);
  });

  it('starts a fresh playlist after the grace, never reusing a segment URL of the expired one', () => {
    publish(service, syntheticStream({ seconds: 5 }));
    service.publishEnded(KEY);
    const expired = uris(service.playlist(KEY));
    scheduler.advance(31_000);
    expect(service.playlist(KEY)).toBeUndefined();
    publish(service, syntheticStream({ seconds: 3 }));
    const playlist = service.playlist(KEY)!;
    expect(playlist).toContain('#EXT-X-MEDIA-SEQUENCE:3\n');
    expect(playlist).not.toContain('#EXT-X-DISCONTINUITY');
    expect(playlist).not.toContain('#EXT-X-ENDLIST');
    for (const uri of uris(playlist)) expect(expired).not.toContain(uri);
  });

  it('with keepAfterEnd, keeps the ended playlist until the room publishes again', () => {
    service.close();
    service = new HlsService({ ...OPTIONS, keepAfterEnd: true }, scheduler);
    publish(service, syntheticStream({ seconds: 5 }));
    service.publishEnded(KEY);
    expect(scheduler.timers.size).toBe(0);
    scheduler.advance(24 * 3600_000);
    expect(service.playlist(KEY)).toContain('#EXT-X-ENDLIST');
    expect(service.segment(KEY, 'room-1-0.ts')).toBeDefined();
    publish(service, syntheticStream({ seconds: 9 }));
    const playlist = service.playlist(KEY)!;
    expect(playlist).not.toContain('#EXT-X-ENDLIST');
    expect(playlist).toContain('#EXT-X-MEDIA-SEQUENCE:4\n');
    expect(service.segment(KEY, 'room-1-0.ts')).toBeUndefined();
  });

  it('treats a second publisher on a live room as a new publish of the same playlist', () => {
    publish(service, syntheticStream({ seconds: 5 }));
    publish(service, syntheticStream({ seconds: 5 }));
    const playlist = service.playlist(KEY)!;
    expect(uris(playlist)).toEqual(['room-1-2.ts', 'room-1-3.ts', 'room-1-4.ts']);
    expect(playlist).toContain('room-1-2.ts\n#EXT-X-DISCONTINUITY\n');
  });

  it('keeps rooms apart', () => {
    publish(service, syntheticStream({ seconds: 5 }), 'live/a');
    publish(service, syntheticStream({ seconds: 3 }), 'other/a');
    expect(uris(service.playlist('live/a'))).toEqual(['a-0.ts', 'a-1.ts']);
    expect(uris(service.playlist('other/a'))).toEqual(['a-0.ts']);
    expect(service.segment('live/a', 'a-1.ts')).toBeDefined();
    expect(service.segment('other/a', 'a-1.ts')).toBeUndefined();
  });

  it('close() clears every timer and room', () => {
    publish(service, syntheticStream({ seconds: 5 }), 'live/a');
    publish(service, syntheticStream({ seconds: 5 }), 'live/b');
    service.publishEnded('live/a');
    service.publishEnded('live/b');
    expect(scheduler.timers.size).toBe(2);
    service.close();
    expect(scheduler.timers.size).toBe(0);
    expect(service.playlist('live/a')).toBeUndefined();
  });

  it('muxes a 2.5 Mbit/s stream with less than 1% of a core', () => {
    // 25 fps × 12 000 B ≈ 2.4 Mbit/s of video plus AAC, looped with increasing timestamps.
    const loopSeconds = 20;
    const loop = syntheticStream({ seconds: loopSeconds, gopFrames: 50, videoFrameBytes: 12_000 });
    const frames = loop.filter((p) => p.payload[1] !== 0);
    service.publishStarted(KEY);
    for (const packet of loop) service.packet(KEY, packet); // warm-up
    const loops = 30;
    const start = process.cpuUsage();
    for (let i = 1; i <= loops; i++) {
      const offset = i * loopSeconds * 1000;
      for (const p of frames) service.packet(KEY, { ...p, timestamp: p.timestamp + offset });
    }
    const used = process.cpuUsage(start);
    const cpuSeconds = (used.user + used.system) / 1e6;
    expect(service.info(KEY)!.nextSequence).toBeGreaterThanOrEqual((loops * loopSeconds) / 2 - 1);
    expect(cpuSeconds / (loops * loopSeconds)).toBeLessThan(0.01);
  });

  it('uses unref’d real timers by default, so a pending grace period never holds the process', () => {
    const handle = systemScheduler.setTimeout(() => undefined, 30_000) as NodeJS.Timeout;
    expect(handle.hasRef()).toBe(false);
    systemScheduler.clearTimeout(handle);
    expect(Math.abs(systemScheduler.now() - Date.now())).toBeLessThan(1000);
  });
});
