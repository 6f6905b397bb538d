import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePorts } from './free-port';
import { lines, sleep, withTimeout } from './wait';

/**
 * The built server (`npx nest build`), or the build `LIVEGO_SERVER_ENTRY` names (a `main.js` compiled
 * elsewhere in the repository, so that a rebuild of dist/ cannot change a server under test).
 */
export const SERVER_ENTRY = resolve(
  process.env.LIVEGO_SERVER_ENTRY || resolve(__dirname, '../../dist/src/main.js'),
);

export const LISTENERS = ['rtmp_addr', 'httpflv_addr', 'hls_addr', 'api_addr'] as const;
export type ListenerKey = (typeof LISTENERS)[number];

/** The port reserved for each listener (all on 127.0.0.1). */
export type ServerPorts = Record<ListenerKey, number>;

export interface ServerOptions {
  /** Extra command-line flags, passed after the listener flags (a later flag wins). */
  readonly args?: readonly string[];
  /**
   * Environment variables on top of a minimal one (PATH, HOME, NO_COLOR): the test runner's own
   * environment is not inherited, so a stray JWT_SECRET or RTMP_ADDR cannot change a test.
   */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory; a new empty temporary directory (removed at teardown) by default. */
  readonly cwd?: string;
  /** Ports to use instead of fresh free ones. */
  readonly ports?: Partial<ServerPorts>;
  /** Listeners given no flag at all, so a config file, `.env` or the environment decides. */
  readonly omitFlags?: readonly ListenerKey[];
  /** Listeners turned off with an empty flag (`--hls_addr=`). */
  readonly off?: readonly ListenerKey[];
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface StopResult extends ExitInfo {
  /** Milliseconds from the signal to the exit. */
  readonly ms: number;
}

const live = new Set<ServerProcess>();
const tempDirs: string[] = [];

/** A `node dist/src/main.js` child process with its ports and captured output. */
export class ServerProcess {
  readonly exited: Promise<ExitInfo>;
  private out = '';
  private err = '';
  private exit: ExitInfo | undefined;

  constructor(
    private readonly child: ChildProcess,
    readonly ports: ServerPorts,
    readonly cwd: string,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.err += chunk));
    this.exited = new Promise<ExitInfo>((resolveExit) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolveExit(this.exit);
      });
    });
    live.add(this);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** The exit code and signal, or undefined while running. */
  get exitInfo(): ExitInfo | undefined {
    return this.exit;
  }

  /** `http://127.0.0.1:<api port><path>`. */
  apiUrl(path = ''): string {
    return `http://127.0.0.1:${this.ports.api_addr}${path}`;
  }

  /** Resolves once `/healthz` answers with any HTTP status; rejects if the process exits first. */
  async waitUntilReady(timeoutMs = 15000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exit) {
        throw new Error(
          `server exited (${describeExit(this.exit)}) before answering\n${this.output()}`,
        );
      }
      try {
        await fetch(this.apiUrl('/healthz'), { signal: AbortSignal.timeout(1000) });
        return;
      } catch {
        await sleep(50);
      }
    }
    throw new Error(`server did not answer /healthz within ${timeoutMs} ms\n${this.output()}`);
  }

  /** Resolves when stdout or stderr matches `pattern`; rejects on exit or timeout. */
  async waitForOutput(pattern: RegExp, timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.out + this.err)) {
      if (this.exit) throw new Error(`server exited before printing ${pattern}\n${this.output()}`);
      if (Date.now() > deadline)
        throw new Error(`no ${pattern} within ${timeoutMs} ms\n${this.output()}`);
      await sleep(25);
    }
  }

  /** Waits for the process to exit by itself; kills it and rejects after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<StopResult> {
    const started = Date.now();
    const result = await withTimeout(this.exited, timeoutMs);
    if (!result) {
      this.kill();
      throw new Error(`server still running after ${timeoutMs} ms\n${this.output()}`);
    }
    return { ...result, ms: Date.now() - started };
  }

  /** Sends SIGTERM (or `signal`) and waits for the exit; SIGKILL after `timeoutMs` (the result shows it). */
  async stop(timeoutMs = 8000, signal: NodeJS.Signals = 'SIGTERM'): Promise<StopResult> {
    const started = Date.now();
    if (!this.exit) this.child.kill(signal);
    let result = await withTimeout(this.exited, timeoutMs);
    if (!result) {
      this.kill();
      result = await this.exited;
    }
    return { ...result, ms: Date.now() - started };
  }

  /** SIGKILL, without waiting. */
  kill(): void {
    if (!this.exit) this.child.kill('SIGKILL');
  }

  /** Both streams, for failure messages. */
  output(): string {
    return `--- stdout ---\n${this.out}--- stderr ---\n${this.err}`;
  }
}

