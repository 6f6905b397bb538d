import { IncomingMessage, Server, ServerResponse } from 'node:http';

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
