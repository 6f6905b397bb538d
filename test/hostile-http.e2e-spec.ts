import { call } from './helpers/http';
import { HealthProbe, FlvViewer, MediaBystander } from './helpers/media-bystander';
import { MiB, rssBytes } from './helpers/proc';
import { RawHttpPeer } from './helpers/raw-http';
import { ListenerKey, ServerProcess, startServer } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';
import { expectRssWithin, expectServiceWorks } from './fuzz/hostile-kit';

/**
 * The HTTP-FLV and HLS listeners against slowloris peers, connection floods and oversized requests
 * (README "Limits and hardening"). Each hostile address is its own loopback source (127.0.0.x), so the
 * per-address cap can be told apart from everyone else on 127.0.0.1. Throughout, an ffmpeg encoder
 * publishes and an ffmpeg viewer decodes it over HTTP-FLV: it must keep receiving frames, `/healthz`
 * must keep answering quickly and memory must stay bounded. Every wait is a bound, never a timing
 * that is asserted to be tight.
 */
const READ_TIMEOUT_S = 2;
const READ_TIMEOUT_MS = READ_TIMEOUT_S * 1000;
const PER_ADDRESS = 20;
const MAX_CONNECTIONS = 60;
/** Node checks request deadlines once a second; the rest is slack for a shared machine. */
const CLOSE_MARGIN_MS = 3000;
/** Fewer than PER_ADDRESS: these must be closed by the header deadline, not refused. */
const SLOWLORIS_PEERS = 15;
const FLOOD_PEERS = 100;
/** Lines one address's burst of one kind of refusal may produce in a minute. */
const LOG_LINES_PER_MINUTE = 3;
/** How long the server is frozen to make its event loop late. */
const STALL_MS = 500;
/** Bounds for the bystanders (generous: the machine is shared). */
const HEALTHZ_WORST_MS = 1000;
const VIEWER_GAP_MS = 3000;

interface Listener {
  readonly name: string;
  readonly key: ListenerKey;
  /** How its log lines name it. */
  readonly tag: string;
  /** A path that is served while the bystander publishes. */
  readonly path: string;
  /** Loopback sources of the slowloris, the flood and the oversized request. */
  readonly sources: {
    slowloris: string;
    flood: string;
    oversized: string;
    malformed: string;
    idle: string;
  };
}

const LISTENERS: Listener[] = [
  {
    name: 'HTTP-FLV',
    key: 'httpflv_addr',
    tag: 'http-flv',
    path: '/live/bystander.flv',
    sources: {
      slowloris: '127.0.0.2',
      flood: '127.0.0.3',
      oversized: '127.0.0.4',
      malformed: '127.0.0.5',
      idle: '127.0.0.20',
    },
  },
  {
    name: 'HLS',
    key: 'hls_addr',
    tag: 'hls',
    path: '/live/bystander.m3u8',
    sources: {
      slowloris: '127.0.0.6',
      flood: '127.0.0.7',
      oversized: '127.0.0.8',
      malformed: '127.0.0.9',
      idle: '127.0.0.21',
    },
  },
];

