import { existsSync } from 'node:fs';
import puppeteer, { Browser, Page } from 'puppeteer-core';
import { sleep } from './wait';

/** Debian's Chromium (`apt-get install chromium`); .ci/run and scripts/test-all.sh install it. */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const open = new Set<Browser>();

/**
 * Headless Chromium through puppeteer-core: autoplay allowed (a muted preview starts without a click),
 * no sandbox when running as root (CI), each launch with a fresh temporary profile.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (or set CHROMIUM_PATH)`);
  }
  const args = [
    '--autoplay-policy=no-user-gesture-required',
    '--disable-dev-shm-usage',
    '--mute-audio',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args,
    protocolTimeout: 30_000,
  });
  open.add(browser);
  browser.once('disconnected', () => open.delete(browser));
  return browser;
}

/** Closes every browser launchBrowser() opened (afterAll). */
export async function closeAllBrowsers(): Promise<void> {
  await Promise.all([...open].map((browser) => browser.close().catch(() => undefined)));
}

// A crashed test run must not leave Chromium behind.
process.once('exit', () => {
  for (const browser of open) browser.process()?.kill('SIGKILL');
});

/** Every URL a page requested, and what it printed as errors, for assertions and failure messages. */
export interface PageRecord {
  readonly requests: string[];
  readonly errors: string[];
}

/** Records `page`'s requests (every resource, XHR, fetch, EventSource, media) and errors from now on. */
export function recordPage(page: Page): PageRecord {
  const record: PageRecord = { requests: [], errors: [] };
  page.on('request', (request) => {
    if (record.requests.length < 10_000) record.requests.push(request.url());
  });
  page.on('pageerror', (error) => record.errors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') record.errors.push(message.text());
  });
  return record;
}

/*
 * Page-side code is given as text: the test project has no DOM types (it runs in Node), and a string keeps
 * what runs in the browser visibly apart from what runs in the test.
 */

/** `document.querySelector(selector)` in page code. */
const query = (selector: string) => `document.querySelector(${JSON.stringify(selector)})`;

/** The text content of the element matching `selector`, or null when there is none. */
export async function textOf(page: Page, selector: string): Promise<string | null> {
  return (await page.evaluate(`${query(selector)}?.textContent ?? null`)) as string | null;
}

/** The `value` of the input matching `selector`. */
export async function valueOf(page: Page, selector: string): Promise<string> {
  return (await page.evaluate(`${query(selector)}.value`)) as string;
}

/** Whether the element matching `selector` is missing or has the `hidden` attribute. */
export async function isHidden(page: Page, selector: string): Promise<boolean> {
  return (await page.evaluate(`!${query(selector)} || ${query(selector)}.hidden`)) as boolean;
}

/** Waits until the page-side `expression` is truthy; rejects after `timeoutMs` naming it. */
export async function until(page: Page, expression: string, timeoutMs = 5000): Promise<void> {
  try {
    await page.waitForFunction(expression, { timeout: timeoutMs });
  } catch (error) {
    throw new Error(`not true within ${timeoutMs} ms: ${expression} (${String(error)})`);
  }
}

/** Waits until the text of `selector` matches `pattern`. */
export function untilText(page: Page, selector: string, pattern: RegExp, timeoutMs = 5000) {
  return until(
    page,
    `${pattern.toString()}.test(${query(selector)}?.textContent ?? '')`,
    timeoutMs,
  );
}

/** The `<video>` element matching `selector` in `page`: its current time in seconds. */
export async function videoTime(page: Page, selector = 'video'): Promise<number> {
  return (await page.evaluate(`${query(selector)}.currentTime`)) as number;
}

/**
 * Waits until the video's `currentTime` has advanced by `seconds` from its first reading above 0 (frames
 * are decoded and shown, not only downloaded). Rejects with the element's state after `timeoutMs`.
 */
export async function waitForPlayback(
  page: Page,
  seconds: number,
  timeoutMs: number,
  selector = 'video',
): Promise<{ from: number; to: number }> {
  const deadline = Date.now() + timeoutMs;
  let from: number | undefined;
  let to = 0;
  while (Date.now() < deadline) {
    to = await videoTime(page, selector);
    if (from === undefined && to > 0) from = to;
    if (from !== undefined && to - from >= seconds) return { from, to };
    await sleep(200);
  }
  const v = query(selector);
  const state = (await page.evaluate(
    `\`readyState \${${v}.readyState}, currentTime \${${v}.currentTime}, error \${${v}.error?.message ?? 'none'}\``,
  )) as string;
  throw new Error(`video did not advance ${seconds} s within ${timeoutMs} ms (${state})`);
}

/** A page playing an HLS URL with hls.js (from node_modules, as the console bundles it). */
export interface HlsPage {
  readonly page: Page;
  readonly record: PageRecord;
  /** The player's `currentTime`, seconds. */
  currentTime(): Promise<number>;
  /** How far behind the live edge the player is, seconds (hls.js `latency`). */
  latency(): Promise<number>;
  /** Waits until `currentTime` advanced by `seconds` (see waitForPlayback). */
  waitForPlayback(seconds: number, timeoutMs: number): Promise<{ from: number; to: number }>;
  close(): Promise<void>;
}

/**
 * Opens a blank page in `browser` and plays `url` with hls.js and `config` (e.g. `{ lowLatencyMode:
 * true }`) in a muted `<video>`. The HLS listener's CORS `*` lets the blank page fetch it; a fatal hls.js
 * error lands in `record.errors`. Other specs reuse this to check playback in a real browser.
 */
export async function playHls(
  browser: Browser,
  url: string,
  config: Record<string, unknown> = {},
): Promise<HlsPage> {
  const page = await browser.newPage();
  const record = recordPage(page);
  await page.setContent('<!doctype html><video muted autoplay playsinline></video>');
  await page.addScriptTag({ path: require.resolve('hls.js/dist/hls.min.js') });
  await page.evaluate(`(() => {
    const video = document.querySelector('video');
    const hls = new Hls(${JSON.stringify(config)});
    window.hls = hls;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) console.error('hls.js fatal error: ' + data.details);
    });
    hls.loadSource(${JSON.stringify(url)});
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => undefined));
  })()`);
  return {
    page,
    record,
    currentTime: () => videoTime(page),
    latency: async () => Number(await page.evaluate('window.hls.latency')),
    waitForPlayback: (seconds, timeoutMs) => waitForPlayback(page, seconds, timeoutMs),
    close: () => page.close(),
  };
}
