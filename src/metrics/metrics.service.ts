import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerEventLoopLag } from './event-loop-lag';
import { traffic } from './traffic';

/** Counts by label value, computed at scrape time (connections by protocol, live streams). */
export type GaugeSource = () => Record<string, number>;

/**
 * The Prometheus metrics of this instance (prom-client, on a registry of its own). Services record
 * through the methods here; `/metrics` renders the registry.
 */
@Injectable()
export class MetricsService implements OnApplicationShutdown {
  readonly registry = new Registry();
  private readonly connectionSources: GaugeSource[] = [];
  private readonly streamSources: (() => number)[] = [];
  private readonly publishes: Counter<'result' | 'reason'>;
  private readonly apiRequests: Counter<'route' | 'status'>;
  private readonly keyStore: Histogram<'operation' | 'outcome'>;
  private readonly stopEventLoopLag: () => void;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'livego_process_' });
    const sources = this.connectionSources;
    new Gauge({
      name: 'livego_connections',
      help: 'Open publisher and player sessions by protocol',
      labelNames: ['protocol'],
      registers,
      collect() {
        this.reset();
        for (const source of sources) {
          for (const [protocol, count] of Object.entries(source())) this.inc({ protocol }, count);
        }
      },
    });
    const streamSources = this.streamSources;
    new Gauge({
      name: 'livego_streams',
      help: 'Streams with a live publisher',
      registers,
      collect() {
        this.set(streamSources.reduce((sum, source) => sum + source(), 0));
      },
    });
    trafficCounter(
      'livego_received_bytes_total',
      'Bytes received from RTMP peers',
      () => traffic.bytesIn,
      registers,
    );
    trafficCounter(
      'livego_sent_bytes_total',
      'Media bytes sent to players of every protocol',
      () => traffic.bytesOut,
      registers,
    );
    this.publishes = new Counter({
      name: 'livego_publishes_total',
      help: 'Publish attempts by result (admitted, refused) and refusal reason',
      labelNames: ['result', 'reason'],
      registers,
    });
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

  addConnectionSource(source: GaugeSource): void {
    this.connectionSources.push(source);
  }

  addStreamSource(source: () => number): void {
    this.streamSources.push(source);
  }

  publishAdmitted(): void {
    this.publishes.inc({ result: 'admitted', reason: '' });
  }

  /** `reason` is a short fixed label (app, name, key, store), never the key itself. */
  publishRefused(reason: string): void {
    this.publishes.inc({ result: 'refused', reason });
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

/** A counter that reports, at each scrape, how far a plain hot-path total moved since the last one. */
function trafficCounter(
  name: string,
  help: string,
  total: () => number,
  registers: Registry[],
): void {
  let reported = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const now = total();
      this.inc(now - reported);
      reported = now;
    },
  });
}
