/**
 * The one mapper from errors to HTTP responses: every error becomes
 * `{ "error": { "code", "message" } }` with a stable code. Bad input is 4xx;
 * anything unexpected is a 500 that reveals nothing about internals.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isParleyError, type ErrorBody } from '@parley/core';
import { DatabaseError } from '../storage/database.js';

export interface MappedError {
  status: number;
  body: ErrorBody;
  retryAfterSeconds?: number;
}

const FASTIFY_CODES: Record<string, { status: number; code: string; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large', message: 'request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type', message: 'send application/json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json', message: 'request body is empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json', message: 'request body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_request', message: 'invalid content length' },
};

/** SQLSTATE classes that mean "the database is unreachable or shutting down". */
function isUnavailable(error: DatabaseError): boolean {
  const s = error.sqlState;
  return s === undefined || s.startsWith('08') || s.startsWith('57') || s === '53300';
}

export function mapError(error: unknown): MappedError {
  if (isParleyError(error)) {
    const retryAfterMs = typeof error.details?.['retryAfterMs'] === 'number' ? (error.details['retryAfterMs'] as number) : undefined;
    return {
      status: error.status >= 400 && error.status < 600 ? error.status : 500,
      body: { error: { code: error.code, message: error.message, ...(error.details ? { details: { ...error.details } } : {}) } },
      ...(retryAfterMs !== undefined ? { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) } : {}),
    };
  }
  const fe = error as Partial<FastifyError> & { validation?: unknown; validationContext?: string };
  if (fe && fe.validation !== undefined) {
    return { status: 400, body: { error: { code: 'invalid_request', message: fe.message ?? 'invalid request' } } };
  }
  if (error instanceof SyntaxError) {
    return { status: 400, body: { error: { code: 'invalid_json', message: 'request body is not valid JSON' } } };
  }
  if (fe?.code && FASTIFY_CODES[fe.code]) {
    const m = FASTIFY_CODES[fe.code]!;
    return { status: m.status, body: { error: { code: m.code, message: m.message } } };
  }
  if (error instanceof DatabaseError && isUnavailable(error)) {
    return { status: 503, body: { error: { code: 'unavailable', message: 'storage is unavailable, retry later' } }, retryAfterSeconds: 1 };
  }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: { code: `http_${fe.statusCode}`, message: 'bad request' } } };
  }
  return { status: 500, body: { error: { code: 'internal_error', message: 'internal error' } } };
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const mapped = mapError(error);
    if (mapped.status >= 500) {
      request.log.error({ err: error, route: request.routeOptions.url }, 'request failed');
    } else {
      request.log.debug({ code: mapped.body.error.code, route: request.routeOptions.url }, 'request rejected');
    }
    if (mapped.retryAfterSeconds !== undefined) void reply.header('retry-after', String(mapped.retryAfterSeconds));
    void reply.status(mapped.status).send(mapped.body);
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).send({ error: { code: 'not_found', message: 'no such endpoint' } });
  });
}
