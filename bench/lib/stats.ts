/**
 * The one statistics module of the benchmarks: every percentile a benchmark reports (and
 * every p50/p99/p99.9 the READMEs quote) is computed with the definition below.
 *
 * **Nearest rank** (Hyndman & Fan type 1, the inverse of the empirical distribution
 * function): of n samples sorted ascending, the q-quantile (0 < q ≤ 1) is the sample of
 * rank r = ⌈q·n⌉ (1-based, at least 1): the smallest sample such that at least q·n of the
 * samples are at or below it. It is always a value that was measured (no interpolation),
 * so a p99.9 of 1,000 samples is the slowest one but one, and ranks can be taken the same
 * way from a histogram: the cluster benchmark's log-bucketed histograms (lib/histogram.ts)
 * pick the bucket that holds rank ⌈q·n⌉ and report its geometric middle (within 1 %).
 * The median is the same rule at q = 0.5 (the lower middle sample of an even count).
 *
 * Not covered: the server's event-loop delay, which Node's own HDR histogram
 * (`monitorEventLoopDelay().percentile()`) reports.
 */

/** Written into every JSON result (`percentile`), so a reader knows how p50/p99/p99.9 were computed. */
export const PERCENTILE_DEFINITION = {
  method: 'nearest-rank',
  definition:
    'of n samples sorted ascending, pQ is the sample of rank ceil(Q/100 · n) (1-based, at least 1): the smallest sample with at least Q % of the samples at or below it (Hyndman & Fan type 1; no interpolation); histograms (cluster) take the same rank and report the geometric middle of its bucket (within 1 %)',
} as const;

/** Latency (or size) summary: sample count, mean, nearest-rank p50/p90/p99/p99.9 and maximum. */
export interface Percentiles {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/**
 * The 1-based nearest rank of quantile `q` among `n` samples (n ≥ 1): ⌈q·n⌉, clamped to 1..n.
 *
 * @example
 * nearestRank(0.99, 200); // 198
 */
export function nearestRank(q: number, n: number): number {
  return Math.min(n, Math.max(1, Math.ceil(q * n)));
}

/**
 * The nearest-rank q-quantile of samples already sorted ascending (0 when there are none).
 *
 * @example
 * quantileOfSorted([1, 2, 3, 4], 0.5); // 2
 */
export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[nearestRank(q, sorted.length) - 1]!;
}

/**
 * The nearest-rank q-quantile of unsorted samples (0 when there are none).
 *
 * @example
 * quantile([5, 1, 3], 0.5); // 3
 */
export function quantile(values: ArrayLike<number>, q: number): number {
  return quantileOfSorted(Float64Array.from(values).sort(), q);
}

/**
 * Count, mean, p50/p90/p99/p99.9 and max of the samples, rounded to `digits` decimals
 * (default 2); all zero when there are none.
 *
 * @example
 * const latency = summarize([12.5, 14.1, 80.3]);
 * console.log(latency.p99); // 80.3
 */
export function summarize(values: ArrayLike<number>, digits = 2): Percentiles {
  if (values.length === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const scale = 10 ** digits;
  const round = (v: number) => Math.round(v * scale) / scale;
  return {
    count: sorted.length,
    mean: round(sum / sorted.length),
    p50: round(quantileOfSorted(sorted, 0.5)),
    p90: round(quantileOfSorted(sorted, 0.9)),
    p99: round(quantileOfSorted(sorted, 0.99)),
    p999: round(quantileOfSorted(sorted, 0.999)),
    max: round(sorted[sorted.length - 1]!),
  };
}
