/**
 * The operator console on the server's main listener: the page under `/console/`
 * (static-files.ts) and its JSON API under `/console/api/` — accounts and sessions
 * (auth-routes.ts), administration (admin-routes.ts) and the read views (read-routes.ts),
 * every API route behind one authentication hook (operator-auth.ts). Not part of the public
 * API document (http/openapi.ts leaves `/console/` out).
 *
 * Errors under `/console/` carry the code at the top level, as the console's contract has it,
 * and in `error`, as every other answer of the server: `{ code, message, error: { code, message } }`.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteContext } from '../http/context.js';
import { mapError, publicError } from '../http/errors.js';
import { ConsoleSessions } from './sessions.js';
import { installOperatorAuth } from './operator-auth.js';
import { registerConsoleAuthRoutes } from './auth-routes.js';
import { registerConsoleAdminRoutes } from './admin-routes.js';
import { registerConsoleReadRoutes } from './read-routes.js';
import { CONSOLE_PAGE_HEADERS, registerConsolePage } from './static-files.js';
import type { ConsoleRouteContext } from './context.js';

export type { ConsoleRouteContext } from './context.js';

/** The console's error answer: the server's mapping, the code also at the top level. */
function consoleErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const mapped = publicError(mapError(error), request.id);
  if (mapped.status >= 500) request.log.error({ err: error, route: request.routeOptions.url, requestId: request.id }, 'request failed');
  if (mapped.retryAfterSeconds !== undefined) void reply.header('retry-after', String(mapped.retryAfterSeconds));
  const { code, message } = mapped.body.error;
  void reply.status(mapped.status).send({ code, message, ...mapped.body });
}

/**
 * Registers the console (unless `config.console.enabled` is false): the page and its API.
 *
 * @example
 * registerConsole(app, ctx); // before app.listen
 */
export function registerConsole(app: FastifyInstance, base: RouteContext): void {
  const settings = base.config.console;
  if (!settings.enabled) return;
  const ctx: ConsoleRouteContext = {
    ...base,
    consoleSessions: new ConsoleSessions(base.db, { idleSeconds: settings.sessionIdleSeconds, maxSeconds: settings.sessionMaxSeconds }),
  };
  void app.register(
    async (consoleScope) => {
      consoleScope.setErrorHandler(consoleErrorHandler);
      registerConsolePage(consoleScope, ctx);
      await consoleScope.register(
        async (scope) => {
          installOperatorAuth(scope, ctx);
          // API answers are never cached, and carry the page's policy headers too.
          scope.addHook('onSend', async (_request, reply, payload) => {
            void reply.headers({ ...CONSOLE_PAGE_HEADERS, 'cache-control': 'no-store' });
            return payload;
          });
          registerConsoleAuthRoutes(scope, ctx);
          registerConsoleAdminRoutes(scope, ctx);
          registerConsoleReadRoutes(scope, ctx);
        },
        { prefix: '/api' },
      );
    },
    { prefix: '/console' },
  );
}
