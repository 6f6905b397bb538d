import { createHmac } from 'node:crypto';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from './helpers/free-port';
import { call, expectEnvelope } from './helpers/http';
import { bearer, signToken } from './helpers/jwt';
import { HttpReceiver } from './helpers/receiver';
import { RedisServer } from './helpers/redis';
import { RawRtmpClient } from './helpers/rtmp-client';
import { makeTempDir, startServer, startupError } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';

/*
 * What a new user runs into with the config files as shipped: each case starts the built server with a
 * config file and an environment, and watches what it does.
 */

function dirWith(files: Record<string, string>): string {
  const cwd = makeTempDir();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(cwd, name), text);
  return cwd;
}

describe('an empty environment value never erases the config file', () => {
  const SECRET = 'file-secret';

  it.each([
    ['JWT_SECRET= in the environment', { JWT_SECRET: '' }, undefined],
    ['JWT_SECRET= in .env', {}, 'JWT_SECRET=\n'],
    ['.env.example copied to .env', {}, 'example'],
  ])('%s keeps the API behind the JWT of livego.yaml', async (_, env, dotenv) => {
    const cwd = dirWith({ 'livego.yaml': `jwt:\n  secret: ${SECRET}\n` });
    if (dotenv === 'example')
      copyFileSync(resolve(__dirname, '../.env.example'), join(cwd, '.env'));
    else if (dotenv) writeFileSync(join(cwd, '.env'), dotenv);
    const server = await startServer({ cwd, env });
    expectEnvelope(await call(server.apiUrl('/control/get?room=trap')), 401);
    const token = signToken(SECRET);
    expectEnvelope(
      await call(server.apiUrl('/control/get?room=trap'), { headers: bearer(token) }),
      200,
    );
    await server.stop();
  });

  it('REDIS_ADDR= keeps the keys in the Redis of livego.yaml', async () => {
    const redis = await RedisServer.start();
    const cwd = dirWith({ 'livego.yaml': `redis_addr: "${redis.addr}"\n` });
    const server = await startServer({ cwd, env: { REDIS_ADDR: '' } });
    expect(expectEnvelope(await call(server.apiUrl('/healthz')), 200)).toMatchObject({
      store: 'redis',
    });
    await server.stop();
    await redis.stop();
  });

  it('WEBHOOK_SECRET= keeps webhook deliveries signed with the secret of livego.yaml', async () => {
    const hook = await HttpReceiver.start();
    const cwd = dirWith({
      'livego.yaml': `webhook_secret: hmac-key\nwebhooks:\n  - url: "${hook.url}"\n    events: [key.created]\n`,
    });
    const server = await startServer({ cwd, env: { WEBHOOK_SECRET: '' } });
    expectEnvelope(await call(server.apiUrl('/control/get?room=signed')), 200);
    await waitFor(async () => (hook.got.length > 0 ? true : undefined), 5000);
    const { body, headers } = hook.got[0];
    expect(headers['x-livego-signature']).toBe(
      `sha256=${createHmac('sha256', 'hmac-key').update(body).digest('hex')}`,
    );
    await server.stop();
    await hook.close();
  });

  it('ON_PUBLISH= keeps asking the on_publish of livego.yaml before a publish', async () => {
    const gate = await HttpReceiver.start('/gate');
    gate.status = 403;
    const cwd = dirWith({ 'livego.yaml': `on_publish: "${gate.url}"\n` });
    const server = await startServer({ cwd, env: { ON_PUBLISH: '' }, off: ['hls_addr'] });
    const key = expectEnvelope(await call<string>(server.apiUrl('/control/get?room=gated')), 200);
    const { client, streamId } = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    client.publish(key, streamId);
    await client.until(() => client.statusCodes().length > 0, 5000, 'an answer to publish');
    expect(client.statusCodes()).toEqual(['NetStream.Publish.Unauthorized']);
    expect(gate.got).toHaveLength(1);
    client.close();
    await server.stop();
    await gate.close();
  });

  it('HLS_ADDR= leaves the HLS listener of livego.yaml on', async () => {
    const port = await freePort();
    const cwd = dirWith({ 'livego.yaml': `hls_addr: "127.0.0.1:${port}"\n` });
    const server = await startServer({ cwd, env: { HLS_ADDR: '' }, omitFlags: ['hls_addr'] });
    await server.waitForOutput(new RegExp(`HLS listening on 127\\.0\\.0\\.1:${port}`), 5000);
    await server.stop();
  });
});

