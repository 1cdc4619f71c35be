import { describe, expect, it } from 'vitest';
import { cardNumberPolicy, findCardNumbers, isPlausiblePan, luhnValid } from '../../src/dlp/policies/card.js';
import { decide, matched } from './dlp-fixture.js';

const found = (text: string): string[] => matched(text, findCardNumbers(text));

describe('card numbers: Luhn and IIN', () => {
  it('accepts the well-known test PANs of each scheme', () => {
    for (const pan of [
      '4111111111111111', // Visa
      '4012888888881881', // Visa
      '4222222222222', // Visa, 13 digits
      '5555555555554444', // Mastercard
      '2223003122003222', // Mastercard 2-series
      '378282246310005', // Amex
      '371449635398431', // Amex
      '6011111111111117', // Discover
      '3530111333300000', // JCB
      '30569309025904', // Diners, 14 digits
      '6200000000000005', // UnionPay
      '6759649826438453', // Maestro
    ]) {
      expect(isPlausiblePan(pan), pan).toBe(true);
    }
  });

  it('refuses Luhn failures, unknown prefixes and lengths a scheme does not issue', () => {
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(isPlausiblePan('4111111111111112')).toBe(false);
    expect(luhnValid('1234567812345670')).toBe(true);
    expect(isPlausiblePan('1234567812345670')).toBe(false); // no scheme starts with 1
    expect(isPlausiblePan('9000000000000009')).toBe(false); // nor with 9
    expect(luhnValid('55555555555544440')).toBe(true);
    expect(isPlausiblePan('55555555555544440')).toBe(false); // Mastercard is 16 digits only
    expect(isPlausiblePan('37828224631000')).toBe(false); // Amex is 15 digits only
    expect(isPlausiblePan('411111111111')).toBe(false); // 12 digits
  });
});

describe('findCardNumbers', () => {
  it('finds PANs unbroken, in space groups and in hyphen groups', () => {
    expect(found('card 4111 1111 1111 1111, exp 12/27')).toEqual(['4111 1111 1111 1111']);
    expect(found('pan 5555-5555-5555-4444.')).toEqual(['5555-5555-5555-4444']);
    expect(found('amex 378282246310005 thanks')).toEqual(['378282246310005']);
    expect(found('amex 3782 822463 10005')).toEqual(['3782 822463 10005']);
    expect(found('two: 4111111111111111 and 6011 1111 1111 1117')).toEqual(['4111111111111111', '6011 1111 1111 1117']);
  });

  it('finds a PAN after an unrelated number in the same run of groups', () => {
    expect(found('paid 12 4111 1111 1111 1111 ok')).toEqual(['4111 1111 1111 1111']);
  });

  it('does not match order numbers, timestamps, phone numbers or Luhn failures', () => {
    expect(found('order 2024-00123-7781')).toEqual([]);
    expect(found('order #123456789012')).toEqual([]);
    expect(found('at 2024-01-15 10:30:00, epoch 1705314600000')).toEqual([]);
    expect(found('20240115103000123')).toEqual([]);
    expect(found('call +44 20 7946 0958 or +1 415 555 2671')).toEqual([]);
    expect(found('call +4111111111111111')).toEqual([]); // after + it is a phone number, not a card
    expect(found('card 4111 1111 1111 1112')).toEqual([]);
    expect(found('1234 5678 9012 3456')).toEqual([]);
  });

  it('does not match inside a longer digit run, a decimal or an alphanumeric token', () => {
    expect(found('reference 4111111111111111000000000')).toEqual([]); // 25 digits
    expect(found('reference 41111111111111111111')).toEqual([]); // 20 digits
    expect(found('total 4111111111111111.50')).toEqual([]);
    expect(found('id X4111111111111111')).toEqual([]);
    expect(found('IBAN DE89 3704 0044 0532 0130 00')).toEqual([]);
  });

  it('needs one kind of separator within a number', () => {
    expect(found('4111 1111-1111 1111')).toEqual([]);
  });
});

describe('cardNumberPolicy', () => {
  it('redacts all but the last 4 digits, keeping the layout', async () => {
    await expect(decide(cardNumberPolicy({ action: 'redact' }), 'card 4111 1111 1111 1111 ok')).resolves.toEqual({
      action: 'redact',
      text: 'card •••• •••• •••• 1111 ok',
    });
    await expect(decide(cardNumberPolicy({ action: 'redact' }), 'amex 378282246310005')).resolves.toEqual({
      action: 'redact',
      text: 'amex •••••••••••0005',
    });
  });

  it('keepLast 0–4', async () => {
    await expect(decide(cardNumberPolicy({ action: 'redact', keepLast: 0 }), '5555-5555-5555-4444')).resolves.toEqual({
      action: 'redact',
      text: '••••-••••-••••-••••',
    });
    expect(() => cardNumberPolicy({ action: 'redact', keepLast: 5 })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => cardNumberPolicy({ action: 'redact', keepLast: 1.5 })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
  });

  it('blocks with a fixed reason, and allows text without a card', async () => {
    const policy = cardNumberPolicy({ action: 'block' });
    expect(policy.id).toBe('card');
    await expect(decide(policy, 'my card is 4111111111111111')).resolves.toEqual({ action: 'block', reason: 'contains a payment card number' });
    await expect(decide(policy, 'order 1234567812345670')).resolves.toEqual({ action: 'allow' });
  });

  it('takes another id; refuses an id outside DLP_POLICY_ID_PATTERN and an unknown action', () => {
    expect(cardNumberPolicy({ action: 'block', id: 'pci.card-v2' }).id).toBe('pci.card-v2');
    expect(() => cardNumberPolicy({ action: 'block', id: 'Card Numbers' })).toThrow(expect.objectContaining({ code: 'invalid_argument', details: { argument: 'id' } }));
    expect(() => cardNumberPolicy({ action: 'allow' as 'block' })).toThrow(expect.objectContaining({ details: { argument: 'action' } }));
  });
});
