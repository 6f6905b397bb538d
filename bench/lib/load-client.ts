import { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type {
  LoadEnvelope,
  LoadReply,
  LoadReplyEnvelope,
  LoadRequest,
  ResumeReply,
  StartReply,
  WindowReply,
} from './load-protocol';
import { RAMP_GRACE_MS, RAMP_LAST_START_MS } from './load-protocol';
import { spawnPinned, stopChild } from './proc';

/** The orchestrator's handle on the load process (bench/load-process.ts, pinned to `core`). */
export class LoadClient {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (reply: LoadReply) => void; reject: (error: Error) => void }
  >();

  constructor(core: number) {
    this.child = spawnPinned(
      core,
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', join(__dirname, '..', 'load-process.ts')],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: join(__dirname, '..', '..') },
    );
    this.child.on('message', (message: LoadReplyEnvelope) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.error !== undefined) waiter.reject(new Error(`load process: ${message.error}`));
      else waiter.resolve(message.reply ?? {});
    });
    this.child.once('exit', (code, signal) => {
      for (const waiter of this.pending.values())
        waiter.reject(new Error(`load process exited (${signal ?? code})`));
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  private call(request: LoadRequest, timeoutMs: number): Promise<LoadReply> {
    const id = this.nextId++;
    return new Promise<LoadReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`load process: no answer to ${request.cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ id, request } satisfies LoadEnvelope);
    });
  }

  async start(request: Extract<LoadRequest, { cmd: 'start' }>): Promise<StartReply> {
    // The load process's own ramp deadline, plus the last players' start timeout, plus margin.
    const budgetMs =
      (request.count / request.rate) * 1000 + RAMP_GRACE_MS + RAMP_LAST_START_MS + 60000;
    return (await this.call(request, budgetMs)) as StartReply;
  }

  async windowStart(latencyBaseMs: number | undefined): Promise<void> {
    await this.call({ cmd: 'window-start', latencyBaseMs }, 30000);
  }

  async windowEnd(): Promise<WindowReply> {
    return (await this.call({ cmd: 'window-end' }, 30000)) as WindowReply;
  }

  async pause(count: number): Promise<void> {
    await this.call({ cmd: 'pause', count }, 30000);
  }

  async resume(waitMs: number): Promise<ResumeReply> {
    return (await this.call({ cmd: 'resume', waitMs }, waitMs + 30000)) as ResumeReply;
  }

  async stopPlayers(): Promise<void> {
    await this.call({ cmd: 'stop' }, 30000);
  }

  async close(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await stopChild(this.child, 3000);
  }
}
