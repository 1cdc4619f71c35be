/**
 * The content-policy engine (DLP on the device): runs the configured policies on one message —
 * before encryption on send, after decryption on receive — and returns what to do with it. What
 * it records is metadata only: one `DlpOutcome` `{ policy, action: 'redact' }` per policy that
 * changed the text; a block names the policy and its fixed reason. Never the matched text.
 *
 * Fail closed: a policy that throws, rejects or answers something that is not a decision blocks
 * the message ('policy failed'). Time: one budget per message (`budgetMs`, default 250 ms) for
 * all its policies; see `ContentPolicyConfig.onTimeout`.
 */
import type { DlpOutcome } from '@parley/core';
import { ContentBlockedError, InvalidArgumentError } from '../errors.js';
import { PolicyBudget } from './budget.js';
import { DEFAULT_POLICY_BUDGET_MS, ruleApplies, validateContentPolicyConfig, type ContentPolicyConfig } from './config.js';
import type { ContentDirection, ContentInput, PolicyDecision } from './policy.js';

/**
 * The message may go on: `allow` (unchanged) or `redact` (`text` changed by the policies named in `outcomes`).
 *
 * @example
 * if (result.action !== 'block') await encryptAndSend(result.text, { dlp: result.outcomes })
 */
export interface ContentPolicyPass {
  readonly action: 'allow' | 'redact';
  readonly text: string;
  /** One `{ policy, action: 'redact' }` per policy that changed the text, in rule order; empty for `allow`. */
  readonly outcomes: readonly DlpOutcome[];
}

/**
 * Why a message was blocked: the policy, its fixed reason (or 'policy failed' / 'policy timed out') and the direction.
 *
 * @example
 * const block: ContentBlock = { policy: 'card', reason: 'contains a payment card number', direction: 'send' }
 */
export interface ContentBlock {
  readonly policy: string;
  readonly reason: string;
  readonly direction: ContentDirection;
}

/**
 * The message is blocked: nothing is sent (or shown). There is no text on purpose; `outcomes` lists
 * the policies that had redacted before the block.
 *
 * @example
 * if (result.action === 'block') log.warn('blocked by', result.blocked.policy)
 */
export interface ContentPolicyStop {
  readonly action: 'block';
  readonly outcomes: readonly DlpOutcome[];
  readonly blocked: ContentBlock;
}

/**
 * What `applyContentPolicies` decided for one message.
 *
 * @example
 * const result: ContentPolicyResult = await applyContentPolicies(config, input)
 */
export type ContentPolicyResult = ContentPolicyPass | ContentPolicyStop;

/**
 * The reason of a block when a policy threw, rejected or gave an invalid answer (fail closed).
 *
 * @example
 * if (result.action === 'block' && result.blocked.reason === POLICY_FAILED) reportBrokenPolicy(result.blocked.policy)
 */
export const POLICY_FAILED = 'policy failed';
/**
 * The reason of a block when the time budget ran out before a policy answered (`onTimeout: 'block'`).
 *
 * @example
 * if (result.action === 'block' && result.blocked.reason === POLICY_TIMED_OUT) retryLater()
 */
export const POLICY_TIMED_OUT = 'policy timed out';

function checkInput(input: ContentInput): void {
  if (typeof input !== 'object' || input === null || typeof input.text !== 'string') throw new InvalidArgumentError('input.text', 'a string');
  if (typeof input.class !== 'string') throw new InvalidArgumentError('input.class', 'a string');
  if (typeof input.conversationKind !== 'string') throw new InvalidArgumentError('input.conversationKind', 'a string');
  if (input.direction !== 'send' && input.direction !== 'receive') throw new InvalidArgumentError('input.direction', "'send' or 'receive'");
}

/**
 * Runs the policies of `config` that apply to `input` (its class, conversation kind and
 * direction), in rule order, each on the text as the previous ones left it; the first `block`
 * ends the run. No config, or no rule that applies: `allow`. Throws only InvalidArgumentError
 * (an invalid config or input); every policy problem is a `block` result.
 *
 * @example
 * const result = await applyContentPolicies(
 *   { rules: [{ policy: cardNumberPolicy({ action: 'redact' }) }, { policy: ibanPolicy({ action: 'block' }), classes: ['otp'] }] },
 *   { text: 'card 4111 1111 1111 1111', class: 'support', conversationKind: 'business', direction: 'send', attachments: [] },
 * )
 * // { action: 'redact', text: 'card •••• •••• •••• 1111', outcomes: [{ policy: 'card', action: 'redact' }] }
 */
export async function applyContentPolicies(config: ContentPolicyConfig | undefined, input: ContentInput): Promise<ContentPolicyResult> {
  checkInput(input);
  if (config === undefined) return { action: 'allow', text: input.text, outcomes: [] };
  validateContentPolicyConfig(config);
  const rules = config.rules.filter((rule) => ruleApplies(rule, input));
  if (rules.length === 0) return { action: 'allow', text: input.text, outcomes: [] };
  const onTimeout = config.onTimeout ?? 'block';
  const outcomes: DlpOutcome[] = [];
  const stop = (policy: string, reason: string): ContentPolicyStop => ({ action: 'block', outcomes, blocked: { policy, reason, direction: input.direction } });
  let text = input.text;
  const budget = new PolicyBudget(config.budgetMs ?? DEFAULT_POLICY_BUDGET_MS);
  try {
    for (const { policy } of rules) {
      const id = policy.id;
      const run = await budget.run(policy, Object.freeze({ ...input, text }));
      if (run.status === 'failed') return stop(id, POLICY_FAILED);
      if (run.status === 'timed-out') {
        if (onTimeout === 'block') return stop(id, POLICY_TIMED_OUT);
        continue;
      }
      if (run.status === 'late' && onTimeout === 'block') return stop(id, POLICY_TIMED_OUT);
      const decision: PolicyDecision = run.decision;
      if (decision.action === 'block') return stop(id, decision.reason);
      if (decision.action === 'redact' && decision.text !== text) {
        text = decision.text;
        outcomes.push({ policy: id, action: 'redact' });
      }
    }
  } finally {
    budget.dispose();
  }
  return { action: outcomes.length > 0 ? 'redact' : 'allow', text, outcomes };
}

/**
 * The result if the message may go on; for a block, throws ContentBlockedError (`content_blocked`,
 * details `{ policy, reason, direction }` — never the matched text).
 *
 * @example
 * const { text, outcomes } = assertAllowed(await applyContentPolicies(config, input))
 */
export function assertAllowed(result: ContentPolicyResult): ContentPolicyPass {
  if (result.action === 'block') throw new ContentBlockedError(result.blocked);
  return result;
}
