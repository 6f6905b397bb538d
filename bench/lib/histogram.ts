/** Millisecond histogram (1 ms buckets up to MAX_MS, one overflow bucket) with percentiles. */
const MAX_MS = 30000;

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

export class Histogram {
  private readonly buckets = new Uint32Array(MAX_MS + 2);
  private total = 0;
  private maxValue = 0;

  add(ms: number): void {
    const bucket = ms <= 0 ? 0 : ms >= MAX_MS ? MAX_MS + 1 : Math.round(ms);
    this.buckets[bucket]++;
    this.total++;
    if (ms > this.maxValue) this.maxValue = ms;
  }

  clear(): void {
    this.buckets.fill(0);
    this.total = 0;
    this.maxValue = 0;
  }

  get count(): number {
    return this.total;
  }

  percentile(p: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.total);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i];
      if (seen >= rank) return i;
    }
    return this.maxValue;
  }

  summary(): Percentiles {
    return {
      count: this.total,
      p50: this.percentile(50),
      p95: this.percentile(95),
      p99: this.percentile(99),
      max: this.total === 0 ? NaN : this.maxValue,
    };
  }
}

/** Percentiles of a list of values (small lists: probes, admission times). */
export function percentilesOf(values: readonly number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: NaN, p95: NaN, p99: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  return {
    count: sorted.length,
    p50: at(50),
    p95: at(95),
    p99: at(99),
    max: sorted[sorted.length - 1],
  };
}
