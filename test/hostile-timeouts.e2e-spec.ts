import { rssBytes } from './helpers/proc';
import { ServerProcess, startServer } from './helpers/server';
import { sleep, withTimeout } from './helpers/wait';
import {
  Bystanders,
  c0c1,
  clientAddress,
  commandMessage,
  connectObject,
  expectFfmpegWorks,
  expectRssWithin,
  expectServiceWorks,
  expectWarning,
  HostilePeer,
  isKeyframe,
  rawPlayer,
  rawPublisher,
  sendGop,
} from './fuzz/hostile-kit';

/**
 * README "Limits and hardening": a handshake or first command slower than `read_timeout`, however slowly its bytes trickle
 * in, and a publisher idle for longer than it, are closed and logged at warn with the peer address;
 * players may stay silent. Every wait below is a bound (a multiple of read_timeout), never a timing
 * that is asserted.
 */
const READ_TIMEOUT_S = 2;
const CLOSE_BOUND_MS = 3 * READ_TIMEOUT_S * 1000;
/** A slowloris sends a byte this often: far more often than read_timeout, so the socket never idles. */
const TRICKLE_INTERVAL_MS = 100;

describe('slow and idle RTMP peers', () => {
  let server: ServerProcess;
  let bystanders: Bystanders;
  let baselineRss: number;
  let port: number;

  beforeAll(async () => {
    server = await startServer({ args: [`--read_timeout=${READ_TIMEOUT_S}`] });
    port = server.ports.rtmp_addr;
    bystanders = await Bystanders.start(server);
    await expectServiceWorks(server);
    baselineRss = rssBytes(server.pid as number);
  });

  afterAll(async () => {
    bystanders?.stop();
    await server?.stop();
  });

  /** The peer was closed by the server, with a warning naming it; everything else still works. */
  async function expectClosedAlone(peer: HostilePeer, reason: RegExp, before: number) {
    const closed = await peer.closedWithin(CLOSE_BOUND_MS);
    peer.close();
    expect(closed).toBe(true);
    await expectWarning(server, peer.address, reason);
    await bystanders.expectUnaffected(before);
    await expectServiceWorks(server);
    expectRssWithin(server, baselineRss);
  }

  it('closes a connection that never starts the handshake', async () => {
    const before = bystanders.received;
    const peer = await HostilePeer.open(port);
    await expectClosedAlone(peer, /read_timeout/, before);
    expect(peer.received).toBe(0);
  });

  it('closes a slowloris trickling the handshake one byte at a time', async () => {
    const before = bystanders.received;
    const peer = await HostilePeer.open(port);
    const handshake = c0c1();
    // Bounded: the whole C0 C1 would take 150 s at this pace; the server must cut it short.
    const sent = await peer.trickle(handshake, TRICKLE_INTERVAL_MS);
    expect(sent).toBeLessThan(handshake.length);
    await expectClosedAlone(peer, /handshake or connect slower than read_timeout/, before);
  });

  it('closes a connection that completes the handshake and sends no connect', async () => {
    const before = bystanders.received;
    const peer = await HostilePeer.handshake(port);
    await expectClosedAlone(peer, /read_timeout/, before);
  });

  it('closes a slowloris trickling its connect one byte at a time', async () => {
    const before = bystanders.received;
    const peer = await HostilePeer.handshake(port);
    const connect = commandMessage('connect', 1, [connectObject(port)]);
    const sent = await peer.trickle(connect, TRICKLE_INTERVAL_MS);
    expect(sent).toBeLessThan(connect.length);
    await expectClosedAlone(peer, /handshake or connect slower than read_timeout/, before);
  });

  it('closes a connection that connects and then goes silent', async () => {
    const before = bystanders.received;
    const peer = await HostilePeer.handshake(port);
    peer.send(commandMessage('connect', 1, [connectObject(port)]));
    await expectClosedAlone(peer, /idle longer than read_timeout/, before);
    expect(peer.bytes.includes(Buffer.from('NetConnection.Connect.Success'))).toBe(true);
  });

  it('closes an idle publisher; its player waits and gets the next publish', async () => {
    const before = bystanders.received;
    const publisher = await rawPublisher(server, 'idle');
    const player = await rawPlayer(server, 'idle');
    sendGop(publisher, 0);
    await player.client.until(() => player.client.mediaMessages().length > 0, 5000, 'media');
    const address = clientAddress(publisher.client);
    // The publisher now sends nothing.
    await withTimeout(publisher.client.closed, CLOSE_BOUND_MS);
    expect(publisher.client.isClosed).toBe(true);
    await expectWarning(server, address, /publisher idle longer than read_timeout/);
    expect(player.client.isClosed).toBe(false);

    const next = await rawPublisher(server, 'idle');
    const seen = player.client.mediaMessages().length;
    sendGop(next, 1000);
    await player.client.until(
      () =>
        player.client
          .mediaMessages()
          .slice(seen)
          .some((m) => isKeyframe(m.payload)),
      5000,
      'media of the next publish',
    );
    next.client.close();
    player.client.close();
    await bystanders.expectUnaffected(before);
  });

  it('never closes a silent player for read_timeout, even one waiting for a publish', async () => {
    // A player of a room that is not live sends nothing and receives nothing: idle on both sides.
    const player = await rawPlayer(server, 'later');
    await sleep(READ_TIMEOUT_S * 1000 + 500);
    expect(player.client.isClosed).toBe(false);
    const publisher = await rawPublisher(server, 'later');
    sendGop(publisher, 0);
    await player.client.until(
      () => player.client.mediaMessages().some((m) => isKeyframe(m.payload)),
      5000,
      'media of the publish it waited for',
    );
    publisher.client.close();
    player.client.close();
  });

  it('still serves a real encoder and player after all of it', async () => {
    await expectFfmpegWorks(server);
    expectRssWithin(server, baselineRss);
  });
});
