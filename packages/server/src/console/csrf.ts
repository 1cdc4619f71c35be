/**
 * Cross-site request forgery defences of the console's API, on top of the cookie's
 * SameSite=Strict: a state-changing request must carry the session's CSRF token in
 * `x-parley-csrf` (a page of another site cannot read it), and a request that names its
 * `Origin` must come from the server's own origin (403 `csrf_failed` otherwise).
 */
import type { FastifyRequest } from 'fastify';
import { ForbiddenError } from '@parley/core';
import { isSecretToken } from '../http/context.js';
import { requestOrigin } from '../http/origins.js';
import type { ServerConfig } from '../config.js';

/** The request header that carries the session's CSRF token. */
export const CSRF_HEADER = 'x-parley-csrf';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const failed = (why: string) => new ForbiddenError('csrf_failed', why);

/**
 * Whether `method` changes nothing (no CSRF token needed).
 *
 * @example
 * isSafeMethod('GET') // true
 */
export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The origins this server's own pages have: the request's scheme and `Host`, and the origin of
 * `routing.publicUrl` (the public URL behind a TLS proxy).
 *
 * @example
 * ownOrigins(config, request) // ['http://127.0.0.1:8080']
 */
export function ownOrigins(config: ServerConfig, request: FastifyRequest): string[] {
  const out: string[] = [];
  const host = single(request.headers.host);
  if (host !== undefined) {
    const own = requestOrigin(`${request.protocol}://${host}`);
    if (own !== undefined) out.push(own);
  }
  const publicOrigin = config.routing.publicUrl === undefined ? undefined : requestOrigin(config.routing.publicUrl);
  if (publicOrigin !== undefined) out.push(publicOrigin);
  return out;
}

/**
 * Refuses (403 `csrf_failed`) a request whose `Origin` header is present and not the server's own.
 *
 * @example
 * checkOrigin(ctx.config, request);
 */
export function checkOrigin(config: ServerConfig, request: FastifyRequest): void {
  const header = single(request.headers.origin);
  if (header === undefined) return;
  const origin = requestOrigin(header);
  if (origin === undefined || !ownOrigins(config, request).includes(origin)) throw failed('this request must come from the console page of this server');
}

/**
 * Refuses (403 `csrf_failed`) a state-changing request without the session's CSRF token (constant-time comparison) or from another origin.
 *
 * @example
 * checkCsrf(ctx.config, request, session.csrfToken);
 */
export function checkCsrf(config: ServerConfig, request: FastifyRequest, csrfToken: string): void {
  if (!isSecretToken(single(request.headers[CSRF_HEADER]), csrfToken)) throw failed(`send the session's CSRF token in ${CSRF_HEADER}`);
  checkOrigin(config, request);
}
