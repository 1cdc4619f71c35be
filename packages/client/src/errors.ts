/** Typed errors of the SDK. Each carries a stable `code`; tests match on it. */
import { ParleyError } from '@parley/core';

/** The server answered with an error body `{ error: { code, message } }`. */
export class ApiError extends ParleyError {
  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, { status, ...(details ? { details } : {}) });
    this.name = 'ApiError';
  }

  /** Worth retrying with the same idempotency key (server or storage trouble, rate limit). */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 429 || this.status === 408;
  }
}

/** The server could not be reached or answered something that is not the API. */
export class TransportError extends ParleyError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('transport_error', message, { status: 503, ...options });
    this.name = 'TransportError';
  }
}

/** A conversation operation was refused locally (unknown conversation, removed, …). */
export class ConversationError extends ParleyError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, { status: 400, ...(details ? { details } : {}) });
    this.name = 'ConversationError';
  }
}

/** True for failures where retrying the same request may succeed. */
export function isRetryable(error: unknown): boolean {
  return error instanceof TransportError || (error instanceof ApiError && error.retryable);
}
