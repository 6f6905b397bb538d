/**
 * Plays a room in the page: HTTP-FLV through mpegts.js, HLS through hls.js (or the browser itself where
 * it plays HLS natively). Both are bundled with the page and loaded only when a preview starts.
 */

export type PreviewProtocol = 'flv' | 'hls';

export interface Preview {
  stop(): void;
}

export async function startPreview(
  video: HTMLVideoElement,
  protocol: PreviewProtocol,
  url: string,
  onError: (message: string) => void,
): Promise<Preview> {
  if (protocol === 'flv') {
    const { default: mpegts } = await import('mpegts.js');
    if (!mpegts.isSupported())
      throw new Error('this browser cannot play HTTP-FLV (no Media Source)');
    const player = mpegts.createPlayer(
      { type: 'flv', isLive: true, url },
      { enableWorker: false, liveBufferLatencyChasing: true, lazyLoad: false },
    );
    player.on(mpegts.Events.ERROR, (type: string, detail: string) => onError(`${type}: ${detail}`));
    player.attachMediaElement(video);
    player.load();
    void Promise.resolve(player.play()).catch(() => undefined);
    return {
      stop() {
        player.pause();
        player.unload();
        player.detachMediaElement();
        player.destroy();
      },
    };
  }
  const { default: Hls } = await import('hls.js');
  if (!Hls.isSupported()) {
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url;
      void video.play().catch(() => undefined);
      return {
        stop() {
          video.removeAttribute('src');
          video.load();
        },
      };
    }
    throw new Error('this browser cannot play HLS');
  }
  const hls = new Hls({ lowLatencyMode: true, enableWorker: true });
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (data.fatal) onError(`${data.type}: ${data.details}`);
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => void video.play().catch(() => undefined));
  return {
    stop() {
      hls.destroy();
      video.removeAttribute('src');
      video.load();
    },
  };
}
