import { ChildProcess, spawn } from 'node:child_process';
import { call, expectEnvelope } from './helpers/http';
import { bearer, signToken } from './helpers/jwt';
import { FlvViewer } from './helpers/media-bystander';
import { publish, Publisher } from './helpers/media';
import { ServerProcess, startServer } from './helpers/server';
import { sleep, waitFor, withTimeout } from './helpers/wait';

const SECRET = 'kick-events-e2e-secret-0123456789';

interface Item {
  session_id: number;
  key: string;
  protocol: string;
  bitrate_history: number[];
  video_codec: string | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  audio_codec: string | null;
  sample_rate: number | null;
  channels: number | null;
}

interface ServerEvent {
  readonly name: string;
  readonly data: Record<string, unknown>;
}

/** An EventSource-like reader of `/events` over fetch: parses `event:`/`data:` blocks as they come. */
class EventReader {
  readonly events: ServerEvent[] = [];
  comments = 0;
  private readonly abort = new AbortController();
  readonly done: Promise<void>;

  private constructor(readonly response: Response) {
    this.done = this.read().catch(() => undefined);
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<EventReader> {
    const controller = new AbortController();
    const response = await fetch(url, { headers, signal: controller.signal });
    const reader = new EventReader(response);
    reader.abort.signal.addEventListener('abort', () => controller.abort());
    return reader;
  }

  async next(name: string, match: (data: Record<string, unknown>) => boolean = () => true) {
    const { value } = await waitFor(
      async () => this.events.find((e) => e.name === name && match(e.data)),
      10000,
      50,
    );
    return value.data;
  }

  close(): void {
    this.abort.abort();
  }

  private async read(): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of this.response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = block.split('\n');
        const name = lines.find((l) => l.startsWith('event: '))?.slice(7);
        const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
        if (lines.some((l) => l.startsWith(':'))) this.comments++;
        if (name && data) this.events.push({ name, data: JSON.parse(data) });
      }
    }
  }
}

/** ffmpeg publishing 640x360 at 25 fps (H.264) with AAC at 44.1 kHz in stereo. */
function publishPicture(url: string): { child: ChildProcess; exited: Promise<unknown> } {
  const child = spawn(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-re'],
      ...['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25:duration=60'],
      ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=60'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25'],
      ...['-pix_fmt', 'yuv420p', '-c:a', 'aac', '-ac', '2', '-b:a', '96k', '-f', 'flv', url],
    ],
    { stdio: 'ignore' },
  );
  return { child, exited: new Promise((resolve) => child.once('exit', resolve)) };
}

