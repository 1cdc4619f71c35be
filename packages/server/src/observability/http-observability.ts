/**
 * Per-request telemetry of the HTTP API: one access log line per request, a line for each
 * authentication failure, and the `parley_http_*` metric families. Labels and fields are
 * metadata only: the route *pattern* Fastify matched (`/v1/devices/:deviceId`, or
 * `unmatched` for a 404), never the raw URL (a query string may carry a token, a path an
 * id); the method from a fixed list; the status code. No header is logged.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';
import { mapError } from '../http/errors.js';

/** The route label of a request no route matched (404, or refused before routing). */
export const UNMATCHED_ROUTE = 'unmatched';

/** Methods a label may name; any other is `other` (the set of series stays bounded). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Seconds: fast API calls through long-polls and uploads. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The HTTP metric families, registered on one registry. */
export interface HttpMetrics {
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly duration: Histogram<'route' | 'method' | 'status_class'>;
}

/**
 * Registers `parley_http_requests_total` and `parley_http_request_duration_seconds`.
 *
 * @example
 * const http = createHttpMetrics(metrics.registry);
 * http.requests.inc({ route: '/healthz', method: 'GET', status: '200' });
 */
export function createHttpMetrics(registry: Registry): HttpMetrics {
  const registers = [registry];
  return {
    requests: new Counter({ name: 'parley_http_requests_total', help: 'HTTP requests answered, by route pattern, method and status code', labelNames: ['route', 'method', 'status'], registers }),
    duration: new Histogram({
      name: 'parley_http_request_duration_seconds',
      help: 'Time from the request to the end of the answer, by route pattern, method and status class',
      labelNames: ['route', 'method', 'status_class'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
  };
}

/** The route pattern a request matched (`request.routeOptions.url`), or `unmatched`. Never the raw URL. */
export function routeLabel(request: FastifyRequest): string {
  const url = request.routeOptions.url;
  return request.is404 || url === undefined || url === '' ? UNMATCHED_ROUTE : url;
}

/** The method label: a standard method, or `other`. */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'other';
}

/** `2xx` … `5xx`. */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/** Error codes of requests that failed authentication (401/403), noted by the onError hook for the access line. */
const errorCodes = new WeakMap<FastifyRequest, string>();

/**
 * Installs the hooks: `onError` notes the stable error code of a failed request (and logs an
 * authentication failure: reason code, route pattern, remote address — never the token);
 * `onResponse` writes the access line (`reqId` is on every request's child logger) and counts.
 *
 * @example
 * installHttpObservability(app, createHttpMetrics(metrics.registry));
 */
export function installHttpObservability(app: FastifyInstance, metrics: HttpMetrics): void {
  app.addHook('onError', async (request: FastifyRequest, _reply: FastifyReply, error: Error) => {
    const mapped = mapError(error);
    errorCodes.set(request, mapped.body.error.code);
    if (mapped.status === 401 || mapped.status === 403) {
      request.log.warn({ event: 'auth_failure', code: mapped.body.error.code, status: mapped.status, route: routeLabel(request), method: methodLabel(request.method), remoteAddress: request.ip }, 'authentication failed');
    }
  });
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = routeLabel(request);
    const method = methodLabel(request.method);
    const status = reply.statusCode;
    const seconds = reply.elapsedTime / 1000;
    metrics.requests.inc({ route, method, status: String(status) });
    metrics.duration.observe({ route, method, status_class: statusClass(status) }, seconds);
    const code = errorCodes.get(request);
    request.log.info({ event: 'access', method, route, status, durationMs: Math.round(reply.elapsedTime * 1000) / 1000, ...(code !== undefined ? { code } : {}) }, 'request');
  });
}
