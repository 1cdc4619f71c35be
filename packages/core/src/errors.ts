/**
 * One error base for all of Parley. Every error carries a stable, machine-readable
 * `code` (tests and HTTP clients match on it, never on the message) and keeps its
 * `cause`. Messages never contain tokens, keys or message content.
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

/** Malformed input: wrong types, bad encodings, missing fields. */
export class InvalidInputError extends ParleyError {
  constructor(message: string, options: { code?: string; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(options.code ?? 'invalid_request', message, { status: 400, ...options });
    this.name = 'InvalidInputError';
  }
}

/** Authentication failed or is missing. */
export class UnauthorizedError extends ParleyError {
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { status: 401, ...options });
    this.name = 'UnauthorizedError';
  }
}

/** Authenticated, but not allowed to do this. */
export class ForbiddenError extends ParleyError {
  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, { status: 403, ...options });
    this.name = 'ForbiddenError';
  }
}

/** The named thing does not exist (or is not visible to the caller). */
export class NotFoundError extends ParleyError {
  constructor(code: string, message: string, options: { details?: Record<string, unknown> } = {}) {
    super(code, message, { status: 404, ...options });
    this.name = 'NotFoundError';
  }
}

/** The request conflicts with current state (duplicate id, stale epoch …). */
export class ConflictError extends ParleyError {
  constructor(code: string, message: string, options: { details?: Record<string, unknown> } = {}) {
    super(code, message, { status: 409, ...options });
    this.name = 'ConflictError';
  }
}

/** Too many requests; `retryAfterMs` says when to come back. */
export class RateLimitedError extends ParleyError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super('rate_limited', message, { status: 429, details: { retryAfterMs } });
    this.name = 'RateLimitedError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** A cryptographic check failed (bad signature, undecryptable message …). */
export class CryptoError extends ParleyError {
  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, { status: 400, ...options });
    this.name = 'CryptoError';
  }
}

/** True when `value` is a ParleyError (also across module copies). */
export function isParleyError(value: unknown): value is ParleyError {
  return value instanceof ParleyError || (value instanceof Error && typeof (value as { code?: unknown }).code === 'string' && typeof (value as { status?: unknown }).status === 'number');
}
