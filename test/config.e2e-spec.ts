import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { join } from 'node:path';
import { freePorts } from './helpers/free-port';
import { call, expectEnvelope } from './helpers/http';
import { bearer, signToken } from './helpers/jwt';
import {
  LISTENERS,
  makeTempDir,
  ServerOptions,
  spawnServer,
  startServer,
  startupError,
} from './helpers/server';

/** Start-up must fail well before this (README "Configuration": exit 1 "within a few seconds"). */

function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

describe('configuration sources: defaults < livego.yaml < .env < environment < flags', () => {
  // Each layer sets api_addr (seen as the port that answers) and jwt.secret (seen as the secret whose
  // tokens are accepted). The highest layer present must win both.
  const secrets = ['yaml-secret', 'dotenv-secret', 'env-secret', 'flag-secret'];

  it.each([
    ['livego.yaml overrides the defaults', 1],
    ['.env overrides livego.yaml', 2],
    ['the environment overrides .env', 3],
    ['flags (--key value and --key=value) override the environment', 4],
  ])('%s', async (_, layers) => {
    const ports = await freePorts(4);
    const cwd = makeTempDir();
    writeFiles(cwd, {
      'livego.yaml': `api_addr: "127.0.0.1:${ports[0]}"\njwt:\n  secret: ${secrets[0]}\n`,
    });
    if (layers >= 2) {
      writeFiles(cwd, { '.env': `API_ADDR=127.0.0.1:${ports[1]}\nJWT_SECRET=${secrets[1]}\n` });
    }
    const env: Record<string, string> =
      layers >= 3 ? { API_ADDR: `127.0.0.1:${ports[2]}`, JWT_SECRET: secrets[2] } : {};
    const args =
      layers >= 4 ? ['--api_addr', `127.0.0.1:${ports[3]}`, `--jwt.secret=${secrets[3]}`] : [];
    const server = await spawnServer({ cwd, env, args, omitFlags: ['api_addr'] });

    // The start-up log names the address; probing the candidate ports instead could reach another
    // test's server that happens to use one of them.
    const listening = /control API listening on 127\.0\.0\.1:(\d+)/;
    await server.waitForOutput(listening, 10000);
    const port = Number(listening.exec(server.stdout)?.[1]);
    expect(port).toBe(ports[layers - 1]);

    const url = `http://127.0.0.1:${port}/control/get?room=layers`;
    const expected = secrets[layers - 1];
    expectEnvelope(await call(url, { headers: bearer(signToken(expected)) }), 200);
    for (const overridden of secrets.slice(0, layers - 1)) {
      expectEnvelope(await call(url, { headers: bearer(signToken(overridden)) }), 401);
    }
    expect((await server.stop()).code).toBe(0);
  });

  it('reads --config_file PATH and CONFIG_FILE instead of livego.yaml', async () => {
    const [inCwd, byFlag, byEnv] = await freePorts(3);
    const cwd = makeTempDir();
    mkdirSync(join(cwd, 'conf'));
    writeFiles(cwd, {
      'livego.yaml': `api_addr: "127.0.0.1:${inCwd}"\n`,
      'conf/flag.yaml': `api_addr: "127.0.0.1:${byFlag}"\n`,
      'conf/env.yaml': `api_addr: "127.0.0.1:${byEnv}"\n`,
    });
    const viaFlag = await startServer({
      cwd,
      omitFlags: ['api_addr'],
      ports: { api_addr: byFlag },
      args: ['--config_file', 'conf/flag.yaml'],
      env: { CONFIG_FILE: join(cwd, 'conf/env.yaml') },
    });
    expect(viaFlag.stdout).toContain(`configuration read from ${join(cwd, 'conf/flag.yaml')}`);
    expect(viaFlag.stdout).toContain(`control API listening on 127.0.0.1:${byFlag}`);
    const viaEnv = await startServer({
      cwd,
      omitFlags: ['api_addr'],
      ports: { api_addr: byEnv },
      env: { CONFIG_FILE: join(cwd, 'conf/env.yaml') },
    });
    expect(viaEnv.stdout).toContain(`configuration read from ${join(cwd, 'conf/env.yaml')}`);
    expect(viaEnv.stdout).toContain(`control API listening on 127.0.0.1:${byEnv}`);
    await Promise.all([viaFlag.stop(), viaEnv.stop()]);
  });

  it('warns about unknown keys and flags, starts anyway, and warns that the API is open', async () => {
    const cwd = makeTempDir();
    writeFiles(cwd, { 'livego.yaml': 'colour: blue\ngop_num: 2\n' });
    const server = await startServer({ cwd, args: ['--no_such_flag=1'] });
    expectEnvelope(await call(server.apiUrl('/control/get?room=open')), 200);
    const output = server.stdout + server.stderr;
    expect(output).toMatch(/WARN.*unknown config key colour/);
    expect(output).toMatch(/WARN.*unknown flag --no_such_flag/);
    expect(output).toMatch(/WARN.*jwt\.secret is not set/);
    const stopped = await server.stop();
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(5000);
  });

  it('logs at the configured level', async () => {
    const server = await startServer({ args: ['--level=warn'] });
    await server.stop();
    expect(server.stdout).toMatch(/WARN/);
    expect(server.stdout).not.toMatch(/\bLOG\b/);
  });
});

