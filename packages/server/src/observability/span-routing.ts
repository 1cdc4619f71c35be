/**
 * The spans of routing: `parley.route` — a business message's route, created in the
 * transaction that stores it (child of its store span, recorded after commit) — and
 * `parley.route.step`, one per step the router runs later (child of the route span while
 * this node remembers it, else a root span with the same message pseudonym). A step's
 * decisions (route_events) become `parley.route.decision` events of its span, the last
 * one also its attributes: step, channel, decision, reason code.
 */
import type { Context } from '@opentelemetry/api';
import { reasonCode } from './span-allow-list.js';
import type { TraceAttributes, Tracing } from './tracing.js';

/** Memory key of a route's span (by the business message id). */
const routeKey = (messageId: string): string => `route:${messageId}`;

/** A route stored with a business message, as the relay enqueued it. */
export interface TracedRoute {
  readonly messageId: string;
  readonly envelopeId: string;
  readonly businessId: string;
  /** Class label (bounded: metrics' classLabel). */
  readonly classLabel: string;
  /** The policy chain's step names. */
  readonly chain: readonly string[];
  /** The context the message was stored in (its store span). */
  readonly parent: Context | undefined;
}

/**
 * Records `parley.route` for each route that committed (from `startTime`, the enqueue) and
 * remembers it for the steps.
 *
 * @example
 * traceRoutes(tracing, routes, startedAt);
 */
export function traceRoutes(tracing: Tracing, routes: readonly TracedRoute[], startTime: Date): void {
  if (!tracing.enabled) return;
  for (const r of routes) {
    tracing.record('parley.route', { parent: r.parent, startTime }, (span) => {
      span.pseudonym('parley.message.pseudonym', r.envelopeId);
      span.pseudonym('parley.business.pseudonym', r.businessId);
      span.set({ 'parley.message.class': r.classLabel, 'parley.route.mode': 'app', 'parley.route.chain': r.chain.join('>'), 'parley.outcome': 'enqueued' });
      tracing.remember(routeKey(r.messageId), span);
    });
  }
}

/**
 * Runs one step of a route inside `parley.route.step`.
 *
 * @example
 * const outcome = await traceRouteStep(tracing, route, 'push', 1, 'otp', () => runStep(s, route, 'push'));
 */
export function traceRouteStep<T extends string | void>(
  tracing: Tracing,
  route: { message_id: string; envelope_id: string | null; business_id: string },
  step: string,
  index: number,
  classLabel: string,
  run: () => Promise<T>,
): Promise<T> {
  if (!tracing.enabled) return run();
  const parent = tracing.parentFrom(tracing.recall(routeKey(route.message_id)));
  return tracing.inSpan('parley.route.step', { parent, attributes: { 'parley.route.step': step, 'parley.route.step_index': index, 'parley.message.class': classLabel } }, async (span) => {
    if (route.envelope_id !== null) span.pseudonym('parley.message.pseudonym', route.envelope_id);
    span.pseudonym('parley.business.pseudonym', route.business_id);
    const outcome = await tracing.withStep(route.message_id, span, run);
    if (typeof outcome === 'string') span.set({ 'parley.outcome': outcome });
    return outcome;
  });
}

/**
 * A routing decision (route_events) as an event of the message's running step span.
 *
 * @example
 * traceDecision(tracing, messageId, 'push', 'fcm', 'sent', 'wake');
 */
export function traceDecision(tracing: Tracing, messageId: string, step: string, channel: string | null, decision: string, reason: string | null): void {
  if (!tracing.enabled) return;
  const attributes: TraceAttributes = { 'parley.route.step': step, 'parley.channel': channel ?? 'none', 'parley.decision': reasonCode(decision), 'parley.reason': reasonCode(reason) };
  tracing.decision(messageId, attributes);
}
