/**
 * Small building blocks shared by the views: a data-loading hook, cards, key numbers,
 * tables, horizontal bar charts (categorical breakdowns) and formatting helpers.
 */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';

/** The state of one request. */
export type Loaded<T> = { readonly state: 'loading' } | { readonly state: 'ok'; readonly data: T } | { readonly state: 'error'; readonly error: string };

/**
 * Loads `fetcher()` once (and again when `deps` change or `reload()` is called).
 *
 * @example
 * const [delivery, reload] = useLoad(() => api.delivery(24), [])
 */
export function useLoad<T>(fetcher: () => Promise<T>, deps: readonly unknown[]): [Loaded<T>, () => void] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    fetcher().then(
      (data) => live && setLoaded({ state: 'ok', data }),
      (error: unknown) => live && setLoaded({ state: 'error', error: describeError(error) }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return [loaded, reload];
}

/**
 * A one-line description of an error: the server's code first.
 *
 * @example
 * describeError(new ApiError(403, 'console_forbidden', 'admins only')) // 'console_forbidden: admins only'
 */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** Renders `children(data)` once loaded; a spinner line or the error before. */
export function Async<T>({ loaded, children }: { loaded: Loaded<T>; children: (data: T) => ComponentChildren }) {
  if (loaded.state === 'loading') return <p class="muted">Loading…</p>;
  if (loaded.state === 'error') return <p class="error" role="alert">{loaded.error}</p>;
  return <>{children(loaded.data)}</>;
}

export function Card({ title, children, wide, testId }: { title: string; children: ComponentChildren; wide?: boolean; testId?: string }) {
  return (
    <section class={wide ? 'card wide' : 'card'} data-testid={testId}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/** One key number with its label. */
export function Stat({ label, value, hint, testId }: { label: string; value: string | number; hint?: string; testId: string }) {
  return (
    <div class="stat">
      <div class="stat-value" data-stat={testId}>
        {value}
      </div>
      <div class="stat-label">{label}</div>
      {hint !== undefined && <div class="stat-hint">{hint}</div>}
    </div>
  );
}

/** A horizontal bar chart of labelled counts (the widest bar is the largest count). */
export function Bars({ items, testId }: { items: readonly { label: string; value: number; tone?: string }[]; testId: string }) {
  const max = Math.max(1, ...items.map((i) => i.value));
  if (items.length === 0) return <p class="muted" data-testid={testId}>Nothing recorded.</p>;
  return (
    <ul class="bars" data-testid={testId}>
      {items.map((item) => (
        <li key={item.label} data-label={item.label} data-value={item.value}>
          <span class="bar-label">{item.label}</span>
          <span class="bar-track">
            <span class={`bar-fill ${item.tone ?? ''}`} style={{ width: `${(100 * item.value) / max}%` }} />
          </span>
          <span class="bar-value">{item.value}</span>
        </li>
      ))}
    </ul>
  );
}

/** A plain data table; `rows` are arrays of cells. */
export function Table({ head, rows, testId, empty }: { head: readonly string[]; rows: readonly ComponentChildren[][]; testId: string; empty?: string }) {
  if (rows.length === 0) return <p class="muted" data-testid={testId}>{empty ?? 'None.'}</p>;
  return (
    <table data-testid={testId}>
      <thead>
        <tr>
          {head.map((h) => (
            <th key={h}>{h}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <tr key={i}>
            {row.map((cell, j) => (
              <td key={j}>{cell}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * A timestamp as local date and time, compact.
 *
 * @example
 * formatTime('2026-12-07T04:00:00Z') // '07 Dec, 05:00:00' (in the browser's zone)
 */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/**
 * A duration in milliseconds as a short human string.
 *
 * @example
 * formatMs(1530) // '1.53 s'
 */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/**
 * A ratio 0..1 as a percentage.
 *
 * @example
 * formatPercent(0.125) // '12.5 %'
 */
export function formatPercent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return '—';
  return `${(Math.round(ratio * 1000) / 10).toFixed(1)} %`;
}

/** A long identifier shortened for a table cell, the whole value in its title. */
export function Id({ value }: { value: string | null | undefined }) {
  if (!value) return <span class="muted">—</span>;
  return (
    <code class="id" title={value}>
      {value.length > 22 ? `${value.slice(0, 10)}…${value.slice(-8)}` : value}
    </code>
  );
}
