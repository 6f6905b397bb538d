import { spawn } from 'node:child_process';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo, createServer as createNetServer } from 'node:net';
import { createHmac } from 'node:crypto';
import { Injectable, INestApplication, Module, OnModuleInit } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { AppLogger } from '../src/common/app-logger';
import { loadConfig } from '../src/config/config.loader';
import { AdmissionHooks, AdmissionRequest } from '../src/events/admission-hooks';
import { PlayerEvent, PublishEvent, StreamEvent } from '../src/events/stream-events';
import { startApplication } from '../src/main';
import { freePorts } from './helpers/free-port';
import { call } from './helpers/http';
import { decode, publish } from './helpers/media';
import { RawRtmpClient } from './helpers/rtmp-client';
import { makeTempDir, startServer } from './helpers/server';
import { sleep, waitFor } from './helpers/wait';

/** What a team's module would do: listen to stream events, nothing else. */
@Injectable()
class EventRecorder {
  static readonly seen: { event: string; protocol?: string; room?: string }[] = [];

  @OnEvent(StreamEvent.PublishAdmitted)
  @OnEvent(StreamEvent.PublishEnded)
  @OnEvent(StreamEvent.PlayerJoined)
  @OnEvent(StreamEvent.PlayerLeft)
  @OnEvent(StreamEvent.KeyCreated)
  @OnEvent(StreamEvent.PublishRefused)
  record(payload: PublishEvent | PlayerEvent | { event: string; room?: string }): void {
    EventRecorder.seen.push({
      event: payload.event,
      protocol: 'protocol' in payload ? payload.protocol : undefined,
      room: payload.room,
    });
  }
}

/** A team's gate: nobody publishes `vip-*` rooms or watches `private-*` ones; `slow` never answers. */
@Injectable()
class RoomGate implements OnModuleInit {
  constructor(private readonly hooks: AdmissionHooks) {}

  onModuleInit(): void {
    this.hooks.register({
      name: 'room-gate',
      timeoutMs: 500,
      checkPublish: (request: AdmissionRequest) => {
        if (request.room === 'slow') return new Promise<boolean>(() => undefined);
        return request.room.startsWith('vip-')
          ? { allow: false, reason: 'vip rooms are closed' }
          : true;
      },
      checkPlay: (request: AdmissionRequest) =>
        request.room.startsWith('private-') ? { allow: false, reason: 'members only' } : undefined,
    });
  }
}

@Module({ providers: [EventRecorder, RoomGate] })
class TeamModule {}

/** Plays one second with ffmpeg (asynchronously) and returns the video frames it decoded. */
function play(url: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('ffmpeg', [
      '-v',
      'error',
      '-i',
      url,
      '-t',
      '1',
      '-map',
      '0:v',
      '-f',
      'framecrc',
      '-',
    ]);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('exit', () => resolve(out.split('\n').filter((line) => /^\d+,/.test(line)).length));
  });
}

async function inProcessApp(): Promise<{
  app: INestApplication;
  rtmp: number;
  api: number;
  flv: number;
}> {
  const [rtmp, api, flv] = await freePorts(3);
  const { config } = loadConfig({
    argv: [
      `--rtmp_addr=127.0.0.1:${rtmp}`,
      `--api_addr=127.0.0.1:${api}`,
      `--httpflv_addr=127.0.0.1:${flv}`,
      '--hls_addr=',
    ],
    env: {},
    cwd: makeTempDir(),
  });
  const app = await startApplication(config, new AppLogger('error'), [TeamModule]);
  return { app, rtmp, api, flv };
}

