import { createServer, IncomingMessage, Server, ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';
import { peerText, RefusalLog } from '../../common/peer-text';
import { AppConfig } from '../../config/app-config';

/**
 * A media request is a path, Host and User-Agent (with Referer, Origin, maybe cookies): 16 KiB of
 * headers is ample, and a peer cannot make the parser hold more. Larger heads are answered 431.
 */
const MAX_HEADER_SIZE_BYTES = 16 * 1024;
/**
 * How often Node checks the header and request deadlines. Its default (30 s) would let a slowloris
 * hold a connection for that long past `read_timeout`.
 */
const DEADLINE_CHECK_INTERVAL_MS = 1000;

/** Which media listener a log line is about, as the line names it. */
export type MediaProtocol = 'http-flv' | 'hls';

/**
 * The node:http server of a media listener (`httpflv_addr`, `hls_addr`), with the limits that keep
 * one peer from hurting the others (README "Limits and hardening"):
 * - request headers (and any body) must arrive within `read_timeout`, however slowly they trickle:
 *   the connection is answered 408 and closed. A response that streams (HTTP-FLV) is not a slow
 *   request: the deadline stops once the request is in;
 * - an idle keep-alive connection is closed after `read_timeout`;
 * - request heads are capped at MAX_HEADER_SIZE_BYTES (431), malformed requests answered 400;
 * - at most `max_connections` connections on the listener and `max_connections_per_ip` from one
 *   address; more are closed at once.
 * Every refusal and close is logged at warn with the peer's address; a burst from one address is cut
 * to a few lines a minute and a count (RefusalLog), so a flood cannot become a flood of log lines.
 */
export function createMediaServer(
  protocol: MediaProtocol,
  config: AppConfig,
  logger: Logger,
  handle: (request: IncomingMessage, response: ServerResponse) => void,
): Server {
  const readTimeoutMs = Math.max(1, Math.round(config.read_timeout * 1000));
  const refusals = new RefusalLog(logger);
  // `reason` is fixed text (config numbers, Node's error codes), so a peer cannot open log windows.
  const refuse = (address: string, port: number | undefined, reason: string, outcome: string) =>
    refusals.warn(
      address,
      `${protocol} ${reason}`,
      `${protocol} ${peerText(`${address}:${port ?? 0}`)}: ${reason}; ${outcome}`,
    );
  /** Sockets with a response under way: an error answer must not be written into it. */
  const answering = new WeakSet<Duplex>();
  const server = createServer(
    {
      headersTimeout: readTimeoutMs,
      requestTimeout: readTimeoutMs,
      connectionsCheckingInterval: Math.min(DEADLINE_CHECK_INTERVAL_MS, readTimeoutMs),
      maxHeaderSize: MAX_HEADER_SIZE_BYTES,
    },
    (request, response) => {
      const socket = request.socket;
      answering.add(socket);
      response.once('close', () => answering.delete(socket));
      handle(request, response);
    },
  );
  server.keepAliveTimeout = readTimeoutMs;
  server.maxConnections = config.max_connections;
  server.on('drop', (peer?: { remoteAddress?: string; remotePort?: number }) =>
    refuse(
      peer?.remoteAddress ?? '?',
      peer?.remotePort,
      `max_connections ${config.max_connections} reached`,
      'refused',
    ),
  );
  const held = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '?';
    const count = held.get(address) ?? 0;
    if (count >= config.max_connections_per_ip) {
      refuse(
        address,
        socket.remotePort,
        `max_connections_per_ip ${config.max_connections_per_ip} reached`,
        'refused',
      );
      socket.destroy();
      return;
    }
    held.set(address, count + 1);
    socket.once('close', () => {
      const left = (held.get(address) ?? 1) - 1;
      if (left > 0) held.set(address, left);
      else held.delete(address);
    });
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const peer = socket as Socket;
    const verdict = clientErrorVerdict(error.code, config.read_timeout);
    if (verdict) {
      refuse(peer.remoteAddress ?? '?', peer.remotePort, verdict.reason, 'closing');
      if (socket.writable && !answering.has(socket)) {
        const status = verdict.status;
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
        );
      }
    }
    socket.destroy();
  });
  return server;
}

/**
 * What the HTTP-FLV and HLS listeners share: CORS `*` on every answer, OPTIONS pre-flight, GET and HEAD
 * only. Returns false when the request was answered here.
 */
export function acceptMediaRequest(request: IncomingMessage, response: ServerResponse): boolean {
  response.setHeader('Access-Control-Allow-Origin', '*');
  if (request.method === 'OPTIONS') {
    response.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS' }).end();
    return false;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    answerJson(response, 405, 'method not allowed');
    return false;
  }
  return true;
}

/** A JSON answer: the `{status, data}` envelope for errors, `data` as it is for 200. */
export function answerJson(response: ServerResponse, status: number, data: unknown): void {
  const body = JSON.stringify(status === 200 ? data : { status, data });
  response
    .writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-cache',
    })
    .end(body);
}

/** A path segment, percent-decoded; undefined when it is not valid percent-encoding. */
export function decodePathSegment(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Closes a listener and every connection on it (players included), if it was listening. */
export async function closeHttpServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** What a parser or deadline error means for the peer; undefined for a peer that just went away. */
function clientErrorVerdict(
  code: string | undefined,
  readTimeoutS: number,
): { status: number; reason: string } | undefined {
  if (code === 'ECONNRESET' || code === 'EPIPE') return undefined;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return { status: 408, reason: `request slower than read_timeout (${readTimeoutS} s)` };
  if (code === 'HPE_HEADER_OVERFLOW')
    return { status: 431, reason: `request headers over ${MAX_HEADER_SIZE_BYTES} bytes` };
  return { status: 400, reason: `malformed request (${peerText(code ?? 'unknown')})` };
}
