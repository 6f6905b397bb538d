import { call } from './helpers/http';
import { rssBytes } from './helpers/proc';
import { ServerProcess, startServer } from './helpers/server';
import { waitFor } from './helpers/wait';
import {
  Bystanders,
  c0c1,
  expectRssWithin,
  expectServiceWorks,
  HostilePeer,
  nextLoopbackAddress,
  warningsFor,
} from './fuzz/hostile-kit';

/**
 * README "Limits and hardening": connections beyond `max_connections` are refused; a flood does not disturb the publisher and
 * player already connected, and new connections work again once it is gone.
 */
const MAX_CONNECTIONS = 50;
const FLOOD_SOCKETS = 200;
const CHURN_CONNECTIONS = 1000;
const CHURN_BATCH = 50;

describe('connection flood', () => {
  let server: ServerProcess;
  let bystanders: Bystanders;
  let baselineRss: number;

  beforeAll(async () => {
    // A long read_timeout: the flood's accepted sockets, which never handshake, stay until we close them.
    server = await startServer({
      args: [`--max_connections=${MAX_CONNECTIONS}`, '--read_timeout=60'],
    });
    bystanders = await Bystanders.start(server);
    await expectServiceWorks(server);
    baselineRss = rssBytes(server.pid as number);
  });

  afterAll(async () => {
    bystanders?.stop();
    await server?.stop();
  });

  it(`refuses connections beyond max_connections; the others are unaffected and it recovers`, async () => {
    const port = server.ports.rtmp_addr;
    const before = bystanders.received;
    const flood: HostilePeer[] = [];
    // One attacker: every flood socket from one address.
    const from = nextLoopbackAddress();
    for (let i = 0; i < FLOOD_SOCKETS; i++) flood.push(await HostilePeer.open(port, from));
    // The two bystanders hold 2 of the 50 places: 48 flood sockets are accepted, the rest refused.
    const accepted = MAX_CONNECTIONS - 2;
    await waitFor(
      async () => flood.filter((p) => p.isClosed).length >= FLOOD_SOCKETS - accepted || undefined,
      10000,
    );
    const open = flood.filter((p) => !p.isClosed);
    expect(open).toHaveLength(accepted);
    // The first ones in got the places; a refused socket got no byte before it was closed.
    expect(open.map((peer) => flood.indexOf(peer))).toEqual([...Array(accepted).keys()]);
    expect(flood.filter((p) => p.isClosed).every((p) => p.received === 0)).toBe(true);
    // The first refusal is logged with the peer's address; the rest of the burst is counted, not
    // logged one line each.
    const firstRefused = flood[accepted].address;
    expect(warningsFor(server, firstRefused).join('\n')).toMatch(
      /refused, max_connections 50 reached/,
    );
    const refusalLines = (server.stdout + server.stderr).match(/refused, max_connections/g) ?? [];
    expect(refusalLines.length).toBeLessThan(10);
    // An accepted flood socket is a working connection: it gets the handshake answered.
    open[0].send(c0c1());
    await waitFor(async () => (open[0].received > 0 ? true : undefined), 5000);

    // While the flood holds every place: the bystanders go on, the API answers, a newcomer is refused.
    await bystanders.expectUnaffected(before);
    expect((await call(server.apiUrl('/healthz'))).status).toBe(200);
    const newcomer = await HostilePeer.open(port);
    expect(await newcomer.closedWithin(5000)).toBe(true);

    // The flood goes: new sessions work again.
    for (const peer of flood) peer.close();
    await waitFor(async () => {
      await expectServiceWorks(server);
      return true;
    }, 10000);
    await bystanders.expectUnaffected(bystanders.received);
    expectRssWithin(server, baselineRss);
  });

  it(`survives ${CHURN_CONNECTIONS} connections opened and dropped mid-handshake without growing`, async () => {
    const port = server.ports.rtmp_addr;
    const before = bystanders.received;
    for (let done = 0; done < CHURN_CONNECTIONS; done += CHURN_BATCH) {
      const batch = await Promise.all(
        Array.from({ length: CHURN_BATCH }, () => HostilePeer.open(port)),
      );
      for (const peer of batch) peer.send(c0c1().subarray(0, 700));
      for (const peer of batch) peer.close();
      await Promise.all(batch.map((peer) => peer.closed));
    }
    await waitFor(async () => {
      await expectServiceWorks(server);
      return true;
    }, 10000);
    await bystanders.expectUnaffected(before);
    expectRssWithin(server, baselineRss);
  });
});
