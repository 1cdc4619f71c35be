/**
 * `@parley/gateway`: the business's sending gateway — a REST API for the bank's services,
 * signed status webhooks, several instances on one database. Webhook verification for
 * receivers is in `@parley/gateway/webhooks`.
 */
export { startGateway, type GatewayOptions, type RunningGateway } from './gateway.js';
export { initGateway, type InitOptions, type InitResult } from './init.js';
export { openGatewayDatabase } from './storage/open-database.js';
export { migrateGateway } from './storage/migrations.js';
export { KeyFileWrapper, type KeyWrapper } from './custody/key-wrapper.js';
export { createApiKey, listApiKeys, revokeApiKey, type ApiKeyInfo } from './api-keys.js';
export { readWebhookSecrets, writeWebhookSecrets, rotateWebhookSecret, retireOldWebhookSecrets } from './secrets.js';
export { loadDataKey } from './custody/data-key.js';
export type { SenderKeyLabels, SenderKeySource, OpenedSenderKeys } from './custody/sender-keys.js';
export { requestSenderRotation, senderRotationOutcome, type SenderRotationOutcome } from './custody/sender-rotation.js';
export { GatewayError, GATEWAY_ERROR_CODES, type GatewayErrorCode } from './errors.js';
export { DbKeyStore } from './storage/db-key-store.js';
