/**
 * DLP on the device: the public surface of the content-policy engine and the built-in policies
 * (one line to re-export from the package entry). Browser-safe: no Node built-ins, no Buffer.
 */
export type { ContentAttachment, ContentDirection, ContentInput, ContentPolicy, PolicyAction, PolicyDecision } from './policy.js';
export { spanPolicy, type SpanPolicyOptions, type TextSpan } from './spans.js';
export { DEFAULT_POLICY_BUDGET_MS, validateContentPolicyConfig, type ContentPolicyConfig, type ContentPolicyRule } from './config.js';
export {
  applyContentPolicies,
  assertAllowed,
  POLICY_FAILED,
  POLICY_TIMED_OUT,
  type ContentBlock,
  type ContentPolicyPass,
  type ContentPolicyResult,
  type ContentPolicyStop,
} from './engine.js';
export { cardNumberPolicy, type CardNumberPolicyOptions } from './policies/card.js';
export { ibanPolicy, type IbanPolicyOptions } from './policies/iban.js';
export { emailPolicy, type EmailPolicyOptions } from './policies/email.js';
export { phonePolicy, type PhonePolicyOptions } from './policies/phone.js';
export { keywordPolicy, type KeywordPolicyOptions } from './policies/keyword.js';
