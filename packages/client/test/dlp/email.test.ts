import { describe, expect, it } from 'vitest';
import { emailPolicy, findEmailAddresses } from '../../src/dlp/policies/email.js';
import { decide, matched } from './dlp-fixture.js';

const found = (text: string): string[] => matched(text, findEmailAddresses(text));

describe('findEmailAddresses', () => {
  it('finds addresses with dots, plus tags, subdomains and Unicode', () => {
    expect(found('write to anna.k@example.co.uk.')).toEqual(['anna.k@example.co.uk']);
    expect(found('<x.user+tag@mail.example.com>')).toEqual(['x.user+tag@mail.example.com']);
    expect(found('josé@correo.es, ELLA@EXAMPLE.ORG')).toEqual(['josé@correo.es', 'ELLA@EXAMPLE.ORG']);
    expect(found('see https://example.com/user=bob@example.com')).toEqual(['bob@example.com']);
  });

  it('does not match handles, dotless domains, version strings or numeric TLDs', () => {
    expect(found('thanks @alice and @bob.smith')).toEqual([]);
    expect(found('a@b and user@localhost')).toEqual([]);
    expect(found('npm i lodash@4.17.21 @scope/pkg@1.0.0')).toEqual([]);
    expect(found('ping root@10.0.0.1')).toEqual([]);
    expect(found('a..b@example.com and .@example.com')).toEqual([]);
    expect(found('user@example.com5')).toEqual([]);
  });

  it('is linear on a long text without an address', () => {
    const text = `${'a'.repeat(200_000)}@${'b'.repeat(100_000)}`;
    const started = Date.now();
    expect(findEmailAddresses(text)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('emailPolicy', () => {
  it('redacts to "[email removed]", or keeps the domain', async () => {
    await expect(decide(emailPolicy({ action: 'redact' }), 'mail anna@example.com now')).resolves.toEqual({ action: 'redact', text: 'mail [email removed] now' });
    await expect(decide(emailPolicy({ action: 'redact', keepDomain: true }), 'mail anna@example.com now')).resolves.toEqual({
      action: 'redact',
      text: 'mail •••@example.com now',
    });
  });

  it('blocks with a fixed reason; default id email', async () => {
    const policy = emailPolicy({ action: 'block' });
    expect(policy.id).toBe('email');
    await expect(decide(policy, 'anna@example.com')).resolves.toEqual({ action: 'block', reason: 'contains an e-mail address' });
    await expect(decide(policy, 'ask @anna')).resolves.toEqual({ action: 'allow' });
  });
});
