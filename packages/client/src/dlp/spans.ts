/**
 * The one shape of the built-in policies: a finder (text → the spans it matches) and a mask
 * (one matched span → its replacement). Blocking and redacting use the same spans, so what a
 * policy blocks is exactly what it would redact.
 */
import type { ContentPolicy, PolicyAction, PolicyDecision } from './policy.js';
import { isSafeReason, policyIdentity } from './policy.js';
import { InvalidArgumentError } from '../errors.js';

/**
 * A half-open range `[start, end)` of UTF-16 code units in a text.
 *
 * @example
 * const span: TextSpan = { start: 8, end: 27 } // 'card 4111 1111 1111 1111'.slice(8, 27)
 */
export interface TextSpan {
  readonly start: number;
  readonly end: number;
}

/**
 * Spans sorted by start, overlapping or touching ones merged, empty ones dropped.
 *
 * @example
 * mergeSpans([{ start: 5, end: 9 }, { start: 0, end: 3 }, { start: 8, end: 12 }]) // [{ start: 0, end: 3 }, { start: 5, end: 12 }]
 */
export function mergeSpans(spans: readonly TextSpan[]): TextSpan[] {
  const sorted = spans.filter((s) => s.end > s.start).sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: TextSpan[] = [];
  for (const span of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && span.start <= last.end) merged[merged.length - 1] = { start: last.start, end: Math.max(last.end, span.end) };
    else merged.push(span);
  }
  return merged;
}

/**
 * `text` with exactly the given spans replaced by `mask(matched)`; the rest is unchanged.
 *
 * @example
 * replaceSpans('pin 1234 ok', [{ start: 4, end: 8 }], () => '****') // 'pin **** ok'
 */
export function replaceSpans(text: string, spans: readonly TextSpan[], mask: (matched: string) => string): string {
  let out = '';
  let at = 0;
  for (const span of mergeSpans(spans)) {
    out += text.slice(at, span.start) + mask(text.slice(span.start, span.end));
    at = span.end;
  }
  return out + text.slice(at);
}

/**
 * Options of `spanPolicy`.
 *
 * @example
 * const options: SpanPolicyOptions = { id: 'ticket', action: 'redact', reason: 'contains a ticket number', find: findTickets, mask: () => '[ticket]' }
 */
export interface SpanPolicyOptions {
  readonly id: string;
  readonly action: PolicyAction;
  /** The block reason: a fixed phrase, never built from the text. */
  readonly reason: string;
  readonly find: (text: string) => readonly TextSpan[];
  readonly mask: (matched: string) => string;
}

/**
 * A policy from a finder: no span → `allow`; otherwise `block` with the fixed reason, or `redact`
 * with every span replaced by its mask. Synchronous (the finders are linear in the text).
 *
 * @example
 * const tickets = spanPolicy({ id: 'ticket', action: 'redact', reason: 'contains a ticket number',
 *   find: (text) => [...text.matchAll(/\bTCK-\d{6}\b/g)].map((m) => ({ start: m.index, end: m.index + m[0].length })),
 *   mask: () => '[ticket]' })
 */
export function spanPolicy(options: SpanPolicyOptions): ContentPolicy {
  const { id, action } = policyIdentity(options, options.id);
  if (!isSafeReason(options.reason)) throw new InvalidArgumentError('reason', 'a fixed phrase of 1–200 characters, without an @ or a run of 4 digits');
  const { reason, find, mask } = options;
  return {
    id,
    check(input): PolicyDecision {
      const spans = find(input.text);
      if (spans.length === 0) return { action: 'allow' };
      if (action === 'block') return { action: 'block', reason };
      return { action: 'redact', text: replaceSpans(input.text, spans, mask) };
    },
  };
}
