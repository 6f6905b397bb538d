import { EventEmitter2 } from '@nestjs/event-emitter';
import type { Response } from 'express';
import { once } from 'node:events';
import { createServer, Server, ServerResponse } from 'node:http';
import { AddressInfo, connect, Socket } from 'node:net';
import { StreamEvent } from '../events/stream-events';
import { EventStreamService, MAX_QUEUED_BYTES_PER_CLIENT } from './event-stream.service';

/** A real HTTP server whose every request becomes an event stream of `service`. */
async function serve(service: EventStreamService): Promise<{ server: Server; port: number }> {
  const server = createServer((_request, response: ServerResponse) => {
    const express = Object.assign(response, {
      status(code: number) {
        response.statusCode = code;
        return express;
      },
    });
    service.open(express as unknown as Response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

/** A client that sends a request and then never reads (its receive buffer kept small). */
async function stalledClient(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  socket.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
  socket.pause();
  return socket;
}

const waitUntil = async (check: () => boolean, ms: number) => {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return check();
};

describe('EventStreamService', () => {
  let emitter: EventEmitter2;
  let service: EventStreamService;
  let server: Server;
  let port: number;

  beforeEach(async () => {
    emitter = new EventEmitter2();
    service = new EventStreamService(emitter);
    service.onModuleInit();
    ({ server, port } = await serve(service));
  });

  afterEach(async () => {
    service.onModuleDestroy();
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('closes a client that stops reading once its queue passes the bound, and keeps the others', async () => {
    const stalled = await stalledClient(port);
    const reading = connect({ port, host: '127.0.0.1' });
    let readBytes = 0;
    reading.on('data', (chunk: Buffer) => (readBytes += chunk.length));
    reading.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await waitUntil(() => service.clientCount === 2, 2000)).toBe(true);

    // Far more than the socket buffers and the queue can hold, in bounded batches.
    const payload = { room: 'r'.repeat(1000) };
    for (let batch = 0; batch < 400 && service.clientCount === 2; batch++) {
      for (let i = 0; i < 100; i++) emitter.emit(StreamEvent.PlayerJoined, payload);
      await new Promise((r) => setImmediate(r));
    }
    expect(await waitUntil(() => service.clientCount === 1, 2000)).toBe(true);
    const before = readBytes;
    emitter.emit(StreamEvent.PlayerLeft, payload);
    expect(await waitUntil(() => readBytes > before, 2000)).toBe(true);
    expect(readBytes).toBeGreaterThan(MAX_QUEUED_BYTES_PER_CLIENT);
    stalled.destroy();
    reading.destroy();
  });

  it('sends each event as `event: <name>` and its JSON as `data`', async () => {
    const socket = connect({ port, host: '127.0.0.1' });
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    socket.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await waitUntil(() => service.clientCount === 1, 2000)).toBe(true);
    emitter.emit(StreamEvent.KeyReset, { event: 'key.reset', room: 'a\nb' });
    expect(await waitUntil(() => text.includes('event: key.reset'), 2000)).toBe(true);
    expect(text).toMatch(/content-type: text\/event-stream/i);
    expect(text).toContain('event: key.reset\ndata: {"event":"key.reset","room":"a\\nb"}\n\n');
    socket.destroy();
  });
});
