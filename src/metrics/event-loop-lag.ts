import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, Registry } from 'prom-client';

/** How often the event loop is sampled; a sample is the delay beyond this period. */
const SAMPLE_PERIOD_MS = 10;
/** The `quantile` label values reported: the median, p99 and (as `1`) the maximum. */
const QUANTILES = [
  ['0.5', 50],
  ['0.99', 99],
  ['1', 100],
] as const;

/**
 * `livego_event_loop_lag_seconds{quantile}`: how late the event loop ran its timers since the
 * previous scrape (`perf_hooks.monitorEventLoopDelay`), reset at every scrape, so a stall between
 * two scrapes shows in the next one. Returns the function that stops the sampling.
 */
export function registerEventLoopLag(registers: Registry[]): () => void {
  const delays = monitorEventLoopDelay({ resolution: SAMPLE_PERIOD_MS });
  delays.enable();
  // The histogram counts in nanoseconds and includes the sampling period itself.
  const lagSeconds = (ns: number) => Math.max(0, ns / 1e6 - SAMPLE_PERIOD_MS) / 1000;
  // reset() also forgets when the last sample was taken, so the histogram never records the first
  // period after it: a stall that starts right after a scrape would be lost. One timer of the same
  // period, armed at each reset, measures that period and its delay joins the next scrape's maximum.
  let firstPeriodNs = 0;
  let firstPeriod: NodeJS.Timeout | undefined;
  const watchFirstPeriod = () => {
    const armed = process.hrtime.bigint();
    clearTimeout(firstPeriod);
    firstPeriod = setTimeout(() => {
      firstPeriodNs = Number(process.hrtime.bigint() - armed);
    }, SAMPLE_PERIOD_MS);
    firstPeriod.unref();
  };
  new Gauge({
    name: 'livego_event_loop_lag_seconds',
    help: 'Event-loop delay since the previous scrape (quantile="1" is the maximum)',
    labelNames: ['quantile'],
    registers,
    collect() {
      const sampled = delays.count > 0;
      for (const [quantile, percentile] of QUANTILES) {
        const ns =
          percentile === 100
            ? Math.max(sampled ? delays.max : 0, firstPeriodNs)
            : sampled
              ? delays.percentile(percentile)
              : 0;
        this.set({ quantile }, lagSeconds(ns));
      }
      delays.reset();
      firstPeriodNs = 0;
      watchFirstPeriod();
    },
  });
  return () => {
    clearTimeout(firstPeriod);
    delays.disable();
  };
}
