import { DlpOutcomeSchema } from '@parley/core';
import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import { applyContentPolicies, assertAllowed, type ContentPolicyResult } from '../../src/dlp/engine.js';
import { validateContentPolicyConfig, type ContentPolicyConfig } from '../../src/dlp/config.js';
import type { ContentInput, ContentPolicy, PolicyDecision } from '../../src/dlp/policy.js';
import { cardNumberPolicy } from '../../src/dlp/policies/card.js';
import { emailPolicy } from '../../src/dlp/policies/email.js';
import { ibanPolicy } from '../../src/dlp/policies/iban.js';
import { keywordPolicy } from '../../src/dlp/policies/keyword.js';
import { phonePolicy } from '../../src/dlp/policies/phone.js';
import { CLIENT_ERROR_CODES, ClientError, ContentBlockedError } from '../../src/errors.js';
import { input } from './dlp-fixture.js';

const outcomeValid = Compile(DlpOutcomeSchema);

/** A policy that records the inputs it saw and answers `decision`. */
function spy(id: string, decision: PolicyDecision = { action: 'allow' }): ContentPolicy & { seen: ContentInput[] } {
  const seen: ContentInput[] = [];
  return { id, seen, check: (message) => (seen.push(message), decision) };
}

const PAN = '4012 8888 8888 1881';
const IBAN = 'DE89 3704 0044 0532 0130 00';

