import { ChildProcess, spawn } from 'node:child_process';
import Redis from 'ioredis';
import { freePort } from './free-port';
import { sleep, withTimeout } from './wait';

const live = new Set<RedisServer>();

/**
 * A real `redis-server` on 127.0.0.1 with persistence off, started by the test. `stop()` and `start()`
 * may be called repeatedly: the port stays the same, so servers pointed at it see an outage and a return.
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  private log = '';

  private constructor(
    readonly port: number,
    readonly password: string | undefined,
  ) {}

  /**
   * Starts a redis-server on `port` (a free one by default), with `requirepass` when `password` is given,
   * and waits until it answers PING.
   */
  static async start(options: { port?: number; password?: string } = {}): Promise<RedisServer> {
    const server = new RedisServer(options.port ?? (await freePort()), options.password);
    await server.start();
    return server;
  }

  /** `127.0.0.1:<port>`, the form `redis_addr` takes. */
  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the process again (after stop()) and waits for PING. */
  async start(timeoutMs = 5000): Promise<void> {
    if (this.child) return;
    const args = [
      '--port',
      `${this.port}`,
      '--save',
      '',
      '--appendonly',
      'no',
      '--bind',
      '127.0.0.1',
    ];
    if (this.password !== undefined) args.push('--requirepass', this.password);
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(this);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.log += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.log += chunk));
    child.once('exit', () => {
      if (this.child === child) {
        this.child = undefined;
        live.delete(this);
      }
    });
    const deadline = Date.now() + timeoutMs;
    while (!(await this.answersPing())) {
      if (!this.child || Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server on port ${this.port} did not start\n${this.log}`);
      }
      await sleep(50);
    }
  }

  /** SIGTERM and wait for the exit (SIGKILL after 5 s). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    child.kill('SIGCONT'); // a paused server acts on SIGTERM only once it runs again
    if ((await withTimeout(exited, 5000)) === undefined) {
      child.kill('SIGKILL');
      await exited;
    }
  }

  /** stop() then start() on the same port. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** SIGKILL, without waiting. */
  kill(): void {
    this.child?.kill('SIGKILL');
  }

  /** SIGSTOP: the port stays open but nothing answers (a hung Redis). */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** A new ioredis client for this server; the caller quits it. */
  client(): Redis {
    return new Redis({
      host: '127.0.0.1',
      port: this.port,
      password: this.password,
      lazyConnect: true,
    });
  }

  private async answersPing(): Promise<boolean> {
    const probe = new Redis({
      host: '127.0.0.1',
      port: this.port,
      password: this.password,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      connectTimeout: 1000,
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  }
}

/** Stops every redis-server a test started (test teardown). */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...live].map((server) => server.stop()));
}

process.once('exit', () => {
  for (const server of live) server.kill();
});