describe('start-up errors: exit 1 with one line naming the key or file, no stack trace', () => {
  it('invalid YAML names the file', async () => {
    const cwd = makeTempDir();
    writeFiles(cwd, { 'livego.yaml': 'rtmp_addr: [":1935"\ngop_num: 1\n' });
    const line = await startupError({ cwd });
    expect(line).toContain(join(cwd, 'livego.yaml'));
    expect(line).toMatch(/YAML/);
  });

  it('an unreadable --config_file names the file', async () => {
    const cwd = makeTempDir();
    const line = await startupError({ cwd, args: ['--config_file=missing.yaml'] });
    expect(line).toContain(join(cwd, 'missing.yaml'));
    expect(line).toMatch(/not readable/);
  });

  it('a CONFIG_FILE that is a directory names it', async () => {
    const cwd = makeTempDir();
    const line = await startupError({ cwd, env: { CONFIG_FILE: cwd } });
    expect(line).toContain(cwd);
    expect(line).toMatch(/not readable/);
  });

  it.each<[string, ServerOptions & { yaml?: string }, string]>([
    ['gop_num: abc in livego.yaml', { yaml: 'gop_num: abc\n' }, 'gop_num'],
    ['read_timeout: -1 in livego.yaml', { yaml: 'read_timeout: -1\n' }, 'read_timeout'],
    ['--read_timeout -1', { args: ['--read_timeout', '-1'] }, 'read_timeout'],
    ['JWT_ALGORITHM=RS256', { env: { JWT_ALGORITHM: 'RS256' } }, 'jwt.algorithm'],
    ['jwt.algorithm: none', { yaml: 'jwt:\n  algorithm: none\n' }, 'jwt.algorithm'],
    ['--rtmp_addr=1935', { args: ['--rtmp_addr=1935'] }, 'rtmp_addr'],
    ['HLS_ADDR=:70000', { env: { HLS_ADDR: ':70000' }, omitFlags: ['hls_addr'] }, 'hls_addr'],
    [
      'httpflv_addr: 7001 (a number, not an address)',
      { yaml: 'httpflv_addr: 7001\n', omitFlags: ['httpflv_addr'] },
      'httpflv_addr',
    ],
    ['REDIS_ADDR=nohost', { env: { REDIS_ADDR: 'nohost' } }, 'redis_addr'],
  ])('%s names the key', async (_, { yaml, ...options }, key) => {
    const cwd = makeTempDir();
    if (yaml) writeFiles(cwd, { 'livego.yaml': yaml });
    const line = await startupError({ cwd, ...options });
    expect(line).toContain(key);
  });

  it('enable_rtmps without readable certificate files names the keys', async () => {
    const line = await startupError({ args: ['--enable_rtmps'] });
    expect(line).toMatch(/enable_rtmps/);
    expect(line).toMatch(/rtmps_cert/);
  });

  it('enable_rtmps with files that are not a PEM pair names the keys', async () => {
    const cwd = makeTempDir();
    writeFiles(cwd, { 'server.crt': 'not a certificate', 'server.key': 'not a key' });
    const line = await startupError({ cwd, env: { ENABLE_RTMPS: 'true' } });
    expect(line).toMatch(/enable_rtmps/);
    expect(line).toMatch(/rtmps_cert|rtmps_key/);
  });

  it.each(LISTENERS)('a %s port already in use: "<key> :P is already in use"', async (key) => {
    const [port] = await freePorts(1);
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, resolve));
    try {
      const line = await startupError({ args: [`--${key}=:${port}`] });
      expect(line).toContain(`${key} :${port} is already in use`);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