describe('a team module built on stream events and admission hooks', () => {
  let app: INestApplication;
  let ports: { rtmp: number; api: number; flv: number };

  beforeAll(async () => {
    ({ app, ...ports } = await inProcessApp());
  });

  afterAll(async () => {
    await app.close();
  });

  it('receives the events of a real ffmpeg publish and play, in order', async () => {
    const key = (await call<string>(`http://127.0.0.1:${ports.api}/control/get?room=party`)).json
      ?.data as string;
    const encoder = publish(`rtmp://127.0.0.1:${ports.rtmp}/live/${key}`, { seconds: 4 });
    await waitFor(
      async () =>
        EventRecorder.seen.some((e) => e.event === 'publish.admitted') ? true : undefined,
      15000,
    );
    // The server runs in this process: play with an ffmpeg that does not block its event loop.
    expect(await play(`http://127.0.0.1:${ports.flv}/live/party.flv`)).toBeGreaterThan(10);
    expect(await encoder.exited).toBe(0);
    await waitFor(
      async () => (EventRecorder.seen.some((e) => e.event === 'publish.ended') ? true : undefined),
      5000,
    );
    const party = EventRecorder.seen
      .filter((e) => e.room === 'party')
      .map((e) => `${e.event}${e.protocol ? ` ${e.protocol}` : ''}`);
    expect(party).toEqual([
      'key.created',
      'publish.admitted rtmp',
      'player.joined http-flv',
      'player.left http-flv',
      'publish.ended rtmp',
    ]);
  });

  it('vetoes a publish before NetStream.Publish.Start', async () => {
    const key = (await call<string>(`http://127.0.0.1:${ports.api}/control/get?room=vip-lounge`))
      .json?.data as string;
    const { client, streamId } = await RawRtmpClient.session(ports.rtmp, 'live');
    client.publish(key, streamId);
    await client.until(() => client.statusCodes().length > 0, 5000, 'an answer');
    expect(client.statusCodes()).toEqual(['NetStream.Publish.Unauthorized']);
    const refusal = client.messages.find((m) => m.values[0] === 'onStatus')?.values[3] as {
      description?: string;
    };
    expect(refusal.description).toBe('vip rooms are closed');
    await client.closed;
    expect(
      EventRecorder.seen.some((e) => e.event === 'publish.admitted' && e.room === 'vip-lounge'),
    ).toBe(false);
  });

  it('vetoes plays over RTMP and HTTP-FLV and lets others watch', async () => {
    const key = (await call<string>(`http://127.0.0.1:${ports.api}/control/get?room=private-show`))
      .json?.data as string;
    const publisher = await RawRtmpClient.session(ports.rtmp, 'live');
    publisher.client.publish(key, publisher.streamId);
    await publisher.client.waitForStatus('NetStream.Publish.Start');
    const viewer = await RawRtmpClient.session(ports.rtmp, 'live');
    viewer.client.play('private-show', viewer.streamId);
    await viewer.client.until(() => viewer.client.statusCodes().length > 0, 5000, 'an answer');
    expect(viewer.client.statusCodes()).toEqual(['NetStream.Play.Failed']);
    await viewer.client.closed;
    const flv = await call(`http://127.0.0.1:${ports.flv}/live/private-show.flv`);
    expect(flv.status).toBe(403);
    expect(flv.json).toEqual({ status: 403, data: 'members only' });
    const allowed = await RawRtmpClient.session(ports.rtmp, 'live');
    allowed.client.play('open-show', allowed.streamId);
    await allowed.client.waitForStatus('NetStream.Play.Start');
    allowed.client.close();
    publisher.client.close();
  });

  it('refuses when a hook does not answer in time', async () => {
    const key = (await call<string>(`http://127.0.0.1:${ports.api}/control/get?room=slow`)).json
      ?.data as string;
    const { client, streamId } = await RawRtmpClient.session(ports.rtmp, 'live');
    const started = Date.now();
    client.publish(key, streamId);
    await client.until(() => client.statusCodes().length > 0, 5000, 'an answer');
    expect(client.statusCodes()).toEqual(['NetStream.Publish.Unauthorized']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    client.close();
  });
});

/** A local HTTP receiver that records deliveries and answers with the status `answer` returns. */
async function receiver(answer: (count: number) => number): Promise<{
  server: Server;
  url: string;
  got: { headers: IncomingMessage['headers']; body: string }[];
}> {
  const got: { headers: IncomingMessage['headers']; body: string }[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      got.push({ headers: request.headers, body });
      response.writeHead(answer(got.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

describe('WebhookModule', () => {
  const SECRET = 'webhook-secret';

  it('POSTs signed events to a receiver, retries a failing one, and a dead receiver slows nothing', async () => {
    const good = await receiver((n) => (n === 1 ? 500 : 200)); // the first delivery fails once
    // A receiver that accepts connections and never answers: the worst kind of dead.
    const silent = createNetServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const deadPort = (silent.address() as AddressInfo).port;
    const hooks = JSON.stringify([
      { url: good.url, events: ['publish.admitted', 'publish.ended'], secret: SECRET },
      { url: `http://127.0.0.1:${deadPort}/nobody`, events: [] },
    ]);
    const server = await startServer({ off: ['hls_addr'], args: [`--webhooks=${hooks}`] });
    const key = (await call<string>(server.apiUrl('/control/get?room=hooked'))).json
      ?.data as string;
    const encoder = publish(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`, {
      seconds: 3,
    });
    // The dead receiver gets every event and never answers; publishing and playing are unaffected.
    const decoded = decode(`rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/hooked`, 1);
    expect(decoded.errors).toEqual([]);
    expect(await encoder.exited).toBe(0);
    await waitFor(async () => (good.got.length >= 3 ? true : undefined), 15000);
    const events = good.got.map((d) => JSON.parse(d.body) as { event: string; room: string });
    expect(events.map((e) => e.event)).toEqual([
      'publish.admitted',
      'publish.admitted',
      'publish.ended',
    ]);
    for (const delivery of good.got) {
      const expected = `sha256=${createHmac('sha256', SECRET).update(delivery.body).digest('hex')}`;
      expect(delivery.headers['x-livego-signature']).toBe(expected);
      expect(delivery.headers['content-type']).toBe('application/json');
      expect(delivery.headers['x-livego-event']).toBe(JSON.parse(delivery.body).event);
      expect(delivery.body).not.toContain(key);
    }
    expect(good.got[0].headers['x-livego-delivery']).toBe(good.got[1].headers['x-livego-delivery']);
    const metrics = (await call(server.apiUrl('/metrics'))).text;
    expect(metrics).toMatch(/livego_webhook_deliveries_total\{result="retried"\} [1-9]/);
    expect(metrics).toMatch(/livego_webhook_deliveries_total\{result="delivered"\} [1-9]/);
    await server.stop();
    good.server.close();
    silent.close();
  });

  it('refuses a publish when on_publish answers non-2xx, admits it on 2xx', async () => {
    const gate = await receiver(() => 200);
    let status = 403;
    gate.server.removeAllListeners('request');
    gate.server.on('request', (request: IncomingMessage, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        gate.got.push({ headers: request.headers, body });
        response.writeHead(status).end();
      });
    });
    const server = await startServer({
      off: ['hls_addr'],
      args: [`--on_publish=${gate.url}`, `--webhook_secret=${SECRET}`],
    });
    const key = (await call<string>(server.apiUrl('/control/get?room=gated'))).json?.data as string;
    const refused = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    refused.client.publish(key, refused.streamId);
    await refused.client.until(() => refused.client.statusCodes().length > 0, 5000, 'an answer');
    expect(refused.client.statusCodes()).toEqual(['NetStream.Publish.Unauthorized']);
    const asked = JSON.parse(gate.got[0].body) as Record<string, unknown>;
    expect(asked).toEqual(
      expect.objectContaining({
        event: 'on_publish',
        app: 'live',
        room: 'gated',
        protocol: 'rtmp',
      }),
    );
    expect(gate.got[0].body).not.toContain(key);
    expect(gate.got[0].headers['x-livego-signature']).toBe(
      `sha256=${createHmac('sha256', SECRET).update(gate.got[0].body).digest('hex')}`,
    );
    status = 204;
    const admitted = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
    admitted.client.publish(key, admitted.streamId);
    await admitted.client.waitForStatus('NetStream.Publish.Start');
    admitted.client.close();
    await sleep(100);
    await server.stop();
    gate.server.close();
  });
});
