import { connect, Socket } from 'node:net';
import { sleep, withTimeout } from './wait';

/**
 * A TCP peer of an HTTP listener that sends whatever it is told from a chosen loopback source address
 * (`127.0.0.2`, … all reach a server on 127.0.0.1 on Linux), so that a test can be one hostile address
 * and a bystander another. Records what the server sent and when it closed the connection.
 */
export class RawHttpPeer {
  received = '';
  /** Milliseconds from connect to close; undefined while open. */
  closedAfterMs: number | undefined;
  readonly closed: Promise<void>;
  private readonly openedAt = Date.now();

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      if (this.received.length < 64 * 1024) this.received += data;
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAfterMs = Date.now() - this.openedAt;
        resolve();
      }),
    );
  }

  /** Connects to 127.0.0.1:`port` from `source`; resolves once connected (a refused peer then closes). */
  static async open(port: number, source = '127.0.0.1'): Promise<RawHttpPeer> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, localAddress: source }, () => resolve(s));
      s.once('error', reject);
    });
    return new RawHttpPeer(socket);
  }

  /** Opens `count` peers from `source` one after the other (a flood), ignoring ones that fail. */
  static async flood(port: number, source: string, count: number): Promise<RawHttpPeer[]> {
    const peers: RawHttpPeer[] = [];
    for (let i = 0; i < count; i++) {
      try {
        peers.push(await RawHttpPeer.open(port, source));
      } catch {
        // A connection reset before it was established counts as refused.
      }
    }
    return peers;
  }

  get isClosed(): boolean {
    return this.closedAfterMs !== undefined;
  }

  /** Resolves true once the connection is closed, false when it is still open after `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    await withTimeout(this.closed, timeoutMs);
    return this.isClosed;
  }

  send(text: string): void {
    if (!this.socket.destroyed) this.socket.write(text, 'latin1');
  }

  /**
   * A slowloris: an unfinished request head, then one more header byte every `intervalMs` until the
   * server closes or `maxBytes` were sent (so the loop is bounded even when nothing closes it).
   */
  async trickleHeaders(path: string, intervalMs: number, maxBytes: number): Promise<void> {
    this.send(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `);
    for (let sent = 0; sent < maxBytes && !this.isClosed; sent++) {
      await sleep(intervalMs);
      this.send('a');
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
