/**
 * Wires the server's metric families onto the one registry the routing metrics created
 * (`RoutingMetrics.registry`, served at `/metrics`): HTTP requests, the database, the
 * WebSockets and the scrape-time backlogs. docs/observability.md lists every family.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Database } from '../storage/database.js';
import { registerBacklogMetrics } from './backlog-metrics.js';
import { registerDatabaseMetrics } from './db-metrics.js';
import { createHttpMetrics, installHttpObservability } from './http-observability.js';
import { registerWebSocketMetrics } from './websocket-metrics.js';

/**
 * Installs the HTTP hooks (access log, auth-failure log, HTTP metrics) and registers the
 * database and backlog metrics. Call before the routes are registered.
 *
 * @example
 * installObservability(app, metrics.registry, db, log);
 */
export function installObservability(app: FastifyInstance, registry: Registry, db: Database, log: Logger): void {
  installHttpObservability(app, createHttpMetrics(registry));
  registerDatabaseMetrics(registry, db);
  registerBacklogMetrics(registry, db, log);
}

/**
 * Registers the WebSocket metrics once `@fastify/websocket` is registered (`app.websocketServer` exists).
 *
 * @example
 * installWebSocketObservability(app, metrics.registry, () => registry.size);
 */
export function installWebSocketObservability(app: FastifyInstance, registry: Registry, authenticated: () => number): void {
  registerWebSocketMetrics(registry, app.websocketServer, authenticated);
}
