/**
 * Payment card numbers (PANs, ISO/IEC 7812-1): 13–19 digits, written unbroken or in groups
 * separated by single spaces or single hyphens (one kind per number), that pass the Luhn check
 * AND start with an issuer prefix (IIN) of a known scheme at a length that scheme issues:
 *
 * | scheme     | prefixes                         | lengths |
 * |------------|----------------------------------|---------|
 * | Visa       | 4                                | 13, 16, 19 |
 * | Mastercard | 51–55, 2221–2720                 | 16 |
 * | Amex       | 34, 37                           | 15 |
 * | Discover   | 6011, 644–649, 65                | 16–19 |
 * | JCB        | 3528–3589                        | 16–19 |
 * | Diners     | 300–305, 3095, 36, 38–39         | 14–19 |
 * | UnionPay   | 62                               | 16–19 |
 * | Mir        | 2200–2204                        | 16–19 |
 * | Maestro    | 50, 56–69                        | 13–19 (12-digit Maestro cards are not matched) |
 *
 * Maestro's broad range makes every 13–19-digit number starting 50 or 56–69 plausible once it
 * passes Luhn: on purpose (DLP errs on the side of catching a card). A number that is part of a
 * longer one does not match: not touching a letter or another digit, not after `+` (a phone
 * number), not followed by a decimal part. In a longer run of groups ("ref 12 4111 1111 1111
 * 1111") the whole run is tried first, then its sub-runs of whole groups, leftmost-longest first.
 */
import { policyIdentity, type ContentPolicy, type PolicyAction } from '../policy.js';
import { spanPolicy, type TextSpan } from '../spans.js';
import { InvalidArgumentError } from '../../errors.js';
import { charAfter, charBefore, continuesNumber, isWordChar, numberContinues } from '../text-boundaries.js';

interface IinRange {
  readonly from: number;
  readonly to: number;
  /** Digits of the prefix compared (`from`/`to` have this many digits). */
  readonly digits: number;
  readonly lengths: readonly number[];
}

const range = (min: number, max: number): number[] => Array.from({ length: max - min + 1 }, (_, i) => min + i);
const iin = (from: number, to: number, lengths: readonly number[]): IinRange => ({ from, to, digits: String(from).length, lengths });

const IIN_RANGES: readonly IinRange[] = [
  iin(4, 4, [13, 16, 19]), // Visa
  iin(51, 55, [16]), iin(2221, 2720, [16]), // Mastercard
  iin(34, 34, [15]), iin(37, 37, [15]), // American Express
  iin(6011, 6011, range(16, 19)), iin(644, 649, range(16, 19)), iin(65, 65, range(16, 19)), // Discover
  iin(3528, 3589, range(16, 19)), // JCB
  iin(300, 305, range(14, 19)), iin(3095, 3095, range(14, 19)), iin(36, 36, range(14, 19)), iin(38, 39, range(14, 19)), // Diners Club
  iin(62, 62, range(16, 19)), // UnionPay
  iin(2200, 2204, range(16, 19)), // Mir
  iin(50, 50, range(13, 19)), iin(56, 69, range(13, 19)), // Maestro
];

const MIN_PAN = 13;
const MAX_PAN = 19;

/**
 * True when a string of digits passes the Luhn check (ISO/IEC 7812-1 annex B).
 *
 * @example
 * luhnValid('4111111111111111') // true
 * luhnValid('4111111111111112') // false
 */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * True when `digits` (digits only) can be a card number: 13–19 digits, a known IIN at a length
 * that scheme issues (table above), and the Luhn check.
 *
 * @example
 * isPlausiblePan('378282246310005') // true (Amex test number)
 * isPlausiblePan('1234567812345670') // false: Luhn-valid, no scheme starts with 1
 */
export function isPlausiblePan(digits: string): boolean {
  if (!/^\d+$/.test(digits) || digits.length < MIN_PAN || digits.length > MAX_PAN) return false;
  const schemeIssues = IIN_RANGES.some((r) => {
    const prefix = Number(digits.slice(0, r.digits));
    return prefix >= r.from && prefix <= r.to && r.lengths.includes(digits.length);
  });
  return schemeIssues && luhnValid(digits);
}

interface Group {
  readonly start: number;
  readonly end: number;
  /** The separator before this group ('' for the first). */
  readonly sep: string;
}

