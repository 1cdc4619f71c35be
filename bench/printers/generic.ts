/** Console report of a section this runner has no printer for: its numeric leaves. */
import { table } from './format.js';

/** Numeric leaves of an unknown result, as `path = value` rows (for benchmarks this runner does not know). */
function leaves(value: unknown, prefix = '', out: [string, string][] = []): [string, string][] {
  if (out.length >= 60) return out;
  if (typeof value === 'number' || typeof value === 'boolean') out.push([prefix, String(value)]);
  else if (typeof value === 'string' && prefix !== '' && value.length <= 60) out.push([prefix, value]);
  else if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'number')) {
      if (value.length <= 8) out.push([prefix, value.join(', ')]);
    } else {
      value.forEach((v, i) => {
        // Name items by a distinguishing field when they have one.
        const o = (v ?? {}) as Record<string, unknown>;
        const label = typeof o['provider'] === 'string' ? o['provider'] : typeof o['name'] === 'string' ? o['name'] : typeof o['members'] === 'number' ? `${o['members']} members` : String(i);
        leaves(v, `${prefix}[${label}]`, out);
      });
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'runs' || k.endsWith('Runs')) continue; // per-run details stay in the JSON
      leaves(v, prefix === '' ? k : `${prefix}.${k}`, out);
    }
  }
  return out;
}

/**
 * Up to 60 `path = value` rows of a result (the full figures stay in the JSON file).
 *
 * @example
 * printGeneric('SDK (bench/sdk.ts)', result);
 */
export function printGeneric(name: string, result: unknown): void {
  console.log(`\n${name}`);
  const rows = leaves(result);
  console.log(table(['figure', 'value'], rows));
  if (rows.length >= 60) console.log('(truncated; full figures in the JSON file)');
}