/** Starts the server on fresh free ports (every listener on 127.0.0.1) without waiting for it. */
export async function spawnServer(options: ServerOptions = {}): Promise<ServerProcess> {
  const fresh = await freePorts(LISTENERS.length);
  const ports = Object.fromEntries(
    LISTENERS.map((key, i) => [key, options.ports?.[key] ?? fresh[i]]),
  ) as ServerPorts;
  const flags = LISTENERS.filter((key) => !options.omitFlags?.includes(key)).map((key) =>
    options.off?.includes(key) ? `--${key}=` : `--${key}=127.0.0.1:${ports[key]}`,
  );
  const cwd = options.cwd ?? makeTempDir();
  const child = spawn(process.execPath, [SERVER_ENTRY, ...flags, ...(options.args ?? [])], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? cwd,
      NO_COLOR: '1',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new ServerProcess(child, ports, cwd);
}

/** Attempts startServer() makes when another process takes one of the fresh ports first. */
const PORT_RACE_ATTEMPTS = 3;

/**
 * Starts the server and waits until `/healthz` answers. When a fresh port was taken by another process
 * between the probe and the server's bind ("... is already in use"), starts again on new ports; ports
 * the test chose itself are never swapped.
 */
export async function startServer(options: ServerOptions = {}): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    const server = await spawnServer(options);
    try {
      await server.waitUntilReady();
      return server;
    } catch (error) {
      server.kill();
      await server.exited;
      const raced = /is already in use/.test(server.stderr) && options.ports === undefined;
      if (!raced || attempt >= PORT_RACE_ATTEMPTS) throw error;
    }
  }
}

/** A new empty directory under the OS temp dir, removed by stopAllServers(). */
export function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'livego-e2e-'));
  tempDirs.push(dir);
  return dir;
}

/** Kills every server still running and removes the temporary directories (test teardown). */
export async function stopAllServers(): Promise<void> {
  const running = [...live];
  for (const server of running) server.kill();
  await Promise.all(running.map((server) => server.exited));
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

function describeExit(exit: ExitInfo): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

// A crashed test run must not leave servers behind.
process.once('exit', () => {
  for (const server of live) server.kill();
});

/** How long a refused start-up may take to exit. */
const STARTUP_FAILURE_MS = 5000;

/**
 * Starts the server with a configuration it must refuse: it exits 1 within STARTUP_FAILURE_MS, prints no
 * stack trace and exactly one line on stderr, which is returned.
 */
export async function startupError(options: ServerOptions): Promise<string> {
  const server = await spawnServer(options);
  const { code, ms } = await server.waitForExit(STARTUP_FAILURE_MS);
  expect({ code, output: server.output() }).toEqual({ code: 1, output: server.output() });
  expect(ms).toBeLessThan(STARTUP_FAILURE_MS);
  expect(server.stdout + server.stderr).not.toContain('    at ');
  const errorLines = lines(server.stderr);
  expect(errorLines).toHaveLength(1);
  return errorLines[0];
}
