/** Plain-text tables and number formats of the benchmarks' console reports. */

/**
 * A table with a dashed rule under the headers: the first column left-aligned, the rest right-aligned.
 *
 * @example
 * console.log(table(['engine', 'msgs/s'], [['pglite', '12,000']]));
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * A count with thousands separators.
 *
 * @example
 * num(12345); // '12,345'
 */
export const num = (n: number): string => n.toLocaleString('en-US');

/**
 * Milliseconds: no decimals from 100 up, else one.
 *
 * @example
 * ms(12.34); // '12.3'
 */
export const ms = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

/**
 * Milliseconds with more precision below 10 (the cluster table: brokers answer in single-digit ms).
 *
 * @example
 * msFine(7.61); // '7.61'
 */
export const msFine = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/**
 * A ratio with two decimals and a multiplication sign.
 *
 * @example
 * ratio(1.341); // '1.34×'
 */
export const ratio = (n: number): string => `${n.toFixed(2)}×`;
