import { call, expectEnvelope, postForm } from './helpers/http';
import { bearer, signToken } from './helpers/jwt';
import { ServerProcess, startServer } from './helpers/server';

const KEY_PATTERN = /^[0-9A-Za-z]{48}$/;
const ENDPOINTS = ['get', 'reset', 'delete'] as const;

describe('control API (memory key store, no JWT)', () => {
  let server: ServerProcess;
  const url = (path: string) => server.apiUrl(path);
  const get = (path: string, init?: RequestInit) => call<string>(url(path), init);

  beforeAll(async () => {
    server = await startServer();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('answers /healthz with 200 and the store it uses', async () => {
    const data = expectEnvelope(await call(url('/healthz')), 200);
    expect(data).toEqual({ ok: true, store: 'memory' });
  });

  it('get creates a 48-character [0-9A-Za-z] key and returns the same key again', async () => {
    const first = expectEnvelope(await get('/control/get?room=same-twice'), 200);
    expect(first).toMatch(KEY_PATTERN);
    expect(expectEnvelope(await get('/control/get?room=same-twice'), 200)).toBe(first);
    const other = expectEnvelope(await get('/control/get?room=another-room'), 200);
    expect(other).toMatch(KEY_PATTERN);
    expect(other).not.toBe(first);
  });

  it('reads the room from a url-encoded POST body as well as the query', async () => {
    const posted = expectEnvelope(await postForm(url('/control/get'), 'room=posted'), 200);
    expect(posted).toMatch(KEY_PATTERN);
    expect(expectEnvelope(await get('/control/get?room=posted'), 200)).toBe(posted);
    const reset = expectEnvelope(await postForm(url('/control/reset'), 'room=posted'), 200);
    expect(reset).not.toBe(posted);
    expect(expectEnvelope(await postForm(url('/control/delete'), 'room=posted'), 200)).toBe('Ok');
  });

  it('returns one key to 50 concurrent gets for a new room', async () => {
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => get('/control/get?room=stampede')),
    );
    const keys = new Set(answers.map((answer) => expectEnvelope(answer, 200)));
    expect(keys.size).toBe(1);
  });

  it('reset gives a new key and the old one stops being the room key', async () => {
    const old = expectEnvelope(await get('/control/get?room=resettable'), 200);
    const fresh = expectEnvelope(await get('/control/reset?room=resettable'), 200);
    expect(fresh).toMatch(KEY_PATTERN);
    expect(fresh).not.toBe(old);
    expect(expectEnvelope(await get('/control/get?room=resettable'), 200)).toBe(fresh);
    const again = expectEnvelope(await get('/control/reset?room=resettable'), 200);
    expect([old, fresh]).not.toContain(again);
  });

  it('reset of a room that does not exist creates it', async () => {
    const key = expectEnvelope(await get('/control/reset?room=reset-first'), 200);
    expect(key).toMatch(KEY_PATTERN);
    expect(expectEnvelope(await get('/control/get?room=reset-first'), 200)).toBe(key);
  });

  it('delete answers "Ok", then 404 "room not found"; a later get makes a new key', async () => {
    const old = expectEnvelope(await get('/control/get?room=deletable'), 200);
    expect(expectEnvelope(await get('/control/delete?room=deletable'), 200)).toBe('Ok');
    expect(expectEnvelope(await get('/control/delete?room=deletable'), 404)).toBe('room not found');
    const next = expectEnvelope(await get('/control/get?room=deletable'), 200);
    expect(next).not.toBe(old);
  });

  it('delete of a room that never existed is 404 "room not found"', async () => {
    expect(expectEnvelope(await get('/control/delete?room=never-made'), 404)).toBe(
      'room not found',
    );
  });

  it('treats a key used as a room name as just another room', async () => {
    const key = expectEnvelope(await get('/control/get?room=owner'), 200);
    const keyAsRoom = expectEnvelope(await get(`/control/get?room=${key}`), 200);
    expect(keyAsRoom).not.toBe(key);
    expect(expectEnvelope(await get(`/control/delete?room=${key}`), 200)).toBe('Ok');
    expect(expectEnvelope(await get('/control/get?room=owner'), 200)).toBe(key);
  });

  it('accepts a room of 128 characters using every allowed kind of character', async () => {
    const room = `Az09_.-${'r'.repeat(121)}`;
    expect(room).toHaveLength(128);
    expect(expectEnvelope(await get(`/control/get?room=${room}`), 200)).toMatch(KEY_PATTERN);
  });

  describe.each(ENDPOINTS)('/control/%s room validation', (endpoint) => {
    it.each([
      ['missing', ''],
      ['empty', '?room='],
      ['129 characters long', `?room=${'r'.repeat(129)}`],
      ['starting with a dot', '?room=.hidden'],
      ['containing a slash', '?room=a%2Fb'],
      ['containing a space', '?room=a%20b'],
      ['containing a non-ASCII letter', '?room=caf%C3%A9'],
      ['containing a NUL byte', '?room=a%00b'],
      ['containing a colon', '?room=a:b'],
    ])('answers 400 for a room %s, saying what is allowed', async (_, query) => {
      const message = expectEnvelope(await get(`/control/${endpoint}${query}`), 400);
      expect(message).toMatch(/1-128 characters of A-Z, a-z, 0-9, '_', '\.', '-'/);
      expect(message).toMatch(/not start with '\.'/);
    });

    it('answers 400 for a repeated room parameter', async () => {
      const message = expectEnvelope(await get(`/control/${endpoint}?room=a&room=b`), 400);
      expect(message).toMatch(/room/);
      const posted = await postForm(url(`/control/${endpoint}`), 'room=a&room=b');
      expect(expectEnvelope(posted, 400)).toMatch(/room/);
    });

    it('answers 400 for a room given as a nested body field', async () => {
      const posted = await postForm(url(`/control/${endpoint}`), 'room[x]=a');
      expect(expectEnvelope(posted, 400)).toMatch(/room/);
    });
  });

  it('answers 400, not 500, for a 10 000 character room in the query', async () => {
    expectEnvelope(await get(`/control/get?room=${'r'.repeat(10_000)}`), 400);
  });

  it('answers an unknown route with a 404 envelope', async () => {
    expectEnvelope(await get('/control/nothing-here?room=a'), 404);
    expectEnvelope(await get('/no/such/path'), 404);
    expectEnvelope(await get('/healthz', { method: 'POST' }), 404);
  });

  it('answers a malformed JSON body with a 400 envelope', async () => {
    const response = await call(url('/control/get'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"room": ',
    });
    expectEnvelope(response, 400);
  });

  it('answers a JSON body with a non-text room with a 400 envelope', async () => {
    const response = await call(url('/control/get'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"room": {"$ne": 1}}',
    });
    expectEnvelope(response, 400);
  });

  it.each([
    ['url-encoded', 'application/x-www-form-urlencoded', `room=${'r'.repeat(2_000_000)}`],
    ['JSON', 'application/json', JSON.stringify({ room: 'r'.repeat(2_000_000) })],
  ])('answers a 2 MB %s body with a 413 envelope', async (_, type, body) => {
    const response = await call(url('/control/get'), {
      method: 'POST',
      headers: { 'content-type': type },
      body,
    });
    expectEnvelope(response, 413);
  });

  it.each([
    ['a JSON string body', { 'content-type': 'application/json' }, '"room"'],
    ['an unknown charset', { 'content-type': 'application/json; charset=utf-99' }, '{}'],
    ['an unknown content encoding', { 'content-encoding': 'br2' }, 'room=a'],
    ['a corrupt gzip body', { 'content-encoding': 'gzip' }, 'room=a'],
  ])('answers %s with a 4xx envelope', async (_, headers, body) => {
    const response = await call(url('/control/get'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expectEnvelope(response, response.status);
  });

  it('keeps serving after bad requests', async () => {
    expectEnvelope(await call(url('/healthz')), 200);
  });

  it('sends no CORS headers while api_cors_origins is empty, pre-flights included', async () => {
    const ok = await get('/control/get?room=cors', { headers: { origin: 'http://ops.example' } });
    expect(ok.status).toBe(200);
    const preflight = await call(url('/control/get?room=cors'), {
      method: 'OPTIONS',
      headers: {
        origin: 'http://ops.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    for (const response of [ok, preflight]) {
      const cors = [...response.headers.keys()].filter((name) =>
        name.startsWith('access-control-'),
      );
      expect(cors).toEqual([]);
    }
  });

  // Last: stops the server the tests above share.
  it('exits 0 within 5 s on SIGTERM', async () => {
    const { code, ms } = await server.stop();
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5000);
  });
});

describe('control API CORS for the origins in api_cors_origins, with JWT on', () => {
  const secret = 'cors-secret';
  const ORIGIN = 'http://ops.example';
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({
      args: [`--jwt.secret=${secret}`, `--api_cors_origins=["${ORIGIN}"]`],
    });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('passes an OPTIONS pre-flight without a token', async () => {
    const response = await call(server.apiUrl('/control/get?room=a'), {
      method: 'OPTIONS',
      headers: {
        origin: 'http://ops.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(response.status).toBeLessThan(300);
    expect(response.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(response.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
  });

  it('lets a browser read the 401 and its WWW-Authenticate header', async () => {
    const response = await call(server.apiUrl('/control/get?room=a'), {
      headers: { origin: 'http://ops.example' },
    });
    expectEnvelope(response, 401);
    expect(response.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(response.headers.get('access-control-expose-headers')).toMatch(/www-authenticate/i);
  });

  it('answers a token-carrying request with CORS headers', async () => {
    const response = await call(server.apiUrl('/control/get?room=a'), {
      headers: { origin: 'http://ops.example', ...bearer(signToken(secret)) },
    });
    expect(expectEnvelope(response, 200)).toMatch(KEY_PATTERN);
    expect(response.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  });

  it('gives an origin that is not listed no CORS headers', async () => {
    const response = await call(server.apiUrl('/control/get?room=a'), {
      headers: { origin: 'http://elsewhere.example', ...bearer(signToken(secret)) },
    });
    expectEnvelope(response, 200);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });
});
