/**
 * Who may call the console's API. One onRequest hook covers the whole `/console/api` scope,
 * so a route needs no authentication code of its own; a route says what it needs in its
 * `config.consoleAccess`:
 * - `public`: nobody in particular (status, bootstrap, login; their own checks);
 * - `viewer` (default for GET/HEAD): a live session of any operator;
 * - `admin` (default for every other method): a live session of an admin (403
 *   `console_forbidden` for a viewer).
 * Every state-changing request with a session also passes the CSRF check (csrf.ts), and
 * every state-changing request at all the `Origin` check. Login attempts are rate-limited
 * per operator name and per client address (the server's database token buckets).
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError, ParleyError, UnauthorizedError } from '@parley/core';
import { refundToken, takeToken } from '../repos/rate-limits.js';
import { checkCsrf, checkOrigin, isSafeMethod } from './csrf.js';
import { SESSION_COOKIE, cookieValue, type ConsoleSession } from './sessions.js';
import type { ConsoleRouteContext } from './context.js';
import type { OperatorRef } from './operators.js';

/** What a console route requires of its caller. */
export type ConsoleAccess = 'public' | 'viewer' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The console route's access (operator-auth.ts); default `viewer` for GET/HEAD, `admin` otherwise. */
    consoleAccess?: ConsoleAccess;
  }
  interface FastifyRequest {
    /** The console session of the request (set by the console's auth hook). */
    consoleSession?: ConsoleSession;
  }
}

/**
 * The access a console route requires (its `config.consoleAccess`, else by method).
 *
 * @example
 * accessOf(request) // 'viewer'
 */
export function accessOf(request: FastifyRequest): ConsoleAccess {
  return request.routeOptions.config?.consoleAccess ?? (isSafeMethod(request.method) ? 'viewer' : 'admin');
}

/**
 * The session cookie's token of a request, if any.
 *
 * @example
 * await ctx.consoleSessions.end(sessionToken(request));
 */
export function sessionToken(request: FastifyRequest): string | undefined {
  return cookieValue(request.headers.cookie, SESSION_COOKIE);
}

/**
 * Installs the console's authentication on a scope (every route registered in it, read views
 * included).
 *
 * @example
 * installOperatorAuth(scope, ctx);
 */
export function installOperatorAuth(scope: FastifyInstance, ctx: ConsoleRouteContext): void {
  scope.addHook('onRequest', async (request) => {
    const access = accessOf(request);
    const safe = isSafeMethod(request.method);
    if (access === 'public') {
      if (!safe) checkOrigin(ctx.config, request);
      return;
    }
    const session = await ctx.consoleSessions.verify(sessionToken(request));
    if (!safe) checkCsrf(ctx.config, request, session.csrfToken);
    if (access === 'admin' && session.operator.role !== 'admin') throw new ForbiddenError('console_forbidden', 'only a console admin may do this');
    request.consoleSession = session;
  });
}

/**
 * The operator of a request that passed the console's auth hook.
 *
 * @example
 * const me = operatorOf(request); // { id, name, role }
 */
export function operatorOf(request: FastifyRequest): OperatorRef {
  if (!request.consoleSession) throw new UnauthorizedError('console_session_required', 'log in to the console first');
  return request.consoleSession.operator;
}

/** The rate-limit buckets of one login attempt: its operator name and its client address. */
function loginBuckets(name: string, ip: string): string[] {
  // The name hashed: any text a client sends makes a bucket name of fixed shape.
  const nameKey = createHash('sha256').update(name, 'utf8').digest('base64url');
  return [`console-login-name:${nameKey}`, `console-login-ip:${ip}`];
}

/**
 * Takes one login attempt from the name's and the address's allowance (429
 * `login_rate_limited` with `Retry-After` when either is used up); a successful login gives
 * it back ({@link refundLoginAttempt}), so only failures count.
 *
 * @example
 * await takeLoginAttempt(ctx, name, request.ip);
 */
export async function takeLoginAttempt(ctx: ConsoleRouteContext, name: string, ip: string): Promise<void> {
  const { loginAttempts, loginWindowSeconds } = ctx.config.console;
  let retryAfterMs = 0;
  for (const bucket of loginBuckets(name, ip)) {
    const take = await takeToken(ctx.db, bucket, loginAttempts, loginAttempts / loginWindowSeconds);
    if (!take.allowed) retryAfterMs = Math.max(retryAfterMs, take.retryAfterMs);
  }
  if (retryAfterMs > 0) {
    ctx.log.warn({ console: { action: 'login', limited: true } }, 'console login rate limited');
    throw new ParleyError('login_rate_limited', 'too many failed logins: try again later', { status: 429, details: { retryAfterMs } });
  }
}

/**
 * Gives back the attempt a successful login took.
 *
 * @example
 * await refundLoginAttempt(ctx, name, request.ip);
 */
export async function refundLoginAttempt(ctx: ConsoleRouteContext, name: string, ip: string): Promise<void> {
  for (const bucket of loginBuckets(name, ip)) await refundToken(ctx.db, bucket, ctx.config.console.loginAttempts);
}
