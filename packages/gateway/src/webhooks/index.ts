/**
 * `@parley/gateway/webhooks`: Standard Webhooks signing and verification, for the bank's
 * receiver of the gateway's status webhooks (and used by the gateway to sign them). Imports
 * node:crypto only. The payload types describe the JSON a receiver gets.
 */
export {
  newWebhookSecret,
  signWebhook,
  webhookHeaders,
  verifyWebhook,
  WebhookReplayGuard,
  WebhookVerificationError,
  type WebhookVerificationCode,
  type WebhookHeaders,
  type IncomingWebhookHeaders,
  type VerifyWebhookOptions,
} from './standard-webhooks.js';
export type { GatewayEventType, WebhookBody } from './events.js';