const RUN = /\d+(?:[ -]\d+)*/g;

function groupsOf(text: string, start: number, end: number): Group[] {
  const groups: Group[] = [];
  for (const m of text.slice(start, end).matchAll(/(^|[ -])(\d+)/g)) {
    const at = start + m.index + (m[1] ?? '').length;
    groups.push({ start: at, end: at + (m[2] ?? '').length, sep: m[1] ?? '' });
  }
  return groups;
}

/** The groups i..j as a card candidate: its digits if one separator kind is used, else undefined. */
function candidate(text: string, groups: readonly Group[], i: number, j: number): string | undefined {
  let digits = '';
  const seps = new Set<string>();
  for (let k = i; k <= j; k++) {
    const group = groups[k];
    if (group === undefined) return undefined;
    if (k > i) seps.add(group.sep);
    digits += text.slice(group.start, group.end);
    if (digits.length > MAX_PAN) return undefined;
  }
  return seps.size <= 1 && digits.length >= MIN_PAN ? digits : undefined;
}

/** Card numbers in one run of digit groups: the whole run, else whole-group sub-runs, leftmost-longest. */
function cardsInRun(text: string, groups: readonly Group[]): TextSpan[] {
  const spans: TextSpan[] = [];
  let i = 0;
  while (i < groups.length) {
    let found = -1;
    for (let j = groups.length - 1; j >= i && found < 0; j--) {
      const digits = candidate(text, groups, i, j);
      if (digits !== undefined && isPlausiblePan(digits)) found = j;
    }
    const first = groups[i];
    const last = groups[found];
    if (found >= 0 && first !== undefined && last !== undefined) {
      spans.push({ start: first.start, end: last.end });
      i = found + 1;
    } else {
      i++;
    }
  }
  return spans;
}

/**
 * The spans of the card numbers in `text` (see the module comment for what counts as one).
 *
 * @example
 * findCardNumbers('card 4111 1111 1111 1111, exp 12/27') // [{ start: 5, end: 24 }]
 */
export function findCardNumbers(text: string): TextSpan[] {
  const spans: TextSpan[] = [];
  for (const m of text.matchAll(RUN)) {
    const start = m.index;
    const end = start + m[0].length;
    if (isWordChar(charBefore(text, start)) || continuesNumber(text, start)) continue;
    if (isWordChar(charAfter(text, end)) || numberContinues(text, end)) continue;
    spans.push(...cardsInRun(text, groupsOf(text, start, end)));
  }
  return spans;
}

/**
 * Options of `cardNumberPolicy`.
 *
 * @example
 * const options: CardNumberPolicyOptions = { action: 'redact', keepLast: 4 }
 */
export interface CardNumberPolicyOptions {
  readonly action: PolicyAction;
  /** Default `card`. */
  readonly id?: string;
  /** Digits left visible at the end when redacting, 0–4 (default 4). */
  readonly keepLast?: number;
  /** Block reason (default 'contains a payment card number'). */
  readonly reason?: string;
}

/**
 * Card numbers: `redact` masks every digit but the last `keepLast` with `•`, keeping the
 * grouping ("4111 1111 1111 1111" → "•••• •••• •••• 1111"); `block` refuses the message.
 *
 * @example
 * const rule = { policy: cardNumberPolicy({ action: 'block' }), classes: ['statement'] }
 */
export function cardNumberPolicy(options: CardNumberPolicyOptions): ContentPolicy {
  const { id, action } = policyIdentity(options, 'card');
  const keepLast = options.keepLast ?? 4;
  if (!Number.isInteger(keepLast) || keepLast < 0 || keepLast > 4) throw new InvalidArgumentError('keepLast', 'an integer from 0 to 4');
  return spanPolicy({
    id,
    action,
    reason: options.reason ?? 'contains a payment card number',
    find: findCardNumbers,
    mask: (matched) => maskDigits(matched, keepLast),
  });
}

/** Every ASCII digit but the last `keep` replaced by `•`; separators kept. */
function maskDigits(matched: string, keep: number): string {
  let seen = 0;
  const total = matched.replace(/\D/g, '').length;
  return matched.replace(/\d/g, (d) => (++seen > total - keep ? d : '•'));
}
