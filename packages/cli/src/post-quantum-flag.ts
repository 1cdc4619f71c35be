/**
 * `--pq CLASS=MODE[:OTHERWISE]` (repeatable; or `PARLEY_GATEWAY_PQ`, comma-separated): the
 * gateway sender's post-quantum rule per message class (docs/post-quantum.md). MODE is
 * `required`, `preferred` or `off`; OTHERWISE (for `required`) is `block` or `invite-to-app`.
 */
import type { PostQuantumRule } from '@parley/client';
import { UsageError } from './errors.js';

const RULE = /^([a-z][a-z0-9-]{0,31})=(required|preferred|off)(?::(block|invite-to-app))?$/;

/**
 * The rules the flags state, by class; `UsageError` for a malformed one.
 *
 * @example
 * parsePostQuantumFlags(['statement=required:invite-to-app', 'otp=preferred'])
 */
export function parsePostQuantumFlags(values: readonly string[]): Record<string, PostQuantumRule> {
  const rules: Record<string, PostQuantumRule> = {};
  for (const value of values) {
    const m = RULE.exec(value.trim());
    if (!m) throw new UsageError(`--pq ${value}: expected CLASS=required|preferred|off[:block|invite-to-app]`);
    if (m[3] !== undefined && m[2] !== 'required') throw new UsageError(`--pq ${value}: only a required class has an otherwise action`);
    rules[m[1]!] = { pq: m[2] as PostQuantumRule['pq'], ...(m[3] ? { otherwise: m[3] as 'block' | 'invite-to-app' } : {}) };
  }
  return rules;
}