describe('a flag without a value', () => {
  it('is true for a boolean key', async () => {
    const server = await startServer({ args: ['--rtmp_noauth'], off: ['hls_addr'] });
    // With rtmp_noauth a room name is accepted as the publish name.
    const { client, streamId } = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    client.publish('open-room', streamId);
    await client.waitForStatus('NetStream.Publish.Start');
    client.close();
    await server.stop();
  });

  it.each(['--jwt.secret', '--api_addr', '--on_publish'])(
    'stops start-up naming %s for any other key',
    async (flag) => {
      const line = await startupError({ args: [flag] });
      expect(line).toBe(`livego: config flag ${flag} needs a value (${flag}=VALUE)`);
    },
  );
});

describe('static_push is checked at start-up by the validator the push uses', () => {
  it('refuses a prefix without an app, naming the key, instead of crashing on the first publish', async () => {
    const cwd = dirWith({
      'livego.yaml':
        'server:\n  - appname: live\n    live: true\n    static_push: ["rtmp://backup:1935"]\n',
    });
    const line = await startupError({ cwd });
    expect(line).toMatch(/^livego: config server\[0\]\.static_push\[0\] must be an rtmp/);
    expect(line).toContain('"rtmp://backup:1935"');
  });

  it('keeps serving when a valid prefix points at nobody: the publish goes on, the push retries', async () => {
    const deadPort = await freePort();
    const cwd = dirWith({
      'livego.yaml': `server:\n  - appname: live\n    live: true\n    static_push: ["rtmp://127.0.0.1:${deadPort}/backup"]\n`,
    });
    const server = await startServer({ cwd, args: ['--rtmp_noauth'], off: ['hls_addr'] });
    const { client, streamId } = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    client.publish('pushed', streamId);
    await client.waitForStatus('NetStream.Publish.Start');
    await sleep(1500);
    expect(server.exitInfo).toBeUndefined();
    expectEnvelope(await call(server.apiUrl('/healthz')), 200);
    client.close();
    await server.stop();
  });
});

describe('secrets and webhook URLs stay out of error lines', () => {
  it('names the key and the source but not the value', async () => {
    const token = 'hooks/T0KEN-7f3a';
    const cwd = dirWith({
      'livego.yaml': `webhooks:\n  - url: "https://chat.example.net/${token}"\n    events: [no.such.event]\n`,
    });
    const line = await startupError({ cwd });
    expect(line).toMatch(/^livego: config webhooks\[0\]\.events\[0\] must be an event name/);
    expect(line).toContain('livego.yaml');
    expect(line).not.toContain('T0KEN');
    const onPublish = await startupError({ env: { ON_PUBLISH: `ftp://user:T0KEN@gate.example/` } });
    expect(onPublish).toMatch(/^livego: config on_publish must be an http/);
    expect(onPublish).not.toContain('T0KEN');
  });
});

describe('@nestjs/config', () => {
  it('cannot be shadowed by a process.env variable named like a key', async () => {
    // ConfigService looks in process.env first unless told not to: `level` and `rtmp_noauth` are
    // valid environment names, and must not change what modules read.
    const server = await startServer({
      env: { rtmp_noauth: 'true', level: 'debug' },
      off: ['hls_addr'],
    });
    const key = expectEnvelope(await call<string>(server.apiUrl('/control/get?room=typed')), 200);
    const { client, streamId } = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    client.publish('typed', streamId); // a room name, refused without rtmp_noauth
    await client.until(() => client.statusCodes().length > 0, 5000, 'an answer to publish');
    expect(client.statusCodes()).not.toContain('NetStream.Publish.Start');
    client.close();
    expect(key).toHaveLength(48);
    await server.stop();
  });
});
