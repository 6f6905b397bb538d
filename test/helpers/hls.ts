import { call } from './http';
import { ServerProcess } from './server';
import { waitFor } from './wait';

/** The URL of `path` on the server's HLS listener. */
export function hlsUrl(server: ServerProcess, path: string): string {
  return `http://127.0.0.1:${server.ports.hls_addr}${path}`;
}

/** Waits until `/live/{room}.m3u8` lists at least `segments` segments (any variant), and returns it. */
export async function livePlaylist(
  server: ServerProcess,
  room: string,
  segments = 1,
  timeoutMs = 20000,
): Promise<string> {
  const { value } = await waitFor(
    async () => {
      const response = await call(hlsUrl(server, `/live/${room}.m3u8`));
      const count = (response.text.match(/^#EXTINF/gm) ?? []).length;
      return response.status === 200 && count >= segments ? response.text : undefined;
    },
    timeoutMs,
    200,
  );
  return value;
}
