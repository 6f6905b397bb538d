import { call, expectEnvelope, postForm } from './helpers/http';
import { bearer, signToken } from './helpers/jwt';
import { publish } from './helpers/media';
import { ServerProcess, startServer } from './helpers/server';
import { waitFor } from './helpers/wait';

/*
 * The API's edges as a browser, a proxy or a careless client meets them: every route with a bad
 * %-escape, with HEAD and from a foreign Origin; the public listing and the docs page.
 */

/** Routes served on api_addr besides those /openapi.json describes. */
const EXTRA_ROUTES = [
  '/openapi.json',
  '/docs',
  '/docs/swagger-ui.css',
  '/console/',
  '/console/settings.json',
];
/** Routes whose answer never ends (an event stream): kick-events.e2e-spec.ts checks their edges. */
const STREAMING_ROUTES = new Set(['/events']);

async function apiRoutes(server: ServerProcess, token?: string): Promise<string[]> {
  const headers = token ? bearer(token) : undefined;
  const document = (await call(server.apiUrl('/openapi.json'), { headers })).json as unknown as {
    paths: Record<string, unknown>;
  };
  const routes = Object.keys(document.paths);
  expect(routes).toEqual(expect.arrayContaining(['/control/get', '/control/pull', '/healthz']));
  return [...routes.filter((route) => !STREAMING_ROUTES.has(route)), ...EXTRA_ROUTES];
}

const CONTROL_ROUTES = ['get', 'reset', 'delete', 'pull', 'push'].map((name) => `/control/${name}`);

describe('API edges, API open (no jwt.secret)', () => {
  let server: ServerProcess;
  let routes: string[];

  beforeAll(async () => {
    server = await startServer();
    routes = await apiRoutes(server);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('answers a bad %-escape in the query, the path or a POST body with 4xx on every route, never 500', async () => {
    const failures: string[] = [];
    for (const route of routes) {
      for (const path of [
        `${route}?room=%zz&oper=%E0%A4%A&app=%&name=%25%zz&url=rtmp://h/a/%zz&jwt=%zz`,
        `${route}%zz`,
        `${route}/%E0%A4%A`,
      ]) {
        const response = await call(server.apiUrl(path));
        if (response.status >= 500)
          failures.push(`GET ${path}: ${response.status} ${response.text}`);
      }
      const posted = await postForm(
        server.apiUrl(route),
        'room=%zz&url=rtmp%3A%2F%2Fh%2Fa%2F%25zz',
      );
      if (posted.status >= 500) failures.push(`POST ${route}: ${posted.status} ${posted.text}`);
    }
    expect(failures).toEqual([]);
    expect(
      expectEnvelope(
        await call(server.apiUrl('/control/pull?oper=start&app=live&name=a&url=rtmp://h/a/%zz')),
        400,
      ),
    ).toMatch(/^url must be an rtmp/);
  });

  it('answers HEAD on every control route with 405 and does nothing', async () => {
    for (const route of CONTROL_ROUTES) {
      const query = '?room=headless&oper=start&app=live&name=headless&url=rtmp://127.0.0.1:9/a/b';
      const response = await call(server.apiUrl(`${route}${query}`), { method: 'HEAD' });
      expect({ route, status: response.status }).toEqual({ route, status: 405 });
      expect(response.headers.get('allow')).toBe('GET, POST');
    }
    // No key was created, no relay started.
    expectEnvelope(await call(server.apiUrl('/control/delete?room=headless')), 404);
    expectEnvelope(
      await call(server.apiUrl('/control/pull?oper=stop&app=live&name=headless')),
      404,
    );
    // An existing key survives HEAD /control/reset.
    const key = expectEnvelope(await call<string>(server.apiUrl('/control/get?room=kept')), 200);
    await call(server.apiUrl('/control/reset?room=kept'), { method: 'HEAD' });
    expect(expectEnvelope(await call<string>(server.apiUrl('/control/get?room=kept')), 200)).toBe(
      key,
    );
  });

  it('sends no CORS headers to a foreign Origin on any route, pre-flights included', async () => {
    const origin = { origin: 'https://attacker.example' };
    const leaks: string[] = [];
    for (const route of routes) {
      for (const init of [
        { headers: origin },
        {
          method: 'OPTIONS',
          headers: { ...origin, 'access-control-request-method': 'GET' },
        },
      ]) {
        const response = await call(server.apiUrl(`${route}?room=cors`), init);
        const cors = [...response.headers.keys()].filter((name) =>
          name.startsWith('access-control'),
        );
        if (cors.length > 0) leaks.push(`${init.method ?? 'GET'} ${route}: ${cors.join(', ')}`);
      }
    }
    expect(leaks).toEqual([]);
  });

  it('/docs reflects a token only percent-encoded', async () => {
    const hostile = `';alert(1)//"><script>alert(2)</script>`;
    const page = await call(server.apiUrl(`/docs?jwt=${encodeURIComponent(hostile)}`));
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('<script>alert');
    expect(page.text).not.toContain("';alert");
    expect(page.text).toContain(
      `/openapi.json?${new URLSearchParams({ jwt: hostile }).toString()}'`,
    );
  });

  it('GET /streams on httpflv_addr lists key and stream_id only; /stat/livestat keeps the details', async () => {
    const key = expectEnvelope(await call<string>(server.apiUrl('/control/get?room=listed')), 200);
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`, {
      seconds: 20,
    });
    const streamsUrl = `http://127.0.0.1:${server.ports.httpflv_addr}/streams`;
    // LiveGo's shape: the listing itself, not the API's envelope.
    const { value: listing } = await waitFor(async () => {
      const data = JSON.parse((await call(streamsUrl)).text) as {
        publishers: object[];
        players: object[];
      };
      return data.publishers.length > 0 ? data : undefined;
    }, 10000);
    expect(listing.publishers).toEqual([{ key: 'live/listed', stream_id: expect.any(Number) }]);
    expect(listing.players).toEqual([]);
    const text = JSON.stringify(listing);
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toContain(key);
    const stat = expectEnvelope(
      await call<{ publishers: { remote_addr: string; url: string }[] }>(
        server.apiUrl('/stat/livestat?room=live/listed'),
      ),
      200,
    );
    expect(stat.publishers[0].remote_addr).toMatch(/^127\.0\.0\.1:/);
    await encoder.stop();
  });
});

describe('API edges, API behind a JWT', () => {
  const SECRET = 'edges-secret';
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({ args: [`--jwt.secret=${SECRET}`], off: ['hls_addr'] });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('answers a bad %-escape in ?jwt= or in a parameter with 4xx, never 500', async () => {
    const token = signToken(SECRET);
    for (const route of await apiRoutes(server, token)) {
      const bad = await call(server.apiUrl(`${route}?jwt=%zz`));
      expect({ route, status: bad.status < 500 }).toEqual({ route, status: true });
      const authorised = await call(server.apiUrl(`${route}?room=%zz&url=%zz`), {
        headers: bearer(token),
      });
      expect({ route, status: authorised.status < 500 }).toEqual({ route, status: true });
    }
  });

  it('answers HEAD on a control route with 405 once the token is good, 401 before', async () => {
    expect((await call(server.apiUrl('/control/get?room=h'), { method: 'HEAD' })).status).toBe(401);
    const response = await call(server.apiUrl('/control/get?room=h'), {
      method: 'HEAD',
      headers: bearer(signToken(SECRET)),
    });
    expect(response.status).toBe(405);
  });
});
