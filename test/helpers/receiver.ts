import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/** One request a receiver got. */
export interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A local HTTP receiver (webhooks, on_publish) that records requests and answers `status()`. */
export class HttpReceiver {
  readonly got: Received[] = [];
  status = 200;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Starts on a free loopback port; `path` is appended to the URL (`/hook`). */
  static async start(path = '/hook'): Promise<HttpReceiver> {
    const holder: { receiver?: HttpReceiver } = {};
    const server = createServer((request, response) => {
      const receiver = holder.receiver;
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        receiver?.got.push({
          method: request.method ?? '',
          path: request.url ?? '',
          headers: request.headers,
          body,
        });
        response.writeHead(receiver?.status ?? 200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.receiver = new HttpReceiver(
      server,
      `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    );
    return holder.receiver;
  }

  /** Event names of the JSON bodies received so far (webhook deliveries). */
  events(): string[] {
    return this.got.map((request) => (JSON.parse(request.body) as { event: string }).event);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
