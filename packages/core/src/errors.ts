/**
 * One error base for all of Parley. Every error carries a stable, machine-readable
 * `code` (tests and HTTP clients match on it, never on the message) and keeps its
 * `cause`. Messages never contain tokens, keys or message content. The codes core itself
 * throws are listed, with their meaning, in `error-codes.ts` (`CORE_ERROR_CODES`).
 */
/**
 * The base of every Parley error.
 *
 * @example
 * throw new ParleyError('tlog_bad_hashes', 'the hash store returned a short read', { status: 500 });
 */
export class ParleyError extends Error {
  /** Stable machine-readable code, e.g. `invalid_request`. */
  readonly code: string;
  /** HTTP status the server maps this error to. */
  readonly status: number;
  /** Extra, non-secret context (e.g. `retryAfterMs`, `deviceId`). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: string,
    message: string,
    options: { status?: number; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ParleyError';
    this.code = code;
    this.status = options.status ?? 400;
    this.details = options.details;
  }
}

/**
 * Malformed input: wrong types, bad encodings, missing fields (status 400; code `invalid_request` unless given).
 *
 * @example
 * throw new InvalidInputError('invalid device id', { code: 'invalid_device_id' });
 */
export class InvalidInputError extends ParleyError {
  constructor(message: string, options: { code?: string; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(options.code ?? 'invalid_request', message, { status: 400, ...options });
    this.name = 'InvalidInputError';
  }
}

/**
 * Authentication failed or is missing (status 401).
 *
 * @example
 * throw new UnauthorizedError('invalid_session', 'the session token has expired');
 */
export class UnauthorizedError extends ParleyError {
  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, { status: 401, ...options });
    this.name = 'UnauthorizedError';
  }
}

/**
 * Authenticated, but not allowed to do this (status 403).
 *
 * @example
 * throw new ForbiddenError('not_a_member', 'the device is not a member of this conversation');
 */
export class ForbiddenError extends ParleyError {
  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, { status: 403, ...options });
    this.name = 'ForbiddenError';
  }
}

/**
 * The named thing does not exist, or is not visible to the caller (status 404).
 *
 * @example
 * throw new NotFoundError('unknown_device', 'no such device', { details: { deviceId } });
 */
export class NotFoundError extends ParleyError {
  constructor(code: string, message: string, options: { details?: Record<string, unknown> } = {}) {
    super(code, message, { status: 404, ...options });
    this.name = 'NotFoundError';
  }
}

/**
 * The request conflicts with current state: duplicate id, stale epoch … (status 409).
 *
 * @example
 * throw new ConflictError('epoch_conflict', 'the group has moved on', { details: { epoch: '7' } });
 */
export class ConflictError extends ParleyError {
  constructor(code: string, message: string, options: { details?: Record<string, unknown> } = {}) {
    super(code, message, { status: 409, ...options });
    this.name = 'ConflictError';
  }
}

/**
 * Too many requests; `retryAfterMs` says when to come back (status 429, code `rate_limited`).
 *
 * @example
 * throw new RateLimitedError('too many KeyPackage claims', 30_000);
 */
export class RateLimitedError extends ParleyError {
  declare readonly code: 'rate_limited';
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super('rate_limited', message, { status: 429, details: { retryAfterMs } });
    this.name = 'RateLimitedError';
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * A cryptographic check failed: bad signature, undecryptable message … (status 400).
 *
 * @example
 * throw new CryptoError('mls_wrong_group', 'the message belongs to another group');
 */
export class CryptoError extends ParleyError {
  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, { status: 400, ...options });
    this.name = 'CryptoError';
  }
}

/**
 * True when `value` is a ParleyError (also across module copies).
 *
 * @example
 * if (isParleyError(error) && error.code === 'mls_epoch_too_old') markUndecryptable(envelope);
 */
export function isParleyError(value: unknown): value is ParleyError {
  return value instanceof ParleyError || (value instanceof Error && typeof (value as { code?: unknown }).code === 'string' && typeof (value as { status?: unknown }).status === 'number');
}
