import { ChildProcess } from 'node:child_process';
import { spawnPinned, stopChild } from './proc';

/** The clip published in a loop at its own pace (`-re -stream_loop -1 … -c copy`): no encoding cost. */
export class LoopPublisher {
  private readonly child: ChildProcess;
  private stderr = '';

  constructor(clipPath: string, url: string, core: number) {
    this.child = spawnPinned(
      core,
      'ffmpeg',
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-nostdin',
        '-re',
        '-stream_loop',
        '-1',
        '-i',
        clipPath,
        '-c',
        'copy',
        '-f',
        'flv',
        url,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      if (this.stderr.length < 4096) this.stderr += text;
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get errors(): string {
    return this.stderr.trim();
  }

  async stop(): Promise<void> {
    await stopChild(this.child, 3000);
  }
}
