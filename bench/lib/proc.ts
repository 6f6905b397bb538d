import { ChildProcess, spawn, spawnSync, SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';

/** Kernel clock ticks per second for /proc/<pid>/stat utime and stime (`getconf CLK_TCK`). */
const CLOCK_TICKS_PER_SECOND = readClockTicks();
const BYTES_PER_KIB = 1024;

function readClockTicks(): number {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const value = Number.parseInt(result.stdout ?? '', 10);
  return Number.isFinite(value) && value > 0 ? value : 100;
}

/** CPU seconds (user + system) and resident memory of one process or of a process tree. */
export interface ProcSample {
  /** Monotonic wall time of the sample, ms. */
  readonly atMs: number;
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /** Processes summed (0 when the root is gone). */
  readonly processes: number;
}

interface StatFields {
  readonly ppid: number;
  readonly cpuSeconds: number;
}

/** utime + stime of `pid`, or undefined when it is gone. Fields after `comm`, whose parentheses may nest. */
function readStat(pid: number): StatFields | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After comm: state(0) ppid(1) ... utime(11) stime(12) (proc(5) fields 3, 4, 14, 15).
  const ppid = Number(fields[1]);
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { ppid, cpuSeconds: ticks / CLOCK_TICKS_PER_SECOND };
}

function readRssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * BYTES_PER_KIB : 0;
  } catch {
    return 0;
  }
}

/** CPU use between two samples, % of one core. */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  const seconds = (b.atMs - a.atMs) / 1000;
  return seconds > 0 ? ((b.cpuSeconds - a.cpuSeconds) / seconds) * 100 : NaN;
}

/** TCP segments sent by the whole machine so far (/proc/net/snmp `Tcp: OutSegs`), or NaN. */
export function tcpOutSegments(): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('Tcp:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/);
    return Number(values[names.indexOf('OutSegs')]);
  } catch {
    return NaN;
  }
}

/** `pid` and every descendant (nginx: master + worker). Scans /proc, since `children` may be absent. */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (!stat) continue;
    const list = parents.get(stat.ppid) ?? [];
    list.push(Number(entry));
    parents.set(stat.ppid, list);
  }
  const tree: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && tree.length < 1000) {
    const next = queue.shift() as number;
    tree.push(next);
    queue.push(...(parents.get(next) ?? []));
  }
  return tree;
}

/** Samples CPU and RSS of `pids` (a tree found once with processTree, or one process). */
export function sample(pids: readonly number[]): ProcSample {
  let cpuSeconds = 0;
  let rssBytes = 0;
  let processes = 0;
  for (const pid of pids) {
    const stat = readStat(pid);
    if (!stat) continue;
    processes++;
    cpuSeconds += stat.cpuSeconds;
    rssBytes += readRssBytes(pid);
  }
  return { atMs: performance.now(), cpuSeconds, rssBytes, processes };
}

/** Is `taskset` (util-linux) there to pin processes to a core? */
export const HAS_TASKSET = spawnSync('taskset', ['-V']).status === 0;

/** The command prefixed with `taskset -c <core>` when taskset exists (the child inherits the mask). */
export function pinned(core: number, command: string, args: readonly string[]): [string, string[]] {
  return HAS_TASKSET ? ['taskset', ['-c', String(core), command, ...args]] : [command, [...args]];
}

/** Pins an already running process (all its threads) to `core`. */
export function pinProcess(pid: number, core: number): void {
  if (HAS_TASKSET) spawnSync('taskset', ['-a', '-c', '-p', String(core), String(pid)]);
}

/** Every child this process started and that has not exited yet. */
const children = new Set<ChildProcess>();

/** Spawns `command` pinned to `core`; it is stopped with SIGTERM if the bench exits first. */
export function spawnPinned(
  core: number,
  command: string,
  args: readonly string[],
  options: SpawnOptions,
): ChildProcess {
  const [cmd, argv] = pinned(core, command, args);
  const child = spawn(cmd, argv, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGTERM to every child still running (nginx's master then stops its worker itself). */
export function terminateChildren(): void {
  for (const child of children) child.kill('SIGTERM');
}

process.once('exit', terminateChildren);

/** Is `command` on PATH? */
export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** Free TCP ports on 127.0.0.1 (held together, so no duplicates within one call). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve());
      });
    }
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address');
      return address.port;
    });
  } finally {
    await Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Stops a child we started: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
