/**
 * Phone numbers.
 *
 * - International (always): E.164 written with a leading `+`: 8–15 digits (country code
 *   included) in groups joined by single spaces or hyphens, with parenthesised groups allowed
 *   ("+1 (415) 555-2671", "+44 (0)20 7946 0958", "+4915123456789"). A longer run is cut back at
 *   a group boundary to its first 15 digits.
 * - National (`national: true`), 10–15 digits, in two shapes only, so that order numbers, dates,
 *   amounts and card numbers stay out: a trunk-prefixed number starting with `0` or `(0` with one
 *   kind of separator ("020 7946 0958", "(030) 1234 5678", "07911123456"), or a North American
 *   number that is written with separators or parentheses ("(415) 555-2671", "415.555.2671",
 *   "1-800-555-0199"; an unbroken "4155552671" is not matched).
 *
 * No card number matches (none starts with `+` or `0`, none has the 3-3-4 shape), so the phone
 * and card policies never compete for the same digits. A number that continues another one (a
 * digit, `+`, or a separator after a digit right before it; a digit or decimal part after it) or
 * touches a letter does not match.
 */
import { policyIdentity, type ContentPolicy, type PolicyAction } from '../policy.js';
import { mergeSpans, spanPolicy, type TextSpan } from '../spans.js';
import { charAfter, charBefore, continuesNumber, isDigit, isWordChar, numberContinues } from '../text-boundaries.js';

interface NumberGroup {
  readonly end: number;
  /** Digits from the start of the number to the end of this group. */
  readonly digits: number;
  /** The separator before this group ('' when none). */
  readonly sep: string;
  readonly paren: boolean;
}

const E164 = { min: 8, max: 15 };
const NATIONAL = { min: 10, max: 15 };
const NANP = /(?:1[ .-]?)?(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .-])[2-9]\d\d[ .-]\d{4}/g;
const TRUNK_START = /\(?0/g;

/** Groups from `start`: digits or a parenthesised 1–5 digits, joined by one of `seps` (or directly, next to a parenthesis). */
function scanGroups(text: string, start: number, seps: string): NumberGroup[] {
  const groups: NumberGroup[] = [];
  let at = start;
  let digits = 0;
  let sep = '';
  for (;;) {
    let end = at;
    const paren = text[at] === '(';
    if (paren) {
      end++;
      while (isDigit(text[end])) end++;
      const count = end - at - 1;
      if (text[end] !== ')' || count < 1 || count > 5) break;
      digits += count;
      end++;
    } else {
      while (isDigit(text[end])) end++;
      if (end === at) break;
      digits += end - at;
    }
    groups.push({ end, digits, sep, paren });
    at = end;
    const next = text[at];
    if (next !== undefined && seps.includes(next) && (isDigit(text[at + 1]) || text[at + 1] === '(')) {
      sep = next;
      at++;
    } else if (next === '(' || (paren && isDigit(next))) {
      sep = '';
    } else {
      break;
    }
  }
  return groups;
}

/** The end of the longest prefix of `groups` with at most `max` digits, if it has at least `min`; else undefined. */
function longestWithin(groups: readonly NumberGroup[], limits: { min: number; max: number }): number | undefined {
  let best: NumberGroup | undefined;
  for (const group of groups) {
    if (group.digits > limits.max) break;
    best = group;
  }
  return best !== undefined && best.digits >= limits.min ? best.end : undefined;
}

/** Groups up to the first change of separator kind (a separator next to a parenthesis does not count). */
function oneSeparatorKind(groups: readonly NumberGroup[]): NumberGroup[] {
  const kept: NumberGroup[] = [];
  let kind: string | undefined;
  for (const group of groups) {
    const previous = kept[kept.length - 1];
    if (previous !== undefined && group.sep !== '' && !previous.paren) {
      if (kind !== undefined && kind !== group.sep) break;
      kind = group.sep;
    }
    kept.push(group);
  }
  return kept;
}

function startsFree(text: string, start: number): boolean {
  return !isWordChar(charBefore(text, start)) && !continuesNumber(text, start);
}

function endsFree(text: string, end: number): boolean {
  return !isWordChar(charAfter(text, end)) && !numberContinues(text, end);
}

function internationalNumbers(text: string): TextSpan[] {
  const spans: TextSpan[] = [];
  for (let at = text.indexOf('+'); at >= 0; at = text.indexOf('+', at + 1)) {
    if (!isDigit(text[at + 1]) || !startsFree(text, at)) continue;
    const groups = scanGroups(text, at + 1, ' -');
    const last = groups[groups.length - 1];
    if (last === undefined || !endsFree(text, last.end)) continue;
    const end = longestWithin(groups, E164);
    if (end !== undefined) spans.push({ start: at, end });
  }
  return spans;
}

function nationalNumbers(text: string): TextSpan[] {
  const spans: TextSpan[] = [];
  for (const m of text.matchAll(TRUNK_START)) {
    if (!startsFree(text, m.index)) continue;
    const groups = oneSeparatorKind(scanGroups(text, m.index, ' -'));
    const last = groups[groups.length - 1];
    if (last === undefined || !endsFree(text, last.end)) continue;
    const end = longestWithin(groups, NATIONAL);
    if (end !== undefined) spans.push({ start: m.index, end });
  }
  for (const m of text.matchAll(NANP)) {
    const end = m.index + m[0].length;
    if (startsFree(text, m.index) && endsFree(text, end)) spans.push({ start: m.index, end });
  }
  return spans;
}

/**
 * The spans of the phone numbers in `text`: international ones always, national ones with `national: true`.
 *
 * @example
 * findPhoneNumbers('call +44 20 7946 0958 now') // [{ start: 5, end: 21 }]
 * findPhoneNumbers('call (415) 555-2671', { national: true }) // [{ start: 5, end: 19 }]
 */
export function findPhoneNumbers(text: string, options: { readonly national?: boolean } = {}): TextSpan[] {
  const spans = internationalNumbers(text);
  if (options.national === true) spans.push(...nationalNumbers(text));
  return mergeSpans(spans);
}

/**
 * Options of `phonePolicy`.
 *
 * @example
 * const options: PhonePolicyOptions = { action: 'redact', national: true }
 */
export interface PhonePolicyOptions {
  readonly action: PolicyAction;
  /** Default `phone`. */
  readonly id?: string;
  /** Also national formats of 10+ digits (see the module comment); default false: E.164 (`+…`) only. */
  readonly national?: boolean;
  /** Block reason (default 'contains a phone number'). */
  readonly reason?: string;
}

/**
 * Phone numbers: `redact` replaces each with "[phone removed]"; `block` refuses the message.
 *
 * @example
 * const rule = { policy: phonePolicy({ action: 'redact', national: true }), classes: ['support'] }
 */
export function phonePolicy(options: PhonePolicyOptions): ContentPolicy {
  const { id, action } = policyIdentity(options, 'phone');
  const national = options.national === true;
  return spanPolicy({
    id,
    action,
    reason: options.reason ?? 'contains a phone number',
    find: (text) => findPhoneNumbers(text, { national }),
    mask: () => '[phone removed]',
  });
}