describe('applyContentPolicies', () => {
  it('without a config or a matching rule: allow, text unchanged', async () => {
    await expect(applyContentPolicies(undefined, input(`card ${PAN}`))).resolves.toEqual({ action: 'allow', text: `card ${PAN}`, outcomes: [] });
    const config = { rules: [{ policy: cardNumberPolicy({ action: 'block' }), classes: ['otp'] }] };
    await expect(applyContentPolicies(config, input(`card ${PAN}`))).resolves.toEqual({ action: 'allow', text: `card ${PAN}`, outcomes: [] });
  });

  it('runs rules in order, each on the text the previous ones left; records one outcome per policy that changed it', async () => {
    const after = spy('after');
    const config: ContentPolicyConfig = {
      rules: [
        { policy: cardNumberPolicy({ action: 'redact' }) },
        { policy: emailPolicy({ action: 'redact' }) },
        { policy: phonePolicy({ action: 'redact' }) }, // finds nothing: no outcome
        { policy: after },
      ],
    };
    const result = await applyContentPolicies(config, input(`card ${PAN}, mail anna@example.com`));
    expect(result).toEqual({
      action: 'redact',
      text: 'card •••• •••• •••• 1881, mail [email removed]',
      outcomes: [{ policy: 'card', action: 'redact' }, { policy: 'email', action: 'redact' }],
    });
    expect(after.seen.map((m) => m.text)).toEqual(['card •••• •••• •••• 1881, mail [email removed]']);
    expect(result.outcomes.every((o) => outcomeValid.Check(o))).toBe(true);
  });

  it('filters rules by class, conversation kind and direction (absent = all)', async () => {
    const otp = spy('otp-only');
    const business = spy('business-only');
    const receive = spy('receive-only');
    const all = spy('all');
    const config: ContentPolicyConfig = {
      rules: [
        { policy: otp, classes: ['otp'] },
        { policy: business, conversationKinds: ['business'], classes: ['support', 'statement'] },
        { policy: receive, directions: ['receive'] },
        { policy: all },
      ],
    };
    await applyContentPolicies(config, input('a', { class: 'support', conversationKind: 'business', direction: 'send' }));
    await applyContentPolicies(config, input('b', { class: 'otp', conversationKind: 'direct', direction: 'receive' }));
    await applyContentPolicies(config, input('c', { class: 'statement', conversationKind: 'direct', direction: 'send' }));
    expect(otp.seen.map((m) => m.text)).toEqual(['b']);
    expect(business.seen.map((m) => m.text)).toEqual(['a']);
    expect(receive.seen.map((m) => m.text)).toEqual(['b']);
    expect(all.seen.map((m) => m.text)).toEqual(['a', 'b', 'c']);
  });

  it('the first block wins: later policies do not run; earlier redactions stay listed', async () => {
    const later = spy('later', { action: 'block', reason: 'should not run' });
    const config: ContentPolicyConfig = {
      rules: [{ policy: emailPolicy({ action: 'redact' }) }, { policy: ibanPolicy({ action: 'block' }) }, { policy: later }],
    };
    const result = await applyContentPolicies(config, input(`mail anna@example.com, pay ${IBAN}`));
    expect(result).toEqual({
      action: 'block',
      outcomes: [{ policy: 'email', action: 'redact' }],
      blocked: { policy: 'iban', reason: 'contains a bank account number (IBAN)', direction: 'send' },
    });
    expect(later.seen).toEqual([]);
  });

  it('a redact decision that changes nothing is an allow (no outcome)', async () => {
    const same: ContentPolicy = { id: 'same', check: (m) => ({ action: 'redact', text: m.text }) };
    await expect(applyContentPolicies({ rules: [{ policy: same }] }, input('hello'))).resolves.toEqual({ action: 'allow', text: 'hello', outcomes: [] });
  });

  it('records policy ids only: neither the result nor the error carries the matched text', async () => {
    const config: ContentPolicyConfig = {
      rules: [{ policy: cardNumberPolicy({ action: 'redact', keepLast: 0 }) }, { policy: ibanPolicy({ action: 'redact' }) }, { policy: emailPolicy({ action: 'block' }) }],
    };
    const redacted = await applyContentPolicies({ rules: config.rules.slice(0, 2) }, input(`card ${PAN} to ${IBAN}`));
    const redactedJson = JSON.stringify(redacted);
    for (const fragment of ['4012', '8888', '1881', '3704', '0044', '0532', 'DE89']) expect(redactedJson).not.toContain(fragment);

    const blocked = await applyContentPolicies(config, input(`card ${PAN} to ${IBAN} from anna@example.com`));
    expect(blocked.action).toBe('block');
    let error: unknown;
    try {
      assertAllowed(blocked);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ContentBlockedError);
    const errorJson = JSON.stringify(error) + String((error as Error).message);
    for (const json of [JSON.stringify(blocked), errorJson]) {
      for (const fragment of ['4012', '8888', '1881', '3704', 'DE89', 'anna', 'example.com']) expect(json).not.toContain(fragment);
    }
  });

  it('gives policies the message metadata, attachments included', async () => {
    const seen = spy('meta');
    const attachments = [{ name: 'statement.pdf', mime: 'application/pdf', size: 48_213 }];
    await applyContentPolicies({ rules: [{ policy: seen }] }, input('see attached', { class: 'statement', attachments }));
    expect(seen.seen[0]).toEqual({ text: 'see attached', class: 'statement', conversationKind: 'business', direction: 'send', attachments });
  });

  it('runs an async classifier hook', async () => {
    const classifier: ContentPolicy = {
      id: 'classifier',
      async check(message, signal) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        expect(signal.aborted).toBe(false);
        return message.text.includes('wire the money') ? { action: 'block', reason: 'flagged by the on-device classifier' } : { action: 'allow' };
      },
    };
    const config = { rules: [{ policy: keywordPolicy({ id: 'kw', action: 'redact', keywords: ['falcon'] }) }, { policy: classifier }] };
    await expect(applyContentPolicies(config, input('project falcon'))).resolves.toEqual({
      action: 'redact',
      text: 'project [redacted]',
      outcomes: [{ policy: 'kw', action: 'redact' }],
    });
    await expect(applyContentPolicies(config, input('please wire the money', { direction: 'receive' }))).resolves.toEqual({
      action: 'block',
      outcomes: [],
      blocked: { policy: 'classifier', reason: 'flagged by the on-device classifier', direction: 'receive' },
    });
  });
});

describe('fail closed', () => {
  const failing: Record<string, ContentPolicy['check']> = {
    throws: () => {
      throw new Error(`saw ${PAN}`);
    },
    rejects: () => Promise.reject(new Error(`saw ${PAN}`)),
    'invalid-action': () => ({ action: 'deny' }) as unknown as PolicyDecision,
    'redact-without-text': () => ({ action: 'redact' }) as unknown as PolicyDecision,
    'leaky-reason': () => ({ action: 'block', reason: `found ${PAN.replace(/ /g, '')}` }),
    'email-reason': () => ({ action: 'block', reason: 'found anna@example.com' }),
    nothing: () => undefined as unknown as PolicyDecision,
    'throwing-getter': () =>
      ({
        get action(): string {
          throw new Error('boom');
        },
      }) as unknown as PolicyDecision,
  };

  for (const [id, check] of Object.entries(failing)) {
    it(`${id} → block 'policy failed'`, async () => {
      const after = spy('after');
      const result = await applyContentPolicies({ rules: [{ policy: { id, check } }, { policy: after }] }, input(`card ${PAN}`));
      expect(result).toEqual({ action: 'block', outcomes: [], blocked: { policy: id, reason: 'policy failed', direction: 'send' } });
      expect(JSON.stringify(result)).not.toContain('4012');
      expect(after.seen).toEqual([]);
    });
  }
});

