import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Counter } from 'prom-client';
import { errorText } from '../common/errors';
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
export class WebhookService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(WebhookService.name);
  private readonly queue: Delivery[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly unsubscribers: (() => void)[] = [];
  private inFlight = 0;
  private closed = false;
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
        `webhook ${hook.url} receives ${hook.events.length > 0 ? hook.events.join(', ') : 'every event'}`,
      );
    }
  }

  onModuleDestroy(): void {
    this.closed = true;
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
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
      void this.attempt(delivery).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
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
    if (delay === undefined || this.closed) {
      this.deliveries.inc({ result: 'failed' });
      this.logger.warn(
        `webhook ${hook.url}: ${delivery.event} not delivered after ${delivery.attempts} attempts (${problem})`,
      );
      return;
    }
    this.deliveries.inc({ result: 'retried' });
    this.logger.debug(
      `webhook ${hook.url}: ${delivery.event} ${problem}; retrying in ${delay / 1000} s`,
    );
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed) return;
      this.queue.unshift(delivery);
      this.pump();
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }
}
