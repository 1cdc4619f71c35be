/**
 * The console's read views under `/console/api` (docs: the console API contract): delivery,
 * routes, verification, decrypt failures and the transparency logs. Thin routes over the query
 * modules (read-*.ts), registered on the console's scope, whose hook already authenticated a
 * viewer: no auth here. Query parameters are checked by schema (400 `invalid_request`).
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@parley/core/typebox';
import { MessageIdSchema } from '@parley/core';
import type { ConsoleRouteContext } from './context.js';
import { MAX_WINDOW_HOURS, deliveryView } from './read-delivery.js';
import { MAX_ROUTES_LISTED, listRoutes, routeDetail } from './read-routes-detail.js';
import { verificationView } from './read-verification.js';
import { decryptFailuresView } from './read-decrypt-failures.js';
import { logsView } from './read-logs.js';

/** A positive decimal integer in a query string (the API does not coerce types). */
const PositiveInt = Type.String({ pattern: '^[1-9][0-9]{0,5}$' });
const HoursQuery = Type.Object({ hours: Type.Optional(PositiveInt) }, { additionalProperties: false });
const LimitQuery = Type.Object({ limit: Type.Optional(PositiveInt) }, { additionalProperties: false });

/** A window in hours: the default when absent, at most {@link MAX_WINDOW_HOURS}. */
function hoursOf(text: string | undefined, fallback: number): number {
  return Math.min(MAX_WINDOW_HOURS, text === undefined ? fallback : Number(text));
}

/**
 * Registers the read views on the console's authenticated scope (paths relative to it).
 *
 * @example
 * await app.register(async (scope) => { scope.addHook('onRequest', requireViewer); registerConsoleReadRoutes(scope, ctx); }, { prefix: '/console/api' });
 */
export function registerConsoleReadRoutes(scope: FastifyInstance, ctx: ConsoleRouteContext): void {
  const r = scope.withTypeProvider<TypeBoxTypeProvider>();
  const policyFor = (businessId: string, messageClass: string) => ctx.routing.router.policyFor(businessId, messageClass);

  r.get('/delivery', { schema: { hide: true, querystring: HoursQuery } }, async (request) =>
    deliveryView(ctx.db, { hours: hoursOf(request.query.hours, 24), policyFor }),
  );

  r.get('/routes', { schema: { hide: true, querystring: LimitQuery } }, async (request) =>
    listRoutes(ctx.db, Math.min(MAX_ROUTES_LISTED, Number(request.query.limit ?? 50))),
  );

  r.get('/routes/:messageId', { schema: { hide: true, params: Type.Object({ messageId: MessageIdSchema }) } }, async (request) =>
    routeDetail(ctx.db, request.params.messageId, policyFor),
  );

  r.get('/verification', { schema: { hide: true } }, async () => verificationView(ctx.db, { keyLogName: ctx.keyLog.name }));

  r.get('/decrypt-failures', { schema: { hide: true, querystring: HoursQuery } }, async (request) =>
    decryptFailuresView(ctx.db, { hours: hoursOf(request.query.hours, 168) }),
  );

  r.get('/logs', { schema: { hide: true } }, async () => logsView(ctx.db, [ctx.keyLog, ctx.auditLog]));
}
