import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { decode, verify } from 'jsonwebtoken';
import { ApiResponse, call, expectEnvelope } from './helpers/http';
import { bearer, epoch, signToken, unsignedToken } from './helpers/jwt';
import { makeTempDir, ServerProcess, startServer } from './helpers/server';
import { lines } from './helpers/wait';

const SECRET = 'e2e-flag-secret';
const KEY_PATTERN = /^[0-9A-Za-z]{48}$/;

/** A 401 envelope with an RFC 6750 challenge; returns `data` (why). */
function expectUnauthorized(response: ApiResponse, invalidToken = true): string {
  const reason = expectEnvelope(response, 401);
  expect(reason).toEqual(expect.any(String));
  const challenge = response.headers.get('www-authenticate') ?? '';
  expect(challenge).toMatch(/^Bearer realm="[^"]+"/);
  if (invalidToken) {
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toMatch(/error_description="[^"\\]+"$/);
  }
  return reason as string;
}

describe('JWT on the control API (--jwt.secret, HS256)', () => {
  let server: ServerProcess;
  const getRoom = (init?: RequestInit, query = '') =>
    call<string>(server.apiUrl(`/control/get?room=jwt-room${query}`), init);
  const withToken = (token: string) => getRoom({ headers: bearer(token) });

  beforeAll(async () => {
    server = await startServer({ args: [`--jwt.secret=${SECRET}`] });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('does not warn that the API is open', () => {
    expect(server.stdout + server.stderr).not.toMatch(/jwt\.secret is not set/);
  });

  it('accepts a valid token in the Authorization header', async () => {
    expect(expectEnvelope(await withToken(signToken(SECRET)), 200)).toMatch(KEY_PATTERN);
  });

  it('accepts a valid token in the jwt query parameter', async () => {
    const response = await getRoom({}, `&jwt=${signToken(SECRET)}`);
    expect(expectEnvelope(response, 200)).toMatch(KEY_PATTERN);
  });

  it('accepts a token with no claims at all', async () => {
    const token = signToken(SECRET, {}, 'HS256', { noTimestamp: true });
    expect(decode(token)).toEqual({});
    expectEnvelope(await withToken(token), 200);
  });

  it('reads the header before the query parameter', async () => {
    const response = await getRoom({ headers: bearer('not-a-token') }, `&jwt=${signToken(SECRET)}`);
    expect(expectUnauthorized(response)).toMatch(/malformed/i);
  });

  it('refuses a request without a token: 401, Bearer challenge, "missing"', async () => {
    expect(expectUnauthorized(await getRoom(), false)).toMatch(/missing/i);
    const basic = await getRoom({ headers: { authorization: 'Basic dXNlcjpwdw==' } });
    expect(expectUnauthorized(basic, false)).toMatch(/missing/i);
  });

  it.each([
    ['not three parts', 'abc'],
    ['three garbage parts', 'a.b.c'],
    ['a header that is not JSON', `${Buffer.from('{oops').toString('base64url')}.e30.sig`],
    ['quotes and backslashes', '"x\\".y.z'],
  ])('refuses a malformed token (%s) saying so', async (_, token) => {
    expect(expectUnauthorized(await withToken(token))).toMatch(/malformed/i);
  });

  it('refuses a token signed with another secret: "bad signature"', async () => {
    expect(expectUnauthorized(await withToken(signToken('another-secret')))).toMatch(
      /bad signature/i,
    );
  });

  it('refuses a token expired beyond the 30 s tolerance: "expired"', async () => {
    const token = signToken(SECRET, { exp: epoch(-60) });
    expect(expectUnauthorized(await withToken(token))).toMatch(/expired/i);
  });

  it('refuses a token not valid for more than 30 s: "not yet valid"', async () => {
    const token = signToken(SECRET, { nbf: epoch(60) });
    expect(expectUnauthorized(await withToken(token))).toMatch(/not yet valid/i);
  });

  it('accepts a token expired 10 s ago or valid in 10 s (clock tolerance)', async () => {
    expectEnvelope(await withToken(signToken(SECRET, { exp: epoch(-10) })), 200);
    expectEnvelope(await withToken(signToken(SECRET, { nbf: epoch(10) })), 200);
  });

  it('refuses an unsigned alg:none token', async () => {
    expect(expectUnauthorized(await withToken(unsignedToken()))).toMatch(/algorithm/i);
    // Also when it rides in the query string.
    expectUnauthorized(await getRoom({}, `&jwt=${unsignedToken()}`));
  });

  it.each(['HS384', 'HS512'] as const)(
    'refuses an %s token when HS256 is configured, same secret',
    async (algorithm) => {
      const token = signToken(SECRET, { sub: 'ops' }, algorithm);
      expect(expectUnauthorized(await withToken(token))).toMatch(/algorithm/i);
    },
  );

  it('guards reset and delete too, GET and POST alike', async () => {
    for (const endpoint of ['get', 'reset', 'delete']) {
      const url = server.apiUrl(`/control/${endpoint}`);
      expectUnauthorized(await call(`${url}?room=guarded`), false);
      expectUnauthorized(
        await call(url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'room=guarded',
        }),
        false,
      );
    }
    expect(
      expectEnvelope(
        await call(server.apiUrl('/control/delete?room=guarded'), {
          headers: bearer(signToken(SECRET)),
        }),
        404,
      ),
    ).toBe('room not found');
  });

  it('guards everything else on api_addr too, /metrics included', async () => {
    for (const path of ['/metrics', '/stat/livestat', '/control/pull?oper=stop&app=a&name=b']) {
      expectUnauthorized(await call(server.apiUrl(path)), false);
      const authorised = await call(server.apiUrl(path), { headers: bearer(signToken(SECRET)) });
      expect([path, authorised.status]).not.toEqual([path, 401]);
    }
  });

  it('checks the token before the parameters', async () => {
    expectUnauthorized(await call(server.apiUrl('/control/get?room=.bad')), false);
  });

  it('answers /healthz without a token', async () => {
    expect(expectEnvelope(await call(server.apiUrl('/healthz')), 200)).toMatchObject({ ok: true });
  });
});

describe('JWT configured from the environment (JWT_SECRET, JWT_ALGORITHM=HS384)', () => {
  const secret = 'e2e-env-secret';
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({ env: { JWT_SECRET: secret, JWT_ALGORITHM: 'HS384' } });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('accepts HS384 tokens and refuses HS256 and HS512 ones', async () => {
    const url = server.apiUrl('/control/get?room=env-jwt');
    expectEnvelope(await call(url, { headers: bearer(signToken(secret, {}, 'HS384')) }), 200);
    for (const algorithm of ['HS256', 'HS512'] as const) {
      const token = signToken(secret, {}, algorithm);
      expect(expectUnauthorized(await call(url, { headers: bearer(token) }))).toMatch(/algorithm/i);
    }
  });
});

describe('npm run token (scripts/token.ts)', () => {
  const repo = resolve(__dirname, '..');
  const run = promisify(execFile);

  /** Runs the script like `npm run token` does (ts-node, transpile only) in an empty directory. */
  async function token(args: string[], env: Record<string, string> = {}) {
    const cwd = makeTempDir();
    const command = [
      '-r',
      require.resolve('ts-node/register/transpile-only'),
      resolve(repo, 'scripts/token.ts'),
      ...args,
    ];
    try {
      const { stdout, stderr } = await run(process.execPath, command, {
        cwd,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          TS_NODE_PROJECT: resolve(repo, 'tsconfig.json'),
          ...env,
        },
        timeout: 20000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }

  it('prints a token the server accepts, with sub and the requested lifetime', async () => {
    const server = await startServer({ args: ['--jwt.secret=script-secret'] });
    const result = await token(['--jwt.secret=script-secret', '--sub', 'ops', '--ttl', '1h']);
    expect(result.code).toBe(0);
    const printed = lines(result.stdout);
    expect(printed).toHaveLength(1);
    const claims = decode(printed[0], { complete: true });
    expect(claims?.header.alg).toBe('HS256');
    const payload = claims?.payload as { sub: string; iat: number; exp: number };
    expect(payload.sub).toBe('ops');
    expect(payload.exp - payload.iat).toBe(3600);
    const url = server.apiUrl('/control/get?room=scripted');
    expectEnvelope(await call(url, { headers: bearer(printed[0]) }), 200);
    await server.stop();
  });

  it('signs with the algorithm and secret from the environment, with extra claims', async () => {
    const result = await token(['--ttl=15m', '--claim', 'role=admin'], {
      JWT_SECRET: 'env-secret',
      JWT_ALGORITHM: 'HS512',
    });
    expect(result.code).toBe(0);
    const claims = decode(result.stdout.trim(), { complete: true });
    expect(claims?.header.alg).toBe('HS512');
    const payload = claims?.payload as { role: string; iat: number; exp: number };
    expect(payload.role).toBe('admin');
    expect(payload.exp - payload.iat).toBe(900);
    expect(() =>
      verify(result.stdout.trim(), 'env-secret', { algorithms: ['HS512'] }),
    ).not.toThrow();
  });

  it.each([
    ['30s', 30],
    ['7d', 7 * 86400],
  ])('accepts --ttl %s', async (ttl, seconds) => {
    const result = await token(['--jwt.secret=x', `--ttl=${ttl}`]);
    const payload = decode(result.stdout.trim()) as { iat: number; exp: number };
    expect(payload.exp - payload.iat).toBe(seconds);
  });

  it.each([
    ['no secret is configured', [], /jwt\.secret/],
    ['the ttl is not understood', ['--jwt.secret=x', '--ttl', '1y'], /--ttl/],
    ['the configuration is invalid', ['--jwt.secret=x', '--jwt.algorithm=RS256'], /jwt\.algorithm/],
  ])('exits 1 with one line when %s', async (_, args, pattern) => {
    const result = await token(args);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(lines(result.stderr)).toEqual([expect.stringMatching(pattern)]);
  });
});
