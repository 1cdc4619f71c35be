export { startServer, type ParleyServer, type StartOptions } from './app.js';
export { type EmbeddedDatabase } from './storage/embedded-open.js';
export { resolveConfig, type ServerConfig, type ServerConfigInput, type DatabaseConfig } from './config.js';
export { type Database, type Sql, type Engine, DatabaseError } from './storage/database.js';
export { PgliteDatabase } from './storage/pglite.js';
export { lockDataDir, type DataDirLock } from './storage/private-dir.js';
export { PostgresDatabase } from './storage/postgres.js';
export { migrate, type MigrationSet } from './storage/migrate.js';
export { isUniqueViolation, isTransientError, retryTransient } from './storage/database.js';
export { mapError, installErrorHandling, frameworkErrors, clientErrorHandler } from './http/errors.js';
export { installJsonBodyParser } from './http/json-body.js';
export { SERVER_ERROR_CODES, SERVER_ERROR_CODE_GROUPS, isServerErrorCode, type ServerErrorCode, type HttpStatusErrorCode } from './error-codes.js';
export { ENROLLMENT_AUDIENCE } from './http/business-tokens.js';
// --- transparency-log key rotation (offline, run by an operator: parley log rotate-key)
export { startKeyRotation, finishKeyRotation } from './tlog/key-rotation-files.js';
// --- delivery channels and routing
export { ChannelError, type Channel, type ChannelName, type OutboundItem, type OutboundEnvelope, type Recipient, type StatusEvent, type Capabilities } from './channels/channel.js';
export { FcmChannel, type FcmChannelOptions } from './channels/fcm.js';
export { ApnsChannel, type ApnsChannelOptions } from './channels/apns.js';
export { RbmChannel, type RbmChannelOptions } from './channels/rbm.js';
export { TwilioChannel, type TwilioChannelOptions } from './channels/twilio.js';
export { SmppChannel, type SmppChannelOptions } from './channels/smpp.js';
export { smsDeliver, type WebLinkSms, type WebLinkSmsResult } from './channels/sender-sms.js';
export { PARLEY_ENVELOPE_TYPE, type ChannelSet, type RoutingConfig, type BusinessRouting } from './routing/routing-config.js';
export { type RoutingPolicy, type RouteStep, type StepName, type OtherwiseAction, type DeliveryPath, DEFAULT_POLICIES, validatePolicy } from './routing/policy.js';
// --- traces of the message path (docs/observability.md)
export { Tracing, type TracingConfig } from './observability/tracing.js';
export { otlpTracesEndpoint } from './observability/tracing-endpoint.js';
export { SPAN_NAMES, ATTRIBUTE_KEYS, type SpanName } from './observability/span-allow-list.js';
