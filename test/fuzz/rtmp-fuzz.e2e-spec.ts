import fc from 'fast-check';
import { MiB, rssBytes } from '../helpers/proc';
import { ServerProcess, startServer } from '../helpers/server';
import { sleep } from '../helpers/wait';
import {
  commandMessage,
  connectObject,
  expectRssWithin,
  expectServiceWorks,
  HostilePeer,
  keyFor,
  rawPlayer,
} from './hostile-kit';
import {
  commandMessageBytes,
  mediaMessage,
  mutate,
  mutations,
  rawChunk,
  validSession,
} from './rtmp-arbitraries';

/**
 * Random and mutated RTMP through the real listener of a spawned server. After every input the server
 * must still answer /healthz (a crash or a hang fails the run, and fast-check prints the seed and the
 * shrunk input); after every property a fresh publish and play must work and memory must be bounded.
 *
 * FUZZ_RUNS sets the runs per property (CI default below, well under a minute in all); FUZZ_SEED
 * replays a reported seed: `FUZZ_RUNS=5000 npx jest --config test/jest-e2e.config.js test/fuzz`.
 * A crash found here becomes a regression case in test/hostile-protocol.e2e-spec.ts.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** How long one input may take, all in (a server restart after a crash included). */
const PER_RUN_BUDGET_MS = 400;
/** What a property may take: its runs, and shrinking should one fail. */
const PROPERTY_TIMEOUT_MS = 60_000 + RUNS * PER_RUN_BUDGET_MS;
/** How long an input is given to take effect before the connection is dropped. */
const SETTLE_MS = 25;
/** Fuzzed media goes through HLS muxing and player queues: a little more room than elsewhere. */
const FUZZ_RSS_MARGIN_BYTES = 60 * MiB;

describe('RTMP fuzzing through the real listener', () => {
  let server: ServerProcess;
  let key: string;
  let baselineRss: number;
  /** Output of servers that crashed, for the failure message. */
  const crashes: string[] = [];

  async function start(): Promise<void> {
    server = await startServer({ args: ['--read_timeout=2', '--write_timeout=2'] });
    key = await keyFor(server, 'fuzz');
  }

  beforeAll(async () => {
    await start();
    await expectServiceWorks(server);
    baselineRss = rssBytes(server.pid as number);
  });

  afterAll(async () => {
    await server?.stop();
  });

  /**
   * Whether the server survived: it runs and /healthz answers within 2 s. A dead or hung server is
   * replaced by a fresh one so that the following runs (and fast-check's shrinking) test something.
   */
  async function survived(): Promise<boolean> {
    let alive = server.exitInfo === undefined;
    if (alive) {
      try {
        const health = await fetch(server.apiUrl('/healthz'), {
          signal: AbortSignal.timeout(2000),
        });
        alive = health.status === 200;
      } catch {
        alive = false;
      }
    }
    if (!alive) {
      crashes.push(server.output());
      server.kill();
      await server.exited;
      await start();
    }
    return alive;
  }

  /** Opens a connection (with the handshake, or not), sends `bytes`, lets them work, drops it. */
  async function send(bytes: Buffer, handshake = true): Promise<boolean> {
    const port = server.ports.rtmp_addr;
    const peer = handshake ? await HostilePeer.handshake(port) : await HostilePeer.open(port);
    peer.keepBytes = false;
    peer.send(bytes);
    await peer.closedWithin(SETTLE_MS);
    peer.close();
    return survived();
  }

  /** Runs `property` RUNS times (or replays FUZZ_SEED), then checks the service as a user would. */
  async function fuzz<T>(
    name: string,
    arbitrary: fc.Arbitrary<T>,
    run: (value: T) => Promise<boolean>,
  ) {
    const seed = SEED ?? Date.now() ^ (Math.random() * 0x100000000);
    process.stderr.write(`fuzz "${name}": ${RUNS} runs, FUZZ_SEED=${seed}\n`);
    await fc.assert(
      fc.asyncProperty(arbitrary, async (value) => {
        const ok = await run(value);
        if (!ok) throw new Error(`the server did not survive:\n${crashes[crashes.length - 1]}`);
      }),
      { numRuns: RUNS, seed },
    );
    await expectServiceWorks(server);
    expectRssWithin(server, baselineRss, FUZZ_RSS_MARGIN_BYTES);
  }

  it(
    'survives random bytes in place of the handshake',
    () =>
      fuzz('handshake', fc.uint8Array({ minLength: 1, maxLength: 4000 }), (bytes) =>
        send(Buffer.from(bytes), false),
      ),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'survives random bytes after the handshake',
    () =>
      fuzz('chunk bytes', fc.uint8Array({ minLength: 1, maxLength: 4000 }), (bytes) =>
        send(Buffer.from(bytes)),
      ),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'survives chunks with arbitrary header fields, before and after connect',
    () =>
      fuzz(
        'raw chunks',
        fc.tuple(fc.boolean(), fc.array(rawChunk, { minLength: 1, maxLength: 12 })),
        ([connected, chunks]) => {
          const port = server.ports.rtmp_addr;
          const prefix = connected ? [commandMessage('connect', 1, [connectObject(port)])] : [];
          return send(Buffer.concat([...prefix, ...chunks]));
        },
      ),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'survives random, truncated and deeply nested AMF commands',
    () =>
      fuzz(
        'AMF commands',
        fc.tuple(fc.boolean(), fc.array(commandMessageBytes, { minLength: 1, maxLength: 4 })),
        ([connected, commands]) => {
          const port = server.ports.rtmp_addr;
          const prefix = connected ? [commandMessage('connect', 1, [connectObject(port)])] : [];
          return send(Buffer.concat([...prefix, ...commands]));
        },
      ),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'survives mutations of a valid publishing session',
    () =>
      fuzz('mutated session', mutations, (edits) =>
        send(mutate(validSession(server.ports.rtmp_addr, key), edits)),
      ),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'survives arbitrary media from an admitted publisher, with players attached',
    async () => {
      // Players of the fuzzed room: their queues, HLS muxing and stats all see the garbage.
      let player = await rawPlayer(server, 'fuzz');
      await fuzz(
        'media',
        fc.array(mediaMessage, { minLength: 1, maxLength: 10 }),
        async (messages) => {
          if (player.client.isClosed) player = await rawPlayer(server, 'fuzz');
          const session = validSession(server.ports.rtmp_addr, key, { end: false });
          return send(Buffer.concat([session, ...messages]));
        },
      );
      expect(player.client.isClosed).toBe(false);
      player.client.close();
      await sleep(50);
    },
    PROPERTY_TIMEOUT_MS,
  );

  afterAll(() => {
    // A crash anywhere fails the property it happened in; this makes it visible once more.
    expect(crashes).toEqual([]);
  });
});
