import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    private readonly extraArgs: readonly string[] = [],
  ) {}

  /**
   * Starts a redis-server on `port` (a free one by default), with `requirepass` when `password` is given,
   * and waits until it answers PING.
   */
  static async start(
    options: { port?: number; password?: string; args?: readonly string[] } = {},
  ): Promise<RedisServer> {
    const server = new RedisServer(
      options.port ?? (await freePort()),
      options.password,
      options.args,
    );
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
    args.push(...this.extraArgs);
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

/**
 * A master, one replica and one Sentinel (Debian's `redis-sentinel`, quorum 1) watching them as
 * `mymaster`, all on 127.0.0.1; `failover()` kills the master and waits until Sentinel names the replica.
 */
export class RedisSentinelSet {
  static readonly MASTER_NAME = 'mymaster';
  private sentinel: ChildProcess | undefined;
  private sentinelLog = '';

  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer,
    readonly sentinelPort: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<RedisSentinelSet> {
    // Replication writes an RDB file: kept in the set's own directory, never in the working directory.
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-'));
    const master = await RedisServer.start({ args: ['--dir', dir] });
    const replica = await RedisServer.start({
      args: ['--dir', dir, '--replicaof', '127.0.0.1', String(master.port)],
    });
    const set = new RedisSentinelSet(master, replica, await freePort(), dir);
    await set.startSentinel();
    await set.waitForSync();
    return set;
  }

  /** `redis_sentinels` for the server. */
  get sentinels(): string {
    return `127.0.0.1:${this.sentinelPort}`;
  }

  /** The port Sentinel names as the master now. */
  async masterPort(): Promise<number> {
    const probe = new Redis({ host: '127.0.0.1', port: this.sentinelPort, lazyConnect: true });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      const answer = (await probe.call(
        'SENTINEL',
        'get-master-addr-by-name',
        RedisSentinelSet.MASTER_NAME,
      )) as [string, string];
      return Number(answer[1]);
    } finally {
      probe.disconnect();
    }
  }

  /** Waits until the replica has every write of the master (so that a failover loses nothing). */
  async waitForSync(timeoutMs = 10000): Promise<void> {
    const master = this.master.client();
    const replica = this.replica.client();
    await Promise.all([master.connect(), replica.connect()]);
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const [m, r] = await Promise.all([master.info('replication'), replica.info('replication')]);
        const offset = /master_repl_offset:(\d+)/.exec(m)?.[1];
        const linkUp = /master_link_status:up/.test(r);
        const replicated = /slave_repl_offset:(\d+)/.exec(r)?.[1];
        if (linkUp && offset !== undefined && offset === replicated) return;
        if (Date.now() > deadline) throw new Error(`replica not in sync:\n${m}\n${r}`);
        await sleep(100);
      }
    } finally {
      master.disconnect();
      replica.disconnect();
    }
  }

  /** Kills the master (SIGKILL) and waits until Sentinel has promoted the replica. */
  async failover(timeoutMs = 20000): Promise<void> {
    this.master.kill();
    const deadline = Date.now() + timeoutMs;
    while ((await this.masterPort()) !== this.replica.port) {
      if (Date.now() > deadline)
        throw new Error(`no failover within ${timeoutMs} ms\n${this.sentinelLog}`);
      await sleep(200);
    }
  }

  async stop(): Promise<void> {
    const sentinel = this.sentinel;
    if (sentinel && sentinel.exitCode === null) {
      const exited = new Promise<void>((resolve) => sentinel.once('exit', () => resolve()));
      sentinel.kill('SIGKILL');
      await exited;
    }
    await Promise.all([this.master.stop(), this.replica.stop()]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async startSentinel(): Promise<void> {
    const file = join(this.dir, 'sentinel.conf');
    // Sentinel rewrites its config file, so each set has its own.
    writeFileSync(
      file,
      [
        `port ${this.sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        `sentinel monitor ${RedisSentinelSet.MASTER_NAME} 127.0.0.1 ${this.master.port} 1`,
        `sentinel down-after-milliseconds ${RedisSentinelSet.MASTER_NAME} 1000`,
        `sentinel failover-timeout ${RedisSentinelSet.MASTER_NAME} 5000`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-sentinel', [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.sentinel = child;
    sentinels.add(child);
    child.once('exit', () => sentinels.delete(child));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.sentinelLog += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.sentinelLog += chunk));
    const deadline = Date.now() + 10000;
    for (;;) {
      try {
        if ((await this.masterPort()) === this.master.port) return;
      } catch {
        // not answering yet
      }
      if (Date.now() > deadline)
        throw new Error(`redis-sentinel did not start\n${this.sentinelLog}`);
      await sleep(100);
    }
  }
}

const sentinels = new Set<ChildProcess>();

/** Stops every redis-server a test started (test teardown). */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...live].map((server) => server.stop()));
}

process.once('exit', () => {
  for (const server of live) server.kill();
  for (const sentinel of sentinels) sentinel.kill('SIGKILL');
});
