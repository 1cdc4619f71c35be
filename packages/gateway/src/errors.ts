/**
 * The gateway's typed errors: a stable machine-readable `code` and the HTTP status the
 * REST API answers with. Messages never carry message content, keys or secrets.
 */
import { ParleyError } from '@parley/core';

/** Every code the gateway itself raises (the REST API's error bodies carry them). */
export const GATEWAY_ERROR_CODES = [
  'unauthorized',
  'invalid_request',
  'idempotency_key_reused',
  'unknown_message',
  'evidence_unavailable',
  'not_initialized',
  'already_initialized',
  'record_unreadable',
  'wrong_key',
  'key_file_exists',
  'key_file_missing',
  'key_file_insecure',
  'key_file_invalid',
  'data_dir_insecure',
  'lease_lost',
  'store_closed',
  'server_unreachable',
  'business_registration_failed',
  'payload_too_large',
  'content_blocked',
  'rate_limited',
  'internal_error',
] as const;
export type GatewayErrorCode = (typeof GATEWAY_ERROR_CODES)[number];

const STATUS: Partial<Record<GatewayErrorCode, number>> = {
  unauthorized: 401,
  content_blocked: 422,
  invalid_request: 400,
  idempotency_key_reused: 409,
  unknown_message: 404,
  evidence_unavailable: 409,
  payload_too_large: 413,
  rate_limited: 429,
  not_initialized: 503,
  server_unreachable: 502,
};

/**
 * A gateway failure with a stable `code`.
 *
 * @example
 * throw new GatewayError('unknown_message', 'no message with this id')
 */
export class GatewayError extends ParleyError {
  constructor(code: GatewayErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, { status: STATUS[code] ?? 500, ...options });
    this.name = 'GatewayError';
  }
}
