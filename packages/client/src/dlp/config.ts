/**
 * The content-policy configuration: which policies apply to which messages, in which order,
 * within which time budget — and its validation (InvalidArgumentError, before any message).
 */
import { DLP_POLICY_ID_PATTERN, MAX_DLP_OUTCOMES } from '@parley/core';
import { InvalidArgumentError } from '../errors.js';
import { isPolicyId, type ContentDirection, type ContentInput, type ContentPolicy } from './policy.js';

/**
 * One policy and the messages it applies to. An absent filter matches every message; a present
 * one must be non-empty. The filters combine with AND.
 *
 * @example
 * const rule: ContentPolicyRule = { policy: cardNumberPolicy({ action: 'block' }), classes: ['otp', 'marketing'], directions: ['send'] }
 */
export interface ContentPolicyRule {
  readonly policy: ContentPolicy;
  readonly classes?: readonly string[];
  readonly conversationKinds?: readonly string[];
  readonly directions?: readonly ContentDirection[];
}

/**
 * The policies of a device or Sender. Rules run in order, each on the text as the previous
 * ones left it; the first `block` ends the run. At most `MAX_DLP_OUTCOMES` (16) rules, with
 * distinct policy ids, so that every policy that acted fits in the recorded outcomes.
 *
 * @example
 * const config: ContentPolicyConfig = {
 *   rules: [{ policy: cardNumberPolicy({ action: 'redact' }) }, { policy: ibanPolicy({ action: 'block' }), classes: ['otp'] }],
 *   budgetMs: 250,
 *   onTimeout: 'block',
 * }
 */
export interface ContentPolicyConfig {
  readonly rules: readonly ContentPolicyRule[];
  /** Time for all policies of one message together, in ms (default 250, at most 60 000). */
  readonly budgetMs?: number;
  /**
   * When the budget runs out before a policy answers: `block` the message (default; reason
   * 'policy timed out'), or `allow` — that policy counts as allowing and the later rules still
   * run with an already aborted signal (a synchronous answer is used; a pending one is not awaited).
   */
  readonly onTimeout?: 'block' | 'allow';
}

/**
 * The default time budget of one message, all policies together.
 *
 * @example
 * const budgetMs = config.budgetMs ?? DEFAULT_POLICY_BUDGET_MS
 */
export const DEFAULT_POLICY_BUDGET_MS = 250;
const MAX_BUDGET_MS = 60_000;
const DIRECTIONS: readonly string[] = ['send', 'receive'];

function checkFilter(values: readonly string[] | undefined, argument: string, allowed?: readonly string[]): void {
  if (values === undefined) return;
  if (!Array.isArray(values) || values.length === 0) throw new InvalidArgumentError(argument, 'a non-empty list (leave it out to match every message)');
  for (const value of values) {
    if (typeof value !== 'string' || (allowed !== undefined && !allowed.includes(value))) {
      throw new InvalidArgumentError(argument, allowed === undefined ? 'strings' : `one of ${allowed.join(', ')}`);
    }
  }
}

/**
 * Checks a configuration: at most 16 rules, each with a policy (an id matching
 * `DLP_POLICY_ID_PATTERN`, unique in the configuration, and a `check` function) and non-empty
 * filters; a budget of 1–60 000 ms; `onTimeout` `block` or `allow`. Throws InvalidArgumentError
 * naming the argument (e.g. `rules[2].policy.id`).
 *
 * @example
 * validateContentPolicyConfig({ rules: [{ policy: cardNumberPolicy({ action: 'block' }) }] }) // ok
 * validateContentPolicyConfig({ rules: [{ policy: emailPolicy({ action: 'block' }) }, { policy: emailPolicy({ action: 'redact' }) }] }) // throws: duplicate id
 */
export function validateContentPolicyConfig(config: ContentPolicyConfig): void {
  if (typeof config !== 'object' || config === null || !Array.isArray(config.rules)) throw new InvalidArgumentError('rules', 'a list of rules');
  if (config.rules.length > MAX_DLP_OUTCOMES) throw new InvalidArgumentError('rules', `at most ${MAX_DLP_OUTCOMES} rules (MAX_DLP_OUTCOMES)`);
  const ids = new Set<string>();
  config.rules.forEach((rule, i) => {
    const policy: Partial<ContentPolicy> | undefined = typeof rule === 'object' && rule !== null ? rule.policy : undefined;
    if (typeof policy !== 'object' || policy === null || typeof policy.check !== 'function') {
      throw new InvalidArgumentError(`rules[${i}].policy`, 'a policy with an id and a check function');
    }
    if (!isPolicyId(policy.id)) throw new InvalidArgumentError(`rules[${i}].policy.id`, `a policy id matches ${DLP_POLICY_ID_PATTERN}`);
    if (ids.has(policy.id)) throw new InvalidArgumentError(`rules[${i}].policy.id`, `'${policy.id}' is used by an earlier rule: policy ids are unique in a configuration`);
    ids.add(policy.id);
    checkFilter(rule.classes, `rules[${i}].classes`);
    checkFilter(rule.conversationKinds, `rules[${i}].conversationKinds`);
    checkFilter(rule.directions, `rules[${i}].directions`, DIRECTIONS);
  });
  const budget = config.budgetMs;
  if (budget !== undefined && (typeof budget !== 'number' || !Number.isFinite(budget) || budget < 1 || budget > MAX_BUDGET_MS)) {
    throw new InvalidArgumentError('budgetMs', `a number of milliseconds from 1 to ${MAX_BUDGET_MS}`);
  }
  if (config.onTimeout !== undefined && config.onTimeout !== 'block' && config.onTimeout !== 'allow') {
    throw new InvalidArgumentError('onTimeout', "'block' or 'allow'");
  }
}

/**
 * @internal True when `rule` applies to the message (every present filter lists its value).
 *
 * @example
 * ruleApplies({ policy, classes: ['otp'] }, { ...input, class: 'otp' }) // true
 */
export function ruleApplies(rule: ContentPolicyRule, input: ContentInput): boolean {
  return (
    (rule.classes === undefined || rule.classes.includes(input.class)) &&
    (rule.conversationKinds === undefined || rule.conversationKinds.includes(input.conversationKind)) &&
    (rule.directions === undefined || rule.directions.includes(input.direction))
  );
}
