/**
 * The one mapper from errors to HTTP responses: every error becomes
 * `{ "error": { "code", "message" } }` with a stable code. Bad input is 4xx;
 * anything unexpected is a 500 that reveals nothing about internals: a generic
 * message and the request id, while the detail goes to the log under that id.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { ParleyError, isParleyError, type ErrorBody } from '@parley/core';
import type { ServerErrorCode } from '../error-codes.js';
import { isUnavailableError } from '../storage/database.js';

export interface MappedError {
  status: number;
  body: ErrorBody;
  retryAfterSeconds?: number;
}

const FASTIFY_CODES: Record<string, { status: number; code: ServerErrorCode; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large', message: 'request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type', message: 'send application/json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json', message: 'request body is empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json', message: 'request body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_request', message: 'invalid content length' },
  FST_ERR_BAD_URL: { status: 400, code: 'invalid_url', message: 'the URL is not valid (percent-encoding or UTF-8)' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: 'uri_too_long', message: 'a path parameter is too long' },
};


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
  if (isUnavailableError(error)) {
    return { status: 503, body: { error: { code: 'unavailable', message: 'storage is unavailable, retry later' } }, retryAfterSeconds: 1 };
  }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: { code: `http_${fe.statusCode}`, message: 'bad request' } } };
  }
  return { status: 500, body: { error: { code: 'internal_error', message: 'internal error' } } };
}

/**
 * What a client may see of a server-side failure: an internal error becomes the generic
 * `internal_error`, and no 5xx carries `details` (they can name tables, files or checks).
 * Deliberate 5xx codes (`unavailable`, `tlog_sequence_timeout`, …) keep their code and message.
 */
export function publicError(mapped: MappedError, requestId: string): MappedError {
  if (mapped.status < 500) return mapped;
  const { code, message } = mapped.status === 500 ? { code: 'internal_error', message: 'internal error' } : mapped.body.error;
  return { ...mapped, body: { error: { code, message, requestId } } };
}

/**
 * Fastify's `frameworkErrors`: errors its router raises before any route runs (a URL that
 * does not percent-decode to UTF-8, an over-long path parameter) in the API's error shape.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  replyWithError(error, request, reply);
}

/** The one way an error becomes an answer: mapped, made public, logged (5xx with its cause and id), sent. */
function replyWithError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const mapped = publicError(mapError(error), request.id);
  if (mapped.status >= 500) {
    request.log.error({ err: error, route: request.routeOptions.url, requestId: request.id }, 'request failed');
  } else {
    request.log.debug({ code: mapped.body.error.code, route: request.routeOptions.url }, 'request rejected');
  }
  if (mapped.retryAfterSeconds !== undefined) void reply.header('retry-after', String(mapped.retryAfterSeconds));
  void reply.status(mapped.status).send(mapped.body);
}

/**
 * Fastify's `clientErrorHandler`: requests Node's HTTP parser refuses (malformed request
 * lines or headers, bad Content-Length or chunking, headers over the size limit, timeouts)
 * are answered in the API's error shape too, and the connection is closed.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset connection is gone: nothing to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message]: [number, ServerErrorCode, string] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', 'the request took too long']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'the request headers are too large']
        : [400, 'malformed_request', 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

/**
 * A route's `schemaErrorFormatter`: a body field in `fields` over its schema's `maxLength`
 * is 413 `payload_too_large` (like an over-large MLS message), any other schema error the
 * usual 400 `invalid_request`.
 *
 * @example
 * r.post('/v1/messages', { schema, schemaErrorFormatter: tooLongIsTooLarge(['/message']) }, handler);
 */
export function tooLongIsTooLarge(fields: readonly string[]): (errors: FastifySchemaValidationError[], dataVar: string) => Error {
  return (errors, dataVar) => {
    const tooLong = errors.find((e) => e.keyword === 'maxLength' && fields.includes(e.instancePath));
    if (tooLong) return new ParleyError('payload_too_large', `${tooLong.instancePath.slice(1)} is larger than the limit`, { status: 413 });
    return new Error(errors.map((e) => `${dataVar}${e.instancePath} ${e.message ?? 'is not valid'}`).join(', '));
  };
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(replyWithError);
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).send({ error: { code: 'not_found', message: 'no such endpoint' } });
  });
}
