import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { Response } from 'express';
import { DomainError } from '../common/errors';
import { ALL_STREAM_EVENTS, StreamEventName } from '../events/stream-events';

/** Event streams open at once; one more is answered 503 (each holds a connection and a queue). */
export const MAX_EVENT_CLIENTS = 64;
/**
 * Bytes queued for one client that does not read (its socket buffer full). A client this far behind is
 * closed: EventSource reconnects by itself, and a slow reader never grows the server's memory.
 */
export const MAX_QUEUED_BYTES_PER_CLIENT = 256 * 1024;
/** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
export const KEEP_ALIVE_INTERVAL_MS = 15_000;
/** What EventSource waits before reconnecting (HTML Living Standard §9.2, `retry` field). */
const RECONNECT_DELAY_MS = 2000;

export class TooManyEventClientsError extends DomainError {
  readonly status = 503;
}

/** One `/events` client: writes while its socket takes them, queues a bounded amount, then gives up. */
class EventClient {
  private readonly queue: string[] = [];
  private queuedBytes = 0;
  private blocked = false;
  private closed = false;

  constructor(
    private readonly response: Response,
    private readonly onClose: (client: EventClient) => void,
  ) {
    response.on('drain', () => this.flush());
    response.on('close', () => this.close());
  }

  send(text: string): void {
    if (this.closed) return;
    if (!this.blocked) {
      this.blocked = !this.response.write(text);
      return;
    }
    this.queuedBytes += Buffer.byteLength(text);
    if (this.queuedBytes > MAX_QUEUED_BYTES_PER_CLIENT) {
      this.response.destroy();
      this.close();
      return;
    }
    this.queue.push(text);
  }

  end(): void {
    if (!this.closed) this.response.end();
    this.close();
  }

  private flush(): void {
    this.blocked = false;
    while (this.queue.length > 0 && !this.blocked) {
      const text = this.queue.shift() as string;
      this.queuedBytes -= Buffer.byteLength(text);
      this.blocked = !this.response.write(text);
    }
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.onClose(this);
  }
}

/**
 * `/events`: every stream event (src/events/stream-events.ts) as Server-Sent Events (HTML Living
 * Standard §9.2): `event: <name>` and the event's JSON payload as `data`, to at most MAX_EVENT_CLIENTS
 * clients, each with a bounded queue, and a keep-alive comment every KEEP_ALIVE_INTERVAL_MS.
 */
@Injectable()
export class EventStreamService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(EventStreamService.name);
  private readonly clients = new Set<EventClient>();
  private readonly listeners = new Map<StreamEventName, (payload: unknown) => void>();
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(private readonly emitter: EventEmitter2) {}

  onModuleInit(): void {
    for (const name of ALL_STREAM_EVENTS) {
      const listener = (payload: unknown) => this.broadcast(name, payload);
      this.listeners.set(name, listener);
      this.emitter.on(name, listener);
    }
    this.keepAlive = setInterval(() => {
      for (const client of this.clients) client.send(': keep-alive\n\n');
    }, KEEP_ALIVE_INTERVAL_MS);
    this.keepAlive.unref();
  }

  onModuleDestroy(): void {
    for (const [name, listener] of this.listeners) this.emitter.off(name, listener);
    this.listeners.clear();
    clearInterval(this.keepAlive);
    for (const client of [...this.clients]) client.end();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Turns `response` into an event stream; throws TooManyEventClientsError when the cap is reached. */
  open(response: Response): void {
    if (this.clients.size >= MAX_EVENT_CLIENTS) {
      throw new TooManyEventClientsError(
        `too many event streams open (at most ${MAX_EVENT_CLIENTS}); try again later`,
      );
    }
    response.status(200);
    response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    response.setHeader('Cache-Control', 'no-cache, no-transform');
    response.setHeader('X-Accel-Buffering', 'no');
    response.flushHeaders();
    response.socket?.setNoDelay(true);
    const client = new EventClient(response, (gone) => this.clients.delete(gone));
    this.clients.add(client);
    client.send(`retry: ${RECONNECT_DELAY_MS}\n: connected\n\n`);
  }

  private broadcast(name: StreamEventName, payload: unknown): void {
    if (this.clients.size === 0) return;
    let data: string;
    try {
      data = JSON.stringify(payload);
    } catch (error) {
      this.logger.warn(`${name} could not be sent to event streams: ${String(error)}`);
      return;
    }
    const text = `event: ${name}\ndata: ${data}\n\n`;
    for (const client of this.clients) client.send(text);
  }
}