describe('assertAllowed and ContentBlockedError', () => {
  it('returns a passing result and throws content_blocked with { policy, reason, direction }', () => {
    const pass: ContentPolicyResult = { action: 'redact', text: 'x', outcomes: [{ policy: 'card', action: 'redact' }] };
    expect(assertAllowed(pass)).toBe(pass);
    const stop: ContentPolicyResult = { action: 'block', outcomes: [], blocked: { policy: 'iban', reason: 'contains a bank account number (IBAN)', direction: 'receive' } };
    expect(() => assertAllowed(stop)).toThrow(
      expect.objectContaining({ code: 'content_blocked', details: { policy: 'iban', reason: 'contains a bank account number (IBAN)', direction: 'receive' } }),
    );
    const error = new ContentBlockedError(stop.blocked);
    expect(error).toBeInstanceOf(ClientError);
    expect(error.name).toBe('ContentBlockedError');
    expect(CLIENT_ERROR_CODES).toContain('content_blocked');
  });
});

describe('configuration', () => {
  const card = cardNumberPolicy({ action: 'block' });
  const refused = (config: unknown): unknown => {
    try {
      validateContentPolicyConfig(config as ContentPolicyConfig);
    } catch (e) {
      return e;
    }
    return undefined;
  };

  it('refuses duplicate policy ids', async () => {
    const config = { rules: [{ policy: emailPolicy({ action: 'redact' }) }, { policy: emailPolicy({ action: 'block' }) }] };
    expect(refused(config)).toMatchObject({ code: 'invalid_argument', details: { argument: 'rules[1].policy.id' } });
    expect(refused({ rules: [{ policy: card }, { policy: card, classes: ['otp'] }] })).toMatchObject({ details: { argument: 'rules[1].policy.id' } });
    await expect(applyContentPolicies(config, input('x'))).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('refuses ids outside DLP_POLICY_ID_PATTERN, policies without check, empty filters, unknown directions', () => {
    expect(refused({ rules: [{ policy: { id: 'Bad Id', check: () => ({ action: 'allow' }) } }] })).toMatchObject({ details: { argument: 'rules[0].policy.id' } });
    expect(refused({ rules: [{ policy: { id: 'x' } }] })).toMatchObject({ details: { argument: 'rules[0].policy' } });
    expect(refused({ rules: [{ policy: card, classes: [] }] })).toMatchObject({ details: { argument: 'rules[0].classes' } });
    expect(refused({ rules: [{ policy: card, directions: ['outbound'] }] })).toMatchObject({ details: { argument: 'rules[0].directions' } });
    expect(refused({ rules: [{ policy: card, conversationKinds: [1] }] })).toMatchObject({ details: { argument: 'rules[0].conversationKinds' } });
  });

  it('refuses more rules than MAX_DLP_OUTCOMES, a bad budget, a bad onTimeout', () => {
    const many = Array.from({ length: 17 }, (_, i) => ({ policy: { id: `p${i}`, check: (): PolicyDecision => ({ action: 'allow' }) } }));
    expect(refused({ rules: many })).toMatchObject({ details: { argument: 'rules' } });
    expect(refused({ rules: many.slice(0, 16) })).toBeUndefined();
    for (const budgetMs of [0, -5, Number.NaN, Infinity, 60_001]) expect(refused({ rules: [], budgetMs })).toMatchObject({ details: { argument: 'budgetMs' } });
    expect(refused({ rules: [], onTimeout: 'retry' })).toMatchObject({ details: { argument: 'onTimeout' } });
  });

  it('refuses an invalid input', async () => {
    await expect(applyContentPolicies(undefined, input('x', { direction: 'out' as 'send' }))).rejects.toMatchObject({ details: { argument: 'input.direction' } });
  });
});
