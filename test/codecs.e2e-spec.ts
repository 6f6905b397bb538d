import { spawn } from 'node:child_process';
import { call } from './helpers/http';
import { probe } from './helpers/media';
import { RawRtmpClient, RtmpMessage } from './helpers/rtmp-client';
import { ServerProcess, startServer } from './helpers/server';
import { waitFor } from './helpers/wait';

/** Enhanced RTMP video tag (E-RTMP v1): IsExHeader | FrameType << 4 | PacketType, then the FourCC. */
function enhancedVideo(
  frameType: number,
  packetType: number,
  fourCc: string,
  body: number[],
): Buffer {
  return Buffer.concat([
    Buffer.from([0x80 | (frameType << 4) | packetType]),
    Buffer.from(fourCc),
    Buffer.from(body),
  ]);
}

async function keyFor(server: ServerProcess, room: string): Promise<string> {
  return (await call<string>(server.apiUrl(`/control/get?room=${room}`))).json?.data as string;
}

describe('codecs other than H.264 + AAC pass through RTMP and HTTP-FLV', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({ off: ['hls_addr'] });
  });

  afterAll(async () => {
    await server.stop();
  });

  it.each([
    ['HEVC', 'hvc1'],
    ['AV1', 'av01'],
  ])(
    'relays enhanced-RTMP %s byte for byte to RTMP and HTTP-FLV players',
    async (_name, fourCc) => {
      const room = `ertmp-${fourCc}`;
      const publisher = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
      publisher.client.publish(await keyFor(server, room), publisher.streamId);
      await publisher.client.waitForStatus('NetStream.Publish.Start');
      const player = await RawRtmpClient.session(server.ports.rtmp_addr, 'live');
      player.client.play(room, player.streamId);
      await player.client.waitForStatus('NetStream.Play.Start');
      const flv = await fetch(`http://127.0.0.1:${server.ports.httpflv_addr}/live/${room}.flv`);
      const flvBytes: Buffer[] = [];
      const reading = (async () => {
        const reader = flv.body!.getReader();
        for (;;) {
          const { done, value } = await reader
            .read()
            .catch(() => ({ done: true, value: undefined }));
          if (done || !value) return;
          flvBytes.push(Buffer.from(value));
        }
      })();

      const sent = [
        enhancedVideo(1, 0, fourCc, [1, 2, 3, 4, 5]), // SequenceStart with a stand-in config record
        enhancedVideo(1, 1, fourCc, [0, 0, 0, 7, 0x26, 1, 0xaf, 0x09, 0x40, 0x50, 0x0a, 0x0b]), // key frame
        enhancedVideo(2, 3, fourCc, [0, 0, 0, 3, 0x02, 0x01, 0xd0]), // CodedFramesX, inter frame
      ];
      sent.forEach((payload, i) =>
        publisher.client.sendMessage(9, payload, {
          streamId: publisher.streamId,
          timestamp: i * 40,
          csid: 6,
        }),
      );
      await player.client.until(
        () => player.client.mediaMessages().length >= sent.length,
        5000,
        'the frames',
      );
      const received = player.client.mediaMessages().map((m: RtmpMessage) => m.payload);
      expect(received).toEqual(sent);
      await waitFor(
        async () => (Buffer.concat(flvBytes).includes(sent[2]) ? true : undefined),
        5000,
      );
      const flvAll = Buffer.concat(flvBytes);
      for (const payload of sent) expect(flvAll.includes(payload)).toBe(true);
      publisher.client.close();
      await reading;
      player.client.close();
    },
  );

  it('relays MP3 audio from ffmpeg to RTMP and HTTP-FLV players', async () => {
    const key = await keyFor(server, 'mp3');
    const encoder = spawn(
      'ffmpeg',
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-re',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=320x240:rate=25:duration=20',
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:sample_rate=44100:duration=20',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-g',
        '25',
        '-c:a',
        'libmp3lame',
        '-ar',
        '44100',
        '-f',
        'flv',
        `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/${key}`,
      ],
      { stdio: 'ignore' },
    );
    const rtmpUrl = `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/mp3`;
    await waitFor(async () => (probe(rtmpUrl, 4).ok ? true : undefined), 20000, 500);
    expect(probe(rtmpUrl).codecs).toEqual(['h264', 'mp3']);
    expect(probe(`http://127.0.0.1:${server.ports.httpflv_addr}/live/mp3.flv`).codecs).toEqual([
      'h264',
      'mp3',
    ]);
    encoder.kill('SIGKILL');
  });
});
