import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import {
  closeAllBrowsers,
  isHidden,
  launchBrowser,
  PageRecord,
  recordPage,
  textOf,
  until,
  untilText,
  valueOf,
  waitForPlayback,
} from './helpers/browser';
import { call } from './helpers/http';
import { bearer, signToken } from './helpers/jwt';
import { FlvViewer } from './helpers/media-bystander';
import { publish, Publisher } from './helpers/media';
import { ServerProcess, startServer } from './helpers/server';
import { waitFor, withTimeout } from './helpers/wait';

const SECRET = 'console-e2e-secret-0123456789abcdef';
/** The README shows this picture of the console, taken here from a real run. */
const SCREENSHOT = resolve(__dirname, '..', 'docs', 'console.png') as `${string}.png`;

describe('web console in a real browser (headless Chromium)', () => {
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let record: PageRecord;
  const token = signToken(SECRET);
  const publishers: Publisher[] = [];
  const viewers: FlvViewer[] = [];

  const api = async <T>(path: string) => {
    const response = await call<T>(server.apiUrl(path), { headers: bearer(token) });
    return { status: response.status, data: response.json?.data as T };
  };
  const rtmpUrl = (key: string) => `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`;
  const isLive = async (room: string) =>
    (await api(`/stat/livestat?room=live/${room}`)).status === 200;
  /** Publishes on `room` with its key and resolves once the server lists it live. */
  const startPublisher = async (room: string) => {
    const key = (await api<string>(`/control/get?room=${room}`)).data;
    const publisher = publish(rtmpUrl(key), { seconds: 120 });
    publishers.push(publisher);
    await waitFor(async () => ((await isLive(room)) ? true : undefined), 15000);
    return { key, publisher };
  };
  const card = (room: string) => `article[data-key="live/${room}"]`;

  beforeAll(async () => {
    [server, browser] = await Promise.all([
      startServer({ env: { JWT_SECRET: SECRET }, args: ['--hls_fragment=1', '--hls_window=4'] }),
      launchBrowser(),
    ]);
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 720 });
    record = recordPage(page);
  });

  afterAll(async () => {
    await Promise.all([...publishers.map((p) => p.stop()), ...viewers.map((v) => v.stop())]);
    await closeAllBrowsers();
    await server?.stop();
  });

  it('refuses a bad token, then signs in with a good one (kept in sessionStorage)', async () => {
    await page.goto(server.apiUrl('/console'), { waitUntil: 'load' });
    await page.waitForSelector('#login:not([hidden])', { timeout: 5000 });
    expect(await isHidden(page, '#open-banner')).toBe(true);

    await page.type('#token', signToken('not-the-secret'));
    await page.keyboard.press('Enter');
    await untilText(page, '#login-error', /refused.*bad signature/);
    expect(await isHidden(page, '#nav')).toBe(true);

    await page.evaluate(`document.querySelector('#token').value = ''`);
    await page.type('#token', token);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#view-streams:not([hidden])', { timeout: 5000 });
    expect(await page.evaluate(`sessionStorage.getItem('livego.console.token')`)).toBe(token);
    await untilText(page, '#live-state', /^live$/);
  });

  it('shows a publish within 3 s, with its codec, and removes it within 3 s after it stops', async () => {
    const { publisher } = await startPublisher('news');
    await page.waitForSelector(card('news'), { timeout: 3000 });
    await untilText(page, card('news'), /H264 320×240 25 fps/);
    expect(await textOf(page, card('news'))).toMatch(/AAC 44\.1 kHz mono/);
    await publisher.stop();
    await page.waitForSelector(card('news'), { hidden: true, timeout: 3000 });
  });

  it('plays the preview over HTTP-FLV (mpegts.js) and HLS (hls.js), and fits 1280×720 and a phone', async () => {
    await startPublisher('show');
    const viewer = new FlvViewer(`http://127.0.0.1:${server.ports.httpflv_addr}/live/show.flv`);
    viewers.push(viewer);
    const previewButton = `${card('show')} button[aria-label="Preview live/show"]`;
    await page.waitForSelector(previewButton, { timeout: 5000 });
    await page.click(previewButton);
    await page.waitForSelector('#preview:not([hidden])');
    await waitForPlayback(page, 1, 15000, '#preview-video');
    const flvSource = (await page.evaluate(
      `document.querySelector('#preview-video').src`,
    )) as string;

    // The viewers are listed and the bitrate lines have a few samples: the picture for the README.
    await until(page, `document.querySelectorAll('${card('show')} tbody tr').length >= 2`, 10000);
    await waitFor(
      async () => {
        const stat = await api<{ publishers: { bitrate_history: number[] }[] }>(
          '/stat/livestat?room=live/show',
        );
        return (stat.data.publishers[0]?.bitrate_history.length ?? 0) >= 3 ? true : undefined;
      },
      15000,
      500,
    );
    await until(
      page,
      `document.querySelector('${card('show')} .spark polyline').getAttribute('points').split(' ').length >= 3`,
    );
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.click('input[name="preview-protocol"][value="hls"]');
    await until(
      page,
      `(v => v.dataset.protocol === 'hls' && v.src !== '' && v.src !== ${JSON.stringify(flvSource)})(document.querySelector('#preview-video'))`,
      10000,
    );
    await waitForPlayback(page, 1, 20000, '#preview-video');

    const overflow = async () =>
      (await page.evaluate(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      )) as number;
    expect(await overflow()).toBeLessThanOrEqual(0);
    await page.setViewport({ width: 390, height: 844 });
    expect(await overflow()).toBeLessThanOrEqual(0);
    await page.setViewport({ width: 1280, height: 720 });
    await page.click('#preview-close');
  });

  it('kicks a viewer from the page (keyboard), and the viewer is disconnected', async () => {
    const viewer = viewers[0];
    await viewer.waitForFrames(10);
    const kick = `${card('show')} button[aria-label^="Kick http-flv viewer"]`;
    await page.waitForSelector(kick, { timeout: 5000 });
    await page.focus(kick);
    await page.keyboard.press('Enter');
    await waitFor(async () => (viewer.exitCode !== undefined ? true : undefined), 5000);
    await page.waitForSelector(kick, { hidden: true, timeout: 5000 });
    expect(await textOf(page, '#notice')).toMatch(/Kicked the player/);
  });

  it('resets a key from the page: asks first, drops the live publisher, shows the new key', async () => {
    const oldKey = (await api<string>('/control/get?room=show')).data;
    const publisher = publishers[publishers.length - 1];
    await page.click(`${card('show')} button[aria-label="Key of show"]`);
    await page.waitForSelector('#view-keys:not([hidden])');
    expect(await valueOf(page, '#key-room')).toBe('show');
    await page.click('#key-form button[data-action="reset"]');
    await page.waitForSelector('#confirm[open]');
    expect(await textOf(page, '#confirm-text')).toMatch(/Reset the key of show/);
    expect(await isHidden(page, '#key-result')).toBe(true);
    await page.click('#confirm-ok');
    await page.waitForSelector('#key-result:not([hidden])', { timeout: 5000 });
    const shown = await valueOf(page, '#key-value');
    expect(shown).toMatch(/^[0-9A-Za-z]{48}$/);
    expect(shown).not.toBe(oldKey);
    expect((await api<string>('/control/get?room=show')).data).toBe(shown);
    expect(await withTimeout(publisher.exited, 6000)).not.toBeUndefined();
    await waitFor(async () => ((await isLive('show')) ? undefined : true), 5000);
  });

  it('shows a key only on request, and deletes a room only once confirmed', async () => {
    const key = (await api<string>('/control/get?room=spare')).data;
    await page.click('#nav button[data-view="streams"]');
    await page.click('#nav button[data-view="keys"]');
    expect(await isHidden(page, '#key-result')).toBe(true);
    await page.evaluate(`document.querySelector('#key-room').value = ''`);
    await page.type('#key-room', 'spare');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#key-result:not([hidden])', { timeout: 5000 });
    expect(await valueOf(page, '#key-value')).toBe(key);

    await page.click('#key-form button[data-action="delete"]');
    await page.waitForSelector('#confirm[open]');
    await page.keyboard.press('Escape');
    await page.waitForSelector('#confirm:not([open])');
    expect((await api<string>('/control/get?room=spare')).data).toBe(key);

    await page.click('#key-form button[data-action="delete"]');
    await page.waitForSelector('#confirm[open]');
    expect(await textOf(page, '#confirm-text')).toMatch(/Delete spare\?/);
    await page.click('#confirm-ok');
    await untilText(page, '#notice', /spare was deleted/);
    expect(await isHidden(page, '#key-result')).toBe(true);
    expect((await api('/control/delete?room=spare')).status).toBe(404);
  });

  it('starts and stops a push relay from the page', async () => {
    await page.click('#nav button[data-view="relays"]');
    await page.select('#relay-direction', 'push');
    await page.type('#relay-name', 'relayed');
    await page.type('#relay-url', `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/elsewhere`);
    await page.click('#relay-form button[data-oper="start"]');
    await untilText(page, '#notice', /push relay started/);
    await page.click('#relay-form button[data-oper="stop"]');
    await untilText(page, '#notice', /push relay stopped/);
    await page.click('#relay-form button[data-oper="stop"]');
    await untilText(page, '#notice', /push stop: /);
  });

  it('shows Nodes only when /stat/cluster answers', async () => {
    const cluster = await api('/stat/cluster');
    expect(await isHidden(page, '#nav button[data-view="nodes"]')).toBe(cluster.status !== 200);
  });

  it('made no request to any origin but the service’s own listeners', () => {
    const own = new Set(
      [server.ports.api_addr, server.ports.httpflv_addr, server.ports.hls_addr].map(
        (port) => `http://127.0.0.1:${port}`,
      ),
    );
    const requests = record.requests.filter(
      (url) => !url.startsWith('data:') && !url.startsWith('blob:'),
    );
    expect(requests.length).toBeGreaterThan(10);
    expect(requests.filter((url) => !own.has(new URL(url).origin))).toEqual([]);
    expect(record.errors.filter((e) => /Content Security Policy|Refused to/.test(e))).toEqual([]);
  });
});

