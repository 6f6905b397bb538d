import { call } from './http';
import { RedisServer } from './redis';
import { ServerOptions, ServerProcess, startServer } from './server';
import { sleep, waitFor } from './wait';

/** Flags of a cluster node named `id` on Redis `redisAddr` (listeners on 127.0.0.1, so advertise derives). */
export function clusterArgs(id: string, redis: string, extra: readonly string[] = []): string[] {
  return [
    `--redis_addr=${redis}`,
    '--cluster.enabled=true',
    `--cluster.node_id=${id}`,
    '--rtmp_noauth=true',
    ...extra,
  ];
}

/** Starts one cluster node. */
export function startNode(
  id: string,
  redis: RedisServer | string,
  options: ServerOptions & { readonly extra?: readonly string[] } = {},
): Promise<ServerProcess> {
  const addr = typeof redis === 'string' ? redis : redis.addr;
  return startServer({
    ...options,
    args: [...clusterArgs(id, addr, options.extra), ...(options.args ?? [])],
  });
}

/** `rtmp://127.0.0.1:<port>/live/<room>` of a node. */
export const rtmpUrl = (node: ServerProcess, room: string) =>
  `rtmp://127.0.0.1:${node.ports.rtmp_addr}/live/${room}`;
export const flvUrl = (node: ServerProcess, room: string) =>
  `http://127.0.0.1:${node.ports.httpflv_addr}/live/${room}.flv`;
export const hlsUrl = (node: ServerProcess, room: string) =>
  `http://127.0.0.1:${node.ports.hls_addr}/live/${room}.m3u8`;

/** Waits until `node` says it publishes `live/<room>` (its own publisher). */
export async function waitForPublish(node: ServerProcess, room: string, timeoutMs = 15000) {
  await node.waitForOutput(new RegExp(`publishes live/${room}\\b`), timeoutMs);
}

interface LiveStatItem {
  readonly key: string;
  readonly protocol: string;
  readonly node?: string;
  readonly session_id: number;
}
interface LiveStat {
  readonly publishers: LiveStatItem[];
  readonly players: LiveStatItem[];
}

/** `/stat/livestat` of a node, `scope=cluster` when `cluster`. */
export async function livestat(node: ServerProcess, cluster = false): Promise<LiveStat> {
  const url = node.apiUrl(`/stat/livestat${cluster ? '?scope=cluster' : ''}`);
  // A kept-alive socket may have been closed by the server while a synchronous ffmpeg ran: ask again.
  const answer = await call<LiveStat>(url).catch(() => call<LiveStat>(url));
  return answer.json?.data as LiveStat;
}

/** Waits until the room's claim in Redis names `nodeId` (or is gone, with undefined). */
export async function waitForClaim(
  redis: RedisServer,
  room: string,
  nodeId: string | undefined,
  timeoutMs = 10000,
): Promise<void> {
  const client = redis.client();
  await client.connect();
  try {
    await waitFor(async () => {
      const value = await client.get(`livego:cluster:room:live/${room}`);
      const node = value ? (JSON.parse(value) as { node: string }).node : undefined;
      return node === nodeId ? true : undefined;
    }, timeoutMs);
  } finally {
    client.disconnect();
  }
}

export { sleep };

/**
 * Milliseconds from the request to the first video keyframe (not a sequence header) of an HTTP-FLV URL
 * (FLV spec: 9-byte header + 4-byte size, then 11-byte tag headers; video tag data's first byte is
 * frame type << 4 | codec, then the AVC packet type).
 */
export async function firstVideoKeyframeMs(url: string, timeoutMs = 10000): Promise<number> {
  const started = Date.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(url, { signal: controller.signal });
    if (response.status !== 200 || !response.body) throw new Error(`HTTP ${response.status}`);
    let buffer = Buffer.alloc(0);
    let offset = 13;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= offset + 11) {
        const type = buffer[offset];
        const size = buffer.readUIntBE(offset + 1, 3);
        if (buffer.length < offset + 11 + size + 4) break;
        const data = buffer.subarray(offset + 11, offset + 11 + size);
        if (type === 9 && data.length > 1 && data[0] >> 4 === 1 && data[1] === 1)
          return Date.now() - started;
        offset += 11 + size + 4;
      }
    }
    throw new Error('the stream ended before a keyframe');
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
