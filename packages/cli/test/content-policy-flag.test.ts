import { describe, expect, it } from 'vitest';
import { applyContentPolicies } from '@parley/client';
import { parseContentPolicyFlags } from '../src/content-policy-flag.js';

const input = (text: string, messageClass: string) => ({ text, class: messageClass, conversationKind: 'business', direction: 'send' as const, attachments: [] });

describe('parley gateway --dlp', () => {
  it('reads rules per class (or every class) that block or redact with the built-in policies', async () => {
    const config = parseContentPolicyFlags(['alert=card+iban:block', '*=card:redact'])!;
    expect(config.rules.map((r) => [r.policy.id, r.classes])).toEqual([
      ['card.alert.block', ['alert']],
      ['iban.alert.block', ['alert']],
      ['card.all.redact', undefined],
    ]);
    expect(await applyContentPolicies(config, input('pay to NL91 ABNA 0417 1643 00', 'alert'))).toMatchObject({ action: 'block', blocked: { policy: 'iban.alert.block' } });
    expect(await applyContentPolicies(config, input('card 4111 1111 1111 1111', 'support'))).toMatchObject({ action: 'redact', text: 'card •••• •••• •••• 1111' });
    expect(await applyContentPolicies(config, input('pay to NL91 ABNA 0417 1643 00', 'support'))).toMatchObject({ action: 'allow' });
    expect(parseContentPolicyFlags([])).toBeUndefined();
  });

  it('refuses anything else with a usage error', () => {
    for (const bad of ['alert', 'alert=card', 'alert=card:warn', 'Alert=card:block', 'alert=ssn:block', 'alert=card++iban:block', '=card:block']) {
      expect(() => parseContentPolicyFlags([bad]), bad).toThrow(expect.objectContaining({ code: 'usage' }));
    }
  });
});
