/**
 * Content policies (DLP on the device): the contract between a policy and the engine
 * (engine.ts). A policy looks at a message's text — before encryption on send, after
 * decryption on receive — and decides `allow`, `redact` (the changed text) or `block` (a fixed
 * reason). What is recorded about it afterwards is its id and action only, never the text it
 * matched; so a block reason is a phrase chosen by the policy, never built from the content.
 */
import { DLP_POLICY_ID_PATTERN } from '@parley/core';
import { InvalidArgumentError } from '../errors.js';

/**
 * Where the content is going: `send` (checked before encryption) or `receive` (after decryption).
 *
 * @example
 * const direction: ContentDirection = 'send'
 */
export type ContentDirection = 'send' | 'receive';

/**
 * What a policy sees of one message. Attachments are described by metadata only.
 *
 * @example
 * const input: ContentInput = { text: 'hi', class: 'support', conversationKind: 'business', direction: 'send', attachments: [] }
 */
export interface ContentInput {
  readonly text: string;
  /** The message class, e.g. `otp`, `statement`, `support`. */
  readonly class: string;
  /** e.g. `business` (a business ↔ customer conversation) or `direct`; opaque to the engine. */
  readonly conversationKind: string;
  readonly direction: ContentDirection;
  readonly attachments: readonly ContentAttachment[];
}

/**
 * An attachment of the message, as metadata (its bytes are not given to policies).
 *
 * @example
 * const statement: ContentAttachment = { name: 'statement.pdf', mime: 'application/pdf', size: 48_213 }
 */
export interface ContentAttachment {
  readonly name?: string;
  readonly mime: string;
  readonly size: number;
}

/**
 * A policy's decision. `reason` (block) is a fixed phrase chosen by the policy: never the matched
 * text (the engine refuses a reason with a run of 4 or more digits or an `@` as a failed policy).
 *
 * @example
 * const decision: PolicyDecision = { action: 'block', reason: 'contains a payment card number' }
 */
export type PolicyDecision =
  | { readonly action: 'allow' }
  | { readonly action: 'redact'; readonly text: string }
  | { readonly action: 'block'; readonly reason: string };

/**
 * A content policy. `check` may be async (a host app calling a local classifier); it gets an
 * AbortSignal that aborts when the message's time budget runs out, after which its answer is
 * ignored. A synchronous `check` cannot be interrupted: keep it fast (the built-in ones are linear).
 *
 * @example
 * const classifier: ContentPolicy = {
 *   id: 'toxicity',
 *   async check(input, signal) {
 *     const score = await localModel.score(input.text, { signal })
 *     return score > 0.9 ? { action: 'block', reason: 'flagged by the on-device classifier' } : { action: 'allow' }
 *   },
 * }
 */
export interface ContentPolicy {
  /** Recorded with the outcome: matches `DLP_POLICY_ID_PATTERN` (`^[a-z0-9][a-z0-9._-]{0,63}$`). */
  readonly id: string;
  check(input: ContentInput, signal: AbortSignal): Promise<PolicyDecision> | PolicyDecision;
}

/**
 * What a built-in policy does when it finds something: `redact` the matched spans, or `block` the message.
 *
 * @example
 * const action: PolicyAction = 'block'
 */
export type PolicyAction = 'redact' | 'block';

const POLICY_ID = new RegExp(DLP_POLICY_ID_PATTERN);
const MAX_REASON_LENGTH = 200;

/**
 * True when `id` can name a policy in outcomes and commitments (`DLP_POLICY_ID_PATTERN`).
 *
 * @example
 * isPolicyId('card') // true
 * isPolicyId('Card Numbers') // false
 */
export function isPolicyId(id: unknown): id is string {
  return typeof id === 'string' && POLICY_ID.test(id);
}

/**
 * True when `reason` is an acceptable block reason: 1–200 characters, no control characters, no
 * run of 4 or more digits and no `@` — a backstop against a policy that puts what it matched
 * (a number, an address) into its reason.
 *
 * @example
 * isSafeReason('contains a payment card number') // true
 * isSafeReason('card 4111111111111111') // false
 */
export function isSafeReason(reason: unknown): reason is string {
  return (
    typeof reason === 'string' &&
    reason.trim().length > 0 &&
    reason.length <= MAX_REASON_LENGTH &&
    !/[\p{Cc}@]|\p{Nd}{4}/u.test(reason)
  );
}

/**
 * The decision `value` if it is a well-formed `PolicyDecision` (a safe reason for `block`), else undefined.
 *
 * @example
 * parseDecision({ action: 'redact', text: '[removed]' }) // { action: 'redact', text: '[removed]' }
 * parseDecision({ action: 'deny' }) // undefined
 */
export function parseDecision(value: unknown): PolicyDecision | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const decision = value as { readonly action?: unknown; readonly text?: unknown; readonly reason?: unknown };
  const action = decision.action;
  if (action === 'allow') return { action };
  if (action === 'redact') return typeof decision.text === 'string' ? { action, text: decision.text } : undefined;
  if (action === 'block') return isSafeReason(decision.reason) ? { action, reason: decision.reason } : undefined;
  return undefined;
}

/**
 * @internal The options every built-in policy factory checks: its id (default `fallbackId`) and action.
 *
 * @example
 * const { id, action } = policyIdentity(options, 'card') // throws InvalidArgumentError for a bad id or action
 */
export function policyIdentity(
  options: { readonly id?: string; readonly action: PolicyAction },
  fallbackId: string,
): { readonly id: string; readonly action: PolicyAction } {
  const id = options.id ?? fallbackId;
  if (!isPolicyId(id)) throw new InvalidArgumentError('id', `a policy id matches ${DLP_POLICY_ID_PATTERN}`);
  if (options.action !== 'redact' && options.action !== 'block') throw new InvalidArgumentError('action', "'redact' or 'block'");
  return { id, action: options.action };
}
