/**
 * E-mail addresses, a pragmatic subset of RFC 5322 / 6531: `local@domain.tld` where the local part
 * is letters, digits (any script) and `. _ % + -` (no leading, trailing or double dot; no quoted
 * local parts), the domain is one or more labels of letters, digits and inner hyphens (≤ 63
 * each) and the top-level label is 2–63 letters (or an `xn--` IDN label). Not matched: `@handles`,
 * `a@b` (no dot), `pkg@1.2.3` (a numeric "TLD"), `user@localhost`.
 *
 * Linear in the text: each `@` is expanded to the left over local-part characters (stopping at
 * the previous `@`) and to the right with a sticky expression of bounded labels.
 */
import { policyIdentity, type ContentPolicy, type PolicyAction } from '../policy.js';
import { spanPolicy, type TextSpan } from '../spans.js';
import { charAfter, charBefore, isWordChar } from '../text-boundaries.js';

const LOCAL_CHAR = /^[\p{L}\p{N}\p{M}._%+-]$/u;
const DOMAIN = /(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+(?:xn--[a-z0-9-]{1,59}|\p{L}{2,63})/iuy;

/** Start of the local part that ends at `at` (the `@`), or -1 when there is none. */
function localStart(text: string, at: number, floor: number): number {
  let start = at;
  while (start > floor) {
    const char = charBefore(text, start);
    if (!LOCAL_CHAR.test(char)) break;
    start -= char.length;
  }
  while (text[start] === '.' && start < at) start++;
  const local = text.slice(start, at);
  if (local.length === 0 || local.endsWith('.') || local.includes('..')) return -1;
  return start;
}

/**
 * The spans of the e-mail addresses in `text`.
 *
 * @example
 * findEmailAddresses('write to anna.k@example.co.uk.') // [{ start: 9, end: 29 }]
 */
export function findEmailAddresses(text: string): TextSpan[] {
  const spans: TextSpan[] = [];
  let floor = 0;
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    const start = localStart(text, at, floor);
    floor = at + 1;
    if (start < 0) continue;
    DOMAIN.lastIndex = at + 1;
    const domain = DOMAIN.exec(text);
    if (domain === null) continue;
    const end = at + 1 + domain[0].length;
    const after = charAfter(text, end);
    if (isWordChar(after) || after === '-' || after === '@') continue;
    spans.push({ start, end });
    floor = end;
    at = end - 1;
  }
  return spans;
}

/**
 * Options of `emailPolicy`.
 *
 * @example
 * const options: EmailPolicyOptions = { action: 'redact', keepDomain: true }
 */
export interface EmailPolicyOptions {
  readonly action: PolicyAction;
  /** Default `email`. */
  readonly id?: string;
  /** Redact to "•••@domain" instead of "[email removed]" (default false). */
  readonly keepDomain?: boolean;
  /** Block reason (default 'contains an e-mail address'). */
  readonly reason?: string;
}

/**
 * E-mail addresses: `redact` replaces each with "[email removed]" (or "•••@example.com" with
 * `keepDomain`); `block` refuses the message.
 *
 * @example
 * const rule = { policy: emailPolicy({ action: 'redact', keepDomain: true }), conversationKinds: ['business'] }
 */
export function emailPolicy(options: EmailPolicyOptions): ContentPolicy {
  const { id, action } = policyIdentity(options, 'email');
  const keepDomain = options.keepDomain === true;
  return spanPolicy({
    id,
    action,
    reason: options.reason ?? 'contains an e-mail address',
    find: findEmailAddresses,
    mask: (matched) => (keepDomain ? `•••${matched.slice(matched.lastIndexOf('@'))}` : '[email removed]'),
  });
}
