import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Counter, Gauge, Registry } from 'prom-client';
import { PublishEvent, PublishRefusedEvent, StreamEvent } from '../events/stream-events';
import { MetricsService } from '../metrics/metrics.service';
import { MediaTraffic } from './core/media-traffic';
import { StreamAccess } from './core/stream-access';
import { HlsService } from './servers/hls/hls.service';

/**
 * The media plane in `/metrics`. It only reads and listens: gauges read StreamAccess's sessions and the
 * traffic totals at scrape time, and publish counts come from the `publish.*` events, the same facts
 * webhooks and extensions receive.
 */
@Injectable()
export class StreamMetrics implements OnModuleInit, OnModuleDestroy {
  private readonly publishes: Counter<'result' | 'reason'>;
  private readonly unsubscribers: (() => void)[] = [];

  constructor(
    metrics: MetricsService,
    access: StreamAccess,
    traffic: MediaTraffic,
    private readonly emitter: EventEmitter2,
    hls: HlsService,
  ) {
    const registers = [metrics.registry];
    // What HLS holds: at most (hls_window + 2) segments per room (README "HLS memory").
    new Gauge({
      name: 'livego_hls_retained_bytes',
      help: 'Bytes of HLS segments and parts held, all rooms',
      registers,
      collect() {
        this.set(hls.retainedBytes().total);
      },
    });
    new Gauge({
      name: 'livego_hls_room_retained_bytes_max',
      help: 'Bytes of HLS segments and parts held by the room that holds the most',
      registers,
      collect() {
        this.set(hls.retainedBytes().largest);
      },
    });
    new Gauge({
      name: 'livego_hls_rooms',
      help: 'Rooms whose HLS is muxed or still served',
      registers,
      collect() {
        this.set(hls.retainedBytes().rooms);
      },
    });
    new Gauge({
      name: 'livego_connections',
      help: 'Open publisher and player sessions by protocol',
      labelNames: ['protocol'],
      registers,
      collect() {
        this.reset();
        for (const session of access.all()) this.inc({ protocol: session.protocol });
      },
    });
    new Gauge({
      name: 'livego_streams',
      help: 'Streams with a live publisher',
      registers,
      collect() {
        this.set(access.liveStreamCount());
      },
    });
    totalCounter(
      'livego_received_bytes_total',
      'Bytes received from RTMP peers',
      () => traffic.bytesIn,
      registers,
    );
    totalCounter(
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
  }

  onModuleInit(): void {
    this.listen(StreamEvent.PublishAdmitted, (_: PublishEvent) =>
      this.publishes.inc({ result: 'admitted', reason: '' }),
    );
    // `reason` is a short fixed label (app, name, key, store, hook), never the key itself.
    this.listen(StreamEvent.PublishRefused, (event: PublishRefusedEvent) =>
      this.publishes.inc({ result: 'refused', reason: event.reason }),
    );
  }

  onModuleDestroy(): void {
    for (const unsubscribe of this.unsubscribers) unsubscribe();
  }

  private listen<T>(event: string, listener: (payload: T) => void): void {
    this.emitter.on(event, listener);
    this.unsubscribers.push(() => this.emitter.off(event, listener));
  }
}

/** A counter that reports, at each scrape, how far a plain hot-path total moved since the last one. */
function totalCounter(
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
