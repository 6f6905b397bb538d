import type { ClipInfo } from './fixture';
import type { PlayProtocol, PlayTarget } from './load-protocol';
import type { BenchOptions } from './options';
import type { PeerName, PeerServer } from './peers';
import { sleep } from './proc';
import { ReferencePlayer } from './targets';

/** What every scenario gets from run.ts. */
export interface BenchContext {
  readonly options: BenchOptions;
  readonly clip: ClipInfo;
  /** Peers that can run here (others were reported as skipped). */
  readonly peers: readonly PeerName[];
  log(line: string): void;
}

export const APP = 'live';
export const ROOM = 'bench';

/** Where players of `protocol` connect on `server`. */
export function targetOf(server: PeerServer, protocol: PlayProtocol): PlayTarget {
  const port = protocol === 'rtmp' ? server.rtmpPort : server.flvPort;
  if (port === undefined) throw new Error(`${server.name} has no ${protocol} playback`);
  return { protocol, host: '127.0.0.1', port, app: APP, name: ROOM, path: `/${APP}/${ROOM}.flv` };
}

export function publishUrl(server: PeerServer): string {
  return `rtmp://127.0.0.1:${server.rtmpPort}/${APP}/${ROOM}`;
}

/** Joins the reference player once the stream is live (HTTP-FLV answers 404 before), bounded. */
export async function joinReference(
  target: PlayTarget,
  timeoutMs = 20000,
): Promise<ReferencePlayer> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  while (performance.now() < deadline) {
    try {
      const reference = await ReferencePlayer.start(target);
      if (await reference.waitForKeyframe(Math.max(1000, deadline - performance.now())))
        return reference;
      reference.close();
      lastError = new Error('no key frame');
    } catch (error) {
      lastError = error;
    }
    await sleep(250);
  }
  throw new Error(`the stream did not start within ${timeoutMs} ms: ${String(lastError)}`);
}

/** The protocols a peer plays. */
export function peerPlays(peer: PeerName, protocol: PlayProtocol): boolean {
  return !(peer === 'nginx' && protocol === 'flv');
}
