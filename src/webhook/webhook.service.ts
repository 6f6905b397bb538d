import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Counter } from 'prom-client';
import { errorText } from '../common/errors';
import { redactUrl } from '../common/urls';
import { AppConfig, WebhookEntry } from '../config/app-config';
import { ALL_STREAM_EVENTS, StreamEventName } from '../events/stream-events';
import { MetricsService } from '../metrics/metrics.service';
import { DELIVERY_HEADER, EVENT_HEADER, sign, SIGNATURE_HEADER } from './webhook-signature';

/** Deliveries waiting at once; beyond it the oldest is dropped (a dead receiver cannot grow memory). */
export const MAX_QUEUED_DELIVERIES = 1000;
/** Deliveries in flight at once. */
const CONCURRENCY = 4;
/** One attempt's time limit. */
const ATTEMPT_TIMEOUT_MS = 5000;
/** Waits before the 2nd, 3rd and 4th attempt. */
const RETRY_DELAYS_MS = [1000, 2000, 4000];
/**
 * How long shutdown waits for queued and in-flight deliveries (the events of the sessions the shutdown
 * just ended among them). The process must be gone within 5 s of SIGTERM, archives take up to 3 s first.
 */
export const SHUTDOWN_FLUSH_MS = 1200;

interface Delivery {
  readonly id: string;
  readonly hook: WebhookEntry;
  readonly event: StreamEventName;
  readonly body: string;
  attempts: number;
}

/**
 * `webhooks`: POSTs each stream event a webhook asked for as JSON, signed with HMAC-SHA256, retried with
 * back-off. Built only on the public StreamEvents: the media path only pays for putting an event in a
 * bounded queue, and a slow or dead receiver slows nothing but its own deliveries.
 */
@Injectable()
export class WebhookService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookService.name);
  private readonly queue: Delivery[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Deliveries whose retry timer is running. */
  private readonly retrying: Delivery[] = [];
  private readonly unsubscribers: (() => void)[] = [];
  private inFlight = 0;
  /** Shutting down: no new retries; deliveries already queued still go out until the flush deadline. */
  private draining = false;
  private closed = false;
  private idle: (() => void) | undefined;
  private readonly deliveries: Counter<'result'>;

  constructor(
    private readonly config: AppConfig,
    private readonly emitter: EventEmitter2,
    metrics: MetricsService,
  ) {
    this.deliveries = new Counter({
      name: 'livego_webhook_deliveries_total',
      help: 'Webhook deliveries by result: delivered, retried, failed (gave up), dropped (queue full)',
      labelNames: ['result'],
      registers: [metrics.registry],
    });
  }

  onModuleInit(): void {
    for (const hook of this.config.webhooks) {
      const events = hook.events.length > 0 ? hook.events : ALL_STREAM_EVENTS;
      for (const event of events) {
        const listener = (payload: unknown) => this.enqueue(hook, event, payload);
        this.emitter.on(event, listener);
        this.unsubscribers.push(() => this.emitter.off(event, listener));
      }
      this.logger.log(
        `webhook ${redactUrl(hook.url)} receives ${hook.events.length > 0 ? hook.events.join(', ') : 'every event'}`,
      );
    }
  }

  /**
   * Runs after the media plane has closed its sessions (WebhookModule is global, and Nest shuts global
   * modules down last), so the `publish.ended` and `archive.finished` of those sessions are queued by now:
   * they are delivered, within SHUTDOWN_FLUSH_MS, before the listeners go.
   */
  async onApplicationShutdown(): Promise<void> {
    this.draining = true;
    // Deliveries waiting for a retry go out once more now rather than never.
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.queue.unshift(...this.retrying.splice(0));
    this.pump();
    if (this.inFlight > 0 || this.queue.length > 0) {
      await new Promise<void>((resolveFlush) => {
        const deadline = setTimeout(resolveFlush, SHUTDOWN_FLUSH_MS);
        deadline.unref();
        this.idle = () => {
          clearTimeout(deadline);
          resolveFlush();
        };
      });
    }
    this.closed = true;
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    if (this.queue.length > 0) {
      this.deliveries.inc({ result: 'dropped' }, this.queue.length);
      this.logger.warn(`${this.queue.length} webhook deliveries dropped at shutdown`);
    }
    this.queue.length = 0;
  }

  private enqueue(hook: WebhookEntry, event: StreamEventName, payload: unknown): void {
    if (this.closed) return;
    if (this.queue.length >= MAX_QUEUED_DELIVERIES) {
      this.queue.shift();
      this.deliveries.inc({ result: 'dropped' });
    }
    this.queue.push({ id: randomUUID(), hook, event, body: JSON.stringify(payload), attempts: 0 });
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.inFlight < CONCURRENCY && this.queue.length > 0) {
      const delivery = this.queue.shift() as Delivery;
      this.inFlight++;
      this.attempt(delivery)
        .catch((error: unknown) =>
          this.logger.error(`webhook delivery failed unexpectedly: ${errorText(error)}`),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
    if (this.inFlight === 0 && this.queue.length === 0) this.idle?.();
  }

  private async attempt(delivery: Delivery): Promise<void> {
    delivery.attempts++;
    const { hook, body } = delivery;
    const secret = hook.secret || this.config.webhook_secret;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'livego-nest-webhook',
      [EVENT_HEADER]: delivery.event,
      [DELIVERY_HEADER]: delivery.id,
    };
    if (secret) headers[SIGNATURE_HEADER] = sign(body, secret);
    let problem: string;
    try {
      const response = await fetch(hook.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (response.ok) {
        this.deliveries.inc({ result: 'delivered' });
        return;
      }
      problem = `answered ${response.status}`;
    } catch (error) {
      problem = errorText(error);
    }
    const delay = RETRY_DELAYS_MS[delivery.attempts - 1];
    const where = redactUrl(hook.url);
    if (delay === undefined || this.draining) {
      this.deliveries.inc({ result: 'failed' });
      this.logger.warn(
        `webhook ${where}: ${delivery.event} not delivered after ${delivery.attempts} attempts (${redactProblem(problem, hook.url)})`,
      );
      return;
    }
    this.deliveries.inc({ result: 'retried' });
    this.logger.debug(
      `webhook ${where}: ${delivery.event} ${redactProblem(problem, hook.url)}; retrying in ${delay / 1000} s`,
    );
    this.retrying.push(delivery);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.retrying.splice(this.retrying.indexOf(delivery), 1);
      if (this.closed) return;
      this.queue.unshift(delivery);
      this.pump();
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }
}

/** An error text without the receiver's URL (fetch errors may quote it; its path may hold a token). */
function redactProblem(problem: string, url: string): string {
  return problem.split(url).join(redactUrl(url));
}
