import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Test, TestingModule } from '@nestjs/testing';
import { ConfigModule } from '../../config/config.module';
import { loadConfig } from '../../config/config.loader';
import { AdmissionHooks } from '../../events/admission-hooks';
import { EventsModule } from '../../events/events.module';
import { StreamEvent } from '../../events/stream-events';
import { KeyService } from '../../key/key.service';
import { MetricsModule } from '../../metrics/metrics.module';
import { MetricsService } from '../../metrics/metrics.service';
import { StatsService } from '../stats/stats.service';
import { StreamModule } from '../stream.module';
import { AccessRefusal, PlayRequest, PublishRequest, refusal } from './admission';
import { PacketType } from './media-packet';
import { RoomDirectory, RoomLease } from './room-directory';
import { PlaySession, PublishSession } from './session';
import { StreamAccess, StreamPlayer } from './stream-access';
import { StreamPacket } from './stream-packet';

/**
 * The stream core in-process, through Nest's testing module: the real StreamModule with the memory key
 * store, its listeners off. Every protocol's publish and play go through the one table below.
 */

const CONFIG = `
rtmp_addr: ""
httpflv_addr: ""
hls_addr: ""
api_addr: ""
server:
  - { appname: live, live: true, hls: true, flv: true, api: true }
  - { appname: closed, live: false, hls: true, flv: true, api: true }
  - { appname: noflv, live: true, hls: true, flv: false, api: true }
  - { appname: nohls, live: true, hls: false, flv: true, api: true }
`;

/** A protocol's side of a session, recording what the core did to it. */
class RecordingPlayer implements StreamPlayer {
  readonly delivered: StreamPacket[] = [];
  session: PlaySession | undefined;
  stopped: string | undefined;
  begin(session: PlaySession): void {
    this.session = session;
  }
  deliver(packet: StreamPacket): void {
    this.delivered.push(packet);
    this.session?.sent(packet, packet.payload.length);
  }
  stop(reason: string): void {
    this.stopped = reason;
    this.session?.end();
  }
}

function endpoint(): { stop(reason: string): void; stopped: string[] } {
  const stopped: string[] = [];
  return { stopped, stop: (reason) => stopped.push(reason) };
}