describe('/control/kick, /events and what /stat/livestat says of a publisher', () => {
  let server: ServerProcess;
  const token = signToken(SECRET);
  const auth = bearer(token);
  const publishers: Publisher[] = [];
  const viewers: FlvViewer[] = [];
  const readers: EventReader[] = [];

  const api = async <T>(path: string) => call<T>(server.apiUrl(path), { headers: auth });
  const rtmp = (path: string) => `rtmp://127.0.0.1:${server.ports.rtmp_addr}${path}`;
  const livestat = async (room: string) => {
    const response = await api<{ publishers: Item[]; players: Item[] }>(
      `/stat/livestat?room=live/${room}`,
    );
    return response.status === 200 ? response.json?.data : undefined;
  };
  const keyOf = async (room: string) =>
    expectEnvelope(await api<string>(`/control/get?room=${room}`), 200);
  const startPublisher = async (room: string) => {
    const publisher = publish(rtmp(`/live/${await keyOf(room)}`));
    publishers.push(publisher);
    const { value } = await waitFor(async () => (await livestat(room))?.publishers[0], 15000);
    return { publisher, session: value };
  };
  const kick = (id: number | string) => api(`/control/kick?id=${id}`);

  beforeAll(async () => {
    server = await startServer({ env: { JWT_SECRET: SECRET } });
  });

  afterAll(async () => {
    for (const reader of readers) reader.close();
    await Promise.all([...publishers.map((p) => p.stop()), ...viewers.map((v) => v.stop())]);
    await server?.stop();
  });

  it('kicks an RTMP publisher; its key keeps working', async () => {
    const { publisher, session } = await startPublisher('kickpub');
    expect(expectEnvelope(await kick(session.session_id), 200)).toEqual({
      session_id: session.session_id,
      role: 'publisher',
      key: 'live/kickpub',
      protocol: 'rtmp',
    });
    expect(await withTimeout(publisher.exited, 5000)).not.toBeUndefined();
    await waitFor(async () => ((await livestat('kickpub')) ? undefined : true), 5000);
    const again = await startPublisher('kickpub');
    expect(again.session.session_id).not.toBe(session.session_id);
    await again.publisher.stop();
  });

  it('kicks an RTMP player and an HTTP-FLV player, and no one else', async () => {
    await startPublisher('kickplay');
    const rtmpViewer = new FlvViewer(rtmp('/live/kickplay'));
    const flvViewer = new FlvViewer(
      `http://127.0.0.1:${server.ports.httpflv_addr}/live/kickplay.flv`,
    );
    viewers.push(rtmpViewer, flvViewer);
    await Promise.all([rtmpViewer.waitForFrames(5), flvViewer.waitForFrames(5)]);
    const players = (await livestat('kickplay'))?.players ?? [];
    expect(players.map((p) => p.protocol).sort()).toEqual(['http-flv', 'rtmp']);

    for (const [protocol, viewer, other] of [
      ['rtmp', rtmpViewer, flvViewer],
      ['http-flv', flvViewer, undefined],
    ] as const) {
      const id = players.find((p) => p.protocol === protocol)?.session_id as number;
      expect(expectEnvelope(await kick(id), 200)).toMatchObject({ role: 'player', protocol });
      await waitFor(async () => (viewer.exitCode !== undefined ? true : undefined), 5000);
      if (other) expect(other.exitCode).toBeUndefined();
      expect(await kick(id)).toMatchObject({ status: 404 });
    }
    expect((await livestat('kickplay'))?.players).toEqual([]);
    expect((await livestat('kickplay'))?.publishers).toHaveLength(1);
  });

  it('answers 404 for an unknown id, 400 for a bad one, 405 for HEAD, 401 without a token', async () => {
    expect(expectEnvelope(await kick(987654), 404)).toBe('session not found');
    for (const bad of ['abc', '0', '-1', '1.5', '', '1e3', '99999999999999999999', '%20%31']) {
      expect(expectEnvelope(await kick(bad), 400)).toMatch(/id must be a session id/);
    }
    expect(expectEnvelope(await api('/control/kick'), 400)).toMatch(/id must be/);
    const head = await call(server.apiUrl('/control/kick?id=1'), { method: 'HEAD', headers: auth });
    expect(head.status).toBe(405);
    expect((await call(server.apiUrl('/control/kick?id=1'))).status).toBe(401);
  });

  it('streams publish.admitted, player.joined, player.left and publish.ended over /events', async () => {
    const reader = await EventReader.open(server.apiUrl('/events'), auth);
    readers.push(reader);
    expect(reader.response.status).toBe(200);
    expect(reader.response.headers.get('content-type')).toMatch(/^text\/event-stream/);

    const { publisher, session } = await startPublisher('evented');
    const admitted = await reader.next('publish.admitted', (d) => d.room === 'evented');
    expect(admitted).toMatchObject({
      event: 'publish.admitted',
      app: 'live',
      room: 'evented',
      protocol: 'rtmp',
      session_id: session.session_id,
    });
    expect(JSON.stringify(admitted)).not.toContain(await keyOf('evented'));

    const viewer = new FlvViewer(`http://127.0.0.1:${server.ports.httpflv_addr}/live/evented.flv`);
    viewers.push(viewer);
    const joined = await reader.next('player.joined', (d) => d.room === 'evented');
    expect(joined).toMatchObject({ protocol: 'http-flv', session_id: expect.any(Number) });
    await viewer.stop();
    await reader.next('player.left', (d) => d.session_id === joined.session_id);
    await publisher.stop();
    await reader.next('publish.ended', (d) => d.session_id === session.session_id);
  });

  it('refuses /events without a token (401) and accepts ?jwt= as EventSource sends it', async () => {
    const refused = await call(server.apiUrl('/events'));
    expect(expectEnvelope(refused, 401)).toMatch(/missing token/);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await call(server.apiUrl(`/events?jwt=${signToken('wrong')}`))).status).toBe(401);
    const head = await call(server.apiUrl('/events'), { method: 'HEAD', headers: auth });
    expect(head.status).toBe(405);

    const reader = await EventReader.open(server.apiUrl(`/events?jwt=${token}`), {
      origin: 'https://elsewhere.example',
    });
    readers.push(reader);
    expect(reader.response.status).toBe(200);
    // No api_cors_origins: a page on another site cannot read the stream.
    const cors = [...reader.response.headers].filter(([name]) => name.startsWith('access-control'));
    expect(cors).toEqual([]);
    await waitFor(async () => (reader.comments > 0 ? true : undefined), 5000);
    expectEnvelope(await api('/control/reset?room=evented'), 200);
    expect(await reader.next('key.reset')).toMatchObject({ room: 'evented' });
    reader.close();
  });

  it('caps concurrent event streams (503 past the cap) and frees a slot when one closes', async () => {
    for (const reader of readers.splice(0)) reader.close();
    await sleep(300); // the server sees the closed streams go
    for (let i = 0; i < 64; i++) {
      const reader = await EventReader.open(server.apiUrl('/events'), auth);
      readers.push(reader);
      expect(reader.response.status).toBe(200);
    }
    const extra = await call(server.apiUrl('/events'), { headers: auth });
    expect(expectEnvelope(extra, 503)).toMatch(/too many event streams/);
    readers.pop()?.close();
    const reopened = await waitFor(async () => {
      const reader = await EventReader.open(server.apiUrl('/events'), auth);
      if (reader.response.status === 200) return reader;
      await reader.response.body?.cancel();
      return undefined;
    }, 5000);
    readers.push(reopened.value);
    for (const reader of readers.splice(0)) reader.close();
  });

  it('says what the stream is: 640x360 25 fps H.264 and AAC 44.1 kHz stereo, with 30 s of bitrate', async () => {
    const { child, exited } = publishPicture(rtmp(`/live/${await keyOf('picture')}`));
    try {
      const { value } = await waitFor(async () => {
        const item = (await livestat('picture'))?.publishers[0];
        return item && item.fps !== null && item.bitrate_history.length >= 2 ? item : undefined;
      }, 20000);
      expect(value).toMatchObject({
        video_codec: 'h264',
        width: 640,
        height: 360,
        fps: 25,
        audio_codec: 'aac',
        sample_rate: 44100,
        channels: 2,
      });
      expect(value.bitrate_history.every((kbps) => Number.isInteger(kbps) && kbps >= 0)).toBe(true);
      expect(value.bitrate_history.some((kbps) => kbps > 0)).toBe(true);
      expect(value.bitrate_history.length).toBeLessThanOrEqual(15);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('ends open event streams on SIGTERM and exits 0 within 5 s', async () => {
    const reader = await EventReader.open(server.apiUrl('/events'), auth);
    readers.push(reader);
    expect(reader.response.status).toBe(200);
    const { code, ms } = await server.stop();
    expect({ code, fast: ms < 5000 }).toEqual({ code: 0, fast: true });
    expect(
      await withTimeout(
        reader.done.then(() => 'ended'),
        2000,
      ),
    ).toBe('ended');
  });
});
