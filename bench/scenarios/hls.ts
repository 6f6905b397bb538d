import { join } from 'node:path';
import type { HlsMuxResult } from '../hls-mux';
import type { BenchContext } from '../lib/context';
import { REPO_ROOT } from '../lib/peers';
import { spawnPinned } from '../lib/proc';

export interface HlsRun extends HlsMuxResult {
  /** Why there is no end-to-end (live server) figure. */
  readonly endToEnd: string;
}

const END_TO_END_TODO =
  'not measured end to end: the server muxes every publish of an `hls: true` app (even with hls_addr empty, ' +
  'so the ladder includes it for ours); at this per-stream cost an on/off difference on one stream is ' +
  'below the noise of a server CPU sample';

/** Runs bench/hls-mux.ts pinned to the server core and reads its JSON line. */
export async function runHls(ctx: BenchContext): Promise<HlsRun> {
  ctx.log(`hls: ${ctx.options.hlsLoops} clip loops through src/stream/protocols/hls's segmenter`);
  const child = spawnPinned(
    ctx.options.serverCore,
    process.execPath,
    [
      '-r',
      'ts-node/register/transpile-only',
      join(__dirname, '..', 'hls-mux.ts'),
      ctx.clip.path,
      String(ctx.options.hlsLoops),
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10 * 60 * 1000);
  await new Promise((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return { ...(JSON.parse(line) as HlsMuxResult), endToEnd: END_TO_END_TODO };
  } catch {
    return {
      available: false,
      reason: `hls-mux failed: ${stderr.slice(-500)}`,
      endToEnd: END_TO_END_TODO,
    };
  }
}
