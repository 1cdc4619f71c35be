import { describe, expect, it } from 'vitest';
import { findPhoneNumbers, phonePolicy } from '../../src/dlp/policies/phone.js';
import { decide, matched } from './dlp-fixture.js';

const intl = (text: string): string[] => matched(text, findPhoneNumbers(text));
const national = (text: string): string[] => matched(text, findPhoneNumbers(text, { national: true }));

describe('findPhoneNumbers: E.164', () => {
  it('finds + numbers of 8–15 digits with spaces, hyphens and parentheses', () => {
    expect(intl('call +44 20 7946 0958 now')).toEqual(['+44 20 7946 0958']);
    expect(intl('+1 (415) 555-2671')).toEqual(['+1 (415) 555-2671']);
    expect(intl('+44 (0)20 7946 0958')).toEqual(['+44 (0)20 7946 0958']);
    expect(intl('sms +4915123456789.')).toEqual(['+4915123456789']);
  });

  it('does not match short codes, too few digits, dates, amounts, card numbers or national numbers', () => {
    expect(intl('text STOP to 12345 or +1234')).toEqual([]);
    expect(intl('+49 1234')).toEqual([]);
    expect(intl('on 2024-01-15 at 10:30, total 1,234.56')).toEqual([]);
    expect(intl('card 4111 1111 1111 1111')).toEqual([]);
    expect(intl('call 020 7946 0958')).toEqual([]);
    expect(intl('2+4915123456789')).toEqual([]);
  });

  it('cuts a longer run back to 15 digits at a group boundary', () => {
    expect(intl('+44 20 7946 0958 1234 5678')).toEqual(['+44 20 7946 0958']);
  });
});

describe('findPhoneNumbers: national', () => {
  it('finds trunk-prefixed and North American numbers', () => {
    expect(national('call 020 7946 0958')).toEqual(['020 7946 0958']);
    expect(national('mobile 07911123456')).toEqual(['07911123456']);
    expect(national('Tel. (030) 1234 5678')).toEqual(['(030) 1234 5678']);
    expect(national('call (415) 555-2671 or 415.555.2671 or 1-800-555-0199')).toEqual(['(415) 555-2671', '415.555.2671', '1-800-555-0199']);
  });

  it('does not match dates, amounts, order numbers, card numbers or short codes', () => {
    expect(national('on 2024-01-15 10:30 and 01-02-2024 12 times')).toEqual([]);
    expect(national('total 1,234.56 or 1.234.567,89')).toEqual([]);
    expect(national('order 1234567890 and 4155552671')).toEqual([]);
    expect(national('cards 4111 1111 1111 1111, 3782 822463 10005, 4000 0566 5566 5556, 378282246310005')).toEqual([]);
    expect(national('text 12345 or 0800 12')).toEqual([]);
    expect(national('ref 10 0800 123 4567')).toEqual([]);
  });

  it('is off by default', () => {
    expect(intl('call (415) 555-2671')).toEqual([]);
  });
});

describe('phonePolicy', () => {
  it('redacts to "[phone removed]"', async () => {
    await expect(decide(phonePolicy({ action: 'redact' }), 'call +44 20 7946 0958 now')).resolves.toEqual({ action: 'redact', text: 'call [phone removed] now' });
    await expect(decide(phonePolicy({ action: 'redact', national: true }), '(415) 555-2671 or +1 415 555 2671')).resolves.toEqual({
      action: 'redact',
      text: '[phone removed] or [phone removed]',
    });
  });

  it('blocks with a fixed reason; default id phone', async () => {
    const policy = phonePolicy({ action: 'block' });
    expect(policy.id).toBe('phone');
    await expect(decide(policy, '+4915123456789')).resolves.toEqual({ action: 'block', reason: 'contains a phone number' });
    await expect(decide(policy, 'card 4111 1111 1111 1111')).resolves.toEqual({ action: 'allow' });
  });
});
