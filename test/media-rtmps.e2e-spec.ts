import { call } from './helpers/http';
import { decode, probe, publish, selfSignedCertificate } from './helpers/media';
import { freePort } from './helpers/free-port';
import { RawRtmpClient } from './helpers/rtmp-client';
import { startServer } from './helpers/server';
import { waitFor } from './helpers/wait';

describe('RTMPS', () => {
  it('publishes and plays over TLS on rtmp_addr with enable_rtmps, through the same admission', async () => {
    const { cert, key } = selfSignedCertificate();
    const server = await startServer({
      off: ['hls_addr'],
      args: ['--enable_rtmps=true', `--rtmps_cert=${cert}`, `--rtmps_key=${key}`],
    });
    const port = server.ports.rtmp_addr;
    const refused = await RawRtmpClient.session(port, 'live', { tls: true });
    refused.client.publish('news', refused.streamId);
    await refused.client.waitForStatus('NetStream.Publish.BadName');

    const streamKey = (await call<string>(server.apiUrl('/control/get?room=news'))).json
      ?.data as string;
    const encoder = publish(`rtmps://127.0.0.1:${port}/live/${streamKey}`);
    const url = `rtmps://127.0.0.1:${port}/live/news`;
    await waitFor(async () => (probe(url, 5).ok ? true : undefined), 20000, 500);
    expect(probe(url).codecs).toEqual(['aac', 'h264']);
    const decoded = decode(url, 2);
    expect(decoded.errors).toEqual([]);
    expect(decoded.videoFrames).toBeGreaterThan(20);
    await encoder.stop();
    await server.stop();
  });

  it('serves plain RTMP on rtmp_addr and TLS on rtmps_addr side by side', async () => {
    const { cert, key } = selfSignedCertificate();
    const tlsPort = await freePort();
    const server = await startServer({
      off: ['hls_addr'],
      args: [`--rtmps_addr=127.0.0.1:${tlsPort}`, `--rtmps_cert=${cert}`, `--rtmps_key=${key}`],
    });
    const streamKey = (await call<string>(server.apiUrl('/control/get?room=both'))).json
      ?.data as string;
    const encoder = publish(`rtmps://127.0.0.1:${tlsPort}/live/${streamKey}`);
    const plain = `rtmp://127.0.0.1:${server.ports.rtmp_addr}/live/both`;
    await waitFor(async () => (probe(plain, 5).ok ? true : undefined), 20000, 500);
    expect(probe(plain).codecs).toEqual(['aac', 'h264']);
    expect(probe(`rtmps://127.0.0.1:${tlsPort}/live/both`).codecs).toEqual(['aac', 'h264']);
    await encoder.stop();
    await server.stop();
  });
});
