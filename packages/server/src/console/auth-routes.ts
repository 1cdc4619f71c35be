/**
 * The console's account routes: whether it is set up, the first admin by the admin token,
 * login, the current session, logout (`/console/api/…`; console-api contract).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@parley/core/typebox';
import { UnauthorizedError } from '@parley/core';
import { requireAdmin } from '../http/context.js';
import { recordAction } from './actions.js';
import { bootstrapOperator, hasOperators, normaliseOperatorName, operatorCredentials, operatorsExist, type OperatorRef } from './operators.js';
import { refundLoginAttempt, sessionToken, takeLoginAttempt } from './operator-auth.js';
import { MAX_PASSWORD_LENGTH, checkPasswordStrength, dummyHash, hashPassword, verifyPassword } from './passwords.js';
import { sessionCookie } from './sessions.js';
import type { ConsoleRouteContext } from './context.js';

/** An operator name: letters, digits and `._@-`, starting with a letter or digit (stored lower-cased). */
export const OPERATOR_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$';

/** `{ name, password }` of a new operator (the strength is checked by the handler: 400 `weak_password`). */
export const NewCredentialsSchema = Type.Object(
  { name: Type.String({ pattern: OPERATOR_NAME_PATTERN }), password: Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH }) },
  { additionalProperties: false },
);

/** Login: any name (an odd one simply fails like an unknown one). */
const LoginSchema = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 256 }), password: Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH }) },
  { additionalProperties: false },
);

const ref = (o: OperatorRef): OperatorRef => ({ id: o.id, name: o.name, role: o.role });

/** Whether the session cookie gets `Secure`: over https, or when the configuration says so (behind a TLS proxy). */
function secureCookies(ctx: ConsoleRouteContext, request: FastifyRequest): boolean {
  return request.protocol === 'https' || ctx.config.console.secureCookies;
}

function setSessionCookie(ctx: ConsoleRouteContext, request: FastifyRequest, reply: FastifyReply, token: string | undefined): void {
  void reply.header('set-cookie', sessionCookie(token, { secure: secureCookies(ctx, request), maxAgeSeconds: ctx.config.console.sessionMaxSeconds }));
}

/**
 * Registers status, bootstrap, login, session and logout on the console's API scope.
 *
 * @example
 * registerConsoleAuthRoutes(scope, ctx);
 */
export function registerConsoleAuthRoutes(scope: FastifyInstance, ctx: ConsoleRouteContext): void {
  const r = scope.withTypeProvider<TypeBoxTypeProvider>();

  r.get('/status', { config: { consoleAccess: 'public' } }, async () => ({ bootstrapped: await hasOperators(ctx.db) }));

  // The admin token makes the first admin, once; every later account is made by an admin.
  r.post(
    '/bootstrap',
    { config: { consoleAccess: 'public' }, onRequest: requireAdmin(ctx), schema: { body: NewCredentialsSchema } },
    async (request, reply) => {
      // Checked before the (costly) hash, and again under the bootstrap lock.
      if (await hasOperators(ctx.db)) throw operatorsExist();
      checkPasswordStrength(request.body.password);
      const operator = await bootstrapOperator(ctx.db, request.body.name, await hashPassword(request.body.password));
      await recordAction(ctx.db, ctx.log, operator, 'bootstrap', `operator:${operator.name}`);
      return reply.status(201).send({ operator });
    },
  );

  r.post('/login', { config: { consoleAccess: 'public' }, schema: { body: LoginSchema } }, async (request, reply) => {
    const name = normaliseOperatorName(request.body.name);
    await takeLoginAttempt(ctx, name, request.ip);
    // The same work whether or not the name exists: one hash (the dummy made before either).
    const dummy = await dummyHash();
    const found = await operatorCredentials(ctx.db, name);
    const matches = await verifyPassword(request.body.password, found?.passwordHash ?? dummy);
    if (!found || !matches || found.disabled) throw new UnauthorizedError('login_failed', 'wrong operator name or password');
    await refundLoginAttempt(ctx, name, request.ip);
    const opened = await ctx.consoleSessions.open(found.id);
    await recordAction(ctx.db, ctx.log, found, 'login', null);
    setSessionCookie(ctx, request, reply, opened.token);
    return { operator: ref(found), csrfToken: opened.csrfToken, expiresAt: opened.expiresAt };
  });

  r.get('/session', async (request) => {
    const session = request.consoleSession!;
    return { operator: ref(session.operator), csrfToken: session.csrfToken, expiresAt: session.expiresAt };
  });

  r.post('/logout', { config: { consoleAccess: 'viewer' } }, async (request, reply) => {
    await ctx.consoleSessions.end(sessionToken(request));
    setSessionCookie(ctx, request, reply, undefined);
    return reply.status(204).send();
  });
}
