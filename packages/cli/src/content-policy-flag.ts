/**
 * `--dlp CLASS=POLICY[+POLICY…]:ACTION` (repeatable; or `PARLEY_GATEWAY_DLP`, comma-separated):
 * the gateway's content policies per message class (docs/content-policies.md). CLASS is a
 * message class or `*` (every class); POLICY is a built-in: `card` (payment card numbers,
 * Luhn-checked), `iban` (ISO 13616, mod-97-checked), `email`, `phone`; ACTION is `block` (the
 * REST API refuses the message with 422 `content_blocked`: nothing is stored or sent) or
 * `redact` (the sender replaces what matched before encrypting; the commitment records it).
 */
import { cardNumberPolicy, emailPolicy, ibanPolicy, phonePolicy, type ContentPolicy, type ContentPolicyConfig, type ContentPolicyRule } from '@parley/client';
import { UsageError } from './errors.js';

const RULE = /^(\*|[a-z][a-z0-9-]{0,31})=([a-z]+(?:\+[a-z]+)*):(block|redact)$/;

const BUILT_INS: Record<string, (action: 'block' | 'redact', id: string) => ContentPolicy> = {
  card: (action, id) => cardNumberPolicy({ action, id }),
  iban: (action, id) => ibanPolicy({ action, id }),
  email: (action, id) => emailPolicy({ action, id }),
  phone: (action, id) => phonePolicy({ action, id }),
};

/**
 * The content-policy configuration the flags state (send direction only), undefined for none;
 * `UsageError` for a malformed flag or an unknown policy.
 *
 * @example
 * parseContentPolicyFlags(['alert=card+iban:block', '*=card:redact'])
 */
export function parseContentPolicyFlags(values: readonly string[]): ContentPolicyConfig | undefined {
  const rules: ContentPolicyRule[] = [];
  for (const value of values) {
    const m = RULE.exec(value.trim());
    if (!m) throw new UsageError(`--dlp ${value}: expected CLASS=POLICY[+POLICY]:block|redact (CLASS: a message class or *)`);
    const [, messageClass, names, action] = m as unknown as [string, string, string, 'block' | 'redact'];
    for (const name of names.split('+')) {
      const make = BUILT_INS[name];
      if (!make) throw new UsageError(`--dlp ${value}: unknown policy ${name} (card, iban, email, phone)`);
      // One id per rule: the same policy may act differently in two classes.
      const id = `${name}.${messageClass === '*' ? 'all' : messageClass}.${action}`;
      rules.push({ policy: make(action, id), directions: ['send'], ...(messageClass === '*' ? {} : { classes: [messageClass] }) });
    }
  }
  return rules.length > 0 ? { rules } : undefined;
}
