import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { registerEventLoopLag } from './event-loop-lag';

/**
 * The Prometheus metrics of this instance (prom-client, on a registry of its own): process, API and key
 * store metrics here; the media plane's (`StreamMetrics`) and webhooks' register on the same registry.
 * `/metrics` renders it.
 */
@Injectable()
export class MetricsService implements OnApplicationShutdown {
  readonly registry = new Registry();
  private readonly apiRequests: Counter<'route' | 'status'>;
  private readonly keyStore: Histogram<'operation' | 'outcome'>;
  private readonly stopEventLoopLag: () => void;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'livego_process_' });
    this.apiRequests = new Counter({
      name: 'livego_api_requests_total',
      help: 'Control API requests by route and HTTP status',
      labelNames: ['route', 'status'],
      registers,
    });
    this.keyStore = new Histogram({
      name: 'livego_key_store_seconds',
      help: 'Key store operation latency',
      labelNames: ['operation', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
      registers,
    });
    this.stopEventLoopLag = registerEventLoopLag(registers);
  }

  onApplicationShutdown(): void {
    this.stopEventLoopLag();
  }

  apiRequest(route: string, status: number): void {
    this.apiRequests.inc({ route, status: String(status) });
  }

  /** Runs a key store operation and records how long it took and whether it failed. */
  async timeKeyStore<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const end = this.keyStore.startTimer({ operation });
    try {
      const result = await run();
      end({ outcome: 'ok' });
      return result;
    } catch (error) {
      end({ outcome: 'error' });
      throw error;
    }
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
