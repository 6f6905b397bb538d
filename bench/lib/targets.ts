import { FlvPlayer } from './flv-player';
import type { PlayTarget } from './load-protocol';
import { Player, VideoSink } from './player';
import { RtmpPlayer } from './rtmp-player';
import { sleep } from './proc';

const PLAYER_START_TIMEOUT_MS = 15000;

/** A player of `target` (not started). */
export function createPlayer(target: PlayTarget, sink?: VideoSink): Player {
  const options = {
    host: target.host,
    port: target.port,
    sink,
    timeoutMs: PLAYER_START_TIMEOUT_MS,
  };
  return target.protocol === 'rtmp'
    ? new RtmpPlayer(options, target.app)
    : new FlvPlayer(options, target.path);
}

/** Starts `player`: RTMP handshake … play, or the HTTP request. */
export function startPlayer(player: Player, target: PlayTarget): Promise<void> {
  return player instanceof RtmpPlayer ? player.start(target.name) : player.start();
}

/** Tracks the smallest `arrival − DTS` seen: the latency base of an unloaded player. */
export class MinimumSink implements VideoSink {
  minimum = Infinity;

  video(timestampMs: number): void {
    const lag = Date.now() - timestampMs;
    if (lag < this.minimum) this.minimum = lag;
  }
}

/** The reference player: one viewer in the bench process, joined before the load, never loaded. */
export class ReferencePlayer {
  private constructor(
    private readonly player: Player,
    private readonly sink: MinimumSink,
  ) {}

  static async start(target: PlayTarget): Promise<ReferencePlayer> {
    const sink = new MinimumSink();
    const player = createPlayer(target, sink);
    await startPlayer(player, target);
    return new ReferencePlayer(player, sink);
  }

  get bytes(): number {
    return this.player.stats.bytes;
  }

  get closed(): boolean {
    return this.player.stats.closed;
  }

  /** Video messages / tags received so far (each a frame, sequence headers included). */
  get videoFrames(): number {
    return this.player.stats.videoFrames;
  }

  /** Smallest publish → player offset seen so far (Date ms − stream DTS). */
  get latencyBase(): number | undefined {
    return Number.isFinite(this.sink.minimum) ? this.sink.minimum : undefined;
  }

  /** Waits until media flows (the first key frame), bounded. */
  async waitForKeyframe(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.player.stats.firstKeyframeMs === undefined) {
      if (performance.now() > deadline || this.player.stats.closed) return false;
      await sleep(50);
    }
    return true;
  }

  close(): void {
    this.player.close();
  }
}

/** Joins `count` new players one after the other and times each to its first key frame (ms). */
export async function probeFirstKeyframe(
  target: PlayTarget,
  count: number,
  timeoutMs = 4000,
): Promise<{ values: number[]; failed: number }> {
  const values: number[] = [];
  let failed = 0;
  for (let i = 0; i < count; i++) {
    const player = createPlayer(target);
    try {
      await startPlayer(player, target);
      const deadline = performance.now() + timeoutMs;
      while (player.stats.firstKeyframeMs === undefined && !player.stats.closed) {
        if (performance.now() > deadline) break;
        await sleep(2);
      }
      if (player.stats.firstKeyframeMs === undefined) failed++;
      else values.push(player.stats.firstKeyframeMs);
    } catch {
      failed++;
    } finally {
      player.close();
    }
    await sleep(100);
  }
  return { values, failed };
}