describe('StreamAccess', () => {
  let dir: string;
  let module: TestingModule;
  let access: StreamAccess;
  let keys: KeyService;
  let hooks: AdmissionHooks;
  let stats: StatsService;
  let metrics: MetricsService;
  let events: { event: string; payload: Record<string, unknown> }[];
  let unregister: (() => void) | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'access-'));
    writeFileSync(join(dir, 'livego.yaml'), CONFIG);
    const { config } = loadConfig({ argv: [], env: {}, cwd: dir });
    module = await Test.createTestingModule({
      imports: [await ConfigModule.forRoot(config), EventsModule, MetricsModule, StreamModule],
    }).compile();
    await module.init();
    access = module.get(StreamAccess);
    keys = module.get(KeyService, { strict: false });
    hooks = module.get(AdmissionHooks);
    stats = module.get(StatsService);
    metrics = module.get(MetricsService);
    const emitter = module.get(EventEmitter2);
    events = [];
    // Sessions' events only (key.* events of the keys the cases create are not the core's).
    for (const event of Object.values(StreamEvent).filter((name) =>
      /^(publish|player)\./.test(name),
    )) {
      emitter.on(event, (payload: Record<string, unknown>) => events.push({ event, payload }));
    }
  });

  afterAll(async () => {
    await module.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    events.length = 0;
  });

  afterEach(() => {
    unregister?.();
    unregister = undefined;
    for (const session of [...access.all()]) session.end();
  });

  function publishRequest(fields: Partial<PublishRequest> & { name: string }): PublishRequest {
    return {
      app: 'live',
      protocol: 'rtmp',
      remoteAddress: '127.0.0.1:5000',
      url: (room) => `rtmp://localhost/live/${room}`,
      ...fields,
    };
  }

  function playRequest(fields: Partial<PlayRequest>): PlayRequest {
    return {
      app: 'live',
      room: 'room1',
      protocol: 'rtmp',
      remoteAddress: '127.0.0.1:6000',
      url: '/live/room1',
      ...fields,
    };
  }

  describe('publish', () => {
    type Case = [string, () => Promise<Partial<PublishRequest> & { name: string }>, string];
    const cases: Case[] = [
      ['a live key over rtmp', async () => ({ name: await keys.get('room1') }), 'ok'],
      [
        'a live key over rtmps',
        async () => ({ name: await keys.get('room1'), protocol: 'rtmps' }),
        'ok',
      ],
      [
        'a relay opened by the API, with no key',
        async () => ({ name: 'room1', protocol: 'relay', byApi: true }),
        'ok',
      ],
      [
        'an app that is not configured',
        async () => ({ app: 'nope', name: await keys.get('room1') }),
        'app',
      ],
      [
        'an app without live',
        async () => ({ app: 'closed', name: await keys.get('room1') }),
        'app',
      ],
      ['a name that is not a valid name', async () => ({ name: '../etc' }), 'name'],
      ['an unknown key', async () => ({ name: 'K'.repeat(48) }), 'key'],
      [
        'the room name instead of its key',
        async () => ({ name: (await keys.get('room1'), 'room1') }),
        'key',
      ],
      [
        'a revoked key',
        async () => {
          const old = await keys.get('room1');
          await keys.reset('room1');
          return { name: old };
        },
        'key',
      ],
      [
        'a key a hook vetoes',
        async () => {
          unregister = hooks.register({ name: 'gate', checkPublish: () => false });
          return { name: await keys.get('room1') };
        },
        'hook',
      ],
      [
        'a peer that left while its key was checked',
        async () => ({ name: await keys.get('room1'), signal: AbortSignal.abort() }),
        'closed',
      ],
    ];

    it.each(cases)('%s', async (_what, fields, expected) => {
      const request = publishRequest(await fields());
      const result = await access.publish(request, endpoint());
      const opened = [...access.all()];
      if (expected === 'ok') {
        expect(result.ok).toBe(true);
        expect(opened).toHaveLength(1);
        expect(opened[0]).toMatchObject({
          role: 'publisher',
          room: 'room1',
          protocol: request.protocol,
        });
        expect(opened[0].url).not.toContain(request.name === 'room1' ? '#' : request.name);
        expect(access.isLive('live', 'room1')).toBe(true);
        expect(events.map((e) => e.event)).toEqual([StreamEvent.PublishAdmitted]);
        expect(stats.snapshot('live/room1')?.publishers).toHaveLength(1);
      } else {
        expect(result).toMatchObject({ ok: false, reason: expected });
        expect(opened).toHaveLength(0);
        expect(access.isLive(request.app, 'room1')).toBe(false);
        const refused = events.filter((e) => e.event === StreamEvent.PublishRefused);
        // A peer that left is not refused: nothing happened at all.
        expect(refused.map((e) => e.payload.reason)).toEqual(
          expected === 'closed' ? [] : [expected],
        );
      }
    });
  });

  describe('play', () => {
    type Case = [string, Partial<PlayRequest>, string];
    const cases: Case[] = [
      ['rtmp', { protocol: 'rtmp' }, 'ok'],
      ['rtmps', { protocol: 'rtmps' }, 'ok'],
      ['http-flv', { protocol: 'http-flv', mustBeLive: true }, 'ok'],
      ['hls', { protocol: 'hls' }, 'ok'],
      ['a push relay opened by the API', { protocol: 'relay', byApi: true }, 'ok'],
      ['rtmp of an app that is not configured', { protocol: 'rtmp', app: 'nope' }, 'app'],
      ['rtmp of an app without live', { protocol: 'rtmp', app: 'closed' }, 'app'],
      ['http-flv of an app without flv', { protocol: 'http-flv', app: 'noflv' }, 'app'],
      ['hls of an app without hls', { protocol: 'hls', app: 'nohls' }, 'app'],
      ['rtmp of an invalid room', { protocol: 'rtmp', room: '.hidden' }, 'app'],
      [
        'http-flv of a room nobody publishes',
        { protocol: 'http-flv', room: 'empty', mustBeLive: true },
        'not-live',
      ],
      ['rtmp of a room nobody publishes (it waits)', { protocol: 'rtmp', room: 'empty' }, 'ok'],
      [
        'a player that left while it was checked',
        { protocol: 'rtmp', signal: AbortSignal.abort() },
        'closed',
      ],
    ];

    beforeEach(async () => {
      const published = await access.publish(
        publishRequest({ name: await keys.get('room1') }),
        endpoint(),
      );
      if (!published.ok) throw new Error('publish failed');
      published.session.push(PacketType.Video, 0, Buffer.from([0x17, 0x00, 0, 0, 0, 1]));
      published.session.push(PacketType.Video, 40, Buffer.from([0x17, 0x01, 0, 0, 0, 2]));
      events.length = 0;
    });

    it.each(cases)('%s', async (_what, fields, expected) => {
      const request = playRequest(fields);
      const player = new RecordingPlayer();
      const result = await access.play(request, request.protocol === 'hls' ? undefined : player);
      const players = [...access.all()].filter((session) => session.role === 'player');
      if (expected === 'ok') {
        expect(result.ok).toBe(true);
        expect(players).toHaveLength(1);
        expect(players[0]).toMatchObject({ protocol: request.protocol, room: request.room });
        expect(events.map((e) => e.event)).toEqual([StreamEvent.PlayerJoined]);
        const live = request.room === 'room1';
        // A subscriber of a live room starts at once with the sequence header and the cached GOP.
        if (request.protocol !== 'hls') expect(player.delivered.length).toBe(live ? 2 : 0);
        expect(stats.snapshot()?.players.map((item) => item.protocol)).toEqual([request.protocol]);
        players[0].end();
        expect(events.map((e) => e.event)).toEqual([
          StreamEvent.PlayerJoined,
          StreamEvent.PlayerLeft,
        ]);
      } else {
        expect(result).toMatchObject({ ok: false, reason: expected });
        expect(players).toHaveLength(0);
        expect(player.session).toBeUndefined();
        expect(events).toEqual([]);
      }
    });

    it.each(['rtmp', 'rtmps', 'http-flv', 'hls'] as const)(
      'asks the play hooks for %s, and a veto refuses it',
      async (protocol) => {
        const asked: string[] = [];
        unregister = hooks.register({
          name: 'members',
          checkPlay: (request) => {
            asked.push(request.protocol);
            return { allow: false, reason: 'members only' };
          },
        });
        const result = await access.play(playRequest({ protocol }), new RecordingPlayer());
        expect(result).toEqual({ ok: false, reason: 'hook', message: 'members only' });
        expect(asked).toEqual([protocol]);
      },
    );
  });

  it('replaces a live publisher: the first is stopped and its session ends before the second opens', async () => {
    const key = await keys.get('room1');
    const first = endpoint();
    const one = await access.publish(publishRequest({ name: key }), first);
    const two = await access.publish(
      publishRequest({ name: key, remoteAddress: '127.0.0.2:1' }),
      endpoint(),
    );
    expect(one.ok && two.ok).toBe(true);
    expect(first.stopped).toEqual(['replaced by a new publisher']);
    expect(events.map((e) => e.event)).toEqual([
      StreamEvent.PublishAdmitted,
      StreamEvent.PublishEnded,
      StreamEvent.PublishAdmitted,
    ]);
    expect([...access.all()].map((s) => s.remoteAddress)).toEqual(['127.0.0.2:1']);
  });

  it('stops a live publisher whose key is reset, and tells its players the publish ended', async () => {
    const key = await keys.get('room1');
    const publisher = endpoint();
    const published = await access.publish(publishRequest({ name: key }), publisher);
    let ended = 0;
    const player = Object.assign(new RecordingPlayer(), { publishEnded: () => ended++ });
    await access.play(playRequest({}), player);
    await keys.reset('room1');
    await new Promise((resolve) => setImmediate(resolve));
    expect(publisher.stopped).toEqual([expect.stringContaining('revoked')]);
    // The protocol closes its peer and ends the session; the players are told.
    if (published.ok) published.session.end();
    expect(ended).toBe(1);
    expect(access.isLive('live', 'room1')).toBe(false);
  });

  it('counts what publishers send and players receive, and /metrics reads it', async () => {
    const published = await access.publish(
      publishRequest({ name: await keys.get('room1') }),
      endpoint(),
    );
    const player = new RecordingPlayer();
    await access.play(playRequest({}), player);
    if (!published.ok) throw new Error('publish failed');
    published.session.push(PacketType.Video, 0, Buffer.alloc(1000, 0x17));
    published.session.push(PacketType.Audio, 0, Buffer.alloc(300, 0xaf));
    expect(published.session).toMatchObject({ videoBytes: 1000, audioBytes: 300 });
    expect(player.session).toMatchObject({ videoBytes: 1000, audioBytes: 300 });
    const text = await metrics.render();
    expect(text).toMatch(/livego_sent_bytes_total \d+/);
    expect(text).toMatch(/livego_connections\{protocol="rtmp"\} 2/);
    expect(text).toMatch(/livego_streams 1/);
    expect(text).toMatch(/livego_publishes_total\{result="admitted",reason=""\} \d+/);
  });
});

