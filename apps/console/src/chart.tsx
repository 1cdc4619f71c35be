/**
 * Time-series charts drawn with uPlot (canvas; no inline styles or scripts, so it runs under
 * the console's `default-src 'self'` policy). One component: a line or bar chart of one or
 * more series over time, sized to its container.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/** One series: its label, its values (one per x), and whether it draws as bars. */
export interface SeriesSpec {
  readonly label: string;
  readonly values: readonly (number | null)[];
  readonly color: string;
}

/** Colours of the delivery paths and states, stable across charts. */
export const PATH_COLORS: Readonly<Record<string, string>> = {
  app: '#2563eb',
  'push-app': '#7c3aed',
  rcs: '#0891b2',
  'sms-token-app': '#d97706',
  'sms-token-web': '#ea580c',
  invited: '#65a30d',
  blocked: '#dc2626',
  exhausted: '#9f1239',
  failed: '#b91c1c',
  active: '#64748b',
};

const FALLBACK = ['#0f766e', '#a21caf', '#4d7c0f', '#b45309', '#1d4ed8', '#be123c'];

/**
 * A colour for a series name: the path palette, else a stable pick by hash.
 *
 * @example
 * colorFor('app') // '#2563eb'
 */
export function colorFor(name: string): string {
  const known = PATH_COLORS[name];
  if (known !== undefined) return known;
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return FALLBACK[h % FALLBACK.length]!;
}

/**
 * A time-series chart. `times` are ISO timestamps; each series has one value per time. Bars
 * are stacked (each series drawn on top of the previous ones; the legend shows each series'
 * own value). `range` fixes the time axis (else the data's, widened by an hour when it is a
 * single point).
 *
 * @example
 * <TimeChart testId="delivery-over-time" times={['2026-12-07T04:00:00Z']} series={[{ label: 'app', values: [3], color: '#2563eb' }]} />
 */
export function TimeChart({
  times,
  series,
  bars,
  range,
  height = 220,
  testId,
}: {
  times: readonly string[];
  series: readonly SeriesSpec[];
  bars?: boolean;
  range?: readonly [string, string];
  height?: number;
  testId: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (el === null) return undefined;
    const xs = times.map((t) => Date.parse(t) / 1000);
    const raw = series.map((s) => s.values.map((v) => v ?? 0));
    // Stacked bars: series k plots the sum of series 0..k, drawn from the tallest down.
    const sums = raw.map((_, k) => xs.map((_x, i) => raw.slice(0, k + 1).reduce((n, r) => n + (r[i] ?? 0), 0)));
    const order = bars ? series.map((_, k) => series.length - 1 - k) : series.map((_, k) => k);
    const data: uPlot.AlignedData = [xs, ...order.map((k) => (bars ? sums[k]! : series[k]!.values.map((v) => v)))];
    const barsPath = bars ? uPlot.paths.bars?.({ size: [0.8, 40], gap: 1 }) : undefined;
    const pad = bars ? 1800 : 0;
    // From the data itself: with a single point uPlot's own min/max can run years wide.
    const lo = xs.length > 0 ? Math.min(...xs) : Date.now() / 1000;
    const hi = xs.length > 0 ? Math.max(...xs) : lo;
    const xRange = (): uPlot.Range.MinMax => {
      if (range !== undefined) return [Date.parse(range[0]) / 1000 - pad, Date.parse(range[1]) / 1000 + pad];
      return lo === hi ? [lo - 3600, hi + 3600] : [lo - pad, hi + pad];
    };
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true, range: xRange }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
      axes: [{ stroke: '#475569', grid: { stroke: '#e2e8f0' } }, { stroke: '#475569', grid: { stroke: '#e2e8f0' } }],
      series: [
        {},
        ...order.map((k) => {
          const s = series[k]!;
          const own = (_u: uPlot, _v: number | null, _si: number, idx: number | null) => (idx === null ? '--' : String(raw[k]![idx] ?? 0));
          return {
            label: s.label,
            stroke: s.color,
            width: bars ? 1 : 2,
            value: own,
            ...(bars ? { fill: s.color, paths: barsPath, points: { show: false } } : { points: { show: xs.length < 40 } }),
          };
        }),
      ],
    };
    const plot = new uPlot(opts, data, el);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [times, series, bars, range, height]);
  return <div class="chart" ref={host} data-testid={testId} data-points={times.length} />;
}

/**
 * Stacks per-bucket counts into aligned series (one per key, zeros where a bucket lacks it).
 *
 * @example
 * seriesByKey([{ byPath: { app: 2 } }, { byPath: { sms: 1 } }], (b) => b.byPath) // [{label:'app',values:[2,0]}, {label:'sms',values:[0,1]}]
 */
export function seriesByKey<B>(buckets: readonly B[], counts: (b: B) => Readonly<Record<string, number>>): SeriesSpec[] {
  const keys = [...new Set(buckets.flatMap((b) => Object.keys(counts(b))))].sort();
  return keys.map((key) => ({ label: key, color: colorFor(key), values: buckets.map((b) => counts(b)[key] ?? 0) }));
}
