export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The promise's value, or undefined when it has not settled within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls `probe` every `intervalMs` until it returns something other than undefined, and returns that with
 * the milliseconds it took. Rejects with the last probe error after `timeoutMs`.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  let last: unknown = 'no value';
  while (Date.now() - started < timeoutMs) {
    try {
      const value = await probe();
      if (value !== undefined) return { value, ms: Date.now() - started };
    } catch (error) {
      last = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`waited ${timeoutMs} ms: ${last instanceof Error ? last.message : String(last)}`);
}

/** The non-empty lines of a process's output. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}
