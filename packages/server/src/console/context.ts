/**
 * What the console's route handlers need: everything the API's handlers have, and the console
 * sessions. Read views (read-routes.ts) and admin routes (admin-routes.ts) take this context;
 * authentication is the scope's hook (operator-auth.ts), so handlers only read
 * `operatorOf(request)` when they need to know who asks.
 */
import type { RouteContext } from '../http/context.js';
import type { ConsoleSessions } from './sessions.js';

export interface ConsoleRouteContext extends RouteContext {
  /** Console sessions (cookie tokens, stored hashed in the database). */
  readonly consoleSessions: ConsoleSessions;
}
