/**
 * Log-bucketed latency histograms (1 % resolution) for load generators that run in
 * several processes: each keeps a {@link LogHistogram}, sends its JSON form to the parent,
 * and the parent merges them with {@link histogramPercentiles}. Percentiles follow the
 * benchmarks' one definition (nearest rank, lib/stats.ts) over the merged counts.
 */
import { nearestRank, type Percentiles } from './stats.js';

/** Log-bucketed latency histogram (ms): bucket i covers [MIN·G^i, MIN·G^(i+1)). */
export interface Histogram {
  /** Sparse [bucket, count] pairs. */
  readonly buckets: readonly (readonly [number, number])[];
  readonly count: number;
  readonly sum: number;
  readonly max: number;
}

const H_MIN = 0.001; // ms
const H_GROWTH = 1.01;
const H_LOG = Math.log(H_GROWTH);

/**
 * A histogram being filled (one per process and measure).
 *
 * @example
 * const h = new LogHistogram();
 * h.add(12.3);
 * send(h.toJSON());
 */
export class LogHistogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  sum = 0;
  max = 0;
  add(ms: number): void {
    const v = Math.max(ms, H_MIN);
    const b = Math.floor(Math.log(v / H_MIN) / H_LOG);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }
  toJSON(): Histogram {
    return { buckets: [...this.counts.entries()].sort((a, b) => a[0] - b[0]), count: this.count, sum: this.sum, max: this.max };
  }
}

/**
 * Merged percentiles (ms, two decimals; each within 1 % of the nearest-rank sample).
 *
 * @example
 * const e2e = histogramPercentiles(children.map((c) => c.e2e));
 */
export function histogramPercentiles(hs: readonly Histogram[]): Percentiles {
  const merged = new Map<number, number>();
  let count = 0;
  let sum = 0;
  let max = 0;
  for (const h of hs) {
    for (const [b, c] of h.buckets) merged.set(b, (merged.get(b) ?? 0) + c);
    count += h.count;
    sum += h.sum;
    max = Math.max(max, h.max);
  }
  const round = (v: number) => Math.round(v * 100) / 100;
  if (count === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  const sorted = [...merged.entries()].sort((a, b) => a[0] - b[0]);
  const at = (q: number) => {
    const rank = nearestRank(q, count);
    let seen = 0;
    for (const [b, c] of sorted) {
      seen += c;
      // Geometric middle of the bucket, capped by the true maximum.
      if (seen >= rank) return Math.min(max, H_MIN * Math.pow(H_GROWTH, b + 0.5));
    }
    return max;
  };
  return { count, mean: round(sum / count), p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), p999: round(at(0.999)), max: round(max) };
}
