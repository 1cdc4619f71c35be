/**
 * IBANs (ISO 13616): a country code with a registry length (iban-countries.ts; unknown country →
 * no match), two check digits (02–98), the BBAN, and MOD 97-10 (ISO/IEC 7064) = 1. Written
 * unbroken ("DE89370400440532013000") or in the print form, groups of 4 separated by single
 * spaces ("DE89 3704 0044 0532 0130 00"); letters in either case. Not touching a letter or digit
 * on either side.
 */
import { policyIdentity, type ContentPolicy, type PolicyAction } from '../policy.js';
import { spanPolicy, type TextSpan } from '../spans.js';
import { charAfter, charBefore, isWordChar } from '../text-boundaries.js';
import { IBAN_LENGTHS } from './iban-countries.js';

const START = /[A-Za-z]{2}\d{2}/g;
const ALNUM = /^[A-Za-z0-9]+$/;

/**
 * True when `iban` (no spaces, any case) has its country's length, check digits 02–98 and MOD 97-10 = 1.
 *
 * @example
 * ibanValid('GB82WEST12345698765432') // true
 * ibanValid('GB82WEST12345698765433') // false
 */
export function ibanValid(iban: string): boolean {
  const upper = iban.toUpperCase();
  if (!ALNUM.test(upper) || IBAN_LENGTHS.get(upper.slice(0, 2)) !== upper.length) return false;
  if (!/^[A-Z]{2}\d{2}$/.test(upper.slice(0, 4))) return false;
  const check = Number(upper.slice(2, 4));
  if (check < 2 || check > 98) return false;
  let remainder = 0;
  for (const char of upper.slice(4) + upper.slice(0, 4)) {
    const value = Number.parseInt(char, 36);
    remainder = (remainder * (value < 10 ? 10 : 100) + value) % 97;
  }
  return remainder === 1;
}

/** The end of an IBAN of `length` characters written at `start`, unbroken or in groups of 4. */
function ibanEnd(text: string, start: number, length: number): { end: number; compact: string } | undefined {
  const unbroken = text.slice(start, start + length);
  if (unbroken.length === length && ALNUM.test(unbroken)) return { end: start + length, compact: unbroken };
  let at = start + 4;
  let compact = text.slice(start, at);
  while (compact.length < length) {
    const size = Math.min(4, length - compact.length);
    const group = text.slice(at + 1, at + 1 + size);
    if (text[at] !== ' ' || group.length !== size || !ALNUM.test(group)) return undefined;
    compact += group;
    at += 1 + size;
  }
  return { end: at, compact };
}

/**
 * The spans of the IBANs in `text`.
 *
 * @example
 * findIbans('pay to NL91 ABNA 0417 1643 00 today') // [{ start: 7, end: 29 }]
 */
export function findIbans(text: string): TextSpan[] {
  const spans: TextSpan[] = [];
  for (const m of text.matchAll(START)) {
    const start = m.index;
    const length = IBAN_LENGTHS.get(m[0].slice(0, 2).toUpperCase());
    if (length === undefined || isWordChar(charBefore(text, start))) continue;
    const found = ibanEnd(text, start, length);
    if (found === undefined || isWordChar(charAfter(text, found.end)) || !ibanValid(found.compact)) continue;
    if (spans.length > 0 && (spans[spans.length - 1]?.end ?? 0) > start) continue;
    spans.push({ start, end: found.end });
  }
  return spans;
}

/**
 * Options of `ibanPolicy`.
 *
 * @example
 * const options: IbanPolicyOptions = { action: 'redact' }
 */
export interface IbanPolicyOptions {
  readonly action: PolicyAction;
  /** Default `iban`. */
  readonly id?: string;
  /** Block reason (default 'contains a bank account number (IBAN)'). */
  readonly reason?: string;
}

/**
 * IBANs: `redact` keeps the country code and the last 4 characters, masking the rest with `•` in
 * the same layout ("DE89 3704 0044 0532 0130 00" → "DE•• •••• •••• •••• ••30 00"); `block` refuses the message.
 *
 * @example
 * const rule = { policy: ibanPolicy({ action: 'block' }), classes: ['otp', 'marketing'] }
 */
export function ibanPolicy(options: IbanPolicyOptions): ContentPolicy {
  const { id, action } = policyIdentity(options, 'iban');
  return spanPolicy({ id, action, reason: options.reason ?? 'contains a bank account number (IBAN)', find: findIbans, mask: maskIban });
}

function maskIban(matched: string): string {
  const total = matched.replace(/[^A-Za-z0-9]/g, '').length;
  let seen = 0;
  return matched.replace(/[A-Za-z0-9]/g, (c) => {
    seen++;
    return seen <= 2 || seen > total - 4 ? c : '•';
  });
}