/** A directory that records what the core asked it (the cluster's Redis one sits behind the same port). */
class RecordingDirectory extends RoomDirectory {
  readonly clustered = true;
  readonly asked: string[] = [];
  refuseClaims = false;
  private readonly held = new Map<string, number>();
  bind(): void {}
  claim(app: string, room: string): Promise<AccessRefusal | undefined> {
    this.asked.push(`claim ${app}/${room}`);
    return Promise.resolve(this.refuseClaims ? refusal('store', 'claims are down') : undefined);
  }
  opened(session: PublishSession): void {
    this.asked.push(`opened ${session.streamKey}`);
  }
  closed(app: string, room: string): void {
    this.asked.push(`closed ${app}/${room}`);
  }
  lease(app: string, room: string): RoomLease {
    const key = `${app}/${room}`;
    this.held.set(key, (this.held.get(key) ?? 0) + 1);
    let released = false;
    return {
      live: Promise.resolve(false),
      release: () => {
        if (released) return;
        released = true;
        this.held.set(key, (this.held.get(key) ?? 0) - 1);
      },
    };
  }
  leases(key: string): number {
    return this.held.get(key) ?? 0;
  }
}

describe('StreamAccess and the room directory (cluster port)', () => {
  let dir: string;
  let module: TestingModule;
  let access: StreamAccess;
  const directory = new RecordingDirectory();
  const stopped = { stop: () => undefined };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'access-dir-'));
    writeFileSync(join(dir, 'livego.yaml'), `${CONFIG}rtmp_noauth: true\n`);
    const { config } = loadConfig({ argv: [], env: {}, cwd: dir });
    module = await Test.createTestingModule({
      imports: [await ConfigModule.forRoot(config), EventsModule, MetricsModule, StreamModule],
    })
      .overrideProvider(RoomDirectory)
      .useValue(directory)
      .compile();
    await module.init();
    access = module.get(StreamAccess);
  });

  afterAll(async () => {
    await module.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    directory.asked.length = 0;
    directory.refuseClaims = false;
  });

  const publishAs = (name: string, extra: Partial<PublishRequest> = {}) =>
    access.publish(
      {
        app: 'live',
        name,
        protocol: 'rtmp',
        remoteAddress: '127.0.0.1:5000',
        url: (room) => `rtmp://localhost/live/${room}`,
        ...extra,
      },
      stopped,
    );

  it('claims the room after admission and before the session opens, and releases it at the end', async () => {
    const result = await publishAs('claimed');
    expect(result.ok).toBe(true);
    expect(directory.asked).toEqual(['claim live/claimed', 'opened live/claimed']);
    if (result.ok) result.session.end();
    expect(directory.asked).toEqual([
      'claim live/claimed',
      'opened live/claimed',
      'closed live/claimed',
    ]);
  });

  it('refuses a publish whose claim fails (fails closed), and opens nothing', async () => {
    directory.refuseClaims = true;
    const result = await publishAs('unclaimed');
    expect(result).toEqual(expect.objectContaining({ ok: false, reason: 'store' }));
    expect(access.isLive('live', 'unclaimed')).toBe(false);
  });

  it('never claims for a pulled copy, and never lets another node pull a copy', async () => {
    const result = await publishAs('copy', { pulled: true, byApi: true, protocol: 'relay' });
    expect(result.ok).toBe(true);
    expect(directory.asked).toEqual([]);
    expect(access.ownsLive('live', 'copy')).toBe(false);
    const pull = await access.play({
      app: 'live',
      room: 'copy',
      protocol: 'relay',
      remoteAddress: '127.0.0.1:6000',
      url: '/live/copy',
      clusterPull: true,
    });
    expect(pull).toEqual(expect.objectContaining({ ok: false, reason: 'not-live' }));
    if (result.ok) result.session.end();
  });

  it('gives each local reader a lease, released when it leaves; HTTP-FLV of a room live nowhere is refused', async () => {
    const play = await access.play({
      app: 'live',
      room: 'elsewhere',
      protocol: 'rtmp',
      remoteAddress: '127.0.0.1:6000',
      url: '/live/elsewhere',
    });
    expect(play.ok).toBe(true);
    expect(directory.leases('live/elsewhere')).toBe(1);
    if (play.ok) play.session.end();
    expect(directory.leases('live/elsewhere')).toBe(0);
    const flv = await access.play({
      app: 'live',
      room: 'elsewhere',
      protocol: 'http-flv',
      remoteAddress: '127.0.0.1:6000',
      url: '/live/elsewhere.flv',
      mustBeLive: true,
    });
    expect(flv).toEqual(expect.objectContaining({ ok: false, reason: 'not-live' }));
    expect(directory.leases('live/elsewhere')).toBe(0);
  });
});