describe('web console settings', () => {
  let open: ServerProcess;
  let off: ServerProcess;
  let browser: Browser;

  beforeAll(async () => {
    [open, off, browser] = await Promise.all([
      startServer(),
      startServer({ args: ['--console=false'] }),
      launchBrowser(),
    ]);
  });

  afterAll(async () => {
    await closeAllBrowsers();
    await Promise.all([open?.stop(), off?.stop()]);
  });

  it('says it is open when jwt.secret is not set, and needs no sign-in', async () => {
    const page = await browser.newPage();
    await page.goto(open.apiUrl('/console'), { waitUntil: 'load' });
    await page.waitForSelector('#view-streams:not([hidden])', { timeout: 5000 });
    expect(await isHidden(page, '#open-banner')).toBe(false);
    expect(await textOf(page, '#open-banner')).toMatch(/open.*jwt\.secret/s);
    expect(await isHidden(page, '#login')).toBe(true);
    await page.close();
  });

  it('serves the page with a policy that allows this service only', async () => {
    const response = await call(open.apiUrl('/console/'));
    expect(response.status).toBe(200);
    const policy = response.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self'");
    const media = [open.ports.httpflv_addr, open.ports.hls_addr].map(
      (p) => `http://127.0.0.1:${p}`,
    );
    expect(policy).toContain(`connect-src 'self' ${media.join(' ')}`);
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect((await call(open.apiUrl('/console'), { redirect: 'manual' })).status).toBe(302);
    expect((await call(open.apiUrl('/console/assets/..%2F..%2Fpackage.json'))).status).toBe(404);
    const settings = await call(open.apiUrl('/console/settings.json'));
    expect(settings.json).toMatchObject({ token_required: false, hls_port: open.ports.hls_addr });
  });

  it('is not served with console: false', async () => {
    const response = await call(off.apiUrl('/console/'));
    expect(response.status).toBe(404);
    expect(response.json).toEqual({ status: 404, data: expect.any(String) });
  });
});