describe('hostile peers of the HTTP-FLV and HLS listeners', () => {
  let server: ServerProcess;
  let bystander: MediaBystander;
  let baselineRss: number;

  beforeAll(async () => {
    server = await startServer({
      args: [
        `--read_timeout=${READ_TIMEOUT_S}`,
        `--max_connections_per_ip=${PER_ADDRESS}`,
        `--max_connections=${MAX_CONNECTIONS}`,
        '--hls_fragment=1',
      ],
    });
    bystander = await MediaBystander.start(server, 'bystander');
    const playlist = `http://127.0.0.1:${server.ports.hls_addr}/live/bystander.m3u8`;
    await waitFor(async () => ((await call(playlist)).status === 200 ? true : undefined), 15000);
    await expectServiceWorks(server);
    baselineRss = rssBytes(server.pid as number);
  }, 45000);

  afterAll(async () => {
    await bystander?.stop();
    await server?.stop();
  });

  /** WARN lines of `listener` that name `address` (not a longer address it is a prefix of). */
  function warnings(listener: Listener, address: string, reason: RegExp): string[] {
    const named = `${listener.tag} ${address}`;
    return (server.stdout + server.stderr)
      .split('\n')
      .filter((line) => /\bWARN\b/.test(line) && reason.test(line))
      .filter((line) => {
        const at = line.indexOf(named);
        return at >= 0 && !/\d/.test(line.charAt(at + named.length));
      });
  }

  /** Every peer is closed within `timeoutMs` (all wait at once). */
  async function allClosedWithin(peers: RawHttpPeer[], timeoutMs: number): Promise<void> {
    const closed = await Promise.all(peers.map((peer) => peer.closedWithin(timeoutMs)));
    expect(closed.filter((isClosed) => !isClosed)).toHaveLength(0);
  }

  /** A burst of refusals from one address was logged, as a few lines (not one per connection). */
  function expectFewLines(lines: string[]): void {
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(LOG_LINES_PER_MINUTE);
  }

  /** A request from 127.0.0.1 is served by `listener`: everyone else is unaffected. */
  async function expectServed(listener: Listener): Promise<void> {
    const url = `http://127.0.0.1:${server.ports[listener.key]}${listener.path}`;
    const response = await call(url, { method: 'HEAD' }).catch((error: Error) => {
      throw new Error(`HEAD ${listener.path} from 127.0.0.1 failed: ${error.message}`);
    });
    expect(response.status).toBe(200);
  }

  /**
   * Runs `attack` while `/healthz` is asked every 100 ms; then the viewer kept decoding, health
   * answered quickly throughout, RTMP still publishes and plays, and memory did not grow.
   */
  async function whileWatched(label: string, attack: () => Promise<void>): Promise<void> {
    const health = new HealthProbe(server);
    const frames = bystander.viewer.frames;
    bystander.viewer.takeWorstGap();
    await attack();
    const { worstMs, answers, failures } = await health.stop();
    const gapMs = bystander.viewer.takeWorstGap();
    const rss = expectRssWithin(server, baselineRss);
    if (process.env.DEBUG_RSS)
      process.stderr.write(
        `${label}: healthz worst ${worstMs} ms over ${answers} answers, viewer +${bystander.viewer.frames - frames} frames (worst gap ${gapMs} ms), rss ${((rss - baselineRss) / MiB).toFixed(1)} MiB over baseline\n`,
      );
    expect(failures).toEqual([]);
    expect(answers).toBeGreaterThan(0);
    expect(worstMs).toBeLessThan(HEALTHZ_WORST_MS);
    expect(bystander.viewer.exitCode).toBeUndefined();
    expect(bystander.viewer.frames).toBeGreaterThan(frames);
    expect(gapMs).toBeLessThan(VIEWER_GAP_MS);
    await expectServiceWorks(server);
  }

  it('keeps a real HTTP-FLV player playing past read_timeout (a stream is not a slow request)', async () => {
    const url = `http://127.0.0.1:${server.ports.httpflv_addr}/live/bystander.flv`;
    const viewer = new FlvViewer(url);
    try {
      await viewer.waitForFrames(0);
      await sleep(3 * READ_TIMEOUT_MS);
      const frames = viewer.frames;
      await viewer.waitForFrames(frames, 5000);
      expect(viewer.exitCode).toBeUndefined();
      expect(warnings(LISTENERS[0], '127.0.0.1', /read_timeout/)).toEqual([]);
    } finally {
      await viewer.stop();
    }
  });

  describe.each(LISTENERS)('$name', (listener) => {
    const port = () => server.ports[listener.key];

    it('closes slowloris connections that trickle request headers, within read_timeout', async () => {
      const { slowloris } = listener.sources;
      let peers: RawHttpPeer[] = [];
      await whileWatched(`${listener.name} slowloris`, async () => {
        peers = await Promise.all(
          Array.from({ length: SLOWLORIS_PEERS }, () => RawHttpPeer.open(port(), slowloris)),
        );
        // One header byte a second, never finished; bounded at 30 bytes if nothing closes them.
        const trickles = Promise.all(
          peers.map((peer) => peer.trickleHeaders(listener.path, 1000, 30)),
        );
        await sleep(500);
        await expectServed(listener);
        await trickles;
      });
      for (const peer of peers) {
        expect(peer.isClosed).toBe(true);
        // Closed by the deadline (408), not refused at connect, and not much after read_timeout.
        expect(peer.received).toMatch(/^HTTP\/1\.1 408 /);
        expect(peer.closedAfterMs).toBeGreaterThanOrEqual(READ_TIMEOUT_MS / 2);
        expect(peer.closedAfterMs).toBeLessThanOrEqual(READ_TIMEOUT_MS + CLOSE_MARGIN_MS);
      }
      // Logged at warn, a few lines a minute for the address, not one per connection.
      expectFewLines(warnings(listener, slowloris, /request slower than read_timeout/));
    });

    it('refuses a connection flood from one address beyond max_connections_per_ip', async () => {
      const { flood } = listener.sources;
      let peers: RawHttpPeer[] = [];
      await whileWatched(`${listener.name} flood`, async () => {
        peers = (
          await Promise.all(
            Array.from({ length: FLOOD_PEERS }, () =>
              RawHttpPeer.open(port(), flood).catch(() => undefined),
            ),
          )
        ).filter((peer): peer is RawHttpPeer => peer !== undefined);
        await expectServed(listener);
        await allClosedWithin(peers, READ_TIMEOUT_MS + CLOSE_MARGIN_MS);
      });
      // The accepted ones were closed by the header deadline (408); the rest were refused at once.
      const accepted = peers.filter((peer) => peer.received.startsWith('HTTP/1.1 408 '));
      expect(accepted.length).toBeGreaterThan(0);
      expect(accepted.length).toBeLessThanOrEqual(PER_ADDRESS);
      for (const peer of peers) {
        if (!accepted.includes(peer)) expect(peer.received).toBe('');
      }
      expectFewLines(
        warnings(listener, flood, new RegExp(`max_connections_per_ip ${PER_ADDRESS} reached`)),
      );
    });

    it('refuses connections beyond max_connections and keeps the ones it holds', async () => {
      const sources = ['127.0.0.10', '127.0.0.11', '127.0.0.12', '127.0.0.13'];
      let peers: RawHttpPeer[] = [];
      await whileWatched(`${listener.name} max_connections`, async () => {
        const opened = await Promise.all(
          sources.flatMap((source) =>
            Array.from({ length: PER_ADDRESS }, () =>
              RawHttpPeer.open(port(), source).catch(() => undefined),
            ),
          ),
        );
        peers = opened.filter((peer): peer is RawHttpPeer => peer !== undefined);
        await allClosedWithin(peers, READ_TIMEOUT_MS + CLOSE_MARGIN_MS);
      });
      const accepted = peers.filter((peer) => peer.received.startsWith('HTTP/1.1 408 '));
      expect(accepted.length).toBeLessThanOrEqual(MAX_CONNECTIONS);
      expect(peers.length - accepted.length).toBeGreaterThanOrEqual(
        sources.length * PER_ADDRESS - MAX_CONNECTIONS,
      );
      const refusals = sources.flatMap((source) =>
        warnings(listener, source, new RegExp(`max_connections ${MAX_CONNECTIONS} reached`)),
      );
      expect(refusals.length).toBeGreaterThan(0);
      await expectServed(listener);
    });

    it('closes a keep-alive connection that stays idle after its answer for read_timeout', async () => {
      const peer = await RawHttpPeer.open(port(), listener.sources.idle);
      peer.send(`HEAD ${listener.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await waitFor(async () => (peer.received.includes('\r\n\r\n') ? true : undefined), 5000, 20);
      expect(peer.received).toMatch(/^HTTP\/1\.1 200 /);
      expect(await peer.closedWithin(READ_TIMEOUT_MS + CLOSE_MARGIN_MS)).toBe(true);
      expect(peer.closedAfterMs).toBeGreaterThanOrEqual(READ_TIMEOUT_MS / 2);
      // The answer announced that timeout.
      expect(peer.received).toMatch(new RegExp(`^Keep-Alive: timeout=${READ_TIMEOUT_S}\\r$`, 'im'));
    });

    it('answers 431 to request headers over 16 KiB and 400 to a malformed request, and closes', async () => {
      const { oversized, malformed } = listener.sources;
      const big = await RawHttpPeer.open(port(), oversized);
      big.send(
        `GET ${listener.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      );
      const garbage = await RawHttpPeer.open(port(), malformed);
      garbage.send('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n');
      await allClosedWithin([big, garbage], CLOSE_MARGIN_MS);
      expect(big.received).toMatch(/^HTTP\/1\.1 431 /);
      expect(garbage.received).toMatch(/^HTTP\/1\.1 400 /);
      expect(warnings(listener, oversized, /request headers over 16384 bytes/)).toHaveLength(1);
      expect(warnings(listener, malformed, /malformed request \(HPE_/)).toHaveLength(1);
      await expectServed(listener);
    });
  });

  it('reports on /metrics the event-loop lag since the previous scrape', async () => {
    const lag = async () => {
      const text = (await call(server.apiUrl('/metrics'))).text;
      expect(text).toMatch(/^# TYPE livego_event_loop_lag_seconds gauge$/m);
      const values = new Map<string, number>();
      for (const match of text.matchAll(
        /^livego_event_loop_lag_seconds\{quantile="([^"]+)"\} (\S+)$/gm,
      ))
        values.set(match[1], Number(match[2]));
      expect([...values.keys()].sort()).toEqual(['0.5', '0.99', '1']);
      for (const value of values.values()) {
        expect(Number.isFinite(value)).toBe(true);
        expect(value).toBeGreaterThanOrEqual(0);
      }
      expect(values.get('0.99')).toBeLessThanOrEqual(values.get('1') as number);
      return values;
    };
    await lag();
    // Freeze the server: its event loop runs that much late, as if a handler had blocked it.
    const pid = server.pid as number;
    process.kill(pid, 'SIGSTOP');
    try {
      await sleep(STALL_MS);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await sleep(200);
    const stalled = (await lag()).get('1') as number;
    expect(stalled).toBeGreaterThanOrEqual((0.8 * STALL_MS) / 1000);
    // The scrape started a new window: the stall is not reported twice.
    const next = (await lag()).get('1') as number;
    expect(next).toBeLessThan(stalled);
  });
});
