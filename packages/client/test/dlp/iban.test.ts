import { describe, expect, it } from 'vitest';
import { IBAN_LENGTHS } from '../../src/dlp/policies/iban-countries.js';
import { findIbans, ibanPolicy, ibanValid } from '../../src/dlp/policies/iban.js';
import { decide, matched } from './dlp-fixture.js';

const found = (text: string): string[] => matched(text, findIbans(text));

describe('ibanValid (ISO 13616, MOD 97-10)', () => {
  it('accepts registry examples', () => {
    for (const iban of [
      'GB82WEST12345698765432',
      'DE89370400440532013000',
      'FR1420041010050500013M02606',
      'NL91ABNA0417164300',
      'BE68539007547034',
      'NO9386011117947',
      'MT84MALT011000012345MTLCAST001S',
      'LC55HEMM000100010012001200023015',
      'ch9300762011623852957',
    ]) {
      expect(ibanValid(iban), iban).toBe(true);
    }
  });

  it('refuses a wrong checksum, a wrong length and an unknown country', () => {
    expect(ibanValid('GB82WEST12345698765433')).toBe(false);
    expect(ibanValid('GB83WEST12345698765432')).toBe(false);
    expect(ibanValid('DE8937040044053201300')).toBe(false); // 21 characters
    expect(ibanValid('DE893704004405320130000')).toBe(false); // 23
    expect(ibanValid('US64SVBKUS6S3300958879')).toBe(false); // no IBAN for the US
    expect(ibanValid('GB00WEST12345698765432')).toBe(false); // check digits 00
  });

  it('has a length for every SEPA country', () => {
    const sepa = ['AD', 'AT', 'BE', 'BG', 'CH', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR', 'GB', 'GI', 'GR', 'HR', 'HU', 'IE', 'IS', 'IT', 'LI', 'LT', 'LU', 'LV', 'MC', 'MT', 'NL', 'NO', 'PL', 'PT', 'RO', 'SE', 'SI', 'SK', 'SM', 'VA'];
    expect(sepa.filter((country) => !IBAN_LENGTHS.has(country))).toEqual([]);
  });
});

describe('findIbans', () => {
  it('finds IBANs in print form and unbroken, in any case', () => {
    expect(found('pay to GB82 WEST 1234 5698 7654 32 by Friday')).toEqual(['GB82 WEST 1234 5698 7654 32']);
    expect(found('DE89 3704 0044 0532 0130 00')).toEqual(['DE89 3704 0044 0532 0130 00']);
    expect(found('iban: FR14 2004 1010 0505 0001 3M02 606.')).toEqual(['FR14 2004 1010 0505 0001 3M02 606']);
    expect(found('NL91ABNA0417164300, thanks')).toEqual(['NL91ABNA0417164300']);
    expect(found('nl91 abna 0417 1643 00')).toEqual(['nl91 abna 0417 1643 00']);
  });

  it('does not match a right length with a wrong checksum, a wrong length, or random words', () => {
    expect(found('GB82 WEST 1234 5698 7654 33')).toEqual([]);
    expect(found('DE89 3704 0044 0532 0130 0')).toEqual([]);
    expect(found('DE89370400440532013000 1')).toEqual(['DE89370400440532013000']);
    expect(found('DE893704004405320130001')).toEqual([]); // 23 characters: part of a longer token
    expect(found('XDE89370400440532013000')).toEqual([]);
    expect(found('THE QUICK BROWN FOX AB12 CDEF GHIJ KLMN OP')).toEqual([]);
    expect(found('ORDER AB12 3456 7890 1234 56 and ZZ12 3456 7890 1234 5678')).toEqual([]);
    expect(found('model XY99 and ref DE00 0000 0000 0000 0000 00')).toEqual([]);
  });
});

describe('ibanPolicy', () => {
  it('redacts all but the country code and the last 4, keeping the layout', async () => {
    await expect(decide(ibanPolicy({ action: 'redact' }), 'to DE89 3704 0044 0532 0130 00.')).resolves.toEqual({
      action: 'redact',
      text: 'to DE•• •••• •••• •••• ••30 00.',
    });
    await expect(decide(ibanPolicy({ action: 'redact' }), 'NL91ABNA0417164300')).resolves.toEqual({ action: 'redact', text: 'NL••••••••••••4300' });
  });

  it('blocks with a fixed reason; default id iban', async () => {
    const policy = ibanPolicy({ action: 'block' });
    expect(policy.id).toBe('iban');
    await expect(decide(policy, 'GB82 WEST 1234 5698 7654 32')).resolves.toEqual({ action: 'block', reason: 'contains a bank account number (IBAN)' });
    await expect(decide(policy, 'no account here')).resolves.toEqual({ action: 'allow' });
  });
});
