import { describe, expect, it } from 'vitest';
import { keywordPolicy } from '../../src/dlp/policies/keyword.js';
import { hasNestedRepetition } from '../../src/dlp/policies/regex-safety.js';
import { decide } from './dlp-fixture.js';

describe('keywordPolicy: keywords', () => {
  const policy = keywordPolicy({ id: 'secrets', action: 'redact', keywords: ['password', 'project falcon', 'Geheimnis', 'c++'] });

  it('matches whole words, case-insensitively, across any white space', async () => {
    await expect(decide(policy, 'The PASSWORD is in Project  Falcon.')).resolves.toEqual({ action: 'redact', text: 'The [redacted] is in [redacted].' });
    await expect(decide(policy, 'geheimnis! and C++ code')).resolves.toEqual({ action: 'redact', text: '[redacted]! and [redacted] code' });
  });

  it('does not match inside a word, in any script', async () => {
    await expect(decide(policy, 'passwords, mypassword, password_reset, passwordé')).resolves.toEqual({ action: 'allow' });
    await expect(decide(policy, 'ÜbergeheimnisÜ and 2password')).resolves.toEqual({ action: 'allow' });
  });

  it('is Unicode-aware: non-Latin keywords and NFC/NFD forms match', async () => {
    const unicode = keywordPolicy({ id: 'unicode', action: 'block', keywords: ['секрет', 'café'] });
    await expect(decide(unicode, 'это СЕКРЕТ')).resolves.toMatchObject({ action: 'block' });
    await expect(decide(unicode, 'the cafe\u0301 is open')).resolves.toMatchObject({ action: 'block' });
    await expect(decide(unicode, 'секреты')).resolves.toEqual({ action: 'allow' });
  });

  it('prefers the longest keyword and still matches a shorter one where the longer one is mid-word', async () => {
    const nested = keywordPolicy({ id: 'nested', action: 'redact', keywords: ['credit', 'credit card'] });
    await expect(decide(nested, 'credit card, credit cards')).resolves.toEqual({ action: 'redact', text: '[redacted], [redacted] cards' });
  });

  it('blocks with its reason (default or given)', async () => {
    await expect(decide(keywordPolicy({ id: 'kw', action: 'block', keywords: ['falcon'] }), 'falcon')).resolves.toEqual({ action: 'block', reason: 'contains a blocked keyword' });
    await expect(decide(keywordPolicy({ id: 'kw', action: 'block', keywords: ['falcon'], reason: 'mentions a confidential project' }), 'Falcon')).resolves.toEqual({
      action: 'block',
      reason: 'mentions a confidential project',
    });
  });
});

describe('keywordPolicy: patterns', () => {
  it('uses clones: a global or sticky pattern keeps no state between messages, the caller’s lastIndex is untouched', async () => {
    const pattern = /TCK-\d{6}/gy;
    pattern.lastIndex = 3;
    const policy = keywordPolicy({ id: 'tickets', action: 'redact', patterns: [pattern], replacement: '[ticket]' });
    for (let i = 0; i < 3; i++) {
      await expect(decide(policy, 'see TCK-123456 and TCK-654321')).resolves.toEqual({ action: 'redact', text: 'see [ticket] and [ticket]' });
    }
    expect(pattern.lastIndex).toBe(3);
  });

  it('combines keywords and patterns; overlapping matches are redacted once', async () => {
    const policy = keywordPolicy({ id: 'mix', action: 'redact', keywords: ['secret'], patterns: [/secret \w+/i] });
    await expect(decide(policy, 'a secret plan')).resolves.toEqual({ action: 'redact', text: 'a [redacted]' });
  });

  it('refuses patterns that match the empty string or nest repetitions', () => {
    expect(() => keywordPolicy({ id: 'p', action: 'block', patterns: [/x*/] })).toThrow(expect.objectContaining({ details: { argument: 'patterns[0]' } }));
    expect(() => keywordPolicy({ id: 'p', action: 'block', patterns: [/ok/, /(a+)+$/] })).toThrow(expect.objectContaining({ details: { argument: 'patterns[1]' } }));
  });

  it('hasNestedRepetition: the classic shapes, not fixed counts or escaped parentheses', () => {
    for (const source of ['(a+)+', '(\\w+\\s?)*', '(?:x|y+){2,}', '([a-z]*)*', '((ab)+c)+']) expect(hasNestedRepetition(source), source).toBe(true);
    for (const source of ['\\d{3}-\\d{4}', '(\\d{1,3}\\.){3}\\d{1,3}', '\\(a+\\)+', '[(a+)]+', '(ab)+', '\\bTCK-\\d{6}\\b', '\\p{L}+']) {
      expect(hasNestedRepetition(source), source).toBe(false);
    }
  });
});

describe('keywordPolicy: options', () => {
  it('requires an id and at least one keyword or pattern; refuses unsafe reasons', () => {
    expect(() => keywordPolicy({ action: 'block', keywords: ['x'] } as unknown as Parameters<typeof keywordPolicy>[0])).toThrow(
      expect.objectContaining({ details: { argument: 'id' } }),
    );
    expect(() => keywordPolicy({ id: 'kw', action: 'block' })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => keywordPolicy({ id: 'kw', action: 'block', keywords: ['  '] })).toThrow(expect.objectContaining({ details: { argument: 'keywords[0]' } }));
    expect(() => keywordPolicy({ id: 'kw', action: 'block', keywords: ['x'], reason: 'matched 4111111111111111' })).toThrow(
      expect.objectContaining({ details: { argument: 'reason' } }),
    );
  });
});
