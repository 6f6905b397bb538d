import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacketType } from '../core/media-packet';
import { StreamPacket } from '../core/stream-packet';
import { encodeAmf0 } from '../protocols/rtmp/amf0';
import { ffmpeg } from '../testing/ffmpeg-tools';
import { readFlvFile } from '../testing/flv-file-reader';
import { StreamProbe } from './stream-probe';

const packet = (type: PacketType, payload: Buffer) => new StreamPacket(type, 0, payload);

describe('StreamProbe', () => {
  let dir: string;
  let packets: StreamPacket[];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stream-probe-'));
    const file = join(dir, 'a.flv');
    ffmpeg([
      ...['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30'],
      ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
      ...['-ac', '2', '-t', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'],
      ...['-c:a', 'aac', '-f', 'flv', file],
    ]);
    packets = readFlvFile(readFileSync(file)).map((p) => packet(p.type, p.payload));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads what an ffmpeg FLV is: H.264 640x360 (cropped) at 30 fps, AAC 48 kHz stereo', () => {
    const probe = new StreamProbe();
    for (const p of packets) probe.deliver(p);
    expect(probe.info).toEqual({
      video_codec: 'h264',
      width: 640,
      height: 360,
      fps: 30,
      audio_codec: 'aac',
      sample_rate: 48000,
      channels: 2,
    });
  });

  it('says null for everything before the stream has said anything', () => {
    expect(Object.values(new StreamProbe().info)).toEqual(Array(7).fill(null));
  });

  it('prefers the sequence headers over metadata that disagrees with them', () => {
    const probe = new StreamProbe();
    const meta = encodeAmf0([
      'onMetaData',
      { width: 1920, height: 1080, framerate: 50, audiosamplerate: 8000, stereo: false },
    ]);
    probe.deliver(packet(PacketType.Data, meta));
    for (const p of packets) if (p.isSequenceHeader) probe.deliver(p);
    expect(probe.info).toMatchObject({ width: 640, height: 360, fps: 50 });
    expect(probe.info).toMatchObject({ sample_rate: 48000, channels: 2 });
  });

  it('names enhanced-RTMP codecs by their FourCC and falls back to metadata for the size', () => {
    const probe = new StreamProbe();
    probe.deliver(
      packet(PacketType.Data, encodeAmf0(['onMetaData', { width: 1280, height: 720 }])),
    );
    // IsExHeader | FrameType 1 | PacketType 0 (SequenceStart), FourCC hvc1, an opaque record.
    probe.deliver(packet(PacketType.Video, Buffer.from([0x90, ...Buffer.from('hvc1'), 1, 2, 3])));
    probe.deliver(packet(PacketType.Audio, Buffer.from([0x2f, 0xff])));
    expect(probe.info).toMatchObject({ video_codec: 'hevc', width: 1280, height: 720 });
    expect(probe.info).toMatchObject({ audio_codec: 'mp3', sample_rate: null, channels: null });
  });

  it('ignores metadata that is not AMF0, is absurd, or is truncated', () => {
    const probe = new StreamProbe();
    probe.deliver(packet(PacketType.Data, Buffer.from([0x02, 0x00, 0x0a, 0x6f])));
    probe.deliver(
      packet(PacketType.Data, encodeAmf0(['onMetaData', { framerate: -5, width: 1e9 }])),
    );
    probe.deliver(packet(PacketType.Video, Buffer.from([0x17, 0x00, 0, 0, 0, 1, 2])));
    expect(probe.info).toMatchObject({ video_codec: 'h264', fps: null, width: null });
  });
});
