import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

/** The machine and tools a run was made on, for the results file and RESULTS.md. */
export interface Environment {
  readonly date: string;
  readonly cpuModel: string;
  readonly nproc: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly ffmpeg: string;
  readonly nginx: string | undefined;
  readonly redis: string | undefined;
  readonly taskset: boolean;
  readonly loadAverage: string;
  /** The commit checked out and whether src/ had uncommitted changes; when dist/ was built. */
  readonly gitCommit: string | undefined;
  readonly srcDirty: boolean;
  readonly distBuiltAt: string | undefined;
}

function firstLine(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0 && !result.stderr) return undefined;
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  return text.split('\n')[0] || undefined;
}

function git(args: string[], cwd: string): string | undefined {
  const result = spawnSync('git', args, { cwd, encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

export function describeEnvironment(
  taskset: boolean,
  repoRoot: string,
  serverEntry: string,
): Environment {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1];
    const mhz = /^cpu MHz\s*:\s*(.+)$/m.exec(info)?.[1];
    if (model) cpuModel = mhz ? `${model} @ ${Math.round(Number(mhz))} MHz` : model;
  } catch {
    // not Linux: keep os.cpus()
  }
  return {
    date: new Date().toISOString(),
    cpuModel,
    nproc: Number(firstLine('nproc', []) ?? cpus().length),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    ffmpeg: firstLine('ffmpeg', ['-version']) ?? 'missing',
    nginx: firstLine('nginx', ['-v']),
    redis: firstLine('redis-server', ['--version']),
    taskset,
    loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    gitCommit: git(['rev-parse', '--short', 'HEAD'], repoRoot),
    srcDirty: (git(['status', '--porcelain', '--', 'src'], repoRoot) ?? '') !== '',
    distBuiltAt: builtAt(serverEntry),
  };
}

function builtAt(path: string): string | undefined {
  try {
    return statSync(path).mtime.toISOString();
  } catch {
    return undefined;
  }
}
